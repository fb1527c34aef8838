package e2e

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/khist/khist/test/cluster"
)

// version is one object version: as the test's own watch saw it, or as the log holds it.
type version struct {
	Type     string // ADDED, MODIFIED, DELETED (log types as they are)
	Kind     string
	Name     string
	UID      string
	RV       string
	Replicas int32 // ReplicaSet spec.replicas, -1 for other kinds
}

func (v version) String() string {
	s := fmt.Sprintf("%s %s %s rv=%s", v.Type, v.Kind, v.Name, v.RV)
	if v.Replicas >= 0 {
		s += fmt.Sprintf(" replicas=%d", v.Replicas)
	}
	return s
}

// rawWatch is the test's own watch of the Pods and ReplicaSets of a namespace, from before
// anything happens in it: the ground truth the log is compared with.
type rawWatch struct {
	mu   sync.Mutex
	seen []version
	last time.Time
	errs []error
}

func startRawWatch(t *testing.T, cs kubernetes.Interface, ns string) *rawWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w := &rawWatch{last: time.Now()}
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
					v := version{Type: string(ev.Type), Kind: kind, Name: m.GetName(), UID: string(m.GetUID()), RV: rv, Replicas: -1}
					if rs, ok := ev.Object.(*appsv1.ReplicaSet); ok && rs.Spec.Replicas != nil {
						v.Replicas = *rs.Spec.Replicas
					}
					w.mu.Lock()
					w.seen = append(w.seen, v)
					w.last = time.Now()
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

func (w *rawWatch) fail(err error) {
	w.mu.Lock()
	w.errs = append(w.errs, err)
	w.mu.Unlock()
}

// versions returns what the watch saw of a kind, in order.
func (w *rawWatch) versions(kind string) []version {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []version
	for _, v := range w.seen {
		if v.Kind == kind {
			out = append(out, v)
		}
	}
	return out
}

// waitQuiet waits until the watch has seen nothing for d.
func (w *rawWatch) waitQuiet(t *testing.T, ctx context.Context, d time.Duration) {
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

// logVersions returns the versions of a kind in a namespace that the log holds, in log order.
func logVersions(envs []*eventlog.Envelope, ns, group, kind string) []version {
	var out []version
	for _, e := range envs {
		if e.Namespace != ns || e.Kind != kind || e.Group != group {
			continue
		}
		v := version{Type: string(e.Type), Kind: e.Kind, Name: e.Name, UID: e.UID, RV: e.ResourceVersion, Replicas: -1}
		if kind == "ReplicaSet" {
			var rs appsv1.ReplicaSet
			if json.Unmarshal(e.Object, &rs) == nil && rs.Spec.Replicas != nil {
				v.Replicas = *rs.Spec.Replicas
			}
		}
		out = append(out, v)
	}
	return out
}

// diffVersions describes how got differs from want, or returns "".
func diffVersions(got, want []version) string {
	if fmt.Sprint(got) == fmt.Sprint(want) {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "log has %d versions, the watch saw %d\n", len(got), len(want))
	for i := 0; i < max(len(got), len(want)); i++ {
		g, w := "-", "-"
		if i < len(got) {
			g = got[i].String()
		}
		if i < len(want) {
			w = want[i].String()
		}
		mark := "  "
		if g != w {
			mark = "!="
		}
		fmt.Fprintf(&b, "%3d %s log: %-70s watch: %s\n", i, mark, g, w)
	}
	return b.String()
}

// eventually retries check until it returns nil or timeout passes, and returns its last error.
func eventually(ctx context.Context, timeout time.Duration, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// uniqueName returns prefix with a suffix unique in this test binary, so that tests can run
// again (-count) on the same cluster.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, nameSeq.Add(1))
}

var nameSeq atomic.Int64

// createNamespace creates a namespace named prefix-N for one test and returns its name.
func createNamespace(t *testing.T, c *cluster.Cluster, prefix string) string {
	t.Helper()
	name := uniqueName(prefix)
	if _, err := c.Kubectl(t.Context(), "create", "namespace", name); err != nil {
		t.Fatal(err)
	}
	return name
}

// nginxDeployment is the seed scenario's Deployment: 3 replicas of nginx:1.7.9, maxSurge 1,
// maxUnavailable 1, pods Ready after a kwok delay.
func nginxDeployment(ns string, timing cluster.PodTiming) []byte {
	one := intstr.FromInt32(1)
	d := cluster.Deployment(cluster.DeploymentOptions{
		Namespace:      ns,
		Name:           "nginx-deployment",
		Replicas:       3,
		Image:          "nginx:1.7.9",
		MaxSurge:       &one,
		MaxUnavailable: &one,
		Labels:         map[string]string{"app": "nginx"},
		PodAnnotations: timing.Annotations(),
	})
	d.Spec.Template.Spec.Containers[0].Name = "nginx"
	b, err := json.Marshal(d)
	if err != nil {
		panic(err)
	}
	return b
}

// podNames returns the names of the pods of a namespace.
func podNames(ctx context.Context, cs kubernetes.Interface, ns string) ([]string, error) {
	l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range l.Items {
		out = append(out, p.Name)
	}
	return out, nil
}

// gunzip returns a reader of the gzip stream r.
func gunzip(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }
