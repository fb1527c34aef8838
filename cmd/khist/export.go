package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/khist/khist/export/grafana"
	"github.com/khist/khist/export/otlp"
	"github.com/khist/khist/projector"
	"github.com/khist/khist/query"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
)

func newExportCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Send the recorded rollouts to other tools: OpenTelemetry traces (otlp), Grafana annotations (grafana)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newExportOTLPCmd(g), newExportGrafanaCmd(g))
	return cmd
}

type exportOTLPFlags struct {
	queryFlags
	endpoint, service string
	since, until      string
	insecure          bool
	timeout           time.Duration
}

func newExportOTLPCmd(g *globalFlags) *cobra.Command {
	f := &exportOTLPFlags{}
	cmd := &cobra.Command{
		Use:   "otlp --endpoint HOST:PORT [-n NS | -A] [--since T] [--until T] [--insecure]",
		Short: "Send each finished rollout as an OpenTelemetry trace to an OTLP/HTTP receiver",
		Long: `export otlp sends each finished rollout of Deployments, StatefulSets and DaemonSets as an
OpenTelemetry trace to an OTLP/HTTP receiver (an OpenTelemetry Collector, Jaeger, Tempo ...):
the rollout is the root span, from its start to its end, with its workload, revisions, images,
replicas, lowest availability, actor and outcome as attributes (and an error status when it
failed or was rolled back); each reconcile step (khist steps) is a child span, from the step to
the next one, with its action, target and replicas from and to; each change of a pod's
readiness is an event of the rollout's span.

Trace and span IDs are derived from the rollout (cluster, workload uid, where it starts in the
log), so exporting again sends the same traces, not new ones. khist collect and khist project
send each rollout as it ends with --otlp-endpoint.`,
		Example: `  khist export otlp --endpoint localhost:4318 --insecure -A --since 7d
  khist export otlp --endpoint otel-collector.observability:4318 -n shop`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			o := otlp.Options{Endpoint: f.endpoint, Insecure: f.insecure, ServiceName: f.service, Timeout: f.timeout, Cluster: g.Cluster}
			if err := otlp.Check(o); err != nil {
				return err
			}
			v, done, err := openViews(cmd, g, &f.queryFlags)
			if err != nil {
				return err
			}
			defer done()
			since, until, err := v.Env.Window(f.since, f.until)
			if err != nil {
				return err
			}
			ds, err := v.RolloutDetails(ctx, query.RolloutDetailArgs{Namespace: f.ns(), AllNamespaces: f.allNamespaces, Since: since, Until: until})
			if err != nil {
				return err
			}
			e, err := otlp.New(ctx, o)
			if err != nil {
				return err
			}
			defer e.Close(context.Background())
			st, err := e.Export(ctx, ds)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sent %d rollouts as traces (%d spans, %d pod readiness events) to %s\n", st.Traces, st.Spans, st.Events, f.endpoint)
			return nil
		},
	}
	f.addNamespace(cmd, g, true)
	f.addViews(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.endpoint, "endpoint", "", "the OTLP/HTTP receiver, HOST:PORT (e.g. localhost:4318)")
	fl.BoolVar(&f.insecure, "insecure", false, "send over plain HTTP (default HTTPS)")
	fl.StringVar(&f.service, "service-name", "khist", "the traces' service.name")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "give up a send (its retries included) after this long")
	fl.StringVar(&f.since, "since", "", "only rollouts that ran at or after this time ("+query.TimeForms+")")
	fl.StringVar(&f.until, "until", "", "only rollouts that started before this time")
	return cmd
}

// otlpFlags are --otlp-endpoint and --otlp-insecure of collect and project: each rollout is
// sent as a trace as it ends.
type otlpFlags struct {
	endpoint string
	insecure bool
}

func (o *otlpFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.endpoint, "otlp-endpoint", "", "send each rollout that ends as an OpenTelemetry trace to this OTLP/HTTP receiver, HOST:PORT (as khist export otlp does), once per rollout")
	cmd.Flags().BoolVar(&o.insecure, "otlp-insecure", false, "send --otlp-endpoint's traces over plain HTTP (default HTTPS)")
}

// watcher returns the trace sender to run beside the fold (nil: none). Its state file sits
// beside the views: otlp.json in the data directory.
func (o *otlpFlags) watcher(g *globalFlags, reg prometheus.Registerer, logger *slog.Logger) (viewsWatcher, error) {
	if o.endpoint == "" {
		if o.insecure {
			return nil, fmt.Errorf("--otlp-insecure: give --otlp-endpoint too")
		}
		return nil, nil
	}
	fo := otlp.FollowOptions{Options: otlp.Options{Endpoint: o.endpoint, Insecure: o.insecure, Cluster: g.Cluster},
		StateFile: filepath.Join(g.DataDir, "otlp.json"), Registerer: reg, Logger: logger}
	if err := otlp.Check(fo.Options); err != nil {
		return nil, fmt.Errorf("--otlp-endpoint: %w", err)
	}
	return func(ctx context.Context, db *projector.DB) {
		if err := otlp.Follow(ctx, query.NewViews(db, g.Cluster, query.DefaultEnv()), fo); err != nil {
			logger.Error("rollout traces stopped", "err", err)
		}
	}, nil
}

// both runs two watchers side by side (either may be nil).
func both(a, b viewsWatcher) viewsWatcher {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(ctx context.Context, db *projector.DB) {
		done := make(chan struct{})
		go func() { defer close(done); b(ctx, db) }()
		a(ctx, db)
		<-done
	}
}

// envGrafanaToken gives export grafana's token without a flag.
const envGrafanaToken = "KHIST_GRAFANA_TOKEN"

type exportGrafanaFlags struct {
	queryFlags
	url, token, tokenFile string
	dashboard             string
	panel                 int64
	since, until, what    string
}

func newExportGrafanaCmd(g *globalFlags) *cobra.Command {
	f := &exportGrafanaFlags{}
	cmd := &cobra.Command{
		Use:   "grafana --url URL [--token-file F] [-n NS | -A] [--since T] [--until T] [--dashboard-uid UID]",
		Short: "Push rollouts and spec changes as annotations to Grafana's annotations API",
		Long: `export grafana pushes an annotation for each rollout (a region from its start to its end,
tagged khist, rollout, its outcome, namespace and workload) and for each spec change of a
workload (a point, tagged spec-change) to Grafana's annotations HTTP API, organization-wide
(every dashboard can show them with an annotation query on the tag khist) or on one dashboard
(--dashboard-uid). A push adds the annotations Grafana lacks and updates those that changed:
running it again (e.g. from a CronJob) repeats nothing.

The token is a Grafana service account token with the annotations:read and annotations:write
permissions: give it in a file (--token-file) or as ` + envGrafanaToken + `.
khist serve answers the same annotations to Grafana's JSON data source (/api/v1/grafana).`,
		Example: `  khist export grafana --url https://grafana.example.com --token-file ~/.grafana-token -A --since 7d
  ` + envGrafanaToken + `=glsa_... khist export grafana --url http://127.0.0.1:3000 -n shop --what rollouts`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s := secret{"--token", "--token-file", envGrafanaToken, &f.token, &f.tokenFile}
			if err := s.resolve(); err != nil {
				return err
			}
			o := grafana.Options{URL: f.url, Token: f.token, DashboardUID: f.dashboard, PanelID: f.panel}
			if err := grafana.Check(o); err != nil {
				return err
			}
			v, done, err := openViews(cmd, g, &f.queryFlags)
			if err != nil {
				return err
			}
			defer done()
			since, until, err := v.Env.Window(f.since, f.until)
			if err != nil {
				return err
			}
			as, err := v.Annotations(ctx, query.AnnotationsArgs{Namespace: f.ns(), AllNamespaces: f.allNamespaces, Since: since, Until: until, What: f.what})
			if err != nil {
				return err
			}
			st, err := grafana.Push(ctx, as, o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d annotations: %d added, %d updated, %d already there\n", len(as), st.Created, st.Updated, st.Unchanged)
			return nil
		},
	}
	f.addNamespace(cmd, g, true)
	f.addViews(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.url, "url", "", "Grafana's base URL, e.g. https://grafana.example.com")
	fl.StringVar(&f.token, "token", "", "a Grafana service account token; visible to every local user in /proc/PID/cmdline: prefer --token-file or $"+envGrafanaToken)
	fl.StringVar(&f.tokenFile, "token-file", "", "a file holding the service account token")
	fl.StringVar(&f.dashboard, "dashboard-uid", "", "put the annotations on this dashboard (default: organization-wide)")
	fl.Int64Var(&f.panel, "panel-id", 0, "with --dashboard-uid: on this panel")
	fl.StringVar(&f.what, "what", "", "rollouts or spec-changes (default both)")
	fl.StringVar(&f.since, "since", "", "only what happened at or after this time ("+query.TimeForms+")")
	fl.StringVar(&f.until, "until", "", "only what happened before this time")
	return cmd
}
