package replay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestCompareRecordings replays both recordings of a real control plane: the simulated
// controllers must take the recorded steps, step for step.
func TestCompareRecordings(t *testing.T) {
	for _, s := range []struct {
		sample
		rollouts, steps int
	}{
		{sampleRolling, 2, 10},
		{sampleStatefulSet, 2, 9},
	} {
		t.Run(s.dir, func(t *testing.T) {
			res, err := Compare(s.load(t), s.kind, s.ns, s.name, CompareOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var table bytes.Buffer
			if err := res.WriteTable(&table); err != nil {
				t.Fatal(err)
			}
			if !res.Match {
				t.Errorf("recorded and simulated steps differ:\n%s", table.String())
			}
			if len(res.Rollouts) != s.rollouts {
				t.Errorf("%d rollouts, want %d", len(res.Rollouts), s.rollouts)
			}
			n := 0
			for _, r := range res.Rollouts {
				n += len(r.Recorded)
				if len(r.Simulated) != len(r.Recorded) {
					t.Errorf("%s: %d simulated steps, %d recorded", r.ID, len(r.Simulated), len(r.Recorded))
				}
			}
			if n != s.steps {
				t.Errorf("%d recorded steps, want %d", n, s.steps)
			}
			golden(t, s.dir+".compare.json", mustJSON(t, res))
			golden(t, s.dir+".compare.txt", table.Bytes())
		})
	}
}

// TestCompareFindsDivergence changes the recorded Deployment's maxSurge from 2 to 1 behind the
// controller's back: the audit, and the free run, following the spec, must part from the
// recording at the first step, and say so; the audit names the state it decided on.
func TestCompareFindsDivergence(t *testing.T) {
	h := sampleRolling.load(t)
	for i := range h {
		if h[i].Kind == KindDeployment {
			h[i].Object = bytes.ReplaceAll(h[i].Object, []byte(`"maxSurge":2`), []byte(`"maxSurge":1`))
		}
	}
	for _, c := range []struct {
		opts CompareOptions
		want []string
	}{
		{CompareOptions{RolloutID: "#2"}, []string{"DIVERGED at decision 1 of", "<- first divergence", "checkout-669d5fd697 0->1",
			"the state it was decided on", "maxSurge 1, maxUnavailable 0", "free run: DIVERGED at step 1"}},
		{CompareOptions{RolloutID: "#2", FreeRun: true}, []string{"DIVERGED at step 1", "<- first divergence", "checkout-669d5fd697 0->1"}},
	} {
		res, err := Compare(h, "deployment", "sample-rolling", "checkout", c.opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.Match || len(res.Rollouts) != 1 {
			t.Fatalf("free run %v: match=%v rollouts=%d, want one diverged rollout", c.opts.FreeRun, res.Match, len(res.Rollouts))
		}
		d := res.Rollouts[0].Divergence
		if d == nil || d.Step != 1 || d.Recorded == nil || d.Simulated == nil || d.Recorded.To != 2 || d.Simulated.To != 1 {
			t.Fatalf("free run %v: divergence = %+v, want step 1: recorded 0->2, simulated 0->1", c.opts.FreeRun, d)
		}
		var table bytes.Buffer
		if err := res.WriteTable(&table); err != nil {
			t.Fatal(err)
		}
		for _, want := range c.want {
			if !strings.Contains(table.String(), want) {
				t.Errorf("free run %v: table lacks %q:\n%s", c.opts.FreeRun, want, table.String())
			}
		}
	}
}

func TestCompareRolloutSelection(t *testing.T) {
	h := sampleStatefulSet.load(t)
	for _, id := range []string{"statefulset/cache#2", "#2", "2"} {
		res, err := Compare(h, "sts", "sample-statefulset", "cache", CompareOptions{RolloutID: id})
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if len(res.Rollouts) != 1 || res.Rollouts[0].ID != "statefulset/cache#2" {
			t.Fatalf("%s: got %+v", id, res.Rollouts)
		}
	}
	for _, id := range []string{"#3", "deployment/cache#1", "x"} {
		_, err := Compare(h, "statefulset", "sample-statefulset", "cache", CompareOptions{RolloutID: id})
		if err == nil || !strings.Contains(err.Error(), "statefulset/cache#1, statefulset/cache#2") {
			t.Errorf("%s: error %v, want the list of rollouts", id, err)
		}
	}
	if _, err := Compare(h, "statefulset", "sample-statefulset", "nope", CompareOptions{}); err == nil ||
		!strings.Contains(err.Error(), "check the namespace and the name") {
		t.Errorf("unknown workload: %v", err)
	}
	if _, err := Compare(h, "cronjob", "sample-statefulset", "cache", CompareOptions{}); err == nil ||
		!strings.Contains(err.Error(), "use deployment, statefulset, daemonset or job") {
		t.Errorf("unsupported kind: %v", err)
	}
}

func TestStepJSONShapes(t *testing.T) {
	steps := []Step{
		{Kind: KindDeployment, ReplicaSet: "web-1", From: 0, To: 3, Time: genStart},
		{Kind: KindStatefulSet, Pod: "db-0", Action: ActionCreate, Revision: "db-abc"},
		{Kind: KindDaemonSet, Pod: "agent-x", Node: "n1", Action: ActionDelete, Revision: "abc"},
	}
	want := `[{"replicaSet":"web-1","from":0,"to":3,"time":"2026-11-22T10:00:00.000Z"},` +
		`{"pod":"db-0","action":"create","revision":"db-abc"},{"pod":"agent-x","node":"n1","action":"delete"}]`
	b, err := json.Marshal(steps)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	var back []Step
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for i := range steps {
		if back[i].Kind != steps[i].Kind || !back[i].sameAction(steps[i]) && steps[i].Kind != KindDaemonSet {
			t.Errorf("step %d: round trip gave %+v", i, back[i])
		}
	}
	if _, err := json.Marshal(Step{}); err == nil {
		t.Error("a step without a kind marshalled")
	}
}

// TestCompareConcurrentSteps checks that steps upstream issues concurrently are compared as a
// set, and reported in the recorded order.
func TestCompareConcurrentSteps(t *testing.T) {
	ds := func(action, node string, batch int) Step {
		return Step{Kind: KindDaemonSet, Pod: "p-" + node, Node: node, Action: action, Revision: "r", batch: batch}
	}
	rec := []Step{ds("create", "b", 0), ds("create", "a", 0), ds("delete", "c", 0)}
	sim := []Step{ds("create", "a", 1), ds("create", "b", 1), ds("delete", "c", 0)}
	rc := compareSteps(rec, sim)
	if !rc.Match || rc.Simulated[0].Node != "b" || rc.Simulated[1].Node != "a" {
		t.Fatalf("permuted batch: %+v", rc)
	}
	sim = []Step{ds("create", "a", 1), ds("create", "d", 1), ds("delete", "c", 0)}
	rc = compareSteps(rec, sim)
	if rc.Match || rc.Divergence.Step != 1 || rc.Divergence.Recorded.Node != "b" || rc.Divergence.Simulated.Node != "d" || rc.Simulated[1].Node != "a" {
		t.Fatalf("different batch: %+v", rc.Divergence)
	}
	rc = compareSteps(rec[:1], []Step{ds("create", "b", 0), ds("create", "x", 0)})
	if rc.Match || rc.Divergence.Step != 2 || rc.Divergence.Recorded != nil {
		t.Fatalf("extra simulated step: %+v", rc.Divergence)
	}
	rc = compareSteps(rec, rec[:2])
	if rc.Match || rc.Divergence.Step != 3 || rc.Divergence.Simulated != nil {
		t.Fatalf("missing simulated step: %+v", rc.Divergence)
	}
}

// ExampleCompare compares the recorded StatefulSet rollout with the simulated controller.
func ExampleCompare() {
	h, err := LoadWatchFiles(
		"testdata/sample-statefulset/statefulsets.json.gz",
		"testdata/sample-statefulset/pods.json.gz",
		"testdata/sample-statefulset/events.json.gz",
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := Compare(h, "statefulset", "sample-statefulset", "cache", CompareOptions{RolloutID: "#2"})
	if err != nil {
		fmt.Println(err)
		return
	}
	res.WriteTable(os.Stdout)
	// Output:
	// statefulset/cache: MATCH (1 rollout; 6 of 6 decisions reproduced; free run: 1 of 1 rollout)
	//
	// statefulset/cache#2, started 2026-11-22T00:11:49Z (sequence 42)
	//   #   RECORDED                            SYNC ON THE STATE SEEN              REACTED AFTER
	//   1   delete cache-2 (cache-646487fcd6)   delete cache-2 (cache-646487fcd6)   0s
	//   2   create cache-2 (cache-9777856c6)    create cache-2 (cache-9777856c6)    0s
	//   3   delete cache-1 (cache-646487fcd6)   delete cache-1 (cache-646487fcd6)   0s
	//   4   create cache-1 (cache-9777856c6)    create cache-1 (cache-9777856c6)    0s
	//   5   delete cache-0 (cache-646487fcd6)   delete cache-0 (cache-646487fcd6)   0s
	//   6   create cache-0 (cache-9777856c6)    create cache-0 (cache-9777856c6)    0s
	//   MATCH: 6 of 6 decisions; free run: MATCH (6 steps)
	//   input: 00:11:49 kubectl-set changed spec.template (sequence 42)
}

// TestCompareRecordingsMinimal replays the recordings from the fewest kinds a history can hold:
// the workload, its ReplicaSets and pods; no Events (deletions are then attributed by what the
// controller had reason to delete, and observation times are known to the second only), no
// ControllerRevisions, no claims.
func TestCompareRecordingsMinimal(t *testing.T) {
	for _, c := range []struct {
		sample
		files []string
	}{
		{sampleRolling, []string{"deployments", "replicasets", "pods"}},
		{sampleStatefulSet, []string{"statefulsets", "pods"}},
	} {
		var paths []string
		for _, f := range c.files {
			paths = append(paths, "testdata/"+c.dir+"/"+f+".json.gz")
		}
		h, err := LoadWatchFiles(paths...)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Compare(h, c.kind, c.ns, c.name, CompareOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Match {
			var b bytes.Buffer
			res.WriteTable(&b)
			t.Errorf("%s:\n%s", c.dir, b.String())
		}
	}
}

// TestCompareOutOfOrderLog: versions of different kinds logged slightly out of the API
// server's commit order (as separate watches deliver them) are put back in commit order.
func TestCompareOutOfOrderLog(t *testing.T) {
	h := sampleRolling.load(t)
	// swap neighbours of different kinds, then renumber in the new log order
	for i := 1; i+1 < len(h); i += 3 {
		if h[i].Kind != h[i+1].Kind {
			h[i], h[i+1] = h[i+1], h[i]
		}
	}
	for i := range h {
		h[i].Seq = uint64(i + 1)
	}
	res, err := Compare(h, "deployment", "sample-rolling", "checkout", CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Match {
		var b bytes.Buffer
		res.WriteTable(&b)
		t.Errorf("out-of-order log:\n%s", b.String())
	}
}
