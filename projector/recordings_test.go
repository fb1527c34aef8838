package projector

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
)

// The recordings were made on a real control plane (see testdata/README of the shared
// recordings): what the views say must be exactly what the recorded objects show.

type scale struct {
	rs       string
	from, to int32
}

// scalesFromReplicaSets derives the scale steps from the ReplicaSet versions themselves.
func scalesFromReplicaSets(t *testing.T, envs []*eventlog.Envelope) []scale {
	t.Helper()
	last := map[string]int32{}
	var out []scale
	for _, e := range envs {
		if e.Kind != "ReplicaSet" || e.Type.IsDelete() {
			continue
		}
		var o Object
		if err := DecodeObject(e.Object, &o); err != nil {
			t.Fatal(err)
		}
		n := *o.Spec.Replicas
		prev, ok := last[e.Name]
		if !ok && e.Type == eventlog.Added {
			prev, ok = 0, true
		}
		if ok && prev != n {
			out = append(out, scale{e.Name, prev, n})
		}
		last[e.Name] = n
	}
	return out
}

func foldRecording(t *testing.T, name string) (*DB, []*eventlog.Envelope) {
	t.Helper()
	envs := loadRecording(t, "testdata/"+name, "test")
	db := MustOpenDB(t)
	foldAll(t, db, envs, 25)
	return db, envs
}

func TestRecordingRolling(t *testing.T) {
	db, envs := foldRecording(t, "sample-rolling")
	ctx := context.Background()
	w := WorkloadRef{Cluster: "test", Kind: "Deployment", Namespace: "sample-rolling", Name: "checkout"}

	// Revisions 1 and 2, by pod-template-hash, each with its 6 pods.
	revs, err := db.Revisions(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != 2 {
		t.Fatalf("%d revisions, want 2", len(revs))
	}
	r1, r2 := revs[0], revs[1]
	if r1.Hash != "59b467b7d8" || r1.Number() != 1 || r1.Images[0] != "checkout:v1" || r1.Object.Name != "checkout-59b467b7d8" || len(r1.Pods) != 6 {
		t.Errorf("revision 1: %+v", r1)
	}
	if r2.Hash != "669d5fd697" || r2.Number() != 2 || r2.Images[0] != "checkout:v2" || len(r2.Pods) != 6 || r2.Actor != "kubectl-set" {
		t.Errorf("revision 2: %+v", r2)
	}
	if len(r1.Current) != 1 || r1.Superseded().IsZero() || len(r2.Current) != 1 || !r2.Superseded().IsZero() || r1.Current[0].ToSeq != r2.Current[0].FromSeq {
		t.Errorf("current periods: %+v / %+v", r1.Current, r2.Current)
	}
	if len(r1.Template) == 0 || !bytes.Contains(r1.Template, []byte(`"checkout:v1"`)) {
		t.Errorf("revision 1 template: %s", r1.Template)
	}

	// Two rollouts: the creation (to revision 1) and 1 -> 2.
	ros, err := db.Rollouts(ctx, RolloutFilter{Cluster: "test", Namespace: "sample-rolling", Kind: "Deployment", Name: "checkout"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ros) != 2 {
		t.Fatalf("%d rollouts, want 2: %+v", len(ros), ros)
	}
	if r := ros[0]; !r.Initial || r.ToRevision != 1 || r.Outcome != OutcomeComplete {
		t.Errorf("initial rollout: %+v", r)
	}
	r := ros[1]
	if r.Initial || r.FromRevision != 1 || r.ToRevision != 2 || r.FromHash != "59b467b7d8" || r.ToHash != "669d5fd697" || r.Outcome != OutcomeComplete || r.Rollback {
		t.Errorf("rollout 1 -> 2: %+v", r)
	}
	if r.Desired != 6 || r.MinAvailable != 6 || r.MinAvailableShare != 1 || r.PeakPods != 8 {
		t.Errorf("rollout 1 -> 2: availability %d/%d (%.2f), peak %d pods; want 6/6, 8", r.MinAvailable, r.Desired, r.MinAvailableShare, r.PeakPods)
	}
	if r.Actor != "kubectl-set" || r.Strategy != "RollingUpdate" || r.MaxSurge != "2" || r.MaxUnavailable != "0" || r.Duration() <= 0 {
		t.Errorf("rollout 1 -> 2: %+v", r)
	}
	// It starts with the template change and ends with NewReplicaSetAvailable.
	start, end := envs[r.StartSeq-1], envs[r.EndSeq-1]
	if start.Kind != "Deployment" || !strings.Contains(string(start.Object), `"checkout:v2"`) || end.Kind != "Deployment" || !strings.Contains(string(end.Object), "NewReplicaSetAvailable") {
		t.Errorf("rollout bounds: %s .. %s", start, end)
	}

	// Its scale steps are exactly the spec.replicas changes of the ReplicaSets during it,
	// each linked to its ScalingReplicaSet Event.
	steps, err := db.RolloutSteps(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	var got []scale
	for _, s := range steps {
		if s.Action != ActionScale {
			continue
		}
		got = append(got, scale{s.Target.Name, *s.From, *s.To})
		want := fmt.Sprintf("replica set %s from %d to %d", s.Target.Name, *s.From, *s.To)
		if s.Event == nil || s.Event.Reason != "ScalingReplicaSet" || !strings.Contains(s.Event.Message, want) || s.Owner.Kind != "Deployment" {
			t.Errorf("scale step %+v: event %+v, want %q", s, s.Event, want)
		}
	}
	var want []scale
	for _, s := range scalesFromReplicaSets(t, envs) {
		if s.rs == "checkout-669d5fd697" || s.from != 0 {
			want = append(want, s)
		}
	}
	if !slices.Equal(got, want) || len(want) != 9 {
		t.Errorf("scale steps:\n got %v\nwant %v", got, want)
	}
	// Pods created by the new ReplicaSet, deleted from the old one, each announced.
	var created, deleted int
	for _, s := range steps {
		switch s.Action {
		case ActionCreatePod:
			created++
			if s.Owner.Name != "checkout-669d5fd697" || s.Event == nil || s.Event.Reason != "SuccessfulCreate" || s.Revision != "669d5fd697" {
				t.Errorf("create step %+v (event %+v)", s, s.Event)
			}
		case ActionDeletePod:
			deleted++
			if s.Owner.Name != "checkout-59b467b7d8" || s.Event == nil || s.Event.Reason != "SuccessfulDelete" {
				t.Errorf("delete step %+v (event %+v)", s, s.Event)
			}
		}
	}
	if created != 6 || deleted != 6 {
		t.Errorf("%d pods created, %d deleted during the rollout; want 6, 6", created, deleted)
	}

	// Pod lifecycles.
	pods, err := db.Pods(ctx, PodFilter{Cluster: "test", Namespace: "sample-rolling", Workload: "checkout", Kind: "Deployment"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 12 {
		t.Fatalf("%d pods, want 12", len(pods))
	}
	for _, p := range pods {
		if p.Node == "" || p.Scheduled.IsZero() || p.IP == "" || p.FirstReady().IsZero() || p.Owner.Kind != "ReplicaSet" {
			t.Errorf("pod %s: %+v", p.Name, p)
		}
		old := p.Revision == "59b467b7d8"
		if old != !p.Gone.IsZero() || old != !p.DeletionRequested.IsZero() {
			t.Errorf("pod %s of revision %s: deletion %v gone %v", p.Name, p.Revision, p.DeletionRequested, p.Gone)
		}
	}

	// The history of the workload is the whole recording (every object relates to it).
	hist, err := db.WorkloadHistory(ctx, w, timeZero, timeZero)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != len(envs) {
		t.Fatalf("history has %d versions, want %d", len(hist), len(envs))
	}
	for i, h := range hist {
		e := envs[i]
		if h.Seq != e.Seq || h.Kind != e.Kind || h.Name != e.Name || h.UID != e.UID || h.Type != string(e.Type) || !bytes.Equal(h.Object, e.Object) || !actorOf(h.Actor, e) || !h.Observed.Equal(e.Observed) {
			t.Fatalf("history[%d] = %d %s %s, want %s", i, h.Seq, h.Kind, h.Name, e)
		}
	}
}

func TestRecordingStatefulSet(t *testing.T) {
	db, envs := foldRecording(t, "sample-statefulset")
	ctx := context.Background()
	w := WorkloadRef{Cluster: "test", Kind: "StatefulSet", Namespace: "sample-statefulset", Name: "cache"}

	revs, err := db.Revisions(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != 2 || revs[0].Hash != "cache-646487fcd6" || revs[0].Number() != 1 || revs[1].Hash != "cache-9777856c6" || revs[1].Number() != 2 {
		t.Fatalf("controller revisions: %+v", revs)
	}
	if revs[0].Images[0] != "redis:7.0" || revs[1].Images[0] != "redis:7.2" || revs[0].Object.Kind != "ControllerRevision" {
		t.Errorf("images: %v %v", revs[0].Images, revs[1].Images)
	}
	podNames := func(ps []RevisionPod) (out []string) {
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	// The first revision's pods in ordinal order, the second's in reverse (RollingUpdate).
	if got := podNames(revs[0].Pods); !slices.Equal(got, []string{"cache-0", "cache-1", "cache-2"}) {
		t.Errorf("revision 1 pods %v", got)
	}
	if got := podNames(revs[1].Pods); !slices.Equal(got, []string{"cache-2", "cache-1", "cache-0"}) {
		t.Errorf("revision 2 pods %v", got)
	}
	// Each pod's controller-revision-hash, as its lifecycle records it.
	pods, err := db.Pods(ctx, PodFilter{Cluster: "test", Namespace: "sample-statefulset"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 6 {
		t.Fatalf("%d pods, want 6", len(pods))
	}
	for i, p := range pods {
		want := "cache-646487fcd6"
		if i >= 3 {
			want = "cache-9777856c6"
		}
		if p.Revision != want || len(p.Claims) != 1 || p.Claims[0] != "www-"+p.Name {
			t.Errorf("pod %d %s: revision %s claims %v", i, p.Name, p.Revision, p.Claims)
		}
	}

	// Claims created (announced) and bound.
	steps, err := db.Steps(ctx, StepFilter{Cluster: "test", Namespace: "sample-statefulset", Kind: "StatefulSet", Name: "cache"})
	if err != nil {
		t.Fatal(err)
	}
	bound := map[string]string{}
	var claims []string
	for _, s := range steps {
		switch s.Action {
		case ActionCreateClaim:
			claims = append(claims, s.Target.Name)
			if s.Event == nil || !strings.Contains(s.Event.Message, "create Claim "+s.Target.Name) || s.Ordinal == nil || *s.Ordinal != ordinal(s.Target.Name) {
				t.Errorf("claim step %+v event %+v", s, s.Event)
			}
		case ActionBindClaim:
			bound[s.Target.Name] = s.Volume
		}
	}
	if !slices.Equal(claims, []string{"www-cache-0", "www-cache-1", "www-cache-2"}) {
		t.Errorf("claims created: %v", claims)
	}
	if want := map[string]string{"www-cache-0": "sample-statefulset-pv-1", "www-cache-1": "sample-statefulset-pv-0", "www-cache-2": "sample-statefulset-pv-2"}; fmt.Sprint(bound) != fmt.Sprint(want) {
		t.Errorf("claims bound: %v, want %v", bound, want)
	}

	// The update: delete and re-create pods in reverse ordinal order, each step announced.
	ros, err := db.Rollouts(ctx, RolloutFilter{Cluster: "test", Namespace: "sample-statefulset"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ros) != 2 || !ros[0].Initial || ros[0].Outcome != OutcomeComplete {
		t.Fatalf("rollouts: %+v", ros)
	}
	r := ros[1]
	if r.FromHash != "cache-646487fcd6" || r.ToHash != "cache-9777856c6" || r.FromRevision != 1 || r.ToRevision != 2 || r.Outcome != OutcomeComplete || r.Desired != 3 || r.MinAvailable != 2 || r.PeakPods != 3 {
		t.Errorf("rollout: %+v", r)
	}
	rs, err := db.RolloutSteps(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	var seq []string
	for _, s := range rs {
		seq = append(seq, fmt.Sprintf("%s %s #%d", s.Action, s.Target.Name, *s.Ordinal))
		if s.Event == nil {
			t.Errorf("step %+v not announced", s)
		}
	}
	if want := []string{"delete-pod cache-2 #2", "create-pod cache-2 #2", "delete-pod cache-1 #1", "create-pod cache-1 #1", "delete-pod cache-0 #0", "create-pod cache-0 #0"}; !slices.Equal(seq, want) {
		t.Errorf("rollout steps:\n got %v\nwant %v", seq, want)
	}

	// Endpoints: the Service ends with its three pods ready.
	eps, err := db.Endpoints(ctx, ServiceRef{Cluster: "test", Namespace: "sample-statefulset", Name: "cache"}, timeZero, timeZero)
	if err != nil {
		t.Fatal(err)
	}
	last := eps[len(eps)-1].Ready
	if len(last) != 3 || last[0].Pod == "" {
		t.Errorf("final endpoints %+v", last)
	}
	// During the update, a pod that terminates leaves the ready set.
	removed := 0
	for _, c := range eps {
		removed += len(c.Removed)
	}
	if removed != 3 {
		t.Errorf("%d addresses removed, want 3", removed)
	}

	// Names: cache-0 was held by two pods.
	lts, err := db.Lifetimes(ctx, ObjectRef{Cluster: "test", Kind: "Pod", Namespace: "sample-statefulset", Name: "cache-0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(lts) != 2 || lts[0].Gone.IsZero() || !lts[1].Gone.IsZero() || lts[0].UID == lts[1].UID {
		t.Errorf("lifetimes of cache-0: %+v", lts)
	}
	// The history of the StatefulSet holds its claims and all its pods' versions.
	hist, err := db.WorkloadHistory(ctx, w, timeZero, timeZero)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, h := range hist {
		kinds[h.Kind]++
	}
	want := map[string]int{}
	for _, e := range envs {
		if e.Kind != "Service" && e.Kind != "EndpointSlice" {
			want[e.Kind]++
		}
	}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("history kinds %v, want %v", kinds, want)
	}
}

// TestRolloutStepCount: the count of a rollout's steps equals the steps read in full.
func TestRolloutStepCount(t *testing.T) {
	for _, rec := range []string{"sample-rolling", "sample-statefulset"} {
		db, _ := foldRecording(t, rec)
		ctx := context.Background()
		rs, err := db.Rollouts(ctx, RolloutFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) < 2 {
			t.Fatalf("%s: %d rollouts", rec, len(rs))
		}
		for _, r := range rs {
			steps, err := db.RolloutSteps(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			n, err := db.RolloutStepCount(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(steps) || n == 0 {
				t.Errorf("%s rollout %d: count %d, steps %d", rec, r.StartSeq, n, len(steps))
			}
		}
	}
}

// TestRolloutSpans: a time window read through the spans selects the rollouts whose records
// overlap it, and RolloutNumber is a rollout's place among its workload's rollouts.
func TestRolloutSpans(t *testing.T) {
	for _, rec := range []string{"sample-rolling", "sample-statefulset"} {
		db, _ := foldRecording(t, rec)
		ctx := context.Background()
		all, err := db.Rollouts(ctx, RolloutFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) < 2 {
			t.Fatalf("%s: %d rollouts", rec, len(all))
		}
		// Windows bounded by every rollout's start and end, and a nanosecond either side.
		var edges []time.Time
		for _, r := range all {
			for _, at := range []time.Time{r.Start, r.End} {
				if !at.IsZero() {
					edges = append(edges, at.Add(-time.Nanosecond), at, at.Add(time.Nanosecond))
				}
			}
		}
		picked := 0
		for i, from := range edges {
			to := edges[(i*7+3)%len(edges)]
			if to.Before(from) {
				from, to = to, from
			}
			got, err := db.Rollouts(ctx, RolloutFilter{From: from, To: to})
			if err != nil {
				t.Fatal(err)
			}
			var want []uint64
			for _, r := range all {
				if r.Start.Before(to) && (r.End.IsZero() || !r.End.Before(from)) {
					want = append(want, r.StartSeq)
				}
			}
			var gotSeqs []uint64
			for _, r := range got {
				gotSeqs = append(gotSeqs, r.StartSeq)
			}
			if !slices.Equal(gotSeqs, want) {
				t.Errorf("%s [%s, %s): rollouts %v, want %v", rec, from, to, gotSeqs, want)
			}
			picked += len(got)
		}
		if picked == 0 {
			t.Errorf("%s: no window selected a rollout", rec)
		}
		type wk struct{ ns, kind, name string }
		seen := map[wk]int{}
		prev := map[wk]uint64{}
		for _, r := range all {
			k := wk{r.Namespace, r.Kind, r.Name}
			seen[k]++
			n, before, err := db.RolloutNumber(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			if n != seen[k] {
				t.Errorf("%s %s/%s rollout %d: number %d, want %d", rec, r.Kind, r.Name, r.StartSeq, n, seen[k])
			}
			if before != nil {
				if before.StartSeq != prev[k] {
					t.Errorf("%s %s/%s rollout %d: the one before is %d, want %d", rec, r.Kind, r.Name, r.StartSeq, before.StartSeq, prev[k])
				}
			} else if prev[k] != 0 {
				t.Errorf("%s %s/%s rollout %d: none before, want %d", rec, r.Kind, r.Name, r.StartSeq, prev[k])
			}
			prev[k] = r.StartSeq
		}
	}
}
