// Package compaction tests the collector against etcd compaction. Its cluster's API server runs
// without a watch cache, so that a watch resumed from a compacted resourceVersion reaches etcd
// and fails with 410 Gone, as it does in production once the watch cache has moved on.
package compaction

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/test/cluster"
	"github.com/khist/khist/test/e2e"
)

var testCluster *cluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(cluster.RunMain(m, cluster.Options{ExtraAPIServerFlags: []string{"--watch-cache=false"}}, func(c *cluster.Cluster) error {
		testCluster = c
		return nil
	}))
}

// A collector that falls behind while etcd compacts its history gets 410 Gone when it resumes
// its watch, relists, and loses nothing: the objects changed while it was behind are recorded
// at their current version, the deleted one as DELETED_UNOBSERVED, the created one as RESYNC.
func TestCompactionRelist(t *testing.T) {
	c := testCluster
	if c == nil {
		t.Skip("no test cluster with -short")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	ns := fmt.Sprintf("compaction-%d", time.Now().UnixNano())
	if _, err := c.Kubectl(ctx, "create", "namespace", ns); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if _, err := c.Kubectl(ctx, "-n", ns, "create", "configmap", fmt.Sprintf("cm-%d", i), "--from-literal=v=0"); err != nil {
			t.Fatal(err)
		}
	}
	faults := e2e.NewFaultTransport()
	r := e2e.StartRecorder(t, c, e2e.RecorderOptions{Include: []string{"configmaps"}, WrapTransport: faults.Wrap})
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	// The collector falls behind: nothing reaches it while the cluster changes and etcd
	// compacts.
	faults.Pause()
	steps := [][]string{
		{"-n", ns, "patch", "configmap", "cm-1", "-p", `{"data":{"v":"1"}}`},
		{"-n", ns, "patch", "configmap", "cm-1", "-p", `{"data":{"v":"2"}}`},
		{"-n", ns, "delete", "configmap", "cm-2"},
		{"-n", ns, "create", "configmap", "cm-4", "--from-literal=v=4"},
	}
	for _, s := range steps {
		if _, err := c.Kubectl(ctx, s...); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.EtcdCompact(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := c.Kubectl(ctx, "-n", ns, "get", "configmaps", "-o", `jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, f := range strings.Fields(string(out)) {
		name, rv, _ := strings.Cut(f, "=")
		want[name] = rv
	}
	// Its connections drop; it resumes its watch from before the compaction.
	faults.BreakAndResume()

	var envs []*eventlog.Envelope
	if err := eventually(ctx, time.Minute, func() error {
		if envs, err = r.Envelopes(ctx); err != nil {
			return err
		}
		last := map[string]*eventlog.Envelope{}
		for _, e := range envs {
			if e.Namespace == ns {
				last[e.Name] = e
			}
		}
		for name, rv := range want {
			if e := last[name]; e == nil || e.ResourceVersion != rv || e.Type.IsDelete() {
				return fmt.Errorf("%s at rv %s is not the last version in the log: %v", name, rv, e)
			}
		}
		if e := last["cm-2"]; e == nil || e.Type != eventlog.DeletedUnobserved {
			return fmt.Errorf("cm-2's deletion is not in the log: %v", e)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	gone := counter(t, r, "khist_collector_relists_total", "configmaps", "gone")
	if gone < 1 {
		t.Errorf("no relist after 410 Gone (relists by reason: gone=%v)", gone)
	}
	for _, e := range envs {
		if e.Namespace == ns {
			t.Logf("%s", e)
		}
	}
	// Nothing twice.
	seen := map[string]bool{}
	for _, e := range envs {
		k := e.UID + "/" + e.ResourceVersion + "/" + string(e.Type)
		if seen[k] {
			t.Errorf("recorded twice: %s", e)
		}
		seen[k] = true
	}
}

func counter(t *testing.T, r *e2e.Recorder, name, resource, reason string) float64 {
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
			var res, why string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "resource":
					res = l.GetValue()
				case "reason":
					why = l.GetValue()
				}
			}
			if res == resource && why == reason {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

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
