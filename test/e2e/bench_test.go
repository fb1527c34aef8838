package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// benchObjects is how many ConfigMaps the benchmarks create, each with benchValueSize bytes of
// data: memory per object must not depend on that size.
const (
	benchObjects   = 5000
	benchValueSize = 4096
)

// applyConfigMaps creates (or, with update, changes) n ConfigMaps cm-0..cm-n-1 in ns, with 16
// requests in flight.
func applyConfigMaps(ctx context.Context, cs kubernetes.Interface, ns string, n int, update bool, value string) error {
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	work := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				cm := &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i), Namespace: ns},
					Data:       map[string]string{"value": value},
				}
				var err error
				if update {
					_, err = cs.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{})
				} else {
					_, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		select {
		case work <- i:
		case err := <-errs:
			close(work)
			wg.Wait()
			return err
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// fastClient is a client of c without the test client's rate limit (100 requests/s).
func fastClient(b *testing.B) kubernetes.Interface {
	cfg := testCluster.RESTConfig()
	cfg.QPS, cfg.Burst = 2000, 2000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return cs
}

func heapAfterGC() uint64 {
	var m runtime.MemStats
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkCollectorMemoryPerObject measures the heap a collector keeps per watched object on
// the real control plane: 5000 ConfigMaps of 4 KiB each are created while it watches; the
// log is in another process, so only the collector's memory is measured.
func BenchmarkCollectorMemoryPerObject(b *testing.B) {
	c, _ := needCluster(b)
	cs := fastClient(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	url := startNATSChild(b)
	ns := fmt.Sprintf("bench-mem-%d", time.Now().UnixNano())
	if _, err := c.Kubectl(ctx, "create", "namespace", ns); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Kubectl(context.Background(), "delete", "namespace", ns, "--wait=false") })
	r := StartRecorder(b, c, RecorderOptions{NATSURL: url, Logger: quietLogger()})
	if err := r.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	before := heapAfterGC()
	objectsBefore := gauge(b, r, "khist_collector_objects")
	b.ResetTimer()
	start := time.Now()
	if err := applyConfigMaps(ctx, cs, ns, benchObjects, false, strings.Repeat("x", benchValueSize)); err != nil {
		b.Fatal(err)
	}
	created := time.Since(start)
	if err := r.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	after := heapAfterGC()
	objects := gauge(b, r, "khist_collector_objects") - objectsBefore
	if objects < benchObjects {
		b.Fatalf("the collector tracks %v new objects, want %d", objects, benchObjects)
	}
	perObject := (float64(after) - float64(before)) / objects
	b.ReportMetric(perObject, "bytes/object")
	b.ReportMetric(objects, "objects")
	b.ReportMetric(float64(benchObjects)/created.Seconds(), "created/s")
	b.Logf("heap %d -> %d bytes after GC for %v more objects of %d bytes of data: %.0f bytes/object",
		before, after, objects, benchValueSize, perObject)
}

// BenchmarkWatchToAck measures events per second from the watch to their acknowledgement by
// the log (embedded, in-process, as khist collect runs by default): the collector is held back
// while 5000 ConfigMaps change, then let go; the time until it has caught up is measured.
func BenchmarkWatchToAck(b *testing.B) {
	c, _ := needCluster(b)
	cs := fastClient(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ns := fmt.Sprintf("bench-watch-%d", time.Now().UnixNano())
	if _, err := c.Kubectl(ctx, "create", "namespace", ns); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Kubectl(context.Background(), "delete", "namespace", ns, "--wait=false") })
	if err := applyConfigMaps(ctx, cs, ns, benchObjects, false, strings.Repeat("a", benchValueSize)); err != nil {
		b.Fatal(err)
	}

	// A list: every object is new to the log.
	faults := NewFaultTransport()
	start := time.Now()
	r := StartRecorder(b, c, RecorderOptions{Logger: quietLogger(), WrapTransport: faults.Wrap, IncludeNamespaces: []string{ns}})
	listed := time.Since(start)
	resync := counter(b, r, "khist_collector_events_total", "RESYNC")
	b.ReportMetric(resync/listed.Seconds(), "list-events/s")
	b.Logf("initial list: %v RESYNC events acknowledged in %s", resync, listed.Round(time.Millisecond))

	// A watch: 5000 changes queued while the collector is held back.
	b.ResetTimer()
	faults.Pause()
	if err := applyConfigMaps(ctx, cs, ns, benchObjects, true, strings.Repeat("b", benchValueSize)); err != nil {
		b.Fatal(err)
	}
	modifiedBefore := counter(b, r, "khist_collector_events_total", "MODIFIED")
	resyncBefore := counter(b, r, "khist_collector_events_total", "RESYNC")
	start = time.Now()
	faults.Resume()
	// Caught up when every change is acknowledged: as MODIFIED, or, if the watch fell behind
	// and relisted, as RESYNC.
	var events, relisted float64
	for {
		events = counter(b, r, "khist_collector_events_total", "MODIFIED") - modifiedBefore
		relisted = counter(b, r, "khist_collector_events_total", "RESYNC") - resyncBefore
		if events+relisted >= benchObjects {
			break
		}
		if ctx.Err() != nil {
			b.Fatalf("%v MODIFIED and %v RESYNC events after the changes, want %d", events, relisted, benchObjects)
		}
		time.Sleep(2 * time.Millisecond)
	}
	took := time.Since(start)
	b.StopTimer()
	if err := r.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric((events+relisted)/took.Seconds(), "watch-events/s")
	b.Logf("watch: %v MODIFIED (+%v RESYNC after a relist) acknowledged in %s", events, relisted, took.Round(time.Millisecond))
}

func gauge(t testing.TB, r *Recorder, name string) float64 {
	t.Helper()
	mfs, err := r.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// counter sums a counter's series whose "type" label is typ ("" for all).
func counter(t testing.TB, r *Recorder, name, typ string) float64 {
	t.Helper()
	mfs, err := r.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if typ == "" || label(m, "type") == typ {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// quietLogger logs the collector's warnings and errors only, to stderr.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
