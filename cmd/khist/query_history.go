package main

import (
	"github.com/khist/khist/query"
	"github.com/spf13/cobra"
)

func newHistoryCmd(g *globalFlags) *cobra.Command {
	f := &queryFlags{}
	cmd := &cobra.Command{
		Use:   "history KIND/NAME",
		Short: "List every revision of a Deployment, StatefulSet or DaemonSet (kubectl rollout history, complete)",
		Long: `history lists every revision of a workload, also of one deleted since: its template hash,
images, when it became current and until when, who changed it, its change-cause, the outcome of
the rollout that introduced it and how many pods were created from it.`,
		Example: `  khist history deploy/web -n shop
  khist history sts/db -n shop -o yaml`,
		Args:              objectArgs,
		ValidArgsFunction: completeObject(g, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := f.print.printer(f.output)
			if err != nil {
				return err
			}
			v, done, err := openViews(cmd, g, f)
			if err != nil {
				return err
			}
			defer done()
			if v, err = oneCluster(cmd, v, f, args); err != nil {
				return err
			}
			return withPrinterFormats(v.History(cmd.Context(), query.HistoryArgs{Object: objectArg(args), Namespace: f.ns(), Output: f.output, Table: f.table, Printer: p}, cmd.OutOrStdout()))
		},
	}
	f.addNamespace(cmd, g, false)
	f.clusters = objectCluster
	f.addViews(cmd)
	f.addTable(cmd, ".created")
	f.addRowsOutput(cmd, query.HistoryFormats)
	return cmd
}
