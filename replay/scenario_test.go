package replay

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestExtractScenarioDeployment(t *testing.T) {
	scn, err := ExtractScenario("deploy", "sample-rolling", "checkout", sampleRolling.load(t))
	if err != nil {
		t.Fatal(err)
	}
	if scn.Kind != KindDeployment || scn.UID != "5b2194e3-dca4-445a-b801-ecf6b3edc1d3" {
		t.Fatalf("kind %s uid %s", scn.Kind, scn.UID)
	}
	if len(scn.Changes) != 2 {
		t.Fatalf("%d changes, want the creation and the image change", len(scn.Changes))
	}
	if c := scn.Changes[0]; c.Actor != "kubectl-client-side-apply" || c.Generation != 1 || c.Fields != nil {
		t.Errorf("creation: %+v", c)
	}
	if c := scn.Changes[1]; c.Actor != "kubectl-set" || c.Generation != 2 || !reflect.DeepEqual(c.Fields, []string{"template"}) {
		t.Errorf("image change: actor %q generation %d fields %v", c.Actor, c.Generation, c.Fields)
	}
	want := []struct{ id, prev, rev string }{
		{"deployment/checkout#1", "", "checkout-59b467b7d8"},
		{"deployment/checkout#2", "checkout-59b467b7d8", "checkout-669d5fd697"},
	}
	if len(scn.Rollouts) != len(want) {
		t.Fatalf("%d rollouts", len(scn.Rollouts))
	}
	for i, w := range want {
		r := scn.Rollouts[i]
		if r.ID != w.id || r.Previous != w.prev || r.Revision != w.rev || r.Index != i+1 {
			t.Errorf("rollout %d: %+v", i, r)
		}
	}
	if r := scn.Rollouts[1]; r.Actor != "kubectl-set" || !r.End.Equal(scn.End) || r.Start != scn.Rollouts[0].End {
		t.Errorf("rollout 2 window: %+v", r)
	}
	// The environment: 12 pods, 6 per revision, each Ready 1 to 3 seconds after creation.
	if len(scn.Pods) != 12 {
		t.Fatalf("%d pods", len(scn.Pods))
	}
	perRev := map[string]int{}
	for _, p := range scn.Pods {
		perRev[p.Revision]++
		if l := p.Latency(); l < 0 || l > 3*time.Second || p.NeverReady {
			t.Errorf("%s: latency %s never %v", p.Name, l, p.NeverReady)
		}
		if p.Ordinal != -1 || p.Node == "" {
			t.Errorf("%s: ordinal %d node %q", p.Name, p.Ordinal, p.Node)
		}
		if old := p.Revision == "checkout-59b467b7d8"; old != (p.DeletedBy == deletedByController) {
			t.Errorf("%s of %s deleted by %q", p.Name, p.Revision, p.DeletedBy)
		}
	}
	if perRev["checkout-59b467b7d8"] != 6 || perRev["checkout-669d5fd697"] != 6 {
		t.Errorf("pods per revision: %v", perRev)
	}
	if len(scn.Nodes) != 3 || scn.Nodes[0].Name != "kwok-node-0" {
		t.Errorf("nodes: %+v", scn.Nodes)
	}
}

func TestExtractScenarioStatefulSet(t *testing.T) {
	scn, err := ExtractScenario("statefulset", "sample-statefulset", "cache", sampleStatefulSet.load(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(scn.Rollouts) != 2 || scn.Rollouts[1].Previous != "cache-646487fcd6" || scn.Rollouts[1].Revision != "cache-9777856c6" {
		t.Fatalf("rollouts: %+v", scn.Rollouts)
	}
	names := map[string]int{}
	for _, p := range scn.Pods {
		names[p.Name]++
		if p.Ordinal != int(p.Name[len(p.Name)-1]-'0') {
			t.Errorf("%s: ordinal %d", p.Name, p.Ordinal)
		}
	}
	// Each ordinal lived twice: a pod of each revision, the same name, two uids.
	if !reflect.DeepEqual(names, map[string]int{"cache-0": 2, "cache-1": 2, "cache-2": 2}) {
		t.Errorf("pods: %v", names)
	}
	if len(scn.x.pvcs) != 3 || len(scn.x.crs) != 2 {
		t.Errorf("claims %v, revisions %v", scn.x.pvcs, scn.x.crs)
	}
	var steps []string
	for _, s := range scn.Rollouts[1].Recorded {
		steps = append(steps, s.String())
	}
	if len(steps) != 6 || !strings.HasPrefix(steps[0], "delete cache-2") || !strings.HasPrefix(steps[5], "create cache-0") {
		t.Errorf("recorded steps: %v", steps)
	}
}

func TestExtractScenarioErrors(t *testing.T) {
	h := sampleRolling.load(t)
	if _, err := ExtractScenario("deployment", "default", "checkout", h); err == nil {
		t.Error("wrong namespace: no error")
	}
	if _, err := ExtractScenario("job", "sample-rolling", "checkout", h); err == nil {
		t.Error("unsupported kind: no error")
	}
	swapped := append([]Version(nil), h...)
	swapped[3], swapped[4] = swapped[4], swapped[3]
	if _, err := ExtractScenario("deployment", "sample-rolling", "checkout", swapped); !errors.Is(err, ErrNotLogOrder) {
		t.Errorf("history out of order: %v", err)
	}
	if _, err := Simulate(Scenario{}, SimOptions{}); err != ErrNotExtracted {
		t.Errorf("Simulate of a zero Scenario: %v", err)
	}
	// A history that starts after the workload existed: the first version is the initial
	// state, not a rollout.
	var late []Version
	for _, v := range h {
		if v.Seq > 100 {
			late = append(late, v)
		}
	}
	scn, err := ExtractScenario("deployment", "sample-rolling", "checkout", late)
	if err != nil {
		t.Fatal(err)
	}
	if len(scn.Rollouts) != 0 {
		t.Errorf("rollouts in a history that starts after the last one: %+v", scn.Rollouts)
	}
	if _, err := scn.Rollout(""); err == nil || !strings.Contains(err.Error(), "no rollout") {
		t.Errorf("Rollout(\"\"): %v", err)
	}
}

// TestNeverReadyAndUndo: pods of a broken revision that never become Ready are recognized as
// such, and a rollback is a rollout of its own that reuses the old ReplicaSet.
func TestNeverReadyAndUndo(t *testing.T) {
	s := time.Second
	world := func(undoAt time.Duration) []Version {
		d := genDeployment("web", 4, "web:v1")
		deadline := int32(20)
		d.Spec.ProgressDeadlineSeconds = &deadline
		return generate(t, genWorld{obj: d, nodes: []string{"a", "b"}, latency: randomLatency(3, s, 3*s, "web:bad"), termination: s,
			edits: []genEdit{{at: 30 * s, fn: setImage("web:bad")}, {at: undoAt, actor: "kubectl-rollout", fn: setImage("web:v1")}}})
	}
	h := world(90 * s)
	scn, err := ExtractScenario("deployment", "gen", "web", h)
	if err != nil {
		t.Fatal(err)
	}
	if len(scn.Rollouts) != 3 || scn.Rollouts[2].Revision != scn.Rollouts[0].Revision || scn.Rollouts[2].Actor != "kubectl-rollout" {
		t.Fatalf("rollouts: %+v", scn.Rollouts)
	}
	bad := scn.Rollouts[1].Revision
	n := 0
	for _, p := range scn.Pods {
		if p.Revision == bad {
			n++
			if !p.NeverReady {
				t.Errorf("%s lived %s and was never Ready, but is not marked so", p.Name, p.DeleteRequested.Sub(p.Created))
			}
		}
	}
	if n == 0 {
		t.Fatal("no pod of the broken revision")
	}
	sum := recordedSummary(&scn, &scn.Rollouts[1])
	if sum.Outcome != OutcomeDeadlineExceeded {
		t.Errorf("outcome of the broken rollout: %q", sum.Outcome)
	}
	// The broken rollout replayed: the broken pods never become Ready, and it stalls once the
	// deadline is reported.
	res, err := Simulate(scn, SimOptions{RolloutID: "#2", Environment: EnvLatency})
	if err != nil {
		t.Fatal(err)
	}
	if res.Completed || res.Summary.Outcome != OutcomeDeadlineExceeded {
		t.Errorf("replay of the broken rollout: %+v", res.Summary)
	}
	// Undone before the deadline: rolled back.
	scn, err = ExtractScenario("deployment", "gen", "web", world(40*s))
	if err != nil {
		t.Fatal(err)
	}
	if sum := recordedSummary(&scn, &scn.Rollouts[1]); sum.Outcome != OutcomeRolledBack {
		t.Errorf("outcome of the rollout undone early: %q", sum.Outcome)
	}
}

// TestExtractWithoutObservedTimes: a history without observation times gets them estimated,
// without the caller's slice being modified.
func TestExtractWithoutObservedTimes(t *testing.T) {
	h := sampleRolling.load(t)
	for i := range h {
		h[i].Observed = time.Time{}
	}
	res, err := Compare(h, "deployment", "sample-rolling", "checkout", CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Match {
		t.Error("no match with estimated times")
	}
	if !h[10].Observed.IsZero() {
		t.Error("the caller's history was modified")
	}
}
