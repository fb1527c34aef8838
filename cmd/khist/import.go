package main

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/eventlog/importer"
	"github.com/khist/khist/projector"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

type importFlags struct {
	format      string
	noProject   bool
	memoryLimit memoryLimitFlag
}

// newImportCmd makes khist import; afterImport folds what was imported into the views, unless
// --no-project is given or it is nil.
func newImportCmd(g *globalFlags, afterImport func(cmd *cobra.Command, g *globalFlags) error) *cobra.Command {
	f := &importFlags{}
	cmd := &cobra.Command{
		Use:   "import FILE... (or - for standard input)",
		Short: "Append recorded watch streams (kubectl --watch --output-watch-events -o json), Lists or audit logs to the log",
		Example: `  kubectl get deploy,rs,pods -n shop --watch --output-watch-events -o json > shop.json
  khist import shop.json
  khist import --format audit /var/log/kubernetes/audit.log`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runImport(cmd, g, f, args, afterImport) },
	}
	cmd.Flags().StringVar(&f.format, "format", "watch", "input format: watch (kubectl watch events or Lists) or audit (audit.k8s.io/v1 JSON lines)")
	cmd.Flags().BoolVar(&f.noProject, "no-project", false, "only append to the log; do not fold into the views")
	f.memoryLimit.add(cmd)
	return cmd
}

func runImport(cmd *cobra.Command, g *globalFlags, f *importFlags, args []string, afterImport func(cmd *cobra.Command, g *globalFlags) error) error {
	format := importer.Format(f.format)
	if format != importer.FormatWatch && format != importer.FormatAudit {
		return fmt.Errorf("--format: unknown format %q: use watch or audit", f.format)
	}
	if err := f.memoryLimit.apply(cmd); err != nil {
		return err
	}
	var inputs []importer.Input
	for _, a := range args {
		if a == "-" {
			inputs = append(inputs, importer.Input{Name: "-", R: cmd.InOrStdin()})
			continue
		}
		fh, err := os.Open(a)
		if err != nil {
			return fmt.Errorf("import: %s: cannot open: %v", a, err)
		}
		defer fh.Close()
		in := importer.Input{Name: a, R: fh}
		if fi, err := fh.Stat(); err == nil && fi.Mode().IsRegular() {
			in.Size = fi.Size()
		}
		inputs = append(inputs, in)
	}
	var opts importer.Options
	if fh, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(fh.Fd())) {
		opts.Progress = importProgressBar(fh)
	}
	ctx := cmd.Context()
	l, err := openLog(ctx, g)
	if err != nil {
		return err
	}
	defer l.Close()
	res, st, err := importer.Import(ctx, l, format, g.Cluster, opts, inputs...)
	if res == nil { // the inputs could not be read: nothing was published
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "imported %d events, %d duplicates skipped, %d bookmarks skipped, %d rejected\n",
		st.Published, st.Duplicates, res.Bookmarks, res.RejectedTotal())
	reasons := make([]string, 0, len(res.Rejected))
	for r := range res.Rejected {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(out, "  rejected %d: %s\n", res.Rejected[r], r)
	}
	if err != nil && errors.Is(err, eventlog.ErrPublish) {
		// What was stored stays; a re-run skips it (same message ids, or versions not newer
		// than the log's) and stores the rest.
		return fmt.Errorf("%w (%d events of this import stored: run the same import again to store the rest)", err, st.Published)
	}
	if err != nil {
		return err
	}
	if !f.noProject && afterImport != nil {
		l.Close()
		err := afterImport(cmd, g)
		if errors.Is(err, projector.ErrInUse) {
			// The import is done: its events are in the log. Another khist process is folding
			// into the views; the next command that reads them folds what they lack.
			fmt.Fprintf(out, "views not updated: %v; the events are stored, and the next khist command that reads the views folds them\n", err)
			return nil
		}
		return err
	}
	return nil
}
