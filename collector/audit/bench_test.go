package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/eventlog/importer"
)

// benchBatchSize is kube-apiserver's default --audit-webhook-batch-max-size.
const benchBatchSize = 400

// benchBatches returns n EventLists of benchBatchSize events each, made of the real events of
// testdata/eventlist.json (Metadata level, 36 events) with fresh audit IDs and times.
func benchBatches(b *testing.B, n int) [][]byte {
	b.Helper()
	raw, err := os.ReadFile("testdata/eventlist.json")
	if err != nil {
		b.Fatal(err)
	}
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	out := make([][]byte, n)
	k := 0
	for i := range out {
		items := make([]map[string]any, benchBatchSize)
		for j := range items {
			ev := map[string]any{}
			for key, v := range list.Items[k%len(list.Items)] {
				ev[key] = v
			}
			ev["auditID"] = fmt.Sprintf("00000000-0000-4000-8000-%012d", k)
			at := t0.Add(time.Duration(k) * time.Millisecond)
			ev["requestReceivedTimestamp"] = at.Format(time.RFC3339Nano)
			ev["stageTimestamp"] = at.Add(9 * time.Millisecond).Format(time.RFC3339Nano)
			items[j] = ev
			k++
		}
		if out[i], err = json.Marshal(map[string]any{"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": map[string]any{}, "items": items}); err != nil {
			b.Fatal(err)
		}
	}
	return out
}

// benchWatch returns n object versions as the collector publishes them: the Pods,
// ReplicaSets and Deployments of a real recording (eventlog/importer/testdata/sample-rolling),
// repeated under fresh uids.
func benchWatch(b *testing.B, n int) []*eventlog.Envelope {
	b.Helper()
	var inputs []importer.Input
	for _, f := range []string{"pods", "replicasets", "deployments"} {
		r, err := os.Open("../../eventlog/importer/testdata/sample-rolling/" + f + ".json.gz")
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		inputs = append(inputs, importer.Input{Name: f, R: r})
	}
	res, err := importer.ReadWatch("bench", inputs...)
	if err != nil {
		b.Fatal(err)
	}
	out := make([]*eventlog.Envelope, n)
	for i := range out {
		e := *res.Envelopes[i%len(res.Envelopes)]
		e.UID = fmt.Sprintf("%s-%d", e.UID, i/len(res.Envelopes))
		e.Source = "collector"
		out[i] = &e
	}
	return out
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAuditIntake measures the audit webhook's handler (an op is one batch of 400 real
// audit events, decoded, filtered, published to an in-process NATS JetStream and acknowledged),
// beside its baseline in the same run: the same number of object versions of a real recording
// published as the collector does (eventlog.Publisher: async, bounded, every ack checked).
// cpu-us/event is the process's CPU (the handler and the NATS server) per audit event or
// version.
func BenchmarkAuditIntake(b *testing.B) {
	for _, mode := range []string{"watch-baseline", "audit-webhook", "watch-baseline", "audit-webhook"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			l, err := eventlog.Open(ctx, eventlog.Options{DataDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			events := b.N * benchBatchSize
			var batches [][]byte
			var watch []*eventlog.Envelope
			if mode == "audit-webhook" {
				batches = benchBatches(b, b.N)
			} else {
				watch = benchWatch(b, events)
			}
			h, err := NewHandler(l, Options{Cluster: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start, c0 := time.Now(), processCPU()
			if mode == "audit-webhook" {
				for _, body := range batches {
					w := httptest.NewRecorder()
					h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body)))
					if w.Code != http.StatusOK {
						b.Fatalf("batch answered %d: %s", w.Code, w.Body)
					}
				}
			} else {
				p, err := l.NewPublisher(eventlog.PublisherOptions{})
				if err != nil {
					b.Fatal(err)
				}
				for _, e := range watch {
					if err := p.Publish(ctx, e); err != nil {
						b.Fatal(err)
					}
				}
				if err := p.Close(ctx); err != nil {
					b.Fatal(err)
				}
			}
			elapsed, cpu := time.Since(start), processCPU()-c0
			b.StopTimer()
			st, err := l.State(ctx)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(events)/elapsed.Seconds(), "events/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(events), "cpu-us/event")
			b.ReportMetric(float64(st.Bytes)/float64(st.Msgs), "stored-B/msg")
		})
	}
}
