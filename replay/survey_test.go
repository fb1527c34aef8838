package replay

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// TestCompareAll surveys the recordings of a real control plane (test/fidelity): each is one
// namespace with one workload. A workload the loader cannot find is reported, not fatal; the
// result does not depend on the number of workers.
func TestCompareAll(t *testing.T) {
	files, err := filepath.Glob("../test/fidelity/testdata/*.json.gz")
	if err != nil || len(files) == 0 {
		t.Skip("no recordings in test/fidelity/testdata")
	}
	histories := map[string][]Version{}
	var wls []WorkloadRef
	for _, f := range files {
		ns := strings.TrimSuffix(filepath.Base(f), ".json.gz")
		h, err := LoadWatchFiles(f)
		if err != nil {
			t.Fatal(err)
		}
		histories[ns] = h
		for _, v := range h {
			if isWorkloadKind(v.Kind) && v.Type == Added && v.Namespace == ns {
				wls = append(wls, WorkloadRef{Kind: v.Kind, Namespace: ns, Name: v.Name})
			}
		}
	}
	// Someone scales the old ReplicaSet by hand in the middle of a rollout: a divergence.
	// The old ReplicaSet's scale-down from 3 to 2 is recorded as 3 -> 1.
	tampered := append([]Version(nil), histories["max-surge-0"]...)
	prevReplicas, done := -1.0, false
	for i := range tampered {
		v := &tampered[i]
		v.Namespace = "tampered"
		if v.Kind != "ReplicaSet" || v.Name != "web-6d6b5d497d" || done {
			continue
		}
		var o map[string]any
		if err := json.Unmarshal(v.Object, &o); err != nil {
			t.Fatal(err)
		}
		r, _ := o["spec"].(map[string]any)["replicas"].(float64)
		if prevReplicas == 3 && r == 2 {
			o["spec"].(map[string]any)["replicas"] = 1
			v.Object, _ = json.Marshal(o)
			done = true
		}
		prevReplicas = r
	}
	if !done {
		t.Fatal("max-surge-0 has no scale-down of web-6d6b5d497d from 3 to 2 to tamper with")
	}
	histories["tampered"] = tampered
	wls = append(wls, WorkloadRef{Kind: KindDeployment, Namespace: "tampered", Name: "web"},
		WorkloadRef{Kind: KindDeployment, Namespace: "nowhere", Name: "web"})
	errMissing := errors.New("no such namespace")
	load := func(_ context.Context, w WorkloadRef) ([]Version, error) {
		h, ok := histories[w.Namespace]
		if !ok {
			return nil, errMissing
		}
		return h, nil
	}
	var results []*SurveyResult
	for _, workers := range []int{1, 4} {
		var mu sync.Mutex
		calls, last := 0, 0
		res, err := CompareAll(context.Background(), wls, load, SurveyOptions{Workers: workers, Progress: func(done, total int) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if done != last+1 || total != len(wls) {
				t.Errorf("progress %d/%d after %d", done, total, last)
			}
			last = done
		}})
		if err != nil {
			t.Fatal(err)
		}
		if calls != len(wls) {
			t.Errorf("%d progress calls for %d workloads", calls, len(wls))
		}
		results = append(results, res)
	}
	res := results[0]
	if !reflect.DeepEqual(results[0], results[1]) {
		t.Fatalf("1 and 4 workers disagree:\n%+v\n%+v", results[0], results[1])
	}
	if res.Workloads != len(files)+1 || res.Rollouts != 37 || res.Matched != 36 || len(res.Diverged) != 1 {
		var b strings.Builder
		res.WriteTable(&b)
		t.Fatalf("survey: %d workloads, %d of %d matched:\n%s", res.Workloads, res.Matched, res.Rollouts, b.String())
	}
	if d := res.Diverged[0]; d.Namespace != "tampered" || d.Rollout != "deployment/web#2" ||
		d.Divergence.Recorded == nil || d.Divergence.Recorded.String() != "web-6d6b5d497d 3->1" {
		t.Fatalf("diverged: %+v", d)
	}
	if len(res.Failed) != 1 || res.Failed[0].Namespace != "nowhere" || res.Failed[0].Error != errMissing.Error() {
		t.Fatalf("failed: %+v", res.Failed)
	}
	var b strings.Builder
	if err := res.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if res.Mode != ModeAudit || res.Decisions != 176 || res.DecisionsMatched != 173 || res.FreeRunMatched != 36 {
		t.Errorf("survey: mode %s, %d of %d decisions, free run %d: want audit, 173 of 176, 36", res.Mode, res.DecisionsMatched, res.Decisions, res.FreeRunMatched)
	}
	for _, w := range []string{"36 of 37 recorded rollouts of 17 workloads: every controller decision reproduced (97.3%)",
		"173 of 176 decisions reproduced (98.3%); free run: 36 of 37 rollouts step for step (97.3%)", "Deployment   27 of 28 rollouts",
		"DIVERGED (1)", "tampered   deployment/web#2", "something outside the controller acted",
		"NOT REPLAYED (1)", "nowhere deployment/web: no such namespace"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("table lacks %q:\n%s", w, b.String())
		}
	}

	// Cancelled: the survey stops with the context's error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := CompareAll(ctx, wls, load, SurveyOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled survey: %v", err)
	}
}

// TestSurveyOfNothingSaysSo: a survey of a data directory that holds no rollout says so and
// what to do, rather than "0 of 0 ... (100.0%)".
func TestSurveyOfNothingSaysSo(t *testing.T) {
	for _, mode := range []string{ModeAudit, ModeFreeRun} {
		var b strings.Builder
		r := &SurveyResult{Mode: mode, Share: 1, FreeRunShare: 1, DecisionShare: 1}
		if err := r.WriteTable(&b); err != nil {
			t.Fatal(err)
		}
		if got := b.String(); !strings.HasPrefix(got, "No rollout recorded here:") || strings.Contains(got, "0 of 0") {
			t.Errorf("%s: %q", mode, got)
		}
	}
}
