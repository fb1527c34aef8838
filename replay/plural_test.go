package replay

import (
	"bytes"
	"testing"
)

// TestSurveyCountsReadAsWords: one of a thing is singular ("of 1 workload", "1 decision").
func TestSurveyCountsReadAsWords(t *testing.T) {
	r := &SurveyResult{Mode: ModeAudit, Workloads: 1, Rollouts: 1, Matched: 1, Share: 1, Decisions: 1, DecisionsMatched: 1, DecisionShare: 1, FreeRunMatched: 1, FreeRunShare: 1}
	var out bytes.Buffer
	if err := r.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	want := "1 of 1 recorded rollout of 1 workload: every controller decision reproduced (100.0%)\n" +
		"1 of 1 decision reproduced (100.0%); free run: 1 of 1 rollout step for step (100.0%)\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
	if got := count(2, "step") + ", " + count(1, "step") + ", " + count(int64(0), "step"); got != "2 steps, 1 step, 0 steps" {
		t.Errorf("count: %s", got)
	}
}
