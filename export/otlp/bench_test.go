package otlp

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/khist/khist/query"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The benchmarks read the views of every recording made on a real control plane
// (test/fidelity/testdata) and compare, in one run: reading the rollouts as khist rollouts -o
// json does (the baseline), reading them with their steps and pods and making their spans
// (ExportBuild: the SDK's cost, the spans dropped), and the same sent to Jaeger over OTLP/HTTP
// (ExportJaeger). Each reports spans/s.

func benchViews(b *testing.B) *query.Views {
	b.Helper()
	files, _ := filepath.Glob("../../test/fidelity/testdata/*.json.gz")
	saved := recordings
	recordings = files
	defer func() { recordings = saved }()
	db := emptyDB(b)
	if err := db.Apply(context.Background(), recorded(b)); err != nil {
		b.Fatal(err)
	}
	return query.NewViews(db, "default", query.DefaultEnv())
}

func BenchmarkRolloutsJSON(b *testing.B) {
	v := benchViews(b)
	ctx := context.Background()
	for b.Loop() {
		if err := v.Rollouts(ctx, query.RolloutsArgs{AllNamespaces: true, Output: query.OutJSON}, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// discard is a span exporter that drops the spans.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

func benchExport(b *testing.B, endpoint string, drop bool) {
	v := benchViews(b)
	ctx := context.Background()
	e, err := New(ctx, Options{Endpoint: endpoint, Insecure: true})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(ctx)
	if drop {
		e.exp = discard{}
	}
	spans, traces := 0, 0
	for b.Loop() {
		ds, err := v.RolloutDetails(ctx, query.RolloutDetailArgs{AllNamespaces: true})
		if err != nil {
			b.Fatal(err)
		}
		st, err := e.Export(ctx, ds)
		if err != nil {
			b.Fatal(err)
		}
		spans += st.Spans
		traces += st.Traces
	}
	b.ReportMetric(float64(spans)/b.Elapsed().Seconds(), "spans/s")
	b.ReportMetric(float64(spans)/float64(b.N), "spans/op")
	b.ReportMetric(float64(traces)/float64(b.N), "traces/op")
}

func BenchmarkExportBuild(b *testing.B) { benchExport(b, "127.0.0.1:4318", true) }

func BenchmarkExportJaeger(b *testing.B) {
	j := startJaeger(b)
	benchExport(b, j.otlp, false)
}
