package replay

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestResolveFenceposts(t *testing.T) {
	i := func(n int32) *intstr.IntOrString { v := intstr.FromInt32(n); return &v }
	p := func(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
	for _, c := range []struct {
		surge, unavail         *intstr.IntOrString
		replicas               int32
		wantSurge, wantUnavail int32
		invalid                bool
	}{
		{i(2), i(0), 6, 2, 0, false},
		{p("25%"), p("25%"), 10, 3, 2, false}, // 2.5 rounds up for surge, down for unavailable
		{p("25%"), p("25%"), 1, 1, 0, false},  // 0.25: surge 1, unavailable 0
		{p("50%"), p("50%"), 3, 2, 1, false},  // 1.5
		{p("100%"), i(0), 6, 6, 0, false},     // maxSurge 100%: the whole new ReplicaSet at once
		{p("10%"), p("10%"), 5, 1, 0, false},  // 0.5
		{p("0%"), p("10%"), 5, 0, 1, false},   // both resolve to 0: upstream allows one unavailable
		{i(0), p("0%"), 5, 0, 0, true},        // both given as 0: the API server refuses it
		{i(0), i(0), 5, 0, 0, true},           // idem
		{p("x%"), i(1), 5, 0, 0, true},        // not a percentage
		{nil, i(3), 4, 0, 3, false},           // unset surge is 0
		{p("33%"), p("33%"), 100, 33, 33, false},
		{p("34%"), p("34%"), 10, 4, 3, false}, // 3.4
	} {
		s, u, err := ResolveFenceposts(c.surge, c.unavail, c.replicas)
		if c.invalid {
			if !errors.Is(err, ErrInvalidStrategy) {
				t.Errorf("%v/%v of %d: err = %v, want ErrInvalidStrategy", c.surge, c.unavail, c.replicas, err)
			}
			continue
		}
		if err != nil || s != c.wantSurge || u != c.wantUnavail {
			t.Errorf("%v/%v of %d: got %d/%d (%v), want %d/%d", c.surge, c.unavail, c.replicas, s, u, err, c.wantSurge, c.wantUnavail)
		}
	}
	// maxUnavailable never exceeds replicas
	sp := spec{Replicas: 3, Strategy: strategyRollingUpdate, MaxSurge: i(0), MaxUnavailable: i(10)}
	if got := maxUnavailable(&sp); got != 3 {
		t.Errorf("maxUnavailable(10 of 3) = %d, want 3", got)
	}
	sp.Strategy = strategyRecreate
	if maxUnavailable(&sp) != 0 || maxSurge(&sp) != 0 {
		t.Error("Recreate has surge or unavailability")
	}
}

// unitSim is a simulation with an empty world, for driving one controller by hand.
func unitSim(kind string) *simulation {
	scn := &Scenario{Kind: kind, Namespace: "unit", Name: "web", UID: "uid-web", x: &extraction{revName: map[string]string{}}}
	ro := &Rollout{ID: "unit", Start: genStart, End: genStart.Add(time.Hour)}
	s := &simulation{clock: newClock(genStart), scn: scn, ro: ro, mode: EnvLatency, ov: &overrides{}}
	s.env = &environment{kind: kind, pool: map[string][]*PodRecord{}, used: map[*PodRecord]bool{}, revLat: map[string][]time.Duration{},
		revNever: map[string]bool{}, synthetic: func(string) (time.Duration, bool) { return 0, false }}
	s.st = &store{pvcs: map[string]bool{}, onNode: map[string]int{}, activeOn: map[string]int{}, notify: func(change) {}}
	s.startControllers()
	s.syncFn = s.dispatch
	return s
}

func unitRS(name, key string, replicas, available, maxAnn int32, created time.Time) *simRS {
	return &simRS{name: name, uid: "uid-" + name, revKey: key, replicas: replicas, creationTS: created,
		desired: replicas, hasDesired: true, max: maxAnn, hasMax: true,
		status: rsStatus{Replicas: replicas, Ready: available, Available: available}}
}

// TestProportionalScaling scales a Deployment in the middle of a rollout: the extra replicas
// are shared between the ReplicaSets in proportion to their sizes, as upstream's scale does.
func TestProportionalScaling(t *testing.T) {
	s := unitSim(KindDeployment)
	old := unitRS("web-old", "v1", 8, 8, 13, genStart)
	cur := unitRS("web-new", "v2", 5, 2, 13, genStart.Add(time.Minute))
	s.st.rss = []*simRS{old, cur}
	d := &simWorkload{name: "web", generation: 3, spec: spec{Replicas: 20, Strategy: strategyRollingUpdate,
		MaxSurge: ptrIS(intstr.FromString("25%")), MaxUnavailable: ptrIS(intstr.FromString("25%")), Template: "v2",
		HasSelector: true, ProgressDeadlineSeconds: noLimit, RevisionHistoryLimit: noLimit}}
	d.status.Replicas = 13
	s.st.w = d
	if !(&deploymentController{s: s}).isScalingEvent(d, s.st.rss) {
		t.Fatal("replicas 10 -> 20 is not a scaling event")
	}
	s.dispatch(ctrlDeployment, "")
	// allowed 20+5 = 25, 12 to add: old 8*25/13 = 15.4 -> 15, new 5*25/13 = 9.6 -> 10
	if old.replicas != 15 || cur.replicas != 10 {
		t.Fatalf("old %d new %d, want 15 and 10", old.replicas, cur.replicas)
	}
	want := []string{"web-old 8->15", "web-new 5->10"}
	for i, st := range s.steps {
		if st.String() != want[i] {
			t.Errorf("step %d: %s, want %s", i, st, want[i])
		}
	}
	if old.max != 25 || cur.desired != 20 {
		t.Errorf("annotations: max %d desired %d, want 25 and 20", old.max, cur.desired)
	}

	// Scaling down: old ReplicaSets give up replicas first among equals, the leftover goes to
	// the largest.
	s = unitSim(KindDeployment)
	old = unitRS("web-old", "v1", 6, 6, 12, genStart)
	cur = unitRS("web-new", "v2", 6, 6, 12, genStart.Add(time.Minute))
	s.st.rss = []*simRS{old, cur}
	d.spec.Replicas, d.status.Replicas = 5, 12
	s.st.w = d
	s.dispatch(ctrlDeployment, "")
	// allowed 5+2 = 7, -5: each -round(6*7/12)... old first (older among equal sizes)
	if old.replicas+cur.replicas != 7 || old.replicas > cur.replicas {
		t.Fatalf("old %d new %d, want 7 in total with the older smaller", old.replicas, cur.replicas)
	}
}

// TestRolloutReconcileOrder: an update in the middle of a rollout creates a third ReplicaSet, and
// the intermediate one is scaled down as an old one.
func TestRolloutReconcileOrder(t *testing.T) {
	s := unitSim(KindDeployment)
	old := unitRS("web-1", "v1", 6, 6, 8, genStart)
	mid := unitRS("web-2", "v2", 2, 0, 8, genStart.Add(time.Minute))
	old.revision, mid.revision = 1, 2
	mid.desired = 6
	s.st.rss = []*simRS{old, mid}
	d := &simWorkload{name: "web", generation: 3, spec: spec{Replicas: 6, Strategy: strategyRollingUpdate,
		MaxSurge: ptrIS(intstr.FromInt32(2)), MaxUnavailable: ptrIS(intstr.FromInt32(0)), Template: "v3",
		HasSelector: true, ProgressDeadlineSeconds: noLimit, RevisionHistoryLimit: noLimit}}
	s.st.w = d
	s.now = genStart.Add(2 * time.Minute)
	s.dispatch(ctrlDeployment, "")
	// One sync: the new ReplicaSet is created with 0 (8 pods are already asked for, no room
	// to surge), then maxScaledDown = 8 - 6 - 0 = 2 and cleanupUnhealthyReplicas removes the 2
	// unavailable pods of web-2 (oldest first: web-1 is healthy, web-2 is not).
	var got []string
	for _, st := range s.steps {
		got = append(got, st.String())
	}
	if strings.Join(got, ", ") != "web-simv3 0->0, web-2 2->0" {
		t.Fatalf("steps %v, want the new ReplicaSet created with 0, then web-2 2->0", got)
	}
	if rs := s.st.rsByName(s.revisionName("v3")); rs == nil || rs.revision != 3 {
		t.Fatalf("new ReplicaSet revision: %+v", rs)
	}
}

// TestRevisionHistoryLimit: a complete Deployment keeps revisionHistoryLimit old ReplicaSets,
// deleting the lowest revisions first, and never one that still has pods.
func TestRevisionHistoryLimit(t *testing.T) {
	s := unitSim(KindDeployment)
	for i := 1; i <= 5; i++ {
		rs := unitRS(fmt.Sprintf("web-%d", i), fmt.Sprintf("v%d", i), 0, 0, 4, genStart.Add(time.Duration(i)*time.Minute))
		rs.revision = int64(i)
		s.st.rss = append(s.st.rss, rs)
	}
	s.st.rsByName("web-2").status.Replicas = 1 // a pod still terminating
	cur := unitRS("web-6", "v6", 3, 3, 4, genStart.Add(time.Hour))
	cur.revision = 6
	s.st.rss = append(s.st.rss, cur)
	d := &simWorkload{name: "web", generation: 6, spec: spec{Replicas: 3, Strategy: strategyRollingUpdate,
		MaxSurge: ptrIS(intstr.FromInt32(1)), MaxUnavailable: ptrIS(intstr.FromInt32(0)), Template: "v6",
		HasSelector: true, ProgressDeadlineSeconds: noLimit, RevisionHistoryLimit: 2}, revision: 6,
		status: workloadStatus{ObservedGeneration: 6, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3}}
	s.st.w = d
	s.dispatch(ctrlDeployment, "")
	var left []string
	for _, rs := range s.st.rss {
		left = append(left, rs.name)
	}
	// 5 old, limit 2: the 3 lowest revisions go, except web-2 which still has a pod
	if got := strings.Join(left, " "); got != "web-2 web-4 web-5 web-6" {
		t.Fatalf("ReplicaSets left: %s", got)
	}
}

// TestCleanupRefusesStaleStatus: an old ReplicaSet whose status still counts more available
// pods than its spec now asks for (its last scale-down not yet in its status) makes upstream's
// cleanupUnhealthyReplicas compute a scale "down" that would grow it; upstream returns an error
// and reconcileOldReplicaSets gives up for this sync without scaling anything, even where
// scaleDownOldReplicaSetsForRollingUpdate would have scaled.
func TestCleanupRefusesStaleStatus(t *testing.T) {
	s := unitSim(KindDeployment)
	old := unitRS("web-old", "v1", 1, 2, 8, genStart) // spec 1, status still 2 available
	cur := unitRS("web-new", "v2", 4, 4, 8, genStart.Add(time.Minute))
	old.revision, cur.revision = 1, 2
	old.desired = 4
	s.st.rss = []*simRS{old, cur}
	d := &simWorkload{name: "web", generation: 2, revision: 2, spec: spec{Replicas: 4, Strategy: strategyRollingUpdate,
		MaxSurge: ptrIS(intstr.FromString("100%")), MaxUnavailable: ptrIS(intstr.FromInt32(0)), Template: "v2",
		HasSelector: true, ProgressDeadlineSeconds: noLimit, RevisionHistoryLimit: noLimit},
		status: workloadStatus{ObservedGeneration: 2}}
	s.st.w = d
	s.now = genStart.Add(2 * time.Minute)
	s.dispatch(ctrlDeployment, "")
	// maxScaledDown = 5 - 4 - 0 = 1; the clean-up computes min(1, 1-2) = -1: refused.
	if len(s.steps) != 0 || old.replicas != 1 {
		t.Fatalf("steps %v, old ReplicaSet at %d: want no step in the sync that sees the stale status", s.steps, old.replicas)
	}
	if d.status.AvailableReplicas != 6 {
		t.Fatalf("status %+v: want it synced from the ReplicaSets' statuses (6 available)", d.status)
	}
	// Once the old ReplicaSet's status catches up, the scale-down goes on.
	old.status = rsStatus{Replicas: 1, Ready: 1, Available: 1, ObservedGeneration: old.generation}
	s.dispatch(ctrlDeployment, "")
	if len(s.steps) != 1 || s.steps[0].String() != "web-old 1->0" {
		t.Fatalf("steps %v, want web-old 1->0", s.steps)
	}
}
