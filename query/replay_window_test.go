package query

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/projector"
	"github.com/khist/khist/replay"
)

// TestReplayWindowExact: the replay of one rollout reads a window of the history
// (rolloutWindow, projector's WorkloadWindow). On views folded from 100,000 events of the
// benchmarks' synthetic week, for every rollout of the Deployments of two namespaces that have
// enough rollouts for their windows to cut on both sides: the bounded loader returns the whole history cut to the
// window by hand, version for version; replay compare and what-if of #N answer exactly as the
// replay run on that hand-cut history; the answer names the rollout khist rollouts numbers #N,
// latest names the last one; the Events' versions from before the window, which the window
// leaves out, change no answer; and the decision audit's decisions and verdicts are those of
// the replay of the whole history.
func TestReplayWindowExact(t *testing.T) {
	ctx := context.Background()
	db, err := projector.Open(filepath.Join(t.TempDir(), "views.db"), &projector.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	g := newBenchGen(1)
	var batch []*eventlog.Envelope
	for g.seq < 100_000 {
		if batch = g.step(batch); len(batch) >= 5000 {
			if err := db.Apply(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := db.Apply(ctx, batch); err != nil {
		t.Fatal(err)
	}
	_, last, err := NewViews(db, "bench", Env{Loc: time.UTC}).Span(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v := NewViews(db, "bench", Env{Loc: time.UTC, Now: last.Add(time.Minute)})
	cut := 0          // windows that leave part of the history out
	eventsBefore := 0 // windows with Events from before them
	type dep struct{ ns, name string }
	var deps []dep
	for _, ns := range []string{"team-00", "team-07"} {
		names, err := db.Names(ctx, "bench", "apps", "Deployment", ns)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			deps = append(deps, dep{ns, n})
		}
	}
	tested := 0
	for _, d := range deps {
		var out bytes.Buffer
		if err := v.Rollouts(ctx, RolloutsArgs{Namespace: d.ns, Object: "deploy/" + d.name, Output: OutJSON}, &out); err != nil {
			t.Fatal(err)
		}
		var doc struct{ Rollouts []RolloutRow }
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Rollouts) < 2*RolloutLookback+2 {
			continue // too few for a window to cut on both sides
		}
		tested++
		wref := projector.WorkloadRef{Cluster: "bench", Kind: "Deployment", Namespace: d.ns, Name: d.name}
		whole, err := db.WorkloadHistory(ctx, wref, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		wl := replay.WorkloadRef{Kind: "Deployment", Namespace: d.ns, Name: d.name}
		for _, r := range doc.Rollouts {
			id := "@" + strconv.FormatUint(r.ID, 10)
			from, to, before, err := v.rolloutWindow(ctx, wl, id)
			if err != nil {
				t.Fatal(err)
			}
			hand := cutHistory(whole, from, to, false)
			if len(hand) < len(whole) {
				cut++
			}
			got, err := db.WorkloadWindow(ctx, wref, from, to)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, hand) {
				t.Fatalf("%s: WorkloadWindow(%d, %d): %d versions, the whole history cut by hand %d (or they differ)", r.Ref, from, to, len(got), len(hand))
			}
			h := make([]replay.Version, len(hand))
			for i := range hand {
				h[i] = replay.Version(hand[i])
			}
			// compare: the bounded answer, the hand-cut one, the whole history's audit.
			out.Reset()
			if err := v.ReplayCompare(ctx, ReplayCompareArgs{Object: "deploy/" + d.name, Namespace: d.ns, Rollout: r.Ref, MaxLag: replay.DefaultMaxLag, Output: OutJSON}, &out); err != nil {
				t.Fatalf("replay compare --rollout %s: %v", r.Ref, err)
			}
			opts := replay.CompareOptions{RolloutID: id, RolloutsBefore: before, Audit: replay.AuditOptions{MaxLag: replay.DefaultMaxLag}}
			want, err := replay.Compare(h, "Deployment", d.ns, d.name, opts)
			if err != nil {
				t.Fatal(err)
			}
			if b := indented(t, want); out.String() != b {
				t.Errorf("replay compare --rollout %s: the bounded answer differs from the replay of the history cut by hand", r.Ref)
			}
			// The Events' versions from before the window change nothing.
			withEvents := cutHistory(whole, from, to, true)
			he := make([]replay.Version, len(withEvents))
			for i := range withEvents {
				he[i] = replay.Version(withEvents[i])
			}
			if len(he) > len(h) {
				eventsBefore++
			}
			if we, err := replay.Compare(he, "Deployment", d.ns, d.name, opts); err != nil || indented(t, we) != out.String() {
				t.Errorf("replay compare --rollout %s: the Events' versions from before the window change the answer (%v)", r.Ref, err)
			}
			if len(want.Rollouts) != 1 || !strings.HasSuffix(want.Rollouts[0].ID, "#"+strconv.Itoa(r.Number)) || want.Rollouts[0].Seq < r.ID || r.EndSeq != 0 && want.Rollouts[0].Seq >= r.EndSeq {
				t.Errorf("replay compare --rollout %s (started at %d) replayed %s at %d", r.Ref, r.ID, want.Rollouts[0].ID, want.Rollouts[0].Seq)
			}
			hw := make([]replay.Version, len(whole))
			for i := range whole {
				hw[i] = replay.Version(whole[i])
			}
			opts.RolloutsBefore = 0
			full, err := replay.Compare(hw, "Deployment", d.ns, d.name, opts)
			if err != nil {
				t.Fatal(err)
			}
			a, b := want.Rollouts[0], full.Rollouts[0]
			if a.ID != b.ID || a.Match != b.Match || a.DecisionsMatched != b.DecisionsMatched || !reflect.DeepEqual(a.Decisions, b.Decisions) {
				t.Errorf("replay compare --rollout %s: the window's audit differs from the whole history's: %s match %v %d/%d decisions, %s match %v %d/%d",
					r.Ref, a.ID, a.Match, a.DecisionsMatched, len(a.Decisions), b.ID, b.Match, b.DecisionsMatched, len(b.Decisions))
			}
			// what-if: the bounded answer and the hand-cut one.
			out.Reset()
			set := []string{"strategy.rollingUpdate.maxSurge=50%"}
			if err := v.ReplayWhatIf(ctx, ReplayWhatIfArgs{Object: "deploy/" + d.name, Namespace: d.ns, Rollout: r.Ref, Set: set, Output: OutJSON}, &out); err != nil {
				t.Fatalf("replay what-if --rollout %s: %v", r.Ref, err)
			}
			wi, err := replay.WhatIf(h, "Deployment", d.ns, d.name, replay.WhatIfOptions{RolloutID: id, RolloutsBefore: before, Set: set, ReadyLatency: "recorded"})
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != indented(t, wi) {
				t.Errorf("replay what-if --rollout %s: the bounded answer differs from the replay of the history cut by hand", r.Ref)
			}
			if we, err := replay.WhatIf(he, "Deployment", d.ns, d.name, replay.WhatIfOptions{RolloutID: id, RolloutsBefore: before, Set: set, ReadyLatency: "recorded"}); err != nil || indented(t, we) != out.String() {
				t.Errorf("replay what-if --rollout %s: the Events' versions from before the window change the answer (%v)", r.Ref, err)
			}
			if !strings.HasSuffix(wi.Rollout, "#"+strconv.Itoa(r.Number)) {
				t.Errorf("replay what-if --rollout %s replayed %s", r.Ref, wi.Rollout)
			}
		}
		// latest is the last rollout of khist rollouts.
		lastRef := doc.Rollouts[len(doc.Rollouts)-1].Ref
		var latest, numbered bytes.Buffer
		if err := v.ReplayCompare(ctx, ReplayCompareArgs{Object: "deploy/" + d.name, Namespace: d.ns, Rollout: "latest", MaxLag: replay.DefaultMaxLag, Output: OutJSON}, &latest); err != nil {
			t.Fatal(err)
		}
		if err := v.ReplayCompare(ctx, ReplayCompareArgs{Object: "deploy/" + d.name, Namespace: d.ns, Rollout: lastRef, MaxLag: replay.DefaultMaxLag, Output: OutJSON}, &numbered); err != nil {
			t.Fatal(err)
		}
		if latest.String() != numbered.String() || !strings.Contains(latest.String(), `"id": "`+lastRef+`"`) {
			t.Errorf("replay compare --rollout latest is not %s", lastRef)
		}
	}
	if tested < 3 || cut == 0 || eventsBefore == 0 {
		t.Fatalf("%d workloads with enough rollouts, %d windows that leave part of the history out, %d with Events from before them: the test tests too little", tested, cut, eventsBefore)
	}
	t.Logf("%d workloads, %d windows that leave part of the history out, %d with Events from before them", tested, cut, eventsBefore)
}

// cutHistory cuts a whole workload history to the log sequences [from, to) (0: open) by hand:
// each object's versions there, preceded by its last version before from unless a deletion
// or, unless eventState, an Event's.
func cutHistory(whole []projector.HistoryVersion, from, to uint64, eventState bool) []projector.HistoryVersion {
	var out []projector.HistoryVersion
	before := map[string]projector.HistoryVersion{}
	for _, hv := range whole {
		switch {
		case hv.Seq < from && hv.Kind == "Event" && !eventState:
		case hv.Seq < from:
			before[hv.UID] = hv
		case to == 0 || hv.Seq < to:
			out = append(out, hv)
		}
	}
	for _, hv := range before {
		if hv.Type != "DELETED" && hv.Type != "DELETED_UNOBSERVED" {
			out = append(out, hv)
		}
	}
	slices.SortFunc(out, func(a, b projector.HistoryVersion) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

func indented(t *testing.T, v any) string {
	t.Helper()
	var b bytes.Buffer
	if err := writeIndentedJSON(&b, v); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
