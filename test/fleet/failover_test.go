package fleet

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/test/internal/khistbin"
)

// Two `khist collect --leader-elect` replicas record into one clustered log: one records, the
// other stands by (recording nothing); the leader is killed (SIGKILL) in the middle of a
// rolling update and the other takes the Lease within 15 s, resumes the watches from the
// progress the log holds and records the rest of the rollout and the next one. Every version
// the API server served is in the log exactly once, including those that came and went while
// no replica watched (between the kill and the takeover): the API server replays them to the
// resumed watches.
func TestCollectorFailover(t *testing.T) {
	c, cs := needCluster(t)
	bin := khistbin.Build(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	nc := startNATS(t)
	ns := createNamespace(t, c, "failover")
	raw := startRawWatch(t, cs, ns)
	lease := []string{"--leader-elect", "--leader-elect-lease-name", "khist-" + ns, "--leader-elect-lease-namespace", ns,
		"--leader-elect-lease-duration", "8s", "--leader-elect-renew-deadline", "5s", "--leader-elect-retry-period", "1s"}
	a := startProc(t, "replica a", bin, collectArgs(c, nc.URL(), t.TempDir(), ns, lease...)...)
	a.waitLogged("leading: recording", time.Minute)
	a.waitLogged("initial lists recorded", time.Minute)
	b := startProc(t, "replica b", bin, collectArgs(c, nc.URL(), t.TempDir(), ns, lease...)...)
	b.waitLogged("standing by: another replica records", time.Minute)
	lt := startLogTracker(t, nc.URL(), ns)

	if err := c.Apply(ctx, webDeployment(ns, 4, 1500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	rolloutDone(ctx, t, c, ns)
	if n, _ := b.metric(ctx, "khist_collector_events_total"); n != 0 || !b.logged("leading: recording").IsZero() {
		t.Fatalf("the standby replica recorded %v versions before the leader was killed", n)
	}
	rollTo(ctx, t, c, cs, ns, "nginx:2.0")
	a.kill()
	killed := time.Now()
	took := b.waitLogged("leading: recording", 30*time.Second)
	var synced time.Time
	deadline := time.Now().Add(time.Minute)
	for synced = b.logged("initial lists recorded"); synced.IsZero() && time.Now().Before(deadline); synced = b.logged("initial lists recorded") {
		time.Sleep(100 * time.Millisecond)
	}
	if synced.IsZero() {
		t.Fatal("the new leader did not resume its watches within a minute")
	}
	failover, relisted := took.Sub(killed), synced.Sub(killed)
	if failover > 15*time.Second {
		t.Errorf("the standby took over %s after the leader was killed, want within 15 s", failover.Round(time.Millisecond))
	}
	rolloutDone(ctx, t, c, ns)
	// One more rollout, recorded by the new leader alone.
	rollTo(ctx, t, c, cs, ns, "nginx:3.0")
	rolloutDone(ctx, t, c, ns)
	raw.WaitQuiet(t, ctx, 2*time.Second)
	all := raw.Versions("")
	lost, dups, _ := lt.waitHas(ctx, all, 20*time.Second)
	if len(dups) > 0 {
		t.Errorf("versions recorded twice across the failover: %v", dups)
	}
	// Every version after the new leader's lists is in the log, and so is the state of every
	// object when it listed.
	if len(lost) > 0 {
		t.Errorf("%d versions the API server served are not in the log: %s", len(lost), strings.Join(lost, "; "))
	}
	lt.mu.Lock()
	// The versions served while no replica watched: from the kill to the new leader's
	// watches (the takeover plus the time to read the log's state and resume).
	var during, recovered int
	for _, v := range all {
		if !v.Seen.Before(killed) && v.Seen.Before(synced) {
			during++
			if lt.counts[v.Key()] == 1 {
				recovered++
			}
		}
	}
	lastBefore := map[string]version{}
	after := 0
	for _, v := range all {
		if v.Seen.Before(synced.Add(-time.Second)) {
			lastBefore[v.UID] = v
		} else if v.Seen.After(synced.Add(time.Second)) {
			after++
			if lt.counts[v.Key()] == 0 {
				t.Errorf("%s, seen after the new leader listed, is not in the log", v)
			}
		}
	}
	for _, v := range lastBefore {
		if v.Type == "DELETED" {
			continue
		}
		if lt.counts[v.Key()] == 0 {
			t.Errorf("%s, the state when the new leader listed, is not in the log", v)
		}
	}
	lt.mu.Unlock()
	if after == 0 {
		t.Error("no version after the takeover: the test did not see the new leader record")
	}
	if during == 0 {
		t.Error("no version between the kill and the takeover: the test did not make a gap")
	}
	resumed, _ := b.metric(ctx, "khist_collector_relists_total")
	unobserved, _ := b.metric(ctx, "khist_collector_unobserved_changes_total")
	line := fmt.Sprintf("failover: lease taken %.1fs after the kill -9, watches resumed %.1fs after; %d versions served, %d between the kill and the resumed watches, %d of them in the log; %d not in the log, %d duplicates, %d versions after the takeover; the new leader relisted %v times, %v unobserved changes",
		failover.Seconds(), relisted.Seconds(), len(all), during, recovered, len(lost), len(dups), after, resumed, unobserved)
	t.Log(line)
	if resumed != 0 || unobserved != 0 {
		t.Errorf("the new leader relisted (%v) instead of resuming its watches: %v changes recorded only as the state the list found", resumed, unobserved)
	}
	if !b.running() {
		t.Error("the new leader exited")
	}
	if v, err := b.metric(ctx, "khist_collector_events_total"); err != nil || v == 0 {
		t.Errorf("the new leader's metrics: %v events (%v)", v, err)
	}
}
