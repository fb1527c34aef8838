package query

import (
	"encoding/json"
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Printer prints recorded objects as one of kubectl's printers does (cli-runtime's
// printers.ResourcePrinter is one): -o jsonpath=..., go-template=..., custom-columns=.... It
// receives an *unstructured.Unstructured for one object, and an *unstructured.UnstructuredList
// (kind List) for a list, as kubectl get gives its printers.
type Printer interface {
	PrintObj(runtime.Object, io.Writer) error
}

// unstructuredOf decodes a recorded version as kubectl's printers take it.
func unstructuredOf(ver Version) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(ver.Object); err != nil {
		return nil, fmt.Errorf("%s: the recorded version is not a Kubernetes object: %w", ver.Ref(), err)
	}
	return u, nil
}

// printList prints versions through p as a kubectl List.
func printList(p Printer, vs []Version, w io.Writer) error {
	list := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "v1", "kind": "List", "metadata": map[string]any{"resourceVersion": ""}}}
	for _, ver := range vs {
		u, err := unstructuredOf(ver)
		if err != nil {
			return err
		}
		list.Items = append(list.Items, *u)
	}
	return p.PrintObj(list, w)
}

// printRows prints the rows of a table (rollouts, history, steps) through p as a kubectl List
// whose items are the rows as -o json writes them: a template reads .items, custom-columns
// print a row per item.
func printRows[R any](p Printer, rows []R, w io.Writer) error {
	list := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "v1", "kind": "List", "metadata": map[string]any{"resourceVersion": ""}}}
	for _, r := range rows {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		list.Items = append(list.Items, unstructured.Unstructured{Object: m})
	}
	return p.PrintObj(list, w)
}

// writeRows writes a command's rows through a kubectl printer when one is given, or as
// indented JSON for -o json; handled is false for the other formats, which the caller writes.
func writeRows[R any](w io.Writer, rows []R, out string, p Printer) (handled bool, err error) {
	if p != nil {
		return true, printRows(p, rows, w)
	}
	if out != OutJSON {
		return false, nil
	}
	j, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		return true, err
	}
	_, err = w.Write(append(j, '\n'))
	return true, err
}
