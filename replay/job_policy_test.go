package replay

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

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

// fakePodDeletion is a fake history for the Job controller's pure logic: h with the pod named
// pod deleted by hand (kubectl delete, a 30 s grace period) at at and gone at gone, its
// recorded versions after at dropped. Sequences and resourceVersions are renumbered to make
// room for the two versions, in the same order.
func fakePodDeletion(t *testing.T, h []Version, pod string, at, gone time.Time) []Version {
	t.Helper()
	var out []Version
	var last *Version
	add := func(v Version) {
		v.Seq = uint64(len(out) + 1)
		v.ResourceVersion = strconv.FormatUint(1000+v.Seq, 10)
		var o map[string]any
		if err := json.Unmarshal(v.Object, &o); err != nil {
			t.Fatal(err)
		}
		o["metadata"].(map[string]any)["resourceVersion"] = v.ResourceVersion
		v.Object, _ = json.Marshal(o)
		out = append(out, v)
	}
	inserted := false
	for i := range h {
		v := h[i]
		if !inserted && !v.Observed.Before(at) {
			if last == nil {
				t.Fatalf("no version of pod %s before %v", pod, at)
			}
			var o map[string]any
			if err := json.Unmarshal(last.Object, &o); err != nil {
				t.Fatal(err)
			}
			m := o["metadata"].(map[string]any)
			m["deletionTimestamp"] = at.Add(30 * time.Second).UTC().Format(time.RFC3339)
			m["deletionGracePeriodSeconds"] = 30
			del := *last
			del.Type, del.Observed, del.Actor = Modified, at, "kubectl"
			del.Object, _ = json.Marshal(o)
			add(del)
			inserted = true
		}
		if v.Kind == "Pod" && v.Name == pod {
			if inserted {
				continue
			}
			last = &h[i]
		}
		if inserted && !v.Observed.Before(gone) && last != nil {
			g := out[len(out)-1]
			for j := len(out) - 1; j >= 0; j-- {
				if out[j].Kind == "Pod" && out[j].Name == pod {
					g = out[j]
					break
				}
			}
			g.Type, g.Observed = Deleted, gone
			add(g)
			last = nil
		}
		add(v)
	}
	if !inserted || last != nil {
		t.Fatalf("pod %s: deletion at %v or removal at %v not within the history", pod, at, gone)
	}
	return out
}

// TestJobPodReplacementPolicy replays job-parallel (completions 10, parallelism 3, every pod
// succeeds after about 7 s) with one of the first three pods deleted by hand while it runs and
// gone 8 s later. Upstream (KEP-3939; JobSpec.podReplacementPolicy): with TerminatingOrFailed
// (the default without a podFailurePolicy) the controller replaces a pod as soon as it is
// terminating (a second later, the controller's batch period); with Failed (the default with a
// podFailurePolicy) it waits until the pod is fully terminated: the terminating pod counts
// towards parallelism, and its replacement is created only once it is gone.
func TestJobPodReplacementPolicy(t *testing.T) {
	h := jobFixture(t, "job-parallel")
	var first time.Time
	var pod string
	for _, v := range h {
		if v.Kind == "Pod" && v.Type == Added {
			first, pod = v.Observed, v.Name
			break
		}
	}
	at, gone := first.Add(4*time.Second), first.Add(12*time.Second)
	run := func(policy *batchv1.PodReplacementPolicy, pfp bool) (*SimResult, []time.Time) {
		t.Helper()
		fake := fakePodDeletion(t, h, pod, at, gone)
		out := make([]Version, len(fake))
		copy(out, fake)
		for i := range out {
			v := &out[i]
			if v.Kind != KindJob || isDelete(v.Type) {
				continue
			}
			var j batchv1.Job
			if err := json.Unmarshal(v.Object, &j); err != nil {
				t.Fatal(err)
			}
			j.Spec.PodReplacementPolicy = policy
			if pfp {
				j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
					exitRule(batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyOnExitCodesOpIn, 42)}}
			}
			v.Object, _ = json.Marshal(&j)
		}
		scn, err := ExtractScenario(KindJob, "job-parallel", "work", out)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Simulate(scn, SimOptions{RolloutID: "latest"})
		if err != nil {
			t.Fatal(err)
		}
		var after []time.Time
		for _, c := range creations(res.Steps) {
			if c.After(at) {
				after = append(after, c)
			}
		}
		return res, after
	}
	failed, terminating := batchv1.Failed, batchv1.TerminatingOrFailed
	for _, c := range []struct {
		name   string
		policy *batchv1.PodReplacementPolicy
		pfp    bool
		wait   bool // the replacement waits for the deleted pod to be gone
	}{
		{"default", nil, false, false},
		{"TerminatingOrFailed", &terminating, false, false},
		{"Failed", &failed, false, true},
		{"default with a podFailurePolicy", nil, true, true},
	} {
		res, after := run(c.policy, c.pfp)
		if len(after) == 0 {
			t.Fatalf("%s: no pod created after the deletion: %v", c.name, res.Steps)
		}
		// the pods created while the deleted pod terminates: the other two end after about
		// 7 s and are replaced (3 in all under TerminatingOrFailed, with the deleted pod's
		// replacement; 2 under Failed, the terminating pod still counting as running)
		during := 0
		for _, a := range after {
			if a.Before(gone) {
				during++
			}
		}
		replaced := false
		for _, a := range after {
			replaced = replaced || !a.Before(gone)
		}
		switch {
		case c.wait && (during != 2 || after[0].Before(first.Add(7*time.Second)) || !replaced):
			t.Errorf("%s: %d pods created while the deleted pod terminated, the first at +%v, one after it was gone (+%v): %v; want 2, none before the others end (+7s), and one after: %v",
				c.name, during, after[0].Sub(first), gone.Sub(first), replaced, res.Steps)
		case !c.wait && (during != 3 || after[0].After(at.Add(2*time.Second))):
			t.Errorf("%s: %d pods created while the deleted pod terminated, the first at +%v; want 3, the first within 2 s of the deletion (+%v): %v",
				c.name, during, after[0].Sub(first), at.Sub(first), res.Steps)
		}
	}
}
