package main

import (
	"fmt"
	"io"

	"github.com/khist/khist/query"
	"github.com/spf13/cobra"
)

type timelineFlags struct {
	queryFlags
	since, until   string
	kinds          []string
	selector       string
	outputFile     string
	followSymlinks bool
	all            bool
}

func newTimelineCmd(g *globalFlags) *cobra.Command {
	f := &timelineFlags{}
	cmd := &cobra.Command{
		Use:   "timeline [KIND/NAME] --since T [--until T] [-n NS[,NS...] | -A] [--kind K] [-l SELECTOR] [-o table|json|csv|md|html]",
		Short: "Show every change in a time window, in order, grouped by workload",
		Long: `timeline lists every recorded change in a window, grouped by workload (a Deployment with
its ReplicaSets and their Pods, a StatefulSet with its Pods and their PVCs, a Service with its
Endpoints), with spec changes (*), scaling steps (^), readiness changes (+ ready, - not ready)
and warning Events (!) marked. -o html writes one self-contained page (no network needed) with
swimlanes on a time axis, zoom, and the diff of each change on a click.

-n takes several namespaces (-n shop,payments). KIND/NAME (deploy/web) keeps only that
workload's tree: the object, what it owns (ReplicaSets, Jobs, their pods) and the Events about
them.`,
		Example: `  khist timeline -n shop --since "2026-11-20 10:02" --until "2026-11-20 10:40"
  khist timeline -n shop --since 2h -l app=web -o md > incident.md
  khist timeline -A --since 1h -o html --output-file timeline.html
  khist timeline -n shop,payments --since 1h
  khist timeline deploy/web -n shop --since 1h`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			workload := ""
			if len(args) == 1 {
				workload = args[0]
			}
			// The document goes to a temporary file that replaces --output-file only when
			// complete: an error below leaves an existing file as it was.
			var w io.Writer = cmd.OutOrStdout()
			var out *outputFile
			if f.outputFile != "" && f.outputFile != "-" {
				var err error
				if out, err = createOutput("--output-file", f.outputFile, f.followSymlinks); err != nil {
					return err
				}
				defer out.Abort()
				w = out
			}
			v, done, err := openViews(cmd, g, &f.queryFlags)
			if err != nil {
				return err
			}
			defer done()
			err = v.Timeline(cmd.Context(), query.TimelineArgs{
				Namespace: f.ns(), AllNamespaces: f.allNamespaces, Since: f.since, Until: f.until,
				Kinds: f.kinds, Selector: f.selector, Output: f.output, All: f.all, Workload: workload,
			}, w)
			if out != nil && err == nil {
				if err = out.Commit(); err != nil {
					return fmt.Errorf("--output-file: %v", err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", f.outputFile)
			}
			return err
		},
	}
	f.addNamespace(cmd, g, true)
	f.clusters = manyClusters
	f.addViews(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.since, "since", "", "start of the window ("+query.TimeForms+"); required")
	fl.StringVar(&f.until, "until", "", "end of the window (default now)")
	fl.StringSliceVar(&f.kinds, "kind", nil, "only objects of these kinds (comma separated)")
	fl.StringVarP(&f.selector, "selector", "l", "", "only workloads with an object whose labels match (app=web,tier!=db)")
	fl.StringVarP(&f.output, "output", "o", "table", "table, json, csv, md or html")
	fl.StringVar(&f.outputFile, "output-file", "", "write to this file instead of standard output: replaced only when the document is complete; a new file is created 0600")
	fl.BoolVar(&f.followSymlinks, "follow-symlinks", false, "let --output-file replace the file a symbolic link points to (refused by default)")
	fl.BoolVar(&f.all, "all", false, "also list versions that changed only noise (resourceVersion, status timestamps)")
	cmd.RegisterFlagCompletionFunc("kind", completeKinds)
	cmd.RegisterFlagCompletionFunc("output", completeWords(query.TimelineFormats...))
	return cmd
}
