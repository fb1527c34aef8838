package otlp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/query"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestExportToJaeger: the recorded rollouts, sent to a real OTLP receiver (Jaeger v2 with an
// in-memory store), read back from its HTTP API as one trace each, with the rollout's span
// from its start to its end, one child span per reconcile step with its attributes, and the
// pods' readiness as the rollout span's events; sent again, nothing is duplicated.
func TestExportToJaeger(t *testing.T) {
	j := startJaeger(t)
	v := query.NewViews(testDB(t), "default", query.DefaultEnv())
	ctx := context.Background()
	ds, err := v.RolloutDetails(ctx, query.RolloutDetailArgs{AllNamespaces: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) < 3 {
		t.Fatalf("%d finished rollouts in the recordings", len(ds))
	}
	e, err := New(ctx, Options{Endpoint: j.otlp, Insecure: true, Cluster: "default", ServiceName: "khist-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	st, err := e.Export(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	wantSpans, wantEvents := 0, 0
	for _, d := range ds {
		wantSpans += 1 + len(d.Steps)
		wantEvents += len(d.Pods)
	}
	if st.Traces != len(ds) || st.Spans != wantSpans || st.Events != wantEvents || wantEvents == 0 {
		t.Fatalf("stats %+v, want %d traces, %d spans, %d events", st, len(ds), wantSpans, wantEvents)
	}

	// The search by service finds every rollout (in the recordings' time range: Jaeger looks
	// back an hour from now by default).
	from, to := ds[0].Rollout.Started, ds[0].Rollout.Ended
	for _, d := range ds {
		if d.Rollout.Started.Before(from) {
			from = d.Rollout.Started
		}
		if d.Rollout.Ended.After(to) {
			to = d.Rollout.Ended
		}
	}
	search := fmt.Sprintf("/api/traces?service=khist-test&limit=1000&start=%d&end=%d", from.Add(-time.Minute).UnixMicro(), to.Add(time.Minute).UnixMicro())
	var found []jaegerTrace
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		found, _ = j.get(t, search)
		if n := countSpans(found); len(found) == len(ds) && n == wantSpans || time.Now().After(deadline) {
			break
		}
	}
	if len(found) != len(ds) || countSpans(found) != wantSpans {
		t.Fatalf("jaeger has %d traces with %d spans, want %d with %d", len(found), countSpans(found), len(ds), wantSpans)
	}

	checkTraces := func(t *testing.T) {
		sawError, sawScale := false, false
		for i := range ds {
			d := &ds[i]
			r := d.Rollout
			tid := TraceID(d).String()
			traces, status := j.get(t, "/api/traces/"+tid)
			if status != 200 || len(traces) != 1 {
				t.Errorf("%s: trace %s: %d, %d traces", r.Ref, tid, status, len(traces))
				continue
			}
			spans := traces[0].Spans
			if len(spans) != 1+len(d.Steps) {
				t.Errorf("%s: %d spans, want %d", r.Ref, len(spans), 1+len(d.Steps))
				continue
			}
			ri := slices.IndexFunc(spans, func(s jaegerSpan) bool { return len(s.References) == 0 })
			if ri < 0 {
				t.Errorf("%s: no root span", r.Ref)
				continue
			}
			root := spans[ri]
			workload := strings.ToLower(r.Workload.Kind) + "/" + r.Workload.Name
			took := max(1, r.Ended.Sub(r.Started).Microseconds()) // a span lasts 1µs at least
			if root.OperationName != "rollout "+workload || root.StartTime != r.Started.UnixMicro() || root.Duration != took {
				t.Errorf("%s: root %s at %d for %dµs, want rollout %s at %d for %dµs", r.Ref, root.OperationName, root.StartTime, root.Duration,
					workload, r.Started.UnixMicro(), took)
			}
			for _, sp := range spans {
				if w := tag(sp.Tags, "@jaeger@warnings"); w != "" {
					t.Errorf("%s: jaeger warns of span %s: %s", r.Ref, sp.OperationName, w)
				}
			}
			for k, want := range map[string]string{
				"khist.rollout": r.Ref, "khist.outcome": r.Outcome, "khist.workload": workload, "k8s.namespace.name": r.Workload.Namespace,
				"khist.revision": strconv.FormatInt(r.ToRevision, 10), "khist.revision.from": strconv.FormatInt(r.FromRevision, 10),
				"khist.actor": r.Actor, "khist.replicas.desired": strconv.Itoa(int(r.Desired)), "khist.available.min": strconv.Itoa(int(r.MinAvailable)),
			} {
				if got := tag(root.Tags, k); got != want {
					t.Errorf("%s: root tag %s = %q, want %q", r.Ref, k, got, want)
				}
			}
			if imgs := tag(root.Tags, "khist.images"); len(r.ToImages) == 0 || !strings.Contains(imgs, r.ToImages[0]) {
				t.Errorf("%s: khist.images %q, want %v", r.Ref, imgs, r.ToImages)
			}
			if strings.Contains(r.Outcome, "rolled back") || strings.Contains(r.Outcome, "failed") {
				sawError = true
				if tag(root.Tags, "otel.status_code") != "ERROR" {
					t.Errorf("%s (%s): status %q, want ERROR", r.Ref, r.Outcome, tag(root.Tags, "otel.status_code"))
				}
			}
			// Readiness events, in order, with the pods' names.
			if len(root.Logs) != len(d.Pods) {
				t.Errorf("%s: %d events, want %d", r.Ref, len(root.Logs), len(d.Pods))
			} else {
				for k, p := range d.Pods {
					l := root.Logs[k]
					if l.Timestamp != p.At.UnixMicro() || tag(l.Fields, "k8s.pod.name") != p.Pod || (tag(l.Fields, "event") == "pod ready") != p.Ready {
						t.Errorf("%s: event %d %+v, want %+v", r.Ref, k, l, p)
					}
				}
			}
			// One child span per step, with its numbers.
			for _, s := range d.Steps {
				k := slices.IndexFunc(spans, func(sp jaegerSpan) bool { return tag(sp.Tags, "khist.seq") == strconv.FormatUint(s.Seq, 10) })
				if k < 0 {
					t.Errorf("%s: no span for step %d (%s)", r.Ref, s.Seq, s.Text)
					continue
				}
				sp := spans[k]
				if sp.OperationName != s.Action || len(sp.References) != 1 || sp.References[0].SpanID != root.SpanID || sp.References[0].RefType != "CHILD_OF" ||
					sp.StartTime != s.Time.UnixMicro() || tag(sp.Tags, "khist.step.text") != s.Text || tag(sp.Tags, "khist.workload") != workload ||
					tag(sp.Tags, "khist.actor") != r.Actor || tag(sp.Tags, "khist.outcome") != r.Outcome {
					t.Errorf("%s: step %d span %+v, want %+v", r.Ref, s.Seq, sp, s)
				}
				if s.Action == "scale" {
					sawScale = true
					if tag(sp.Tags, "khist.replicas.from") != strconv.Itoa(int(*s.From)) || tag(sp.Tags, "khist.replicas.to") != strconv.Itoa(int(*s.To)) {
						t.Errorf("%s: scale %d: from %q to %q, want %d to %d", r.Ref, s.Seq, tag(sp.Tags, "khist.replicas.from"), tag(sp.Tags, "khist.replicas.to"), *s.From, *s.To)
					}
				}
			}
		}
		if !sawError || !sawScale {
			t.Errorf("the recordings have a failed rollout (%v) and scale steps (%v)", sawError, sawScale)
		}
	}
	t.Run("read back", checkTraces)

	// Sent again (as a restarted export would): the same traces, no span twice.
	st2, err := e.Export(ctx, ds)
	if err != nil || st2 != st {
		t.Fatalf("export again: %+v %v, want %+v", st2, err, st)
	}
	time.Sleep(2 * time.Second) // past the receiver's batching
	found, _ = j.get(t, search)
	if len(found) != len(ds) {
		t.Errorf("after a second export: %d traces, want %d", len(found), len(ds))
	}
	t.Run("read back after a second export", checkTraces)
}

func countSpans(ts []jaegerTrace) int {
	n := 0
	for _, t := range ts {
		n += len(t.Spans)
	}
	return n
}

// TestBadEndpoint: an endpoint that is not HOST:PORT is a one-line error saying what to give;
// a receiver that is not there is an error from Export, not a hang.
func TestBadEndpoint(t *testing.T) {
	for _, ep := range []string{"", "localhost", "http://localhost:4318", "localhost:port", ":4318", "localhost:99999"} {
		err := Check(Options{Endpoint: ep})
		if !errors.Is(err, ErrBadOptions) || !strings.Contains(err.Error(), "HOST:PORT") && !strings.Contains(err.Error(), "port") || strings.Contains(err.Error(), "\n") {
			t.Errorf("Check(%q): %v", ep, err)
		}
	}
	ctx := context.Background()
	v := query.NewViews(testDB(t), "default", query.DefaultEnv())
	ds, err := v.RolloutDetails(ctx, query.RolloutDetailArgs{AllNamespaces: true})
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(ctx, Options{Endpoint: fmt.Sprintf("127.0.0.1:%d", freePort(t)), Insecure: true, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	start := time.Now()
	if _, err := e.Export(ctx, ds); err == nil || time.Since(start) > 10*time.Second {
		t.Errorf("export to nothing: %v after %s", err, time.Since(start))
	}
}

// TestFollow: beside a fold, each rollout that ends is sent once as it ends: the recordings
// folded after Follow started arrive in Jaeger, one trace each; a Follow started again (its
// state file kept) sends none of them again, nor one started on views that already hold them.
func TestFollow(t *testing.T) {
	j := startJaeger(t)
	db := emptyDB(t)
	v := query.NewViews(db, "default", query.DefaultEnv())
	state := filepath.Join(t.TempDir(), "otlp.json")
	follow := func() (stop func() float64) {
		reg := prometheus.NewRegistry()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- Follow(ctx, v, FollowOptions{Options: Options{Endpoint: j.otlp, Insecure: true, ServiceName: "khist-follow"},
				StateFile: state, Interval: 100 * time.Millisecond, Registerer: reg})
		}()
		return func() float64 {
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Follow: %v", err)
			}
			return testutil.ToFloat64(counter(t, reg, "khist_otlp_traces_total"))
		}
	}
	stop := follow()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(state); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatal("Follow wrote no state file")
		}
	}
	if err := db.Apply(context.Background(), recorded(t)); err != nil {
		t.Fatal(err)
	}
	ds, err := v.RolloutDetails(context.Background(), query.RolloutDetailArgs{AllNamespaces: true})
	if err != nil || len(ds) < 3 {
		t.Fatalf("%d rollouts, %v", len(ds), err)
	}
	search := "/api/traces?service=khist-follow&limit=1000&start=0&end=" + strconv.FormatInt(time.Now().Add(time.Hour).UnixMicro(), 10)
	var found []jaegerTrace
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if found, _ = j.get(t, search); len(found) >= len(ds) || time.Now().After(deadline) {
			break
		}
	}
	if sent := stop(); sent != float64(len(ds)) || len(found) != len(ds) {
		t.Fatalf("sent %v traces, jaeger has %d, want %d", sent, len(found), len(ds))
	}
	for _, d := range ds {
		if !slices.ContainsFunc(found, func(tr jaegerTrace) bool { return tr.TraceID == TraceID(&d).String() }) {
			t.Errorf("%s: trace %s not in jaeger", d.Rollout.Ref, TraceID(&d))
		}
	}
	// Again, with the state file: nothing to send.
	stop = follow()
	time.Sleep(500 * time.Millisecond)
	if sent := stop(); sent != 0 {
		t.Errorf("a second Follow sent %v traces", sent)
	}
	// Without it, on views that hold the rollouts already: it starts from now.
	os.Remove(state)
	stop = follow()
	time.Sleep(500 * time.Millisecond)
	if sent := stop(); sent != 0 {
		t.Errorf("a Follow started on a recorded history sent %v traces", sent)
	}
}

// counter finds a registered counter by name.
func counter(t testing.TB, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: "copy"}, func() float64 { return mf.GetMetric()[0].GetCounter().GetValue() })
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}
