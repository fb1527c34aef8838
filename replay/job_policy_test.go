package replay

import (
	"encoding/json"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
)

// fakeJobSpecHistory is a fake history for the Job controller's pure logic: a recording of the
// jobs suite in which every version of the Job has the spec edit makes (a field the recording
// did not use, such as a podFailurePolicy); the pods, their run times and exit codes are the
// recorded ones. It is not a recording: what it checks is the controller's algorithm, against
// the semantics upstream documents, not its fidelity.
func fakeJobSpecHistory(t *testing.T, recording, job string, edit func(*batchv1.Job)) []Version {
	t.Helper()
	h := jobFixture(t, recording)
	out := make([]Version, len(h))
	copy(out, h)
	edited := 0
	for i := range out {
		v := &out[i]
		if v.Kind != KindJob || v.Name != job || isDelete(v.Type) {
			continue
		}
		var j batchv1.Job
		if err := json.Unmarshal(v.Object, &j); err != nil {
			t.Fatal(err)
		}
		edit(&j)
		b, err := json.Marshal(&j)
		if err != nil {
			t.Fatal(err)
		}
		v.Object = b
		edited++
	}
	if edited == 0 {
		t.Fatalf("%s: no version of job/%s", recording, job)
	}
	return out
}

// exitRule is a podFailurePolicy rule on the exit codes of any container.
func exitRule(action batchv1.PodFailurePolicyAction, op batchv1.PodFailurePolicyOnExitCodesOperator, codes ...int32) batchv1.PodFailurePolicyRule {
	return batchv1.PodFailurePolicyRule{Action: action, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: op, Values: codes}}
}

// simulateJob replays the only run of job/migrate in the fake history, in the recorded
// environment, and returns its steps and outcome.
func simulateJob(t *testing.T, h []Version) ([]Step, string) {
	t.Helper()
	scn, err := ExtractScenario(KindJob, "job-backoff", "migrate", h)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Simulate(scn, SimOptions{RolloutID: "latest"})
	if err != nil {
		t.Fatal(err)
	}
	return res.Steps, res.Summary.Outcome
}

// TestJobPodFailurePolicy replays the failing migration of job-backoff (backoffLimit 3; every
// pod exits with code 2 after 2-3 s; recorded: 4 pods, then BackoffLimitExceeded) under
// podFailurePolicy exit-code rules, as upstream documents them
// (kubernetes.io/docs/tasks/job/pod-failure-policy; JobSpec.podFailurePolicy):
//   - FailJob: the first matching failure fails the Job at once (reason PodFailurePolicy),
//     without retries;
//   - Ignore: the failure is not counted towards backoffLimit and the pod is replaced, so the
//     Job never exhausts its backoffLimit (it is still running when the window ends);
//   - Count: the default handling: counted, the Job fails after backoffLimit+1 failures;
//   - the rules are evaluated in order, the first that matches decides; a rule that does not
//     match (In [42], NotIn [2]) leaves the default handling.
func TestJobPodFailurePolicy(t *testing.T) {
	recorded, outcome := simulateJob(t, jobFixture(t, "job-backoff"))
	if n := len(creations(recorded)); n != 4 || outcome != "failed: "+jobReasonBackoff {
		t.Fatalf("as recorded: %d pods created, outcome %q; want 4 and failed: %s", n, outcome, jobReasonBackoff)
	}
	for _, c := range []struct {
		name    string
		rules   []batchv1.PodFailurePolicyRule
		pods    func(int) bool
		outcome string
	}{
		{"FailJob In [2]", []batchv1.PodFailurePolicyRule{exitRule(batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyOnExitCodesOpIn, 2)},
			func(n int) bool { return n == 1 }, "failed: " + jobReasonFailurePolicy},
		{"FailJob NotIn [0 1]", []batchv1.PodFailurePolicyRule{exitRule(batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyOnExitCodesOpNotIn, 0, 1)},
			func(n int) bool { return n == 1 }, "failed: " + jobReasonFailurePolicy},
		{"Count In [2]", []batchv1.PodFailurePolicyRule{exitRule(batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyOnExitCodesOpIn, 2)},
			func(n int) bool { return n == 4 }, "failed: " + jobReasonBackoff},
		{"Ignore In [2]", []batchv1.PodFailurePolicyRule{exitRule(batchv1.PodFailurePolicyActionIgnore, batchv1.PodFailurePolicyOnExitCodesOpIn, 2)},
			func(n int) bool { return n > 4 }, OutcomeIncomplete},
		{"FailJob In [42] (no match)", []batchv1.PodFailurePolicyRule{exitRule(batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyOnExitCodesOpIn, 42)},
			func(n int) bool { return n == 4 }, "failed: " + jobReasonBackoff},
		{"FailJob NotIn [2] (no match)", []batchv1.PodFailurePolicyRule{exitRule(batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyOnExitCodesOpNotIn, 2)},
			func(n int) bool { return n == 4 }, "failed: " + jobReasonBackoff},
		{"Count before FailJob", []batchv1.PodFailurePolicyRule{
			exitRule(batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyOnExitCodesOpIn, 2),
			exitRule(batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyOnExitCodesOpIn, 2)},
			func(n int) bool { return n == 4 }, "failed: " + jobReasonBackoff},
		{"Ignore before FailJob", []batchv1.PodFailurePolicyRule{
			exitRule(batchv1.PodFailurePolicyActionIgnore, batchv1.PodFailurePolicyOnExitCodesOpIn, 2),
			exitRule(batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyOnExitCodesOpIn, 2)},
			func(n int) bool { return n > 4 }, OutcomeIncomplete},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			h := fakeJobSpecHistory(t, "job-backoff", "migrate", func(j *batchv1.Job) {
				j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: c.rules}
			})
			steps, outcome := simulateJob(t, h)
			if n := len(creations(steps)); !c.pods(n) || outcome != c.outcome {
				t.Errorf("%d pods created, outcome %q; want outcome %q: %v", n, outcome, c.outcome, steps)
			}
		})
	}
}
