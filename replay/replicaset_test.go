package replay

import (
	"math"
	"math/rand"
	"strings"
	"testing"
	"time"
)

// TestDeletionRanking checks the order in which a ReplicaSet picks pods to delete.
func TestDeletionRanking(t *testing.T) {
	now := genStart.Add(time.Hour)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	pod := func(name, node string, scheduled bool, phase string, readySince time.Duration, created time.Duration) *simPod {
		p := &simPod{name: name, uid: "uid-" + name, node: node, scheduled: scheduled, phase: phase, creationTS: ago(created)}
		if readySince > 0 {
			p.ready, p.readyLTT = true, ago(readySince)
		}
		return p
	}
	pods := []*simPod{
		pod("ready-old", "n1", true, "Running", 30*time.Minute, 40*time.Minute),
		pod("ready-recent", "n2", true, "Running", 10*time.Second, 40*time.Minute),
		pod("running-unready", "n3", true, "Running", 0, 40*time.Minute),
		pod("pending", "n3", true, "Pending", 0, 40*time.Minute),
		pod("unassigned", "", false, "Pending", 0, 40*time.Minute),
		pod("doubled-up", "n1", true, "Running", 31*time.Minute, 40*time.Minute), // same log2 bucket as ready-old
		pod("ready-old-newer", "n4", true, "Running", 30*time.Minute, 10*time.Minute),
		pod("ready-old-older", "n5", true, "Running", 30*time.Minute, 35*time.Minute),
	}
	want := []string{
		"unassigned",      // 1. unassigned before assigned
		"pending",         // 2. pending before running
		"running-unready", // 3. not ready before ready
		"doubled-up",      // 5. more pods of the workload on its node (n1 has 2),
		"ready-old",       //    then ready as long ago on a log scale: by uid
		"ready-recent",    // 6. ready more recently
		"ready-old-newer", // 8. created more recently (ready at the same time)
		"ready-old-older",
	}
	// whatever the listing order
	r := rand.New(rand.NewSource(1))
	for round := 0; round < 20; round++ {
		r.Shuffle(len(pods), func(i, j int) { pods[i], pods[j] = pods[j], pods[i] })
		got := podsToDelete(pods, activeOnNode(pods), len(pods)-1, now)
		var names []string
		for _, p := range got {
			names = append(names, p.name)
		}
		if strings.Join(names, " ") != strings.Join(want[:len(want)-1], " ") {
			t.Fatalf("round %d: deleted %v, want %v", round, names, want[:len(want)-1])
		}
	}
	// Ages compare on a logarithmic scale: pods ready 20s and 30s ago are as old (2^34 ns < both
	// < 2^35 ns) and go by uid; 10s and 30s are not.
	a := pod("a", "x", true, "Running", 30*time.Second, time.Hour)
	b := pod("b", "y", true, "Running", 20*time.Second, time.Hour)
	c := pod("c", "z", true, "Running", 10*time.Second, time.Hour)
	ra, rb, rc := newRanked(a, 1, now), newRanked(b, 1, now), newRanked(c, 1, now)
	if !deleteBefore(&ra, &rb, now) || deleteBefore(&rb, &ra, now) {
		t.Error("ready 30s and 20s ago are not ranked by uid")
	}
	if !deleteBefore(&rc, &ra, now) {
		t.Error("ready 10s ago is not deleted before ready 30s ago")
	}
	// Deleting everything needs no ranking.
	if got := podsToDelete(pods[:3], activeOnNode(pods), 3, now); len(got) != 3 {
		t.Errorf("deleting all: %d pods", len(got))
	}
}

// TestReplicaSetStatusLags: a ReplicaSet's status counts the pods it saw before acting, as
// upstream's does, and is corrected by the next sync.
func TestReplicaSetStatusLags(t *testing.T) {
	s := unitSim(KindDeployment)
	rs := unitRS("web-1", "v1", 3, 3, 4, genStart)
	s.st.rss = []*simRS{rs}
	for i := 0; i < 3; i++ {
		p := &simPod{name: "p" + string(rune('a'+i)), uid: "u" + string(rune('a'+i)), owner: rs, node: "n", scheduled: true,
			phase: "Running", ready: true, readyLTT: genStart, creationTS: genStart}
		s.st.insertPod(p)
	}
	rs.replicas, rs.generation = 1, 2
	s.dispatch(ctrlReplicaSet, "web-1")
	if rs.status.Replicas != 3 || rs.status.Available != 3 || rs.status.ObservedGeneration != 2 {
		t.Fatalf("status after deleting: %+v, want the 3 pods seen before", rs.status)
	}
	s.dispatch(ctrlReplicaSet, "web-1")
	if rs.status.Replicas != 1 || rs.status.Available != 1 {
		t.Fatalf("status after the next sync: %+v, want 1", rs.status)
	}
}

// activeOnNode counts active pods per spec.nodeName.
func activeOnNode(pods []*simPod) map[string]int {
	m := map[string]int{}
	for _, p := range pods {
		if p.active() {
			m[p.nodeName()]++
		}
	}
	return m
}

// podsToDelete ranks with a fresh controller.
func podsToDelete(active []*simPod, onNode map[string]int, n int, now time.Time) []*simPod {
	var rsc replicaSetController
	return rsc.podsToDelete(active, onNode, n, now)
}

// TestLogAgeIsUpstreams checks the fast logarithm against math.Log2, as upstream computes it.
func TestLogAgeIsUpstreams(t *testing.T) {
	now := genStart
	r := rand.New(rand.NewSource(1))
	check := func(d time.Duration) {
		want := int64(-1)
		if d > 0 {
			want = int64(math.Log2(float64(d)))
		}
		if got := logAge(now.Add(-d), now); got != want {
			t.Fatalf("age %d: %d, want %d", d, got, want)
		}
	}
	for k := 0; k < 62; k++ {
		p := time.Duration(1) << k
		for _, d := range []time.Duration{p - 2, p - 1, p, p + 1} {
			check(d)
		}
	}
	for i := 0; i < 100000; i++ {
		check(time.Duration(r.Int63n(int64(365 * 24 * time.Hour))))
	}
}

// TestMinReadySecondsResync: a ReplicaSet whose pods are Ready but not yet available re-syncs
// minReadySeconds after its status write, as upstream's AddAfter does once the write has
// returned. A pod Ready at a whole second (lastTransitionTime equal to the readiness instant,
// as one-second timestamps give) is then available at that re-sync, as upstream finds it, and
// not a second later at the pod handler's safety re-sync.
func TestMinReadySecondsResync(t *testing.T) {
	s := unitSim(KindDeployment)
	rs := unitRS("web-1", "v1", 1, 0, 2, genStart)
	rs.minReadySeconds = 3
	rs.status = rsStatus{}
	s.st.rss = []*simRS{rs}
	p := &simPod{name: "pa", uid: "ua", owner: rs, node: "n", scheduled: true, phase: "Running", creationTS: genStart, created: genStart}
	s.st.insertPod(p)
	ready := genStart.Add(2 * time.Second) // a whole second
	s.now = ready
	s.st.setReady(p, ready)
	s.dispatch(ctrlReplicaSet, "web-1")
	if rs.status.Ready != 1 || rs.status.Available != 0 {
		t.Fatalf("status at readiness %+v, want 1 ready, 0 available", rs.status)
	}
	s.run()
	if rs.status.Available != 1 {
		t.Fatalf("status after the re-sync %+v, want the pod available", rs.status)
	}
	if want := ready.Add(3*time.Second + writeLatency); !s.now.Equal(want) {
		t.Fatalf("available at %s, want %s (minReadySeconds after the status write)", s.now.Sub(genStart), want.Sub(genStart))
	}
}
