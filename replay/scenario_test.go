package replay

import (
	"errors"
	"fmt"
	"os"
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

// TestExternalPodDeletion: a StatefulSet pod deleted by someone else (kubectl delete pod) is
// re-created by the controller: the re-creation is a step of the rollout in progress, not a new
// rollout, and the pod finds its claim again. When the history ends while the deleted pod is
// still terminating, the controller had not re-created it yet (OrderedReady waits for the
// termination): neither did the simulation, whatever the typical termination time.
func TestExternalPodDeletion(t *testing.T) {
	s := time.Second
	w := genWorld{obj: genStatefulSet("db", 3, "web:v1"), nodes: []string{"node-a", "node-b"},
		latency: randomLatency(5, s, 3*s), termination: 2 * s, podDeletes: []genPodDelete{{at: 30 * s, name: "db-1"}}}
	h := generate(t, w)
	ns := objMetaOf(w.obj).Namespace
	scn, err := ExtractScenario(KindStatefulSet, ns, "db", h)
	if err != nil {
		t.Fatal(err)
	}
	if len(scn.Rollouts) != 1 {
		t.Fatalf("%d rollouts, want 1: a re-created pod is no rollout", len(scn.Rollouts))
	}
	var rec []string
	for _, st := range scn.Rollouts[0].Recorded {
		rec = append(rec, st.Action+" "+st.Pod)
	}
	if got := strings.Join(rec, ", "); got != "create db-0, create db-1, create db-2, create db-1" {
		t.Fatalf("recorded steps %s, want the re-creation of db-1 as the 4th", got)
	}
	res, err := Compare(h, KindStatefulSet, ns, "db", CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Match {
		res.WriteTable(os.Stdout)
		t.Fatal("external deletion and re-creation do not replay step for step")
	}
	sim, err := Simulate(scn, SimOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sim.Claims, ","); got != "data-db-0,data-db-1,data-db-2" {
		t.Fatalf("claims created %s, want each once: the re-created pod uses its claim again", got)
	}

	// The same history, cut just after the deletion request of db-1.
	cut := 0
	for i, v := range h {
		if v.Kind == "Pod" && v.Name == "db-1" && strings.Contains(string(v.Object), `"deletionTimestamp"`) {
			cut = i + 1
			break
		}
	}
	if cut == 0 {
		t.Fatal("no deletion request of db-1 in the generated history")
	}
	res, err = Compare(h[:cut], KindStatefulSet, ns, "db", CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Match || len(res.Rollouts[0].Simulated) != 3 {
		res.WriteTable(os.Stdout)
		t.Fatal("the simulation re-created a pod the history ends with still terminating")
	}
}

// TestAlignmentFollowsReplicaSetStatus: in this recording of a real control plane, two pods of
// the new ReplicaSet became Ready one after the other with no controller write between them,
// but the ReplicaSet controller's next status write counts only the first (readyReplicas 3 of
// 4): it synced between the two, and the Deployment controller scaled the old ReplicaSet down
// by one on that status. The as-recorded environment makes them Ready at two instants, in that
// order, so that the simulated controllers see what the real ones saw.
func TestAlignmentFollowsReplicaSetStatus(t *testing.T) {
	h, err := LoadWatchFiles("testdata/kubectl/max-surge-100.json.gz") // recorded with kubectl watches
	if err != nil {
		t.Fatal(err)
	}
	scn, err := ExtractScenario("deployment", "max-surge-100", "web", h)
	if err != nil {
		t.Fatal(err)
	}
	pod := func(name string) *PodRecord {
		for i := range scn.Pods {
			if scn.Pods[i].Name == name {
				return &scn.Pods[i]
			}
		}
		t.Fatalf("no pod %s", name)
		return nil
	}
	first, second := pod("web-76c778f4bf-b4df4"), pod("web-76c778f4bf-z2ld6")
	if !first.Ready.Equal(second.Ready) {
		t.Fatalf("observed Ready at %s and %s: the recording no longer shows them together", first.Ready, second.Ready)
	}
	if !first.readyEff.Before(second.readyEff) {
		t.Fatalf("aligned readiness %s and %s: want the first strictly before the second", first.readyEff, second.readyEff)
	}
	res, err := Compare(h, "deployment", "max-surge-100", "web", CompareOptions{RolloutID: "#2"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Match {
		res.WriteTable(os.Stdout)
		t.Fatal("rollout #2 does not replay step for step")
	}
}

// TestRolloutBySequence: "@SEQ" names a rollout by the log sequence of the change that started
// it (the ID khist rollouts shows). The edits of a paused Deployment start nothing until it is
// resumed: the last one names the rollout that resumed with its template, an earlier one, whose
// template was never rolled out, names none.
func TestRolloutBySequence(t *testing.T) {
	h, err := LoadWatchFiles("../test/fidelity/testdata/pause-resume.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	scn, err := ExtractScenario("deployment", "pause-resume", "web", h)
	if err != nil {
		t.Fatal(err)
	}
	if len(scn.Rollouts) != 2 {
		t.Fatalf("%d rollouts, want 2", len(scn.Rollouts))
	}
	first, second := &scn.Rollouts[0], &scn.Rollouts[1]
	var paused []SpecChange // the edits between the pause and the resume
	for _, c := range scn.Changes {
		if c.Seq > first.Seq && c.Seq < second.Seq && c.w.spec.Paused {
			paused = append(paused, c)
		}
	}
	if len(paused) < 3 {
		t.Fatalf("%d changes while paused, want the pause, the image and the env", len(paused))
	}
	for _, c := range []struct {
		id   string
		want *Rollout
	}{
		{fmt.Sprintf("@%d", first.LogSeq), first},
		{fmt.Sprintf("@%d", second.LogSeq), second},
		{fmt.Sprintf("@%d", paused[len(paused)-1].Seq), second}, // kubectl set env: rolled out on resume
		// kubectl set image, then set env, while paused: both rolled out together on resume
		// (khist rollouts counts them as one rollout from the first edit).
		{fmt.Sprintf("@%d", paused[len(paused)-2].Seq), second},
		{fmt.Sprintf("@%d", paused[0].Seq), nil}, // the pause itself: no template edit
		{"@999999", nil},
		{"@x", nil},
		{"latest", second},
		{"#1", first},
	} {
		r, err := scn.Rollout(c.id)
		switch {
		case c.want == nil && !errors.Is(err, ErrNoRollout):
			t.Errorf("%s: %v, %v; want ErrNoRollout", c.id, r, err)
		case c.want != nil && (err != nil || r.ID != c.want.ID):
			t.Errorf("%s: %v, %v; want %s", c.id, r, err, c.want.ID)
		}
	}
}
