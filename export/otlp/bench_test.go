package otlp

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

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

// BenchmarkInterleaved runs, in each iteration, khist rollouts -o json, the export with its
// spans dropped, and the export sent to Jaeger, one after the other, so that the three share
// the machine's load (this machine is shared), and reports each one's time and their ratios.
func BenchmarkInterleaved(b *testing.B) {
	j := startJaeger(b)
	v := benchViews(b)
	ctx := context.Background()
	drop, err := New(ctx, Options{Endpoint: j.otlp, Insecure: true})
	if err != nil {
		b.Fatal(err)
	}
	drop.exp = discard{}
	send, err := New(ctx, Options{Endpoint: j.otlp, Insecure: true})
	if err != nil {
		b.Fatal(err)
	}
	defer send.Close(ctx)
	var tRows, tBuild, tSend time.Duration
	spans := 0
	export := func(e *Exporter) {
		ds, err := v.RolloutDetails(ctx, query.RolloutDetailArgs{AllNamespaces: true})
		if err != nil {
			b.Fatal(err)
		}
		st, err := e.Export(ctx, ds)
		if err != nil {
			b.Fatal(err)
		}
		spans += st.Spans
	}
	for b.Loop() {
		t0 := time.Now()
		if err := v.Rollouts(ctx, query.RolloutsArgs{AllNamespaces: true, Output: query.OutJSON}, io.Discard); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		export(drop)
		t2 := time.Now()
		export(send)
		t3 := time.Now()
		tRows, tBuild, tSend = tRows+t1.Sub(t0), tBuild+t2.Sub(t1), tSend+t3.Sub(t2)
	}
	n := float64(b.N)
	b.ReportMetric(float64(tRows.Milliseconds())/n, "rollouts-json-ms/op")
	b.ReportMetric(float64(tBuild.Milliseconds())/n, "export-dropped-ms/op")
	b.ReportMetric(float64(tSend.Milliseconds())/n, "export-jaeger-ms/op")
	b.ReportMetric(tBuild.Seconds()/tRows.Seconds(), "dropped/rollouts")
	b.ReportMetric(tSend.Seconds()/tRows.Seconds(), "jaeger/rollouts")
	b.ReportMetric(float64(spans/2)/tSend.Seconds(), "jaeger-spans/s")
}
