package main

import (
	"github.com/khist/khist/query"
	"github.com/spf13/cobra"
)

type stepsFlags struct {
	queryFlags
	rollout string
}

func newStepsCmd(g *globalFlags) *cobra.Command {
	f := &stepsFlags{}
	cmd := &cobra.Command{
		Use:   "steps KIND/NAME [--rollout ID]",
		Short: "Show the reconcile steps of a rollout, with their times",
		Long: `steps lists what the controllers did during a rollout, in order: replica sets scaled, pods
created and deleted, PVCs created and bound, each with its time, the time since the rollout
started and the Event that announced it. --rollout takes an ID from khist rollouts, revN (the
rollout to revision N), latest (the default) or all. For a Job (job/NAME): its pods created,
succeeded and failed (with exit code and reason) or deleted while running, its suspensions and
how it ended.`,
		Example: `  khist steps deploy/web -n shop
  khist steps sts/db -n shop --rollout rev4
  khist steps deploy/web -n shop --rollout all -o json
  khist steps job/migrate -n shop`,
		Args:              objectArgs,
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
			return withPrinterFormats(v.Steps(cmd.Context(), query.StepsArgs{Object: objectArg(args), Namespace: f.ns(), Rollout: f.rollout, Output: f.output, Table: f.table, Printer: p}, cmd.OutOrStdout()))
		},
	}
	f.addNamespace(cmd, g, false)
	f.clusters = objectCluster
	f.addViews(cmd)
	f.addTable(cmd, ".text (within each rollout)")
	cmd.Flags().StringVar(&f.rollout, "rollout", "latest", "the rollout: KIND/NAME#N or '#N' as khist rollouts numbers them, revN (the rollout to revision N), latest or all")
	f.addRowsOutput(cmd, query.StepsFormats)
	cmd.RegisterFlagCompletionFunc("rollout", completeRollouts(g))
	return cmd
}
