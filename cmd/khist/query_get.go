package main

import (
	"fmt"

	"github.com/khist/khist/query"
	"github.com/spf13/cobra"
)

type getFlags struct {
	queryFlags
	at    string
	print *printFlags
}

func newGetCmd(g *globalFlags) *cobra.Command {
	f := &getFlags{}
	cmd := &cobra.Command{
		Use:   "get KIND/NAME | KIND",
		Short: "Show an object as it was at a time (default: its last recorded version, also once deleted), or list a kind's objects",
		Example: `  khist get deploy/web -n shop --at 2026-11-20T10:02:00Z
  khist get pod/web-0 -n shop --at 2h -o json
  khist get deploy/web -n shop --at 2h -o jsonpath='{.spec.template.spec.containers[0].image}'
  khist get deploy/old-api -n shop          # deleted since: its final state
  khist get deploy -n shop --at 10m         # the Deployments that existed 10 minutes ago, as kubectl get lists them`,
		Args:              getArgs,
		ValidArgsFunction: completeObject(g, false),
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
			return withPrinterFormats(v.Get(cmd.Context(), query.GetArgs{Object: objectArg(args), Namespace: f.ns(), AllNamespaces: f.allNamespaces,
				At: f.at, Output: f.output, Printer: p, Note: cmd.ErrOrStderr(), Table: f.table}, cmd.OutOrStdout()))
		},
	}
	f.addNamespace(cmd, g, true)
	f.clusters = objectCluster
	f.addViews(cmd)
	f.addTable(cmd, "'{.metadata.creationTimestamp}' (with KIND alone)")
	cmd.Flags().StringVar(&f.at, "at", "", "the time ("+query.TimeForms+")")
	cmd.Flags().StringVarP(&f.output, "output", "o", "", "yaml (default), json or name; a list (KIND alone): table (default), wide, name, json or yaml; and kubectl's "+printerFormats)
	f.print = addPrintFlags(cmd)
	cmd.RegisterFlagCompletionFunc("output", completeOutput(query.StateFormats))
	return cmd
}

// getArgs validates get's positional arguments: KIND/NAME, KIND NAME, or KIND alone.
func getArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("get: KIND/NAME or KIND is needed, e.g. get deploy/web, or get deploy to list them")
	}
	return objectArgs(cmd, args)
}
