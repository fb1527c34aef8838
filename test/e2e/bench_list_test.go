package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// benchListPods is how many pods BenchmarkInitialList finds in the cluster (issue 13, item 6:
// 50,000); KHIST_BENCH_PODS changes it.
func benchListPods(b *testing.B) int {
	if s := os.Getenv("KHIST_BENCH_PODS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("KHIST_BENCH_PODS=%q: use a positive number of pods", s)
		}
		return n
	}
	return 50000
}

// createInParallel runs create(i) for i in [0, n) with 32 requests in flight.
func createInParallel(ctx context.Context, n int, create func(i int) error) error {
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	work := make(chan int)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := create(i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
loop:
	for i := 0; i < n; i++ {
		select {
		case work <- i:
		case <-ctx.Done():
			break loop
		}
	}
	close(work)
	wg.Wait()
	return first
}

// fillCluster creates, in ns, n pods (never scheduled: their scheduler does not exist, so
// nothing changes them afterwards), one ReplicaSet per 100 of them (0 replicas, a selector none
// of the pods matches) and one Event per 10.
func fillCluster(ctx context.Context, cs kubernetes.Interface, ns string, n int) error {
	err := createInParallel(ctx, n, func(i int) error {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i), Namespace: ns,
				Labels: map[string]string{"app": fmt.Sprintf("app-%d", i/100), "bench": "initial-list"}},
			Spec: corev1.PodSpec{SchedulerName: "khist-bench-no-scheduler",
				Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app:v1"}}},
		}
		_, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("pods: %w", err)
	}
	zero := int32(0)
	err = createInParallel(ctx, n/100, func(i int) error {
		sel := map[string]string{"rs": strconv.Itoa(i)}
		rs := &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("rs-%d", i), Namespace: ns},
			Spec: appsv1.ReplicaSetSpec{Replicas: &zero, Selector: &metav1.LabelSelector{MatchLabels: sel},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app:v1"}}}}},
		}
		_, err := cs.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("replicasets: %w", err)
	}
	err = createInParallel(ctx, n/10, func(i int) error {
		ev := &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d.bench", i*10), Namespace: ns},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: fmt.Sprintf("pod-%d", i*10)},
			Reason:         "Bench", Message: "created by BenchmarkInitialList", Type: corev1.EventTypeNormal,
		}
		_, err := cs.CoreV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	return nil
}

// benchList is the namespace BenchmarkInitialList filled (the test cluster goes with the
// process).
var benchList struct {
	sync.Once
	ns  string
	err error
}

// BenchmarkInitialList measures a collector started against a cluster that already holds
// 50,000 pods (issue 13, item 6), plus 500 ReplicaSets and 5,000 Events: the time until its
// initial lists are in the log (target <= 15 s), until it is steady (every watch caught up and
// quiet for a second), the heap it keeps per object (target <= 300 B), and that it recorded
// every pod. The log runs in another process, so only the collector's memory is measured. Each
// iteration starts a new collector into a new log; the cluster is filled once.
func BenchmarkInitialList(b *testing.B) {
	c, _ := needCluster(b)
	n := benchListPods(b)
	cs := fastClient(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	// The benchmark function runs more than once (b.N = 1 first): the cluster is filled once.
	benchList.Do(func() {
		benchList.ns = fmt.Sprintf("bench-list-%d", time.Now().UnixNano())
		if _, benchList.err = c.Kubectl(ctx, "create", "namespace", benchList.ns); benchList.err != nil {
			return
		}
		start := time.Now()
		benchList.err = fillCluster(ctx, cs, benchList.ns, n)
		b.Logf("created %d pods, %d ReplicaSets and %d Events in %s", n, n/100, n/10, time.Since(start).Round(time.Second))
	})
	if benchList.err != nil {
		b.Fatal(benchList.err)
	}
	ns := benchList.ns
	var listed, steady time.Duration
	var perObject, objects float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		url := startNATSChild(b)
		before := heapAfterGC()
		b.StartTimer()
		start := time.Now()
		r := StartRecorder(b, c, RecorderOptions{NATSURL: url, Logger: quietLogger()})
		select {
		case <-r.Collector.Synced():
		case <-ctx.Done():
			b.Fatal("the initial lists were not recorded within the benchmark's 30 minutes")
		}
		listed += time.Since(start)
		if err := r.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		steady += time.Since(start)
		b.StopTimer()
		after := heapAfterGC()
		objects = gauge(b, r, "khist_collector_objects")
		perObject = (float64(after) - float64(before)) / objects
		envs, err := r.Envelopes(ctx)
		if err != nil {
			b.Fatal(err)
		}
		pods := map[string]bool{}
		for _, e := range envs {
			if e.Namespace == ns && e.Kind == "Pod" {
				pods[e.Name] = true
			}
		}
		if len(pods) != n {
			b.Fatalf("the log holds %d of the %d pods", len(pods), n)
		}
		if err := r.Stop(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(listed.Seconds()/float64(b.N), "s/initial-lists")
	b.ReportMetric(steady.Seconds()/float64(b.N), "s/steady")
	b.ReportMetric(perObject, "bytes/object")
	b.ReportMetric(objects, "objects")
}
