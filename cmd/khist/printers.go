package main

// kubectl's printers for get and state: -o jsonpath=..., go-template=..., custom-columns=...
// (and their -file forms), through cli-runtime's printers made as its PrintFlags make them.
// The other -o values (table, wide, name, json, yaml) are khist's own, written by package query.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/khist/khist/query"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/util/jsonpath"
)

// printerFormats are the -o values answered by kubectl's printers, after khist's own.
const printerFormats = "jsonpath=TEMPLATE, jsonpath-file=FILE, go-template=TEMPLATE, go-template-file=FILE, custom-columns=SPEC or custom-columns-file=FILE"

// printerWords complete -o with kubectl's printers.
var printerWords = []string{"jsonpath=", "jsonpath-file=", "go-template=", "go-template-file=", "custom-columns=", "custom-columns-file="}

// completeOutput completes -o with khist's formats and kubectl's printers; after a printer's
// "=" the template follows without a space.
func completeOutput(formats []string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		var out []string
		noSpace := true
		for _, w := range append(slices.Clone(formats), printerWords...) {
			if strings.HasPrefix(w, toComplete) {
				out = append(out, w)
				noSpace = noSpace && strings.HasSuffix(w, "=")
			}
		}
		if noSpace && len(out) > 0 {
			return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// printFlags are kubectl's printer flags beside -o: --template, --allow-missing-template-keys.
type printFlags struct {
	template         string // --template
	allowMissingKeys bool   // --allow-missing-template-keys
}

func addPrintFlags(cmd *cobra.Command) *printFlags {
	p := &printFlags{allowMissingKeys: true}
	cmd.Flags().StringVar(&p.template, "template", "", "Template string or path to template file to use when -o=go-template, -o=go-template-file. The template format is golang templates [http://golang.org/pkg/text/template/#pkg-overview].")
	cmd.MarkFlagFilename("template")
	cmd.Flags().BoolVar(&p.allowMissingKeys, "allow-missing-template-keys", true, "If true, ignore any errors in templates when a field or map key is missing in the template. Only applies to golang and jsonpath output formats.")
	return p
}

// printer returns the printer of an -o value, or nil when it is one of khist's own formats
// (which package query checks). Each error is one line that says what to write instead.
func (p *printFlags) printer(output string) (query.Printer, error) {
	format, arg, _ := strings.Cut(strings.TrimSpace(output), "=")
	switch format {
	case "custom-columns", "custom-columns-file":
		cc, err := newCustomColumns(format, arg)
		if err != nil {
			return nil, printerError(format, err)
		}
		return cc, nil
	case "jsonpath", "jsonpath-file", "jsonpath-as-json", "go-template", "go-template-file", "template", "templatefile":
	default:
		if p.template != "" {
			return nil, errors.New("--template: give it with -o go-template or -o jsonpath, as kubectl takes it")
		}
		return nil, nil
	}
	pr, err := p.templatePrinter(strings.TrimSpace(output))
	if err != nil {
		return nil, printerError(format, err)
	}
	return templatePrinter{pr, format}, nil
}

// templatePrinter is the printer of a template -o, as kubectl's PrintFlags make it (with the
// same errors): -o FORMAT=TEMPLATE, or -o FORMAT with --template TEMPLATE (-o names the format:
// --template only gives its template, then a TEMPLATE after -o's = is not a format kubectl
// knows). The -file forms read the template from a file.
func (p *printFlags) templatePrinter(output string) (printers.ResourcePrinter, error) {
	format, template := output, p.template
	if template == "" {
		format, template, _ = strings.Cut(output, "=")
	}
	jsonPath := false
	switch format {
	case "jsonpath", "jsonpath-file", "jsonpath-as-json":
		jsonPath = true
	case "go-template", "go-template-file", "template", "templatefile":
	default:
		return nil, fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: %s", output, "go-template,go-template-file,json,jsonpath,jsonpath-as-json,jsonpath-file,name,template,templatefile,yaml")
	}
	if template == "" {
		return nil, errors.New("template format specified but no template given")
	}
	if format == "jsonpath-file" || format == "go-template-file" || format == "templatefile" {
		b, err := os.ReadFile(template)
		if err != nil {
			return nil, fmt.Errorf("error reading --template %s, %v", template, err)
		}
		template = string(b)
	}
	if jsonPath {
		jp, err := printers.NewJSONPathPrinter(template)
		if err != nil {
			return nil, fmt.Errorf("error parsing jsonpath %s, %v", template, err)
		}
		jp.AllowMissingKeys(p.allowMissingKeys)
		jp.EnableJSONOutput(format == "jsonpath-as-json")
		return jp, nil
	}
	gt, err := printers.NewGoTemplatePrinter([]byte(template))
	if err != nil {
		return nil, fmt.Errorf("error parsing template %s, %v", template, err)
	}
	gt.AllowMissingKeys(p.allowMissingKeys)
	return gt, nil
}

// templatePrinter says which -o failed when a template cannot be applied to an object. It
// writes nothing then: kubectl's template printers write a dump of the object for debugging
// (and put it in their error), which the one-line error leaves out.
type templatePrinter struct {
	printers.ResourcePrinter
	format string
}

func (t templatePrinter) PrintObj(obj runtime.Object, w io.Writer) error {
	var buf bytes.Buffer
	if err := t.ResourcePrinter.PrintObj(obj, &buf); err != nil {
		msg, _, _ := strings.Cut(oneLine(err), ". Printing more information for debugging the template")
		return fmt.Errorf("-o %s: %s: fix the template's paths (khist get KIND/NAME -o yaml shows the object), or leave --allow-missing-template-keys true to print missing ones as empty", t.format, msg)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// withPrinterFormats adds kubectl's printers to an error about an unknown -o value.
func withPrinterFormats(err error) error {
	if errors.Is(err, query.ErrBadArgument) && strings.HasPrefix(err.Error(), "-o: unknown output format") {
		return fmt.Errorf("%w; or kubectl's %s", err, printerFormats)
	}
	return err
}

// printerError is a printer's error as one line, with an example of what works.
func printerError(format string, err error) error {
	var eg string
	switch format {
	case "jsonpath", "jsonpath-as-json":
		eg = "write a JSONPath template as kubectl takes it, e.g. -o jsonpath='{.spec.replicas}'"
	case "go-template", "template":
		eg = "write a Go template as kubectl takes it, e.g. -o go-template='{{.spec.replicas}}'"
	case "custom-columns":
		eg = "give HEADER:JSONPATH columns, e.g. -o custom-columns=NAME:.metadata.name,IMAGE:.spec.template.spec.containers[0].image"
	case "custom-columns-file":
		eg = "give a file of two lines, the headers and their JSONPaths, e.g. NAME IMAGE then .metadata.name .spec.template.spec.containers[0].image"
	default: // the -file forms of templates
		eg = "give a readable file holding a template, e.g. one line {.spec.replicas} for jsonpath-file"
	}
	return fmt.Errorf("-o %s: %s: %s", format, oneLine(err), eg)
}

// customColumns is kubectl's -o custom-columns: a column per HEADER:JSONPATH, a row per object.
type customColumns struct {
	headers []string
	paths   []*jsonpath.JSONPath
}

// relaxedPath is a path of custom-columns as kubectl reads it: with or without the braces and
// the leading dot.
var relaxedPath = regexp.MustCompile(`^\{\.?([^{}]+)\}$|^\.?([^{}]+)$`)

// newCustomColumns parses custom-columns=HEADER:PATH,... or the file of custom-columns-file
// (a line of headers, a line of paths), as kubectl does. PATH may omit the braces and the
// leading dot ({.metadata.name}, .metadata.name and metadata.name are the same).
func newCustomColumns(format, arg string) (*customColumns, error) {
	var headers, paths []string
	if format == "custom-columns-file" {
		b, err := os.ReadFile(arg)
		if err != nil {
			return nil, err
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 2 {
			return nil, fmt.Errorf("%s holds %d lines, not 2", arg, len(lines))
		}
		headers, paths = strings.Fields(lines[0]), strings.Fields(lines[1])
		if len(headers) != len(paths) {
			return nil, fmt.Errorf("%s: %d headers for %d paths", arg, len(headers), len(paths))
		}
	} else {
		if strings.TrimSpace(arg) == "" {
			return nil, errors.New("no columns")
		}
		for _, col := range strings.Split(arg, ",") {
			h, p, ok := strings.Cut(col, ":")
			if !ok || h == "" || p == "" {
				return nil, fmt.Errorf("column %q is not HEADER:JSONPATH", col)
			}
			headers, paths = append(headers, h), append(paths, p)
		}
	}
	cc := &customColumns{headers: headers}
	for i, p := range paths {
		m := relaxedPath.FindStringSubmatch(strings.TrimSpace(p))
		if m == nil {
			return nil, fmt.Errorf("column %s: %q is not a path such as .metadata.name or {.metadata.name}", headers[i], p)
		}
		jp := jsonpath.New(headers[i]).AllowMissingKeys(true)
		if err := jp.Parse("{." + m[1] + m[2] + "}"); err != nil {
			return nil, fmt.Errorf("column %s: %v", headers[i], err)
		}
		cc.paths = append(cc.paths, jp)
	}
	return cc, nil
}

// PrintObj writes the header and a row per object (per item of a list); a path that finds
// nothing reads <none>, several values are joined by commas.
func (cc *customColumns) PrintObj(obj runtime.Object, w io.Writer) error {
	items := []runtime.Object{obj}
	if meta.IsListType(obj) {
		var err error
		if items, err = meta.ExtractList(obj); err != nil {
			return err
		}
	}
	tw := printers.GetNewTabWriter(w)
	fmt.Fprintln(tw, strings.Join(cc.headers, "\t"))
	for _, item := range items {
		u, ok := item.(runtime.Unstructured)
		if !ok {
			return fmt.Errorf("-o custom-columns: %T is not a recorded object", item)
		}
		cells := make([]string, len(cc.paths))
		for i, jp := range cc.paths {
			found, err := jp.FindResults(u.UnstructuredContent())
			if err != nil {
				return printerError("custom-columns", fmt.Errorf("column %s: %v", cc.headers[i], err))
			}
			var vals []string
			for _, vs := range found {
				for _, v := range vs {
					vals = append(vals, printers.EscapeTerminal(fmt.Sprint(v.Interface())))
				}
			}
			cells[i] = "<none>"
			if len(vals) > 0 {
				cells[i] = strings.Join(vals, ",")
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}
