package main

import (
	"github.com/khist/khist/query"
	"github.com/spf13/cobra"
)

type stateFlags struct {
	queryFlags
	at    string
	kinds []string
	print *printFlags
}

func newStateCmd(g *globalFlags) *cobra.Command {
	f := &stateFlags{}
	cmd := &cobra.Command{
		Use:   "state --at T [-n NS | -A] [--kind K]",
		Short: "Show what kubectl get would have shown at a time",
		Long: `state lists the objects that existed at a time, each as it was then, with kubectl get's
columns. Without --kind it shows what kubectl get all shows, and PersistentVolumeClaims.`,
		Example: `  khist state -n shop --at "2026-11-20 10:02"
  khist state -A --at 2h --kind deploy,sts -o wide
  khist state -n shop --at 10m --kind pods -o yaml
  khist state -n shop --at 10m --kind deploy -o custom-columns=NAME:.metadata.name,REPLICAS:.spec.replicas`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := f.print.printer(f.output)
			if err != nil {
				return err
			}
			v, done, err := openViews(cmd, g, &f.queryFlags)
			if err != nil {
				return err
			}
			defer done()
			return withPrinterFormats(v.State(cmd.Context(), query.StateArgs{
				Namespace: f.ns(), AllNamespaces: f.allNamespaces, At: f.at, Kinds: f.kinds, Output: f.output, Printer: p, Note: cmd.ErrOrStderr(), Table: f.table,
			}, cmd.OutOrStdout()))
		},
	}
	f.addNamespace(cmd, g, true)
	f.addViews(cmd)
	f.addTable(cmd, "'{.metadata.creationTimestamp}'")
	fl := cmd.Flags()
	fl.StringVar(&f.at, "at", "", "the time ("+query.TimeForms+"); required")
	fl.StringSliceVar(&f.kinds, "kind", nil, "only these kinds (comma separated; all: what kubectl get all shows)")
	fl.StringVarP(&f.output, "output", "o", "table", "table, wide, name, json or yaml; or kubectl's "+printerFormats)
	f.print = addPrintFlags(cmd)
	cmd.RegisterFlagCompletionFunc("kind", completeKinds)
	cmd.RegisterFlagCompletionFunc("output", completeOutput(query.StateFormats))
	return cmd
}
