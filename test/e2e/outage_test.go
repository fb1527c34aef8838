package e2e

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// The log (an external NATS JetStream) dies while the cluster changes and comes back later:
// the collector loses no change. It gives up on the versions it could not store (after the
// publisher's retries, shortened here), stops its watches, waits for the log and relists: every
// object's current version ends up in the log, the deletion it missed too, nothing twice.
func TestLogOutage(t *testing.T) {
	c, _ := needCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	natsDir, port := t.TempDir(), freePort(t)
	nats := runNATSChild(t, natsDir, port)
	t.Cleanup(func() { nats.stop() })
	ns := createNamespace(t, c, "outage")
	for i := 1; i <= 3; i++ {
		if _, err := c.Kubectl(ctx, "-n", ns, "create", "configmap", fmt.Sprintf("cm-%d", i), "--from-literal=v=0"); err != nil {
			t.Fatal(err)
		}
	}
	r := StartRecorder(t, c, RecorderOptions{NATSURL: nats.URL, Include: []string{"configmaps"}, PublishAckTimeout: time.Second})
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	nats.kill()
	steps := [][]string{
		{"-n", ns, "patch", "configmap", "cm-1", "-p", `{"data":{"v":"1"}}`},
		{"-n", ns, "patch", "configmap", "cm-1", "-p", `{"data":{"v":"2"}}`},
		{"-n", ns, "delete", "configmap", "cm-2"},
	}
	for i := 4; i <= 30; i++ {
		steps = append(steps, []string{"-n", ns, "create", "configmap", fmt.Sprintf("cm-%d", i), "--from-literal=v=" + fmt.Sprint(i)})
	}
	for _, s := range steps {
		if _, err := c.Kubectl(ctx, s...); err != nil {
			t.Fatal(err)
		}
	}
	// Longer than the publisher's acknowledgement timeout and retries (about 10s here).
	time.Sleep(20 * time.Second)
	nats = runNATSChild(t, natsDir, port)

	out, err := c.Kubectl(ctx, "-n", ns, "get", "configmaps", "-o", `jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, f := range strings.Fields(string(out)) {
		name, rv, _ := strings.Cut(f, "=")
		want[name] = rv
	}
	var envs []*eventlog.Envelope
	if err := eventually(ctx, 3*time.Minute, func() error {
		sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
		defer scancel()
		if envs, err = r.Envelopes(sctx); err != nil {
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
		if e := last["cm-2"]; e == nil || !e.Type.IsDelete() {
			return fmt.Errorf("cm-2's deletion is not in the log: %v", e)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range envs {
		k := e.UID + "/" + e.ResourceVersion + "/" + string(e.Type)
		if seen[k] {
			t.Errorf("recorded twice: %s", e)
		}
		seen[k] = true
	}
	recoveries := counter(t, r, "khist_collector_log_recoveries_total", "")
	t.Logf("%d objects at their current version after the outage; log recoveries %v, publish errors %v",
		len(want), recoveries, counter(t, r, "khist_collector_publish_errors_total", ""))
	if recoveries < 1 {
		t.Errorf("the collector never gave up on the dead log: the recovery path was not exercised")
	}
}

// Node and Lease updates that only move heartbeat times are not recorded, unless asked.
func TestHeartbeatsFiltered(t *testing.T) {
	c, _ := needCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	filtered := StartRecorder(t, c, RecorderOptions{Include: []string{"leases", "nodes"}})
	kept := StartRecorder(t, c, RecorderOptions{Include: []string{"leases", "nodes"}, KeepHeartbeats: true})
	time.Sleep(25 * time.Second) // kwok renews node leases every 10s
	count := func(r *Recorder) (modified int, heartbeats float64) {
		envs, err := r.Envelopes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range envs {
			if e.Type == eventlog.Modified {
				modified++
			}
		}
		mfs, _ := r.Registry.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "khist_collector_filtered_total" {
				for _, m := range mf.GetMetric() {
					if label(m, "reason") == "heartbeat" {
						heartbeats += m.GetCounter().GetValue()
					}
				}
			}
		}
		return modified, heartbeats
	}
	fm, fh := count(filtered)
	km, kh := count(kept)
	t.Logf("filtered: %d MODIFIED recorded, %v heartbeats left out; --keep-heartbeats: %d MODIFIED, %v left out", fm, fh, km, kh)
	if fm != 0 || fh < 2 {
		t.Errorf("with the filter: %d MODIFIED Leases or Nodes recorded, %v heartbeats filtered", fm, fh)
	}
	if km < 2 || kh != 0 {
		t.Errorf("with --keep-heartbeats: %d MODIFIED recorded, %v filtered", km, kh)
	}
}
