package main

import (
	"github.com/khist/khist/query"
	"github.com/spf13/cobra"
)

func init() { register(newGetCmd) }

type getFlags struct {
	queryFlags
	at string
}

func newGetCmd(g *globalFlags) *cobra.Command {
	f := &getFlags{}
	cmd := &cobra.Command{
		Use:   "get KIND/NAME",
		Short: "Show an object as it was at a time (default: its last recorded version, also once deleted)",
		Example: `  khist get deploy/web -n shop --at 2026-11-20T10:02:00Z
  khist get pod/web-0 -n shop --at 2h -o json
  khist get deploy/old-api -n shop          # deleted since: its final state`,
		Args:              objectArgs,
		ValidArgsFunction: completeObject(g, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, done, err := openViews(cmd, g, &f.queryFlags)
			if err != nil {
				return err
			}
			defer done()
			return v.Get(cmd.Context(), query.GetArgs{Object: objectArg(args), Namespace: f.ns(), At: f.at, Output: f.output}, cmd.OutOrStdout())
		},
	}
	f.addNamespace(cmd, g, false)
	f.addViews(cmd)
	cmd.Flags().StringVar(&f.at, "at", "", "the time ("+query.TimeForms+")")
	cmd.Flags().StringVarP(&f.output, "output", "o", "yaml", "yaml or json")
	cmd.RegisterFlagCompletionFunc("output", completeWords(query.GetFormats...))
	return cmd
}
