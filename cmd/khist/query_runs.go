package main

import (
	"fmt"

	"github.com/khist/khist/query"
	"github.com/spf13/cobra"
)

type runsFlags struct {
	queryFlags
	since, until string
}

func newRunsCmd(g *globalFlags) *cobra.Command {
	f := &runsFlags{}
	cmd := &cobra.Command{
		Use:   "runs cronjob/NAME [--since T] [--until T]",
		Short: "List a CronJob's scheduled times, the Job each started or why none ran",
		Long: `runs lists every time a CronJob's schedule (in its time zone) gave in a window (default: the
CronJob's recorded life) and, for each, the Job it started, how late, how long it ran and its
outcome (complete, failed with its reason, replaced by the next under concurrencyPolicy Replace),
or why no Job ran: suspended, missed past startingDeadlineSeconds, skipped by concurrencyPolicy
Forbid while another ran. Jobs deleted by the history limits are listed with their clean-up time.`,
		Example: `  khist runs cronjob/backup -n ops
  khist runs cj/backup -n ops --since 2026-12-01T00:00:00Z --until 2026-12-02T00:00:00Z
  khist runs cronjob/backup -n ops -o json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("runs: a CronJob is needed: khist runs cronjob/NAME")
			}
			return objectArgs(cmd, args)
		},
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
			if v, err = oneCluster(cmd, v, &f.queryFlags, args); err != nil {
				return err
			}
			return withPrinterFormats(v.Runs(cmd.Context(), query.RunsArgs{
				Object: objectArg(args), Namespace: f.ns(), Since: f.since, Until: f.until,
				Output: f.output, Table: f.table, Printer: p,
			}, cmd.OutOrStdout()))
		},
	}
	f.addNamespace(cmd, g, false)
	f.clusters = objectCluster
	f.addViews(cmd)
	f.addTable(cmd, ".scheduled or .durationNanos")
	fl := cmd.Flags()
	fl.StringVar(&f.since, "since", "", "only times scheduled at or after this time ("+query.TimeForms+")")
	fl.StringVar(&f.until, "until", "", "only times scheduled at or before this time")
	f.addRowsOutput(cmd, query.RunsFormats)
	return cmd
}
