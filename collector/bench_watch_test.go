package collector

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/khist/khist/eventlog"
	"k8s.io/client-go/rest"
)

// fakeAPIServer serves one resource as a canned API server would: an empty List, then one
// watch that streams events and ends. It is a fake, for benchmarking the collector alone (the
// e2e benchmarks use the real control plane, which is slower than the collector on a small
// machine).
func fakeAPIServer(events []byte) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("watch") == "" {
			io.WriteString(w, `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}`)
			return
		}
		w.Write(events)
	}))
}

// BenchmarkWatchToAck measures events per second from a watch stream to their acknowledgement
// by the log (a real embedded JetStream in the same process, as `khist collect` runs by
// default): 10000 MODIFIED events of 4 KiB Pods.
func BenchmarkWatchToAck(b *testing.B) {
	const n = 10000
	var stream bytes.Buffer
	for i := 0; i < n; i++ {
		stream.WriteString(`{"type":"MODIFIED","object":`)
		stream.Write(fakePod(i%500, "bench", 100+i))
		stream.WriteString("}\n")
	}
	srv := fakeAPIServer(stream.Bytes())
	defer srv.Close()
	b.ResetTimer()
	var total float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		l, err := eventlog.Open(context.Background(), eventlog.Options{DataDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		c, err := New(&rest.Config{Host: srv.URL}, l, Options{Cluster: "bench", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		pub, err := c.newPublisher()
		if err != nil {
			b.Fatal(err)
		}
		w := c.newWatcher(apiResource{version: "v1", resource: "pods", kind: "Pod", namespaced: true}, "", pub)
		ctx := context.Background()
		if err := w.list(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := w.watch(ctx); err != nil {
			b.Fatal(err)
		}
		if err := pub.flush(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		st := pub.p.Stats()
		if st.Published != n {
			b.Fatalf("published %+v, want %d", st, n)
		}
		pub.close()
		l.Close()
		total += n
		b.StartTimer()
	}
	b.ReportMetric(total/b.Elapsed().Seconds(), "events/s")
}
