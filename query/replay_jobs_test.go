package query

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/khist/khist/replay"
)

// TestReplayAllJobs surveys (khist replay all) every recording of the jobs suite: the Jobs'
// runs and the CronJobs' schedule windows are replayed beside the other workloads, every
// recorded Job run and CronJob window is counted under its kind, and each is reproduced (the
// suite's recordings all are: TestJobReplay, TestCronJobReplay).
func TestReplayAllJobs(t *testing.T) {
	ctx := context.Background()
	total := map[string]int{}
	for ns, sc := range jobRecordings(t) {
		t.Run(ns, func(t *testing.T) {
			v := loadScenario(t, "jobs-"+ns).views
			var b bytes.Buffer
			if err := v.ReplayAll(ctx, ReplayAllArgs{Namespace: ns, Output: OutJSON}, &b); err != nil {
				t.Fatal(err)
			}
			var sr replay.SurveyResult
			if err := json.Unmarshal(b.Bytes(), &sr); err != nil {
				t.Fatal(err)
			}
			kind, _, _ := strings.Cut(jobScenarios[sc], "/")
			want := map[string]bool{replay.KindJob: true} // a CronJob's Jobs are Jobs too
			if kind == "cronjob" {
				want[replay.KindCronJob] = true
			}
			var got []string
			for _, k := range sr.ByKind {
				got = append(got, k.Kind)
				total[k.Kind] += k.Rollouts
				if k.Rollouts == 0 {
					t.Errorf("%s: no rollout counted", k.Kind)
				}
			}
			for k := range want {
				if !slices.Contains(got, k) {
					t.Errorf("kinds surveyed %v, want %s among them", got, k)
				}
			}
			// The Job runs are the Jobs' rollouts: khist rollouts lists as many as the survey
			// replays, and replay compare takes each row's reference as its --rollout.
			var rb bytes.Buffer
			if err := v.Rollouts(ctx, RolloutsArgs{Object: "job", Namespace: ns, Output: OutJSON}, &rb); err != nil {
				t.Fatal(err)
			}
			var list struct {
				Rollouts []RolloutRow `json:"rollouts"`
			}
			if err := json.Unmarshal(rb.Bytes(), &list); err != nil {
				t.Fatalf("%v: %s", err, rb.String())
			}
			rows := list.Rollouts
			surveyed := 0
			for _, k := range sr.ByKind {
				if k.Kind == replay.KindJob {
					surveyed = k.Rollouts
				}
			}
			if len(rows) != surveyed {
				t.Errorf("khist rollouts job: %d rows, the survey replayed %d Job runs", len(rows), surveyed)
			}
			for _, r := range rows {
				var cb bytes.Buffer
				err := v.ReplayCompare(ctx, ReplayCompareArgs{Object: "job/" + r.Workload.Name, Namespace: ns, Rollout: r.Ref, MaxLag: replay.DefaultMaxLag, Output: OutJSON}, &cb)
				var res replay.CompareResult
				if err == nil {
					err = json.Unmarshal(cb.Bytes(), &res)
				}
				if err != nil || len(res.Rollouts) != 1 || !res.Match || res.Rollouts[0].ID != r.Ref {
					t.Errorf("replay compare --rollout %s: %v, match %v, rollouts %v", r.Ref, err, res.Match, res.Rollouts)
				}
			}
			if len(sr.Failed) > 0 || sr.Matched != sr.Rollouts || sr.FreeRunMatched != sr.Rollouts || sr.DecisionsMatched != sr.Decisions || sr.Decisions == 0 {
				var tb bytes.Buffer
				_ = v.ReplayAll(ctx, ReplayAllArgs{Namespace: ns}, &tb)
				t.Errorf("survey: %d of %d rollouts, %d of %d decisions, free run %d, failed %v:\n%s",
					sr.Matched, sr.Rollouts, sr.DecisionsMatched, sr.Decisions, sr.FreeRunMatched, sr.Failed, tb.String())
			}
		})
	}
	t.Logf("jobs suite surveyed: %v rollouts by kind", total)
}
