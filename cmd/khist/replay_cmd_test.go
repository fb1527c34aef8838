package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/projector"
	"github.com/khist/khist/query"
	"github.com/khist/khist/replay"
	"github.com/khist/khist/test/fidelity"
)

const fidelityDir = "../../test/fidelity/testdata"

// TestReplayCommands runs khist replay compare, what-if and all as the binary would, on a
// rollout recorded on a real control plane (12 replicas, maxSurge and maxUnavailable 25%)
// imported into an embedded log.
func TestReplayCommands(t *testing.T) {
	dir := t.TempDir()
	if out, err := run(t, dir, "import", fidelity.FixturePath(fidelityDir, "default-25")); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	ns := []string{"-n", "default-25"}
	cmd := func(args ...string) string {
		t.Helper()
		out, err := run(t, dir, append(args, ns...)...)
		if err != nil {
			t.Fatalf("khist %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	want := func(out string, args []string, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(out, w) {
				t.Errorf("khist %s: output lacks %q:\n%s", strings.Join(args, " "), w, out)
			}
		}
	}

	// compare: every rollout, then one by each way of naming it.
	var all replay.CompareResult
	if err := json.Unmarshal([]byte(cmd("replay", "compare", "deploy/web", "-o", "json")), &all); err != nil {
		t.Fatal(err)
	}
	if !all.Match || len(all.Rollouts) != 2 {
		t.Fatalf("compare -o json: %+v, want 2 matching rollouts", all)
	}
	second := all.Rollouts[1]
	args := []string{"replay", "compare", "deploy/web"}
	want(cmd(args...), args, "deployment/web: MATCH (2 rollouts; 19 of 19 decisions reproduced; free run: 2 of 2 rollouts)",
		fmt.Sprintf("deployment/web#2, started %s (sequence %d)", second.Start.UTC().Format(time.RFC3339), second.Seq),
		"RECORDED", "SYNC ON THE STATE SEEN", "web-76c778f4bf 0->3", "MATCH: 18 of 18 decisions; free run: MATCH (18 steps)",
		"kubectl-set changed spec.template")
	args = []string{"replay", "compare", "deploy/web", "--free-run"}
	want(cmd(args...), args, "deployment/web: MATCH (2 rollouts, free run)", "SIMULATED", "MATCH: 18 steps")
	var res replay.CompareResult
	if err := json.Unmarshal([]byte(cmd("replay", "compare", "deploy/web", "--rollout", "latest", "-o", "json")), &res); err != nil {
		t.Fatal(err)
	}
	if !res.Match || len(res.Rollouts) != 1 || res.Rollouts[0].ID != "deployment/web#2" || len(res.Rollouts[0].Simulated) != 18 {
		t.Fatalf("compare --rollout latest -o json: %+v", res)
	}
	seq := fmt.Sprint(res.Rollouts[0].Seq)
	want(cmd("replay", "compare", "deploy/web", "--rollout", seq), []string{"--rollout", seq}, "MATCH (1 rollout;", "deployment/web#2")
	want(cmd("replay", "compare", "deployment", "web", "--rollout", "rev1"), []string{"--rollout", "rev1"}, "MATCH (1 rollout;", "deployment/web#1")
	want(cmd("replay", "compare", "deploy/web", "--rollout", "#1"), []string{"--rollout", "#1"}, "deployment/web#1,")
	want(cmd("replay", "compare", "deploy/web", "--rollout", "deploy/web#1"), []string{"--rollout", "deploy/web#1"}, "deployment/web#1,")

	// what-if: maxSurge 50% of 12 is 6 pods of surge.
	args = []string{"replay", "what-if", "deploy/web", "--set", "strategy.rollingUpdate.maxSurge=50%"}
	want(cmd(args...), args, "what-if deployment/web#2: strategy.rollingUpdate.maxSurge=50% (ready latency: recorded)",
		"RECORDED", "REPLAY", "WHAT-IF", "WHAT-IF STEPS", "web-76c778f4bf 0->6")
	var wi replay.WhatIfResult
	if err := json.Unmarshal([]byte(cmd(append(args, "-o", "json")...)), &wi); err != nil {
		t.Fatal(err)
	}
	if wi.Rollout != "deployment/web#2" || wi.ReadyLatency != "recorded" || wi.WhatIf.Outcome != replay.OutcomeComplete ||
		wi.Replay.Outcome != replay.OutcomeComplete || wi.WhatIf.Duration >= wi.Replay.Duration || len(wi.Steps) == 0 ||
		wi.Steps[0].String() != "web-76c778f4bf 0->6" {
		t.Fatalf("what-if maxSurge=50%% -o json: %+v, want a shorter complete rollout starting with 6 new pods", wi)
	}
	if err := json.Unmarshal([]byte(cmd(append(args, "--ready-latency", "p90", "-o", "json")...)), &wi); err != nil {
		t.Fatal(err)
	}
	if wi.ReadyLatency != "p90" || wi.WhatIf.Outcome != replay.OutcomeComplete || wi.WhatIf.Steps > wi.Replay.Steps {
		t.Fatalf("what-if maxSurge=50%% --ready-latency p90: %+v", wi)
	}

	// all
	args = []string{"replay", "all"}
	want(cmd(args...), args, "2 of 2 recorded rollouts of 1 workload: every controller decision reproduced (100.0%)",
		"19 of 19 decisions reproduced (100.0%); free run: 2 of 2 rollouts step for step (100.0%)")
	args = []string{"replay", "all", "--free-run"}
	want(cmd(args...), args, "2 of 2 recorded rollouts of 1 workload replayed step for step by the free run (100.0%)")
	var sr replay.SurveyResult
	if err := json.Unmarshal([]byte(cmd("replay", "all", "--since", second.Start.Add(time.Second).UTC().Format(time.RFC3339), "-o", "json")), &sr); err != nil {
		t.Fatal(err)
	}
	if sr.Rollouts != 1 || sr.Matched != 1 || sr.Share != 1 || len(sr.Diverged) != 0 {
		t.Fatalf("all --since: %+v, want the second rollout only, matched", sr)
	}
	out, err := run(t, dir, "replay", "all", "-A")
	want(out, []string{"replay", "all", "-A"}, "2 of 2 recorded rollouts")
	if err != nil {
		t.Fatal(err)
	}

	// Bad inputs: one line that says what to do.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"replay", "what-if", "deploy/web", "--set", "spec.strategy.rollingUpdate.maxSurges=1"}, "--set spec.strategy.rollingUpdate.maxSurges: not a field replay can change for a Deployment: use one of spec.replicas"},
		{[]string{"replay", "what-if", "deploy/web", "--set", "maxSurge=1"}, "--set spec.maxSurge: not a field replay can change for a Deployment: use spec.strategy.rollingUpdate.maxSurge=1"},
		{[]string{"replay", "what-if", "deploy/web", "--set", "strategy.rollingUpdate.maxSurge=0", "--set", "strategy.rollingUpdate.maxUnavailable=0%"}, "--set: maxSurge and maxUnavailable would both be 0 and the rollout could never progress: set one of them above 0"},
		{[]string{"replay", "what-if", "deploy/web", "--set", "replicas"}, `--set "replicas": use PATH=VALUE, e.g. spec.replicas=12`},
		{[]string{"replay", "what-if", "deploy/web", "--set", "replicas=12", "--ready-latency", "soon"}, `--ready-latency "soon": use recorded, p50, p90, max or a duration such as 4s`},
		{[]string{"replay", "what-if", "deploy/web", "--rollout", "all", "--set", "replicas=12"}, "--rollout all: what-if replays one rollout"},
		{[]string{"replay", "compare", "pod/web-0"}, "pod/web-0: replay re-runs the Deployment, StatefulSet, DaemonSet, Job and CronJob controllers: use deploy/NAME, sts/NAME, ds/NAME, job/NAME or cj/NAME"},
		{[]string{"replay", "compare", "deploy/webb"}, `no deployment "webb" in namespace default-25 in the recorded history: nearest: web`},
		{[]string{"replay", "compare", "deploy/web", "--rollout", "99999"}, fmt.Sprintf("--rollout: no rollout of Deployment default-25/web started at sequence 99999: use one of %d (deployment/web#1), ", all.Rollouts[0].Seq)},
		{[]string{"replay", "compare", "deploy/web", "--rollout", "rev7"}, "--rollout rev7: deployment/web has no rollout to revision 7: it has rev1, rev2"},
		{[]string{"replay", "compare", "deploy/web", "--rollout", "soon"}, `--rollout "soon": use #N or KIND/NAME#N (a rollout of khist rollouts, e.g. deployment/web#2), revN, latest or all`},
		{[]string{"replay", "compare", "deploy/web", "--rollout", "#3"}, `--rollout: no rollout "#3": use one of deployment/web#1, deployment/web#2`},
		{[]string{"replay", "compare", "deploy/web", "-o", "yaml"}, `-o: unknown output format "yaml": use table or json`},
		{[]string{"replay", "compare"}, "compare: KIND/NAME is needed"},
		{[]string{"replay", "all", "--since", "yesterday"}, `--since: cannot parse "yesterday"`},
		{[]string{"replay", "all", "--max-lag", "-1s"}, `--max-lag -1s: use a duration of 0 or more`},
		{[]string{"replay", "compare", "deploy/web", "--max-lag", "soon"}, `invalid argument "soon" for "--max-lag" flag`},
	} {
		out, err := run(t, dir, append(c.args, ns...)...)
		if err == nil {
			t.Errorf("khist %s: no error\n%s", strings.Join(c.args, " "), out)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("khist %s: error %q, want one line starting %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}

// TestReplayViewsMatchFiles checks that a workload's history read from the views
// (projector.WorkloadHistory, as khist replay reads it) replays exactly as the watch file it
// was imported from: same rollouts, sequences, steps, times and verdicts. Each recording gets
// its own log: the recordings come from separate control planes, whose resourceVersions do
// not order one history.
func TestReplayViewsMatchFiles(t *testing.T) {
	scenarios := fidelity.Scenarios
	if testing.Short() {
		scenarios = nil
		for _, n := range []string{"min-ready", "undo-to-revision", "sts-pod-recreate", "ds-node-added"} {
			s, _ := fidelity.ByName(n)
			scenarios = append(scenarios, *s)
		}
	}
	for _, s := range scenarios {
		t.Run(s.Name, func(t *testing.T) {
			dir := t.TempDir()
			path := fidelity.FixturePath(fidelityDir, s.Name)
			if out, err := run(t, dir, "import", path); err != nil {
				t.Fatalf("import: %v\n%s", err, out)
			}
			db, err := projector.Open(filepath.Join(dir, "views.db"), &projector.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			file, err := replay.LoadWatchFiles(path)
			if err != nil {
				t.Fatal(err)
			}
			wl := replay.WorkloadRef{Kind: s.Kind, Namespace: s.Name, Name: s.Workload}
			views, err := query.NewViews(db, "default", query.DefaultEnv()).ReplayLoader()(context.Background(), wl)
			if err != nil {
				t.Fatal(err)
			}
			fromFile, err := replay.Compare(file, wl.Kind, wl.Namespace, wl.Name, replay.CompareOptions{})
			if err != nil {
				t.Fatal(err)
			}
			fromViews, err := replay.Compare(views, wl.Kind, wl.Namespace, wl.Name, replay.CompareOptions{})
			if err != nil {
				t.Fatal(err)
			}
			a, b := mustMarshal(t, fromFile), mustMarshal(t, fromViews)
			if !bytes.Equal(a, b) {
				t.Fatalf("the views replay differently from the file\n--- file\n%s\n--- views\n%s", a, b)
			}
			if !fromViews.Match {
				fromViews.WriteTable(t.Output())
				t.Error("no match")
			}
		})
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}
