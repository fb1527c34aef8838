package main

import (
	"github.com/khist/khist/query"
	"github.com/spf13/cobra"
)

type rolloutsFlags struct {
	queryFlags
	since, until string
}

func newRolloutsCmd(g *globalFlags) *cobra.Command {
	f := &rolloutsFlags{}
	cmd := &cobra.Command{
		Use:   "rollouts [-n NS | -A] [KIND[/NAME]] [--since T] [--until T]",
		Short: "Audit rollouts: one row per rollout with revisions, images, duration, outcome and availability",
		Long: `rollouts lists every rollout of Deployments, StatefulSets and DaemonSets: the workload, the
revision it went from and to, images, when it started and how long it took, its outcome
(complete, progressing, failed, rolled back, superseded, paused), the lowest number of available
replicas (and share of the desired ones), the peak number of pods, the number of reconcile steps
(khist steps shows them, by the ID of this table) and who triggered it. A Job's run is listed
as job/NAME#1 (a CronJob's Jobs as cronjob/NAME#N), with its pods succeeded and failed.`,
		Example: `  khist rollouts -A --since 7d
  khist rollouts -n shop deploy/web
  khist rollouts -A --since 7d -o csv > rollouts.csv`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeObject(g, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := f.print.printer(f.output)
			if err != nil {
				return err
			}
			v, done, err := openViews(cmd, g, &f.queryFlags)
			if err != nil {
				return err
			}
			defer done()
			return withPrinterFormats(v.Rollouts(cmd.Context(), query.RolloutsArgs{
				Object: objectArg(args), Namespace: f.ns(), AllNamespaces: f.allNamespaces,
				Since: f.since, Until: f.until, Output: f.output, Table: f.table, Printer: p,
			}, cmd.OutOrStdout()))
		},
	}
	f.addNamespace(cmd, g, true)
	f.clusters = manyClusters
	f.addViews(cmd)
	f.addTable(cmd, ".durationNanos or .minAvailableShare")
	fl := cmd.Flags()
	fl.StringVar(&f.since, "since", "", "only rollouts that ran at or after this time ("+query.TimeForms+")")
	fl.StringVar(&f.until, "until", "", "only rollouts that started before this time")
	f.addRowsOutput(cmd, query.RolloutsFormats)
	return cmd
}
