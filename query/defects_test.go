package query

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/internal/recording"
	"github.com/khist/khist/projector"
	"github.com/khist/khist/replay"
)

// Regression tests of the defects found by trying khist as a new user (issue 15, item 4), on
// recordings made on the project's control plane.

// TestHistoryDaemonSetCountsPods: a DaemonSet's pods carry controller-revision-hash without
// the DaemonSet's name, and are counted in the revisions named after its ControllerRevisions
// (history showed PODS 0 where rollouts showed a peak of 3).
func TestHistoryDaemonSetCountsPods(t *testing.T) {
	s := loadScenario(t, "fidelity-ds-node-added")
	ctx := context.Background()
	var out bytes.Buffer
	if err := s.views.History(ctx, HistoryArgs{Object: "ds/agent", Namespace: "ds-node-added", Output: OutJSON}, &out); err != nil {
		t.Fatal(err)
	}
	var doc struct{ Revisions []HistoryRow }
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Revisions) != 2 {
		t.Fatalf("%d revisions, want 2:\n%s", len(doc.Revisions), out.String())
	}
	for _, r := range doc.Revisions {
		if r.Rollout == nil || r.Pods < int(r.Rollout.PeakPods) {
			t.Errorf("revision %d: %d pods, its rollout peaked at %v pods", r.Revision, r.Pods, r.Rollout)
		}
	}
}

// TestStateAfterHistoryEnd: --at after the end of the history (now, on a recording) answers
// with the latest recorded state and says so; machine outputs keep the note out of their
// stream.
func TestStateAfterHistoryEnd(t *testing.T) {
	s := loadScenario(t, "sample-rolling")
	ctx := context.Background()
	var out bytes.Buffer
	if err := s.views.State(ctx, StateArgs{Namespace: "sample-rolling", At: "now", Kinds: []string{"deploy"}}, &out); err != nil {
		t.Fatal(err)
	}
	want := "Latest recorded state: the recorded history ends at 2026-11-22 00:11:40, before --at.\n" +
		"NAME       READY   UP-TO-DATE   AVAILABLE   AGE\n" +
		"checkout   6/6     6            6           9s\n"
	if out.String() != want {
		t.Errorf("state --at now:\n%s\nwant:\n%s", out.String(), want)
	}
	out.Reset()
	var note bytes.Buffer
	if err := s.views.State(ctx, StateArgs{Namespace: "sample-rolling", At: "now", Kinds: []string{"deploy"}, Output: OutName, Note: &note}, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "deployment.apps/checkout\n" || !strings.Contains(note.String(), "Latest recorded state: ") {
		t.Errorf("state --at now -o name: %q, note %q", out.String(), note.String())
	}
	// Before the history starts is still an error.
	if err := s.views.State(ctx, StateArgs{Namespace: "sample-rolling", At: "2020-01-01T00:00:00Z"}, &out); err == nil {
		t.Error("state --at before the history: no error")
	}
}

// TestGetKindLists: get KIND without a name lists what existed at --at, as kubectl get does.
func TestGetKindLists(t *testing.T) {
	s := loadScenario(t, "sample-rolling")
	ctx := context.Background()
	for _, c := range []struct {
		args GetArgs
		want []string
		not  []string
	}{
		{GetArgs{Object: "deploy", Namespace: "sample-rolling"}, []string{"NAME       READY", "checkout   6/6"}, nil},
		{GetArgs{Object: "rs", Namespace: "sample-rolling", At: "2026-11-22T00:11:35Z"}, []string{"checkout-59b467b7d8", "checkout-669d5fd697"}, []string{"Latest recorded state"}},
		{GetArgs{Object: "deploy", AllNamespaces: true, Output: OutName}, []string{"deployment.apps/checkout"}, []string{"NAME"}},
		{GetArgs{Object: "deploy", Namespace: "elsewhere"}, []string{"No resources found in elsewhere namespace"}, nil},
	} {
		var out bytes.Buffer
		if err := s.views.Get(ctx, c.args, &out); err != nil {
			t.Errorf("get %+v: %v", c.args, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("get %+v: output lacks %q:\n%s", c.args, w, out.String())
			}
		}
		for _, w := range c.not {
			if strings.Contains(out.String(), w) {
				t.Errorf("get %+v: output has %q:\n%s", c.args, w, out.String())
			}
		}
	}
}

// TestRolloutWords: a rollback after a failed rollout says what happened; other rollbacks
// name the revision they went back to.
func TestRolloutWords(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		scenario, ns string
		want         []string
	}{
		{"fidelity-never-ready-undo", "never-ready-undo", []string{
			"deployment/web#2   1 -> 2     web:v1 -> web:broken", "failed, rolled back",
			"deployment/web#3   2 -> 3     web:broken -> web:v1", "complete (rollback of failed revision 2)"}},
		{"fidelity-undo-to-revision", "undo-to-revision", []string{"deployment/web#4", "complete (rollback to revision 1)"}},
	} {
		s := loadScenario(t, c.scenario)
		var out bytes.Buffer
		if err := s.views.Rollouts(ctx, RolloutsArgs{Namespace: c.ns}, &out); err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: rollouts lacks %q:\n%s", c.scenario, w, out.String())
			}
		}
		if strings.Contains(out.String(), "failed, complete") {
			t.Errorf("%s: rollouts says failed, complete:\n%s", c.scenario, out.String())
		}
	}
}

// TestRolloutNumbers: rollouts are numbered per workload (deployment/checkout#2), the same in
// every data directory; --rollout takes #N, KIND/NAME#N, and the log sequence of older khists.
func TestRolloutNumbers(t *testing.T) {
	s := loadScenario(t, "sample-rolling")
	ctx := context.Background()
	var out bytes.Buffer
	if err := s.views.Rollouts(ctx, RolloutsArgs{Namespace: "sample-rolling", Output: OutJSON}, &out); err != nil {
		t.Fatal(err)
	}
	var doc struct{ Rollouts []RolloutRow }
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Rollouts) != 2 || doc.Rollouts[1].Ref != "deployment/checkout#2" || doc.Rollouts[1].Number != 2 {
		t.Fatalf("rollouts -o json: %s", out.String())
	}
	seq := doc.Rollouts[1].ID
	for _, sel := range []string{"#2", "deployment/checkout#2", "deploy/checkout#2", "rev2", "latest", strconv.FormatUint(seq, 10)} {
		out.Reset()
		if err := s.views.Steps(ctx, StepsArgs{Object: "deploy/checkout", Namespace: "sample-rolling", Rollout: sel}, &out); err != nil {
			t.Errorf("steps --rollout %s: %v", sel, err)
			continue
		}
		if !strings.HasPrefix(out.String(), "Rollout deployment/checkout#2 in namespace sample-rolling: revision 1 -> 2") {
			t.Errorf("steps --rollout %s:\n%s", sel, out.String())
		}
	}
}

// TestOutcomeWords: the outcome column in words, for the cases the recordings above lack
// (pure logic: fake rows).
func TestOutcomeWords(t *testing.T) {
	for _, c := range []struct {
		r    projector.Rollout
		row  RolloutRow
		want string
	}{
		{projector.Rollout{Outcome: projector.OutcomeComplete, FailedSeq: 9}, RolloutRow{Rollback: true, UndidFailed: true, FromRevision: 2},
			"complete after its progress deadline (rollback of failed revision 2)"},
		{projector.Rollout{Outcome: projector.OutcomeRolledBack, FailedSeq: 9}, RolloutRow{}, "failed, rolled back"},
		{projector.Rollout{Outcome: projector.OutcomeFailed, FailedSeq: 9}, RolloutRow{}, "failed"},
		{projector.Rollout{Outcome: projector.OutcomeComplete}, RolloutRow{Rollback: true, BackTo: 1, FromRevision: 3}, "complete (rollback to revision 1)"},
		{projector.Rollout{Outcome: projector.OutcomeComplete}, RolloutRow{Rollback: true}, "complete (rollback)"},
	} {
		c.row.Outcome = rolloutOutcome(&c.r)
		if got := outcomeText(c.row); got != c.want {
			t.Errorf("%+v %+v: %q, want %q", c.r, c.row, got, c.want)
		}
	}
}

// TestRolloutNumbersMatchReplay: --rollout #N replays the rollout khist rollouts shows as #N,
// for every rollout of the fixtures, as recorded (each workload created in the recording) and
// as a collector started after the workloads existed records them (each one's first version an
// ADDED already reconciled). The views counted such a first version as an initial rollout and
// the replay did not: #2 of khist rollouts replayed the replay's #2, the views' #3.
func TestRolloutNumbersMatchReplay(t *testing.T) {
	ctx := context.Background()
	for _, fixture := range []string{"undo-to-revision", "mid-rollout-update", "pause-resume", "sts-partition", "ds-node-added"} {
		for _, seenLate := range []bool{false, true} {
			name := fixture
			if seenLate {
				name += "/seen-reconciled"
			}
			t.Run(name, func(t *testing.T) {
				envs, err := recording.Envelopes("test", scenarioFiles("fidelity-"+fixture)...)
				if err != nil {
					t.Fatal(err)
				}
				if seenLate {
					envs = seenReconciled(t, envs)
				}
				db, err := projector.Open(filepath.Join(t.TempDir(), "views.db"), &projector.Options{NoSync: true})
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				if err := db.Apply(ctx, envs); err != nil {
					t.Fatal(err)
				}
				v := NewViews(db, "test", Env{Loc: time.UTC, Now: envs[len(envs)-1].Observed.Add(time.Hour)})
				var out bytes.Buffer
				if err := v.Rollouts(ctx, RolloutsArgs{AllNamespaces: true, Output: OutJSON}, &out); err != nil {
					t.Fatal(err)
				}
				var doc struct{ Rollouts []RolloutRow }
				if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
					t.Fatal(err)
				}
				if len(doc.Rollouts) == 0 {
					t.Fatal("no rollouts")
				}
				for _, r := range doc.Rollouts {
					if seenLate && r.Initial {
						t.Errorf("%s: a workload first seen reconciled has an initial rollout", r.Ref)
					}
					out.Reset()
					obj, _, _ := strings.Cut(r.Ref, "#")
					err := v.ReplayCompare(ctx, ReplayCompareArgs{Object: obj, Namespace: r.Workload.Namespace, Rollout: r.Ref, MaxLag: replay.DefaultMaxLag, Output: OutJSON}, &out)
					if err != nil {
						t.Errorf("replay compare --rollout %s: %v", r.Ref, err)
						continue
					}
					var res replay.CompareResult
					if err := json.Unmarshal(out.Bytes(), &res); err != nil {
						t.Fatal(err)
					}
					// The same rollout: its number, and its start within the views' rollout (an
					// edit of a paused Deployment starts the views' rollout, its resume the
					// replay's).
					if len(res.Rollouts) != 1 || res.Rollouts[0].Seq < r.ID || (r.EndSeq != 0 && res.Rollouts[0].Seq >= r.EndSeq) ||
						!strings.HasSuffix(res.Rollouts[0].ID, "#"+strconv.Itoa(r.Number)) {
						var got []string
						for _, c := range res.Rollouts {
							got = append(got, c.ID+" at "+strconv.FormatUint(c.Seq, 10))
						}
						t.Errorf("replay compare --rollout %s (started at %d) replayed %v", r.Ref, r.ID, got)
					}
				}
			})
		}
	}
}

// seenReconciled is envs as a collector started after the workloads existed records them:
// each Deployment's, StatefulSet's and DaemonSet's versions before its first reconciled one
// (status.observedGeneration set) are left out, and that one is its ADDED.
func seenReconciled(t *testing.T, envs []*eventlog.Envelope) []*eventlog.Envelope {
	seen := map[string]bool{}
	var out []*eventlog.Envelope
	for _, e := range envs {
		switch e.Kind {
		case "Deployment", "StatefulSet", "DaemonSet":
		default:
			out = append(out, e)
			continue
		}
		k := e.Kind + "/" + e.Namespace + "/" + e.Name
		if seen[k] {
			out = append(out, e)
			continue
		}
		var o struct {
			Status struct {
				ObservedGeneration int64 `json:"observedGeneration"`
			} `json:"status"`
		}
		if err := json.Unmarshal(e.Object, &o); err != nil {
			t.Fatal(err)
		}
		if o.Status.ObservedGeneration == 0 {
			continue
		}
		seen[k] = true
		c := *e
		c.Type = eventlog.Added
		out = append(out, &c)
	}
	return out
}
