package replay

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func TestWhatIfRecordings(t *testing.T) {
	for _, c := range []struct {
		sample
		set  []string
		file string
	}{
		{sampleRolling, []string{"spec.strategy.rollingUpdate.maxSurge=50%"}, "sample-rolling.whatif-maxsurge.json"},
		{sampleRolling, []string{"spec.strategy.type=Recreate"}, "sample-rolling.whatif-recreate.json"},
		{sampleStatefulSet, []string{"spec.updateStrategy.rollingUpdate.partition=2"}, "sample-statefulset.whatif-partition.json"},
		{sampleStatefulSet, []string{"spec.replicas=5", "spec.podManagementPolicy=Parallel"}, "sample-statefulset.whatif-replicas.json"},
	} {
		t.Run(c.file, func(t *testing.T) {
			res, err := WhatIf(c.load(t), c.kind, c.ns, c.name, WhatIfOptions{Set: c.set})
			if err != nil {
				t.Fatal(err)
			}
			var table bytes.Buffer
			if err := res.WriteTable(&table); err != nil {
				t.Fatal(err)
			}
			golden(t, c.file, mustJSON(t, res))
			golden(t, strings.TrimSuffix(c.file, ".json")+".txt", table.Bytes())
			if res.Recorded.Outcome != OutcomeComplete || res.Replay.Outcome != OutcomeComplete {
				t.Errorf("recorded %q replay %q, want both complete", res.Recorded.Outcome, res.Replay.Outcome)
			}
		})
	}
}

// TestWhatIfEffects checks the direction of the effects on the recorded Deployment rollout.
func TestWhatIfEffects(t *testing.T) {
	h := sampleRolling.load(t)
	run := func(set ...string) *WhatIfResult {
		t.Helper()
		res, err := WhatIf(h, "deployment", "sample-rolling", "checkout", WhatIfOptions{Set: set})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	base := run()
	if base.WhatIf != base.Replay {
		t.Fatalf("no overrides: what-if %+v differs from replay %+v", base.WhatIf, base.Replay)
	}
	// The replay with the recorded settings takes the recorded steps.
	cmp, err := Compare(h, "deployment", "sample-rolling", "checkout", CompareOptions{RolloutID: "#2"})
	if err != nil {
		t.Fatal(err)
	}
	if rec := cmp.Rollouts[0].Recorded; !sameActions(base.Steps, rec) || base.Recorded.Steps != len(rec) {
		t.Errorf("replay steps %v, recorded %v", base.Steps, rec)
	}
	faster := run("spec.strategy.rollingUpdate.maxSurge=100%")
	if faster.WhatIf.Duration >= base.Replay.Duration || faster.WhatIf.PeakPods <= base.Replay.PeakPods {
		t.Errorf("maxSurge 100%%: %+v vs %+v: want faster with more pods", faster.WhatIf, base.Replay)
	}
	recreate := run("spec.strategy.type=Recreate")
	if recreate.WhatIf.LowestAvailable != 0 || recreate.WhatIf.Steps != 2 {
		t.Errorf("Recreate: %+v, want an outage and 2 steps", recreate.WhatIf)
	}
	slow := run("spec.strategy.rollingUpdate.maxSurge=1", "spec.minReadySeconds=5")
	if slow.WhatIf.Duration <= base.Replay.Duration+Duration(5*time.Second) {
		t.Errorf("maxSurge 1 and minReadySeconds 5: %s, want much slower than %s", time.Duration(slow.WhatIf.Duration), time.Duration(base.Replay.Duration))
	}
	unavailable := run("spec.strategy.rollingUpdate.maxSurge=0", "spec.strategy.rollingUpdate.maxUnavailable=50%")
	if unavailable.WhatIf.LowestAvailable != 3 || unavailable.WhatIf.LowestAvailableShare != 0.5 {
		t.Errorf("maxSurge 0 maxUnavailable 50%%: %+v, want 3 available at worst", unavailable.WhatIf)
	}
	fixed := run("spec.replicas=6")
	if fixed.WhatIf != base.Replay {
		t.Errorf("overriding a field with its recorded value changed the result: %+v vs %+v", fixed.WhatIf, base.Replay)
	}
}

func sameActions(a, b []Step) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].sameAction(b[i]) {
			return false
		}
	}
	return true
}

func TestWhatIfRefusesInvalidOverrides(t *testing.T) {
	h := sampleRolling.load(t)
	for _, c := range []struct {
		set  []string
		want string
	}{
		{[]string{"spec.foo=1"}, "use one of spec.replicas"},
		{[]string{"spec.replicas"}, "use PATH=VALUE"},
		{[]string{"spec.replicas=-1"}, "whole number of at least 0"},
		{[]string{"spec.replicas=many"}, "whole number"},
		{[]string{"spec.strategy.rollingUpdate.maxSurge=lots"}, "a percentage (25%)"},
		{[]string{"spec.strategy.rollingUpdate.maxUnavailable=150%"}, "not be more than 100%"},
		{[]string{"spec.strategy.rollingUpdate.maxSurge=0"}, "both be 0"},
		{[]string{"spec.strategy.type=BlueGreen"}, "use RollingUpdate or Recreate"},
		{[]string{"spec.podManagementPolicy=Parallel"}, "not a field replay can change for a Deployment"},
		{[]string{"spec.minReadySeconds=30", "spec.progressDeadlineSeconds=20"}, "must be greater than minReadySeconds"},
		{[]string{"spec.paused=maybe"}, "use true or false"},
	} {
		_, err := WhatIf(h, "deployment", "sample-rolling", "checkout", WhatIfOptions{Set: c.set})
		if !errors.Is(err, ErrInvalidOverride) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v, want one line with %q", c.set, err, c.want)
		}
	}
	_, err := WhatIf(sampleStatefulSet.load(t), "statefulset", "sample-statefulset", "cache",
		WhatIfOptions{Set: []string{"spec.updateStrategy.rollingUpdate.maxUnavailable=2"}})
	if !errors.Is(err, ErrInvalidOverride) || !strings.Contains(err.Error(), "MaxUnavailableStatefulSet") {
		t.Errorf("StatefulSet maxUnavailable: %v", err)
	}
	_, err = WhatIf(h, "deployment", "sample-rolling", "checkout", WhatIfOptions{ReadyLatency: "soon"})
	if !errors.Is(err, ErrInvalidOverride) || !strings.Contains(err.Error(), "recorded, p50, p90, max or a duration") {
		t.Errorf("bad ready latency: %v", err)
	}
}

func TestWhatIfReadyLatency(t *testing.T) {
	h := sampleRolling.load(t)
	durations := map[string]time.Duration{}
	for _, l := range []string{"recorded", "p50", "p90", "max", "500ms", "10s"} {
		res, err := WhatIf(h, "deployment", "sample-rolling", "checkout", WhatIfOptions{ReadyLatency: l})
		if err != nil {
			t.Fatal(err)
		}
		if res.WhatIf != res.Replay || res.ReadyLatency != l {
			t.Errorf("%s: what-if without overrides differs from replay", l)
		}
		durations[l] = time.Duration(res.WhatIf.Duration)
	}
	if !(durations["p50"] <= durations["p90"] && durations["p90"] <= durations["max"] && durations["500ms"] < durations["p50"] && durations["10s"] > durations["max"]) {
		t.Errorf("durations do not grow with the latency: %v", durations)
	}
	// With 10 s per pod and 3 waves of 2 pods, the rollout takes at least 30 s.
	if durations["10s"] < 30*time.Second {
		t.Errorf("10s per pod: %s", durations["10s"])
	}
}

// ExampleWhatIf asks what the recorded Deployment rollout would have done with maxSurge 100%.
func ExampleWhatIf() {
	h, err := LoadWatchFiles(
		"testdata/sample-rolling/deployments.json.gz",
		"testdata/sample-rolling/replicasets.json.gz",
		"testdata/sample-rolling/pods.json.gz",
		"testdata/sample-rolling/events.json.gz",
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := WhatIf(h, "deployment", "sample-rolling", "checkout", WhatIfOptions{
		Set: []string{"spec.strategy.rollingUpdate.maxSurge=100%"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	res.WriteTable(os.Stdout)
	// Output:
	// what-if deployment/checkout#2: spec.strategy.rollingUpdate.maxSurge=100% (ready latency: recorded)
	//
	//                          RECORDED   REPLAY     WHAT-IF
	// duration                 6.374s     6s         2s
	// lowest available         6 (100%)   6 (100%)   6 (100%)
	// peak pods                8          8          12
	// peak incl. terminating   10         10         12
	// steps                    9          9          7
	// outcome                  complete   complete   complete
	//
	// WHAT-IF STEPS
	//   #  TIME     STEP
	//   1  +0.000s  checkout-669d5fd697 0->6
	//   2  +0.792s  checkout-59b467b7d8 6->5
	//   3  +1.110s  checkout-59b467b7d8 5->4
	//   4  +1.671s  checkout-59b467b7d8 4->3
	//   5  +1.714s  checkout-59b467b7d8 3->2
	//   6  +1.792s  checkout-59b467b7d8 2->1
	//   7  +2.000s  checkout-59b467b7d8 1->0
}
