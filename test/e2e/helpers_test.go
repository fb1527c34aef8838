package e2e

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/khist/khist/test/cluster"
	"github.com/khist/khist/test/internal/rawwatch"
)

// version is one object version: as the test's own watch (rawwatch) saw it, or as the log
// holds it.
type version = rawwatch.Version

func startRawWatch(t *testing.T, cs kubernetes.Interface, ns string) *rawwatch.Watch {
	t.Helper()
	return rawwatch.Start(t, cs, ns)
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
