package replay

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// jobFixture loads a recording of the jobs suite (test/fidelity/testdata/jobs).
func jobFixture(t *testing.T, name string) []Version {
	t.Helper()
	h, err := LoadWatchFiles("../test/fidelity/testdata/jobs/" + name + ".json.gz")
	if err != nil {
		t.Skipf("no recording %s: %v", name, err)
	}
	return h
}

// creations are the times of a run's pod creations.
func creations(steps []Step) []time.Time {
	var out []time.Time
	for _, s := range steps {
		if s.Action == ActionCreate {
			out = append(out, s.Time)
		}
	}
	return out
}

// TestJobWhatIfBackoffLimit replays the failing migration (every pod fails after 2-3 s) with
// other backoffLimits: the controller creates backoffLimit+1 pods, each after the previous one
// failed and the back-off (10 s doubling) passed.
func TestJobWhatIfBackoffLimit(t *testing.T) {
	h := jobFixture(t, "job-backoff")
	for _, limit := range []struct {
		set  string
		pods int
	}{{"spec.backoffLimit=1", 2}, {"backoffLimit=5", 6}} {
		res, err := WhatIf(h, "job", "job-backoff", "migrate", WhatIfOptions{Set: []string{limit.set}})
		if err != nil {
			t.Fatal(err)
		}
		ct := creations(res.Steps)
		if len(ct) != limit.pods {
			t.Fatalf("%s: %d pods created, want %d: %v", limit.set, len(ct), limit.pods, res.Steps)
		}
		for i := 1; i < len(ct); i++ {
			backoff := 10 * time.Second << (i - 1)
			gap := ct[i].Sub(ct[i-1])
			// the pod ran 2-4 s before it failed, then the back-off
			if gap < backoff+time.Second || gap > backoff+6*time.Second {
				t.Errorf("%s: pod %d created %v after pod %d, want the %v back-off after a 2-4 s run", limit.set, i+1, gap, i, backoff)
			}
		}
		var table bytes.Buffer
		if err := res.WriteTable(&table); err != nil {
			t.Fatal(err)
		}
	}
}

// TestJobWhatIfParallelism replays 10 completions 3 at a time with 5 at a time: the first
// burst creates 5 pods, and 10 are created in all (every pod succeeds).
func TestJobWhatIfParallelism(t *testing.T) {
	h := jobFixture(t, "job-parallel")
	res, err := WhatIf(h, "job", "job-parallel", "work", WhatIfOptions{Set: []string{"spec.parallelism=5"}})
	if err != nil {
		t.Fatal(err)
	}
	ct := creations(res.Steps)
	if len(ct) != 10 {
		t.Fatalf("%d pods created, want 10: %v", len(ct), res.Steps)
	}
	first := 0
	for _, c := range ct {
		if c.Equal(ct[0]) {
			first++
		}
	}
	if first != 5 {
		t.Errorf("%d pods in the first burst, want 5: %v", first, res.Steps)
	}
	if _, err := WhatIf(h, "job", "job-parallel", "work", WhatIfOptions{Set: []string{"spec.parallelism=-1"}}); err == nil {
		t.Error("parallelism -1 accepted")
	}
	if _, err := WhatIf(h, "job", "job-parallel", "work", WhatIfOptions{Set: []string{"spec.replicas=2"}}); err == nil {
		t.Error("a Job's spec.replicas accepted")
	}
}

// TestJobReplayDeadline replays the Job whose pods outlive activeDeadlineSeconds: the
// controller deletes both pods at startTime + 20 s.
func TestJobReplayDeadline(t *testing.T) {
	h := jobFixture(t, "job-deadline")
	scn, err := ExtractScenario("job", "job-deadline", "slow", h)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Simulate(scn, SimOptions{Environment: EnvAsRecorded})
	if err != nil {
		t.Fatal(err)
	}
	var creates, deletes []Step
	for _, s := range res.Steps {
		if s.Action == ActionCreate {
			creates = append(creates, s)
		} else {
			deletes = append(deletes, s)
		}
	}
	if len(creates) != 2 || len(deletes) != 2 {
		t.Fatalf("steps %v, want 2 creations and 2 deletions", res.Steps)
	}
	start := metaTime(creates[0].Time)
	for _, d := range deletes {
		if !d.Time.Equal(start.Add(20 * time.Second)) {
			t.Errorf("%v at %v, want at startTime %v + 20s", d, d.Time, start)
		}
	}
}

// TestJobStepJSON round-trips a Job's step through its JSON shape.
func TestJobStepJSON(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 53, 46, 9e6, time.UTC)
	for _, s := range []Step{
		{Kind: KindJob, Pod: "shard-2-x", Action: ActionCreate, Index: "2", Time: at},
		{Kind: KindJob, Pod: "slow-x", Action: ActionDelete, Time: at},
	} {
		b := mustJSON(t, s)
		var got Step
		if err := got.UnmarshalJSON(b); err != nil {
			t.Fatal(err)
		}
		if got.Kind != KindJob || !got.sameAction(s) || got.Pod != s.Pod {
			t.Errorf("%s read back as %+v", b, got)
		}
	}
}

// TestJobWhatIfRunColumns checks the what-if of a Job reports runs, not rollouts: duration,
// pods created, failures, steps and outcome, in the table and in JSON (which reads back), and
// none of the availability figures. The failing migration (backoffLimit 3, recorded: 4 pods
// created, each failing) with backoffLimit 1 creates 2 pods, both failing.
func TestJobWhatIfRunColumns(t *testing.T) {
	h := jobFixture(t, "job-backoff")
	res, err := WhatIf(h, "job", "job-backoff", "migrate", WhatIfOptions{Set: []string{"spec.backoffLimit=1"}})
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pods created   4", "failures       4", "outcome        failed: BackoffLimitExceeded"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if strings.Contains(table.String(), "lowest available") || strings.Contains(table.String(), "peak pods") {
		t.Errorf("table shows availability figures for a Job:\n%s", table.String())
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var raw struct{ Recorded, Replay, WhatIf map[string]any }
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]map[string]any{"recorded": raw.Recorded, "replay": raw.Replay, "whatIf": raw.WhatIf} {
		for _, k := range []string{"duration", "podsCreated", "failures", "steps", "outcome"} {
			if _, ok := s[k]; !ok {
				t.Errorf("%s: no %q in %v", name, k, s)
			}
		}
		if _, ok := s["lowestAvailable"]; ok {
			t.Errorf("%s: availability figures for a Job: %v", name, s)
		}
	}
	var back WhatIfResult
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		s            RolloutSummary
		pods, failed int
	}{"recorded": {back.Recorded, 4, 4}, "replay": {back.Replay, 4, 4}, "what-if": {back.WhatIf, 2, 2}} {
		if c.s.Run == nil || c.s.Run.PodsCreated != c.pods || c.s.Run.Failures != c.failed || c.s.Outcome != "failed: BackoffLimitExceeded" {
			t.Errorf("%s: %+v (run %+v), want %d pods created, %d failures, failed: BackoffLimitExceeded", name, c.s, c.s.Run, c.pods, c.failed)
		}
	}
	// A Job whose pods all succeed: no failure.
	res, err = WhatIf(jobFixture(t, "job-parallel"), "job", "job-parallel", "work", WhatIfOptions{Set: []string{"spec.parallelism=5"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := res.WhatIf.Run; r == nil || r.PodsCreated != 10 || r.Failures != 0 || res.WhatIf.Outcome != OutcomeComplete {
		t.Errorf("job-parallel, parallelism 5: %+v (run %+v), want 10 pods created, no failure, complete", res.WhatIf, r)
	}
}
