package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/query"
	"github.com/spf13/cobra"
)

type logFlags struct {
	kind, namespace, name string
	allNamespaces         bool
	allClusters           bool
	since, until          string
	output                string
	fromSeq               uint64
	limit                 int
}

func newLogCmd(g *globalFlags) *cobra.Command {
	f := &logFlags{}
	cmd := &cobra.Command{
		Use:   "log [KIND[/NAME]]",
		Short: "Print the raw event log, the source of truth, optionally filtered",
		Example: `  khist log deploy -n shop
  khist log pod/web-0 -n shop --since 2h -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				k, n, err := query.ParseKindName(args[0], nil, true)
				if err != nil {
					return err
				}
				f.kind, f.name = k.Kind, n
			} else if f.kind != "" {
				k, err := query.ResolveKind(f.kind, nil)
				if err != nil {
					return fmt.Errorf("--kind: %w", err)
				}
				f.kind = k.Kind
			}
			return runLog(cmd, g, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kind, "kind", "", "only this kind (kind, plural or short name)")
	fl.StringVarP(&f.namespace, "namespace", "n", "", "only this namespace")
	fl.BoolVarP(&f.allNamespaces, "all-namespaces", "A", false, "all namespaces (the default for log)")
	fl.BoolVar(&f.allClusters, "all-clusters", false, "every recorded cluster (--cluster takes several too: --cluster prod,stage)")
	fl.StringVar(&f.since, "since", "", "only events observed at or after this time ("+query.TimeForms+")")
	fl.StringVar(&f.until, "until", "", "only events observed before this time")
	fl.StringVarP(&f.output, "output", "o", "table", "table or json (one envelope per line)")
	fl.Uint64Var(&f.fromSeq, "from-seq", 0, "start at this stream sequence")
	fl.IntVar(&f.limit, "limit", 0, "print at most this many events (0: all)")
	return cmd
}

// jsonEnvelope is the -o json form of an envelope: its headers and the object.
type jsonEnvelope struct {
	Seq             uint64          `json:"seq"`
	Type            string          `json:"type"`
	Cluster         string          `json:"cluster"`
	APIVersion      string          `json:"apiVersion"`
	Kind            string          `json:"kind"`
	Namespace       string          `json:"namespace,omitempty"`
	Name            string          `json:"name"`
	UID             string          `json:"uid"`
	ResourceVersion string          `json:"resourceVersion"`
	Observed        time.Time       `json:"observed"`
	Source          string          `json:"source,omitempty"`
	Actor           string          `json:"actor,omitempty"`
	Object          json.RawMessage `json:"object"`
}

func runLog(cmd *cobra.Command, g *globalFlags, f *logFlags) error {
	if f.output != "table" && f.output != "json" {
		return fmt.Errorf("-o: unknown output %q: use table or json", f.output)
	}
	now := time.Now()
	var since, until time.Time
	var err error
	if f.since != "" {
		if since, err = query.ParseTime("--since", f.since, now, time.Local); err != nil {
			return err
		}
	}
	if f.until != "" {
		if until, err = query.ParseTime("--until", f.until, now, time.Local); err != nil {
			return err
		}
	}
	ctx := cmd.Context()
	l, err := openLog(ctx, g)
	if err != nil {
		return err
	}
	defer l.Close()
	// The clusters: --cluster a,b, or every one ("*", a subject wildcard) with --all-clusters.
	clusters := query.SplitClusters(g.Cluster)
	if len(clusters) == 0 {
		clusters = []string{g.Cluster}
	}
	if f.allClusters {
		if fl := cmd.Flag("cluster"); fl != nil && fl.Changed {
			return fmt.Errorf("--cluster %s and --all-clusters exclude each other: use one", g.Cluster)
		}
		clusters = []string{"*"}
	}
	several := f.allClusters || len(clusters) > 1
	var filters []string
	for _, c := range clusters {
		switch k, _ := query.ResolveKind(f.kind, nil); {
		case f.kind != "" && f.name != "" && f.namespace != "" && c != "*":
			filters = append(filters, eventlog.Subject(c, k.Group, k.Kind, f.namespace, f.name))
		case f.kind != "":
			ns := "*"
			if f.namespace != "" {
				ns = f.namespace
			}
			filters = append(filters, eventlog.Filter(c, k.Group, k.Kind, ns))
		case f.namespace != "":
			filters = append(filters, eventlog.Filter(c, "*", "*", f.namespace))
		case c == "*":
			filters = append(filters, eventlog.SubjectPrefix+".>")
		default:
			filters = append(filters, eventlog.SubjectPrefix+"."+eventlog.EncodeToken(c)+".>")
		}
	}
	w := bufio.NewWriter(cmd.OutOrStdout())
	defer w.Flush()
	enc := json.NewEncoder(w)
	printed := 0
	errStop := fmt.Errorf("limit reached")
	// A damaged log is read past its damage: every event that can be read is printed, and
	// the command then fails naming what could not.
	err = l.Read(ctx, eventlog.ReadOptions{StartSeq: f.fromSeq, Filters: filters, SkipDamage: true}, func(batch []*eventlog.Envelope) error {
		for _, e := range batch {
			if e.Type == eventlog.Progress {
				continue // the collector's bookkeeping (where to resume its watches), not a change
			}
			if f.name != "" && e.Name != f.name {
				continue
			}
			if !since.IsZero() && e.Observed.Before(since) || !until.IsZero() && !e.Observed.Before(until) {
				continue
			}
			if f.output == "json" {
				je := jsonEnvelope{e.Seq, string(e.Type), e.Cluster, e.GroupVersion(), e.Kind, e.Namespace, e.Name, e.UID, e.ResourceVersion, e.Observed, e.Source, e.Actor, e.Object}
				if err := enc.Encode(&je); err != nil {
					return err
				}
			} else {
				if printed == 0 {
					if several {
						fmt.Fprintf(w, "%-10s ", "CLUSTER")
					}
					fmt.Fprintf(w, "%-8s %-20s %-18s %-22s %-40s %-10s %s\n", "SEQ", "OBSERVED", "TYPE", "KIND", "NAMESPACE/NAME", "RV", "ACTOR")
				}
				if several {
					fmt.Fprintf(w, "%-10s ", e.Cluster)
				}
				nn := e.Name
				if e.Namespace != "" {
					nn = e.Namespace + "/" + e.Name
				}
				kind := e.Kind
				if e.Type == eventlog.Audited {
					kind = e.Resource // an audit record names the resource it wrote
				}
				fmt.Fprintf(w, "%-8d %-20s %-18s %-22s %-40s %-10s %s\n", e.Seq, e.Observed.Local().Format("2006-01-02 15:04:05"), e.Type, kind, nn, e.ResourceVersion, e.Actor)
			}
			printed++
			if f.limit > 0 && printed >= f.limit {
				return errStop
			}
		}
		return nil
	})
	if err == errStop {
		return nil
	}
	if err == nil && printed == 0 && f.output == "table" {
		fmt.Fprintln(w, noEvents(clusters, f))
	}
	return err
}

// noEvents says that the log holds nothing the filters select, as rollouts does.
func noEvents(clusters []string, f *logFlags) string {
	what := "No events"
	if f.kind != "" {
		k, _ := query.ResolveKind(f.kind, nil)
		what = "No " + k.Kind + " events"
		if f.name != "" {
			what = "No events of " + k.Singular() + "/" + f.name
		}
	}
	where := " in cluster " + strings.Join(clusters, ", ")
	switch {
	case len(clusters) > 1:
		where = " in clusters " + strings.Join(clusters, ", ")
	case clusters[0] == "*":
		where = " in any cluster"
	}
	if f.namespace != "" {
		where = " in namespace " + f.namespace
	}
	var when string
	if f.since != "" {
		when += " since " + f.since
	}
	if f.until != "" {
		when += " until " + f.until
	}
	return what + " recorded" + where + when + "."
}
