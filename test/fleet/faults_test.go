package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/test/cluster"
	"github.com/khist/khist/test/natscluster"

	"github.com/khist/khist/test/internal/khistbin"
)

// startNATS starts a three-node NATS JetStream cluster for one test.
func startNATS(t *testing.T) *natscluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	nc, err := natscluster.Start(ctx, natscluster.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("NATS nodes' logs:\n%s", nc.Logs(30))
		}
		nc.Stop()
	})
	return nc
}

// collectArgs are the arguments of a `khist collect` recording the web Deployment of ns into
// the clustered log at url, with a three-replica stream.
func collectArgs(c *cluster.Cluster, url, dataDir, ns string, extra ...string) []string {
	return append([]string{"collect",
		"--kubeconfig", c.Kubeconfig,
		"--data-dir", dataDir,
		"--cluster", "fleet",
		"--nats-url", url,
		"--stream-replicas", "3",
		"--include", "pods,replicasets.apps,deployments.apps",
		"--include-namespace", ns,
		"--log-format", "json",
		"--metrics-addr", "127.0.0.1:0",
		"--discovery-interval", "5s",
	}, extra...)
}

// The collector's figures a fault test follows.
var faultMetrics = []string{
	"khist_collector_publish_retries_total",
	"khist_collector_log_recoveries_total",
	"khist_collector_log_wait_seconds_total",
	"khist_collector_publish_blocked_seconds_total",
}

// `khist collect` records rolling updates into a three-replica stream on three nats-server
// processes while, one fault per rollout, the stream's leader is killed (SIGKILL), a follower
// is killed, the leader is stopped for 30 s (a partition of one node), two nodes are killed
// for 15 s (no quorum), and all three are restarted one by one. After each: every Pod and
// ReplicaSet version the API server served is in the log exactly once, and the
// collector still runs. At the end the views that the collector's projector folded live,
// through the faults, equal views folded from scratch from the log by another process.
func TestClusteredLogFaults(t *testing.T) {
	c, cs := needCluster(t)
	bin := khistbin.Build(t)
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	nc := startNATS(t)
	ns := createNamespace(t, c, "faults")
	raw := startRawWatch(t, cs, ns)
	live := t.TempDir()
	col := startProc(t, "khist collect", bin, collectArgs(c, nc.URL(), live, ns)...)
	col.waitLogged("initial lists recorded", 2*time.Minute)
	lt := startLogTracker(t, nc.URL(), ns)

	if err := c.Apply(ctx, webDeployment(ns, 3, 1500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	rolloutDone(ctx, t, c, ns)
	stream := eventlog.DefaultStream
	if err := nc.WaitStreamCurrent(ctx, stream); err != nil {
		t.Fatal(err)
	}

	type fault struct {
		name string
		// inject breaks the cluster once the rollout is under way; it returns what repairs it
		// (run after the rollout has finished), or nil.
		inject func() (repair func())
	}
	restart := func(n *natscluster.Node) func() {
		return func() {
			if err := n.Start(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	leader := func() *natscluster.Node {
		n, err := nc.StreamLeader(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	faults := []fault{
		{"kill -9 the stream leader", func() func() {
			n := leader()
			t.Logf("killing %s (stream leader)", n.Name)
			n.Kill()
			return restart(n)
		}},
		{"kill -9 a follower", func() func() {
			l := leader()
			for _, n := range nc.Nodes {
				if n != l {
					t.Logf("killing %s (follower; %s leads)", n.Name, l.Name)
					n.Kill()
					return restart(n)
				}
			}
			return nil
		}},
		{"stop the leader 30 s, restart", func() func() {
			n := leader()
			t.Logf("stopping %s (stream leader) for 30 s", n.Name)
			n.Stop()
			time.Sleep(30 * time.Second)
			restart(n)()
			return nil
		}},
		{"kill -9 two nodes, 15 s, restart", func() func() {
			// No quorum: the stream takes nothing until a second node is back.
			l := leader()
			gone := []*natscluster.Node{l}
			for _, n := range nc.Nodes {
				if n != l {
					gone = append(gone, n)
					break
				}
			}
			t.Logf("killing %s and %s (%s led) for 15 s", gone[0].Name, gone[1].Name, l.Name)
			for _, n := range gone {
				n.Kill()
			}
			time.Sleep(15 * time.Second)
			for _, n := range gone {
				restart(n)()
			}
			return nil
		}},
		{"restart all three one by one", func() func() {
			for _, n := range nc.Nodes {
				n.Stop()
				restart(n)()
				if err := nc.WaitStreamCurrent(ctx, stream); err != nil {
					t.Fatal(err)
				}
			}
			return nil
		}},
	}
	var report []string
	for i, f := range faults {
		before := map[string]float64{}
		for _, m := range faultMetrics {
			before[m], _ = col.metric(ctx, m)
		}
		from := len(raw.Versions(""))
		rollTo(ctx, t, c, cs, ns, fmt.Sprintf("nginx:2.%d", i))
		injected := time.Now()
		repair := f.inject()
		rolloutDone(ctx, t, c, ns)
		if repair != nil {
			repair()
		}
		if err := nc.WaitStreamCurrent(ctx, stream); err != nil {
			t.Fatal(err)
		}
		raw.WaitQuiet(t, ctx, 2*time.Second)
		all := raw.Versions("")
		lost, dups, _ := lt.waitHas(ctx, all, time.Minute)
		_, _, lag := lt.check(all[from:])
		if !col.running() {
			t.Fatalf("%s: khist collect exited", f.name)
		}
		var deltas []string
		for _, m := range faultMetrics {
			v, err := col.metric(ctx, m)
			if err != nil {
				t.Errorf("%s: %v", f.name, err)
			}
			deltas = append(deltas, fmt.Sprintf("%s +%.1f", strings.TrimPrefix(m, "khist_collector_"), v-before[m]))
		}
		line := fmt.Sprintf("%-32s versions %3d, lost %d, duplicates %d, longest to the log %5.1fs, fault to settled %5.1fs; %s",
			f.name, len(all)-from, len(lost), len(dups), lag.Seconds(), time.Since(injected).Seconds(), strings.Join(deltas, ", "))
		t.Log(line)
		report = append(report, line)
		if len(lost) > 0 {
			t.Errorf("%s: %d versions the API server served are not in the log: %v", f.name, len(lost), lost)
		}
		if len(dups) > 0 {
			t.Errorf("%s: versions in the log more than once: %v", f.name, dups)
		}
	}
	t.Logf("figures:\n%s", strings.Join(report, "\n"))

	// The collector never stopped: it stops now, cleanly, on SIGTERM.
	if err := col.stop(); err != nil {
		t.Errorf("khist collect after SIGTERM: %v", err)
	}
	// The views folded live through the faults equal views folded from scratch.
	fresh := t.TempDir()
	for _, q := range [][]string{
		{"rollouts", "-n", ns, "-o", "json"},
		{"replay", "all", "-n", ns, "-o", "json"},
	} {
		got := khist(ctx, t, bin, append(q, "--cluster", "fleet", "--data-dir", live, "--nats-url", nc.URL())...)
		want := khist(ctx, t, bin, append(q, "--cluster", "fleet", "--data-dir", fresh, "--nats-url", nc.URL())...)
		if !bytes.Equal(got, want) {
			t.Errorf("khist %s: the views folded through the faults differ from views folded afresh\nlive:  %.2000s\nfresh: %.2000s", strings.Join(q, " "), got, want)
		}
		if q[0] == "rollouts" {
			if n := countRollouts(t, got); n != len(faults)+1 {
				t.Errorf("rollouts -o json lists %d rollouts, want %d (the creation and one per fault)\n%.3000s", n, len(faults)+1, got)
			}
		}
	}
}

// countRollouts counts the rollouts in `khist rollouts -o json` output.
func countRollouts(t *testing.T, out []byte) int {
	t.Helper()
	var list []json.RawMessage
	if err := json.Unmarshal(out, &list); err == nil {
		return len(list)
	}
	var obj struct {
		Rollouts []json.RawMessage `json:"rollouts"`
	}
	if err := json.Unmarshal(out, &obj); err != nil {
		t.Fatalf("rollouts -o json: %v\n%.500s", err, out)
	}
	return len(obj.Rollouts)
}
