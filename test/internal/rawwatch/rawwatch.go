package rawwatch

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// Version is one object version: as the watch saw it, or as a test reads it from the log.
type Version struct {
	Type     string // ADDED, MODIFIED, DELETED (log types as they are)
	Kind     string
	Name     string
	UID      string
	RV       string
	Replicas int32     // ReplicaSet spec.replicas, -1 for other kinds
	Seen     time.Time // when the watch received it (zero for the log's)
}

func (v Version) String() string {
	s := fmt.Sprintf("%s %s %s rv=%s", v.Type, v.Kind, v.Name, v.RV)
	if v.Replicas >= 0 {
		s += fmt.Sprintf(" replicas=%d", v.Replicas)
	}
	return s
}

// Key identifies a version: one object at one resourceVersion.
func (v Version) Key() string { return v.UID + "/" + v.RV }

// Watch watches the Pods and ReplicaSets of a namespace until the test ends.
type Watch struct {
	mu   sync.Mutex
	seen []Version
	last time.Time
	errs []error
}

// Start lists the namespace's Pods and ReplicaSets and watches them from there.
func Start(t *testing.T, cs kubernetes.Interface, ns string) *Watch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w := &Watch{last: time.Now()}
	start := func(kind string, list func(context.Context, metav1.ListOptions) (string, error), watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error)) {
		rv, err := list(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("raw watch: list %s: %v", kind, err)
		}
		go func() {
			for ctx.Err() == nil {
				wi, err := watchFn(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
				if err != nil {
					if ctx.Err() == nil {
						w.fail(fmt.Errorf("raw watch %s: %v", kind, err))
					}
					return
				}
				for ev := range wi.ResultChan() {
					if ev.Type == watch.Error {
						w.fail(fmt.Errorf("raw watch %s: error event %v", kind, ev.Object))
						continue
					}
					m, err := meta.Accessor(ev.Object)
					if err != nil {
						continue
					}
					rv = m.GetResourceVersion()
					if ev.Type == watch.Bookmark {
						continue
					}
					now := time.Now()
					v := Version{Type: string(ev.Type), Kind: kind, Name: m.GetName(), UID: string(m.GetUID()), RV: rv, Replicas: -1, Seen: now}
					if rs, ok := ev.Object.(*appsv1.ReplicaSet); ok && rs.Spec.Replicas != nil {
						v.Replicas = *rs.Spec.Replicas
					}
					w.mu.Lock()
					w.seen = append(w.seen, v)
					w.last = now
					w.mu.Unlock()
				}
				wi.Stop()
			}
		}()
	}
	start("Pod", func(ctx context.Context, o metav1.ListOptions) (string, error) {
		l, err := cs.CoreV1().Pods(ns).List(ctx, o)
		if err != nil {
			return "", err
		}
		return l.ResourceVersion, nil
	}, cs.CoreV1().Pods(ns).Watch)
	start("ReplicaSet", func(ctx context.Context, o metav1.ListOptions) (string, error) {
		l, err := cs.AppsV1().ReplicaSets(ns).List(ctx, o)
		if err != nil {
			return "", err
		}
		return l.ResourceVersion, nil
	}, cs.AppsV1().ReplicaSets(ns).Watch)
	return w
}

func (w *Watch) fail(err error) {
	w.mu.Lock()
	w.errs = append(w.errs, err)
	w.mu.Unlock()
}

// Versions returns what the watch has seen of a kind ("" for both), in order.
func (w *Watch) Versions(kind string) []Version {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Version
	for _, v := range w.seen {
		if kind == "" || v.Kind == kind {
			out = append(out, v)
		}
	}
	return out
}

// WaitQuiet waits until the watch has seen nothing for d; it fails the test when the watch
// failed or ctx ends first.
func (w *Watch) WaitQuiet(t *testing.T, ctx context.Context, d time.Duration) {
	t.Helper()
	for {
		w.mu.Lock()
		idle := time.Since(w.last)
		errs := w.errs
		w.mu.Unlock()
		if len(errs) > 0 {
			t.Fatalf("raw watch failed: %v", errs)
		}
		if idle >= d {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("raw watch never quiet: %v", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
