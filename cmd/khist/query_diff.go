package main

import (
	"fmt"

	"github.com/khist/khist/query"
	"github.com/spf13/cobra"
)

type diffFlags struct {
	queryFlags
	from, to string
	all      bool
	color    string
	context  int
}

func newDiffCmd(g *globalFlags) *cobra.Command {
	f := &diffFlags{}
	cmd := &cobra.Command{
		Use:   "diff KIND/NAME [--from T|REV] [--to T|REV]",
		Short: "Show how an object changed between two times or revisions, as a unified YAML diff",
		Long: `diff compares two recorded versions of an object as YAML. --from and --to take a revision
number (workloads: the last version of that revision) or a time. Without --to the diff ends at
the last recorded version; without --from it starts at the previous version that differs, so
"khist diff deploy/web" shows the last change. Noise (resourceVersion, managedFields, status
timestamps, kubectl's last-applied-configuration) is left out unless --all. Colour is on when
standard output is a terminal (--color, NO_COLOR).`,
		Example: `  khist diff deploy/web -n shop --from 3 --to 4
  khist diff deploy/web -n shop --from "2026-11-20 10:00" --to "2026-11-20 10:05"
  khist diff sts/db -n shop                 # its last change`,
		Args:              objectArgs,
		ValidArgsFunction: completeObject(g, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			var color bool
			switch f.color {
			case "auto":
				color = isTerminal(cmd.OutOrStdout())
			case "always":
				color = true
			case "never":
			default:
				return fmt.Errorf("--color: %q: use auto, always or never", f.color)
			}
			v, done, err := openViews(cmd, g, &f.queryFlags)
			if err != nil {
				return err
			}
			defer done()
			if v, err = oneCluster(cmd, v, &f.queryFlags, args); err != nil {
				return err
			}
			return v.Diff(cmd.Context(), query.DiffArgs{
				Object: objectArg(args), Namespace: f.ns(), From: f.from, To: f.to,
				All: f.all, Color: color, Context: f.context,
			}, cmd.OutOrStdout())
		},
	}
	f.addNamespace(cmd, g, false)
	f.clusters = objectCluster
	f.addViews(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.from, "from", "", "start: a revision number or a time ("+query.TimeForms+")")
	fl.StringVar(&f.to, "to", "", "end: a revision number or a time (default: the last recorded version)")
	fl.BoolVar(&f.all, "all", false, "also compare noise: resourceVersion, managedFields, status timestamps")
	fl.StringVar(&f.color, "color", "auto", "colour the diff: auto (on a terminal), always or never")
	fl.IntVarP(&f.context, "unified", "U", 3, "lines of context")
	cmd.RegisterFlagCompletionFunc("color", completeWords("auto", "always", "never"))
	return cmd
}
