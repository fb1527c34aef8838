package replay

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/khist/khist/eventlog/kinds"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// The Job controller, re-implemented from the behaviour upstream pkg/controller/job documents
// (job_controller.go syncJob, manageJob; backoff_utils.go; indexed_job_utils.go;
// pod_failure_policy.go):
//
//   - It keeps min(parallelism, completions - succeeded) pods running (parallelism alone when
//     completions is unset, until a pod succeeded), creating the missing ones in one burst
//     and deleting the surplus, newest first. An Indexed Job creates the lowest indexes
//     that are neither running nor succeeded.
//   - After failed pods it waits before creating more: 10 s doubled for each failure since
//     the last success, at most 6 minutes, counted from when the last failed pod finished
//     (its containers' finishedAt, as stored: to the second).
//   - It fails the Job when more pods failed than backoffLimit (BackoffLimitExceeded), when
//     activeDeadlineSeconds have passed since status.startTime (DeadlineExceeded), or when a
//     pod failure matches a FailJob rule of the podFailurePolicy (Ignore rules leave the
//     failure uncounted; only exit-code rules are evaluated: the history holds no pod
//     conditions). A failed Job's running pods are deleted.
//   - It completes the Job once completions pods (an Indexed Job: every index) succeeded and
//     none runs.
//   - A suspended Job's running pods are deleted and its startTime cleared; resuming starts
//     the clock again.
//   - podReplacementPolicy Failed (the default with a podFailurePolicy) counts terminating
//     pods as running: their replacements wait until they are gone.
//
// Pod changes reach it batched by a second (upstream's syncJobBatchPeriod); changes of the Job
// at once. The recorded pods' lifetimes and outcomes are the environment: the simulated pod
// created for the same index (or in the same order) runs as long and ends as its recorded
// counterpart did; a pod beyond the recorded ones behaves as the last recorded one.

// KindJob is the kind of Jobs.
const KindJob = kinds.Job

// ctrlJob is the Job controller's workqueue.
const ctrlJob controllerID = "Job"

// Upstream's constants.
const (
	jobSyncBatchPeriod  = time.Second
	jobBackoffBase      = 10 * time.Second
	jobBackoffMax       = 6 * time.Minute
	jobMaxCreatePerSync = 500

	jobIndexed             = "Indexed"
	jobReplaceFailed       = "Failed"
	jobReplaceTerminating  = "TerminatingOrFailed"
	jobReasonBackoff       = "BackoffLimitExceeded"
	jobReasonDeadline      = "DeadlineExceeded"
	jobReasonFailurePolicy = "PodFailurePolicy"
	jobComplete            = "Complete"
	jobFailed              = "Failed"
)

// jobFailureRule is a podFailurePolicy rule on exit codes.
type jobFailureRule struct {
	action    string // FailJob, Ignore, Count, FailIndex
	container string // "" for any
	in        bool   // operator In (else NotIn)
	values    []int32
}

// matches reports whether a pod that failed with exit code code matches the rule.
func (r jobFailureRule) matches(code int32) bool {
	if code == 0 {
		return false
	}
	return slices.Contains(r.values, code) == r.in
}

type jobKind struct{}

func (jobKind) kind() string             { return KindJob }
func (jobKind) names() []string          { return kubectlNames("batch", KindJob) }
func (jobKind) controller() controllerID { return ctrlJob }

func (jobKind) parse(obj []byte, w *workloadObj) error {
	var j batchv1.Job
	if err := json.Unmarshal(obj, &j); err != nil {
		return err
	}
	s := &w.spec
	s.Parallelism = deref32(j.Spec.Parallelism, 1)
	s.Completions = deref32(j.Spec.Completions, noLimit)
	s.BackoffLimit = deref32(j.Spec.BackoffLimit, 6)
	if j.Spec.ActiveDeadlineSeconds != nil {
		s.ActiveDeadlineSeconds = *j.Spec.ActiveDeadlineSeconds
	}
	s.Suspend = j.Spec.Suspend != nil && *j.Spec.Suspend
	s.CompletionMode = string(batchv1.NonIndexedCompletion)
	if j.Spec.CompletionMode != nil {
		s.CompletionMode = string(*j.Spec.CompletionMode)
	}
	s.PodReplacementPolicy = jobReplaceTerminating
	if pfp := j.Spec.PodFailurePolicy; pfp != nil {
		s.PodReplacementPolicy = jobReplaceFailed
		for _, r := range pfp.Rules {
			if r.OnExitCodes == nil {
				continue
			}
			rule := jobFailureRule{action: string(r.Action), in: r.OnExitCodes.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn,
				values: r.OnExitCodes.Values}
			if r.OnExitCodes.ContainerName != nil {
				rule.container = *r.OnExitCodes.ContainerName
			}
			s.FailureRules = append(s.FailureRules, rule)
		}
	}
	if j.Spec.PodReplacementPolicy != nil {
		s.PodReplacementPolicy = string(*j.Spec.PodReplacementPolicy)
	}
	s.Replicas = s.Parallelism
	w.tmpl = &j.Spec.Template
	st := j.Status
	if st.StartTime != nil {
		w.status.StartTime = st.StartTime.UTC()
	}
	for _, c := range st.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			w.status.Finished, w.status.FinishedBy = string(c.Type), c.Reason
		}
	}
	return nil
}

func (jobKind) start(s *simulation) map[controllerID]controller {
	jc := &jobController{s: s}
	// A Job deleted (by its CronJob's Replace policy, by hand) is gone from the controller's
	// informer: it no longer syncs; the garbage collector removes its pods.
	for _, wv := range s.scn.x.workload {
		if isDelete(wv.typ) {
			jc.deletedAt = wv.t
			break
		}
	}
	return map[controllerID]controller{ctrlJob: controllerFunc(func(string) { jc.sync() })}
}

// onChange: pod changes are batched by syncJobBatchPeriod, the Job's own at once.
func (jobKind) onChange(s *simulation, c change) {
	switch c.kind {
	case chPodAdded, chPodUpdated, chPodRemoved:
		s.enqueueIn(ctrlJob, "", jobSyncBatchPeriod)
	case chWorkload:
		s.enqueueIn(ctrlJob, "", 0)
	}
}

// wants is the pods a Job runs at once at most.
func (jobKind) wants(sp *spec, _ *corev1.PodTemplateSpec, _ func() []*node) int {
	if sp.Suspend {
		return 0
	}
	if sp.Completions != noLimit {
		return int(min(sp.Parallelism, sp.Completions))
	}
	return int(sp.Parallelism)
}

func (jobKind) keepsOld(*spec) int     { return 0 }
func (jobKind) runsToCompletion() bool { return true }
func (jobKind) readsNodes() bool       { return false }

func (jobKind) describe(s *simulation) []string {
	j := s.st.w
	sp := &j.spec
	line := fmt.Sprintf("job %s: parallelism %d, completions %s, backoffLimit %d, %s", j.name, sp.Parallelism,
		limitString(sp.Completions), sp.BackoffLimit, sp.CompletionMode)
	if sp.Suspend {
		line += ", suspended"
	}
	if !j.status.StartTime.IsZero() {
		line += ", started " + j.status.StartTime.Format(time.RFC3339)
	}
	out := []string{line}
	pods := append([]*simPod(nil), s.st.pods...)
	slices.SortStableFunc(pods, func(a, b *simPod) int { return a.created.Compare(b.created) })
	for _, p := range pods {
		state := p.phase
		if p.phase == phaseFailed {
			state += fmt.Sprintf(" (exit %d, finished %s)", p.exitCode, p.finishedAt.Format(time.TimeOnly))
		}
		if p.deleting {
			state += ", terminating"
		}
		idx := ""
		if p.index != "" {
			idx = " index " + p.index
		}
		out = append(out, fmt.Sprintf("pod %s%s: %s", p.name, idx, state))
	}
	return out
}

func limitString(n int32) string {
	if n == noLimit {
		return "unset"
	}
	return strconv.Itoa(int(n))
}

// A Job pod stands for the recorded pods of its index (Indexed Jobs) or for the recorded
// pods in creation order; beyond them, for a copy of the last one.
func (jobKind) counterpart(e *environment, list []*PodRecord, ps podSpec) *PodRecord {
	var r *PodRecord
	if ps.index != "" {
		r = e.claimFirst(list, func(r *PodRecord) bool { return r.Index == ps.index })
	} else {
		r = e.claimNext(ps.revKey)
	}
	if r != nil {
		return r
	}
	var last *PodRecord
	for _, q := range list {
		if ps.index == "" || q.Index == ps.index {
			last = q
		}
	}
	if last == nil && len(list) > 0 {
		last = list[len(list)-1]
	}
	if last == nil {
		return nil
	}
	c := *last
	c.Name, c.UID, c.DeletedBy = "", "", ""
	return &c
}

func (jobKind) stepJSON(s Step) any {
	return struct {
		Pod    string `json:"pod"`
		Action string `json:"action"`
		Index  string `json:"index,omitempty"`
		Time   string `json:"time"`
	}{s.Pod, s.Action, s.Index, s.Time.UTC().Format(stepTimeFormat)}
}

// jobStepTolerance is how far apart in time a simulated and a recorded Job step may be and
// still be the same: when the Job controller acts (after a back-off, at a deadline) is its
// decision, and recorded times are those the pods were first observed at.
const jobStepTolerance = 2 * time.Second

// Pod names are random: a Job step is its action, index and time.
func (jobKind) sameStep(a, b Step) bool {
	return a.Action == b.Action && a.Index == b.Index && absDur(a.Time.Sub(b.Time)) <= jobStepTolerance
}

func (jobKind) stepString(s Step) string {
	idx := ""
	if s.Index != "" {
		idx = " index " + s.Index
	}
	return fmt.Sprintf("%s %s%s at %s", s.Action, s.Pod, idx, s.Time.UTC().Format(stepTimeFormat))
}

func (jobKind) stepSortKey(s Step) string { return s.Action + "/" + s.Index + "/" + s.Pod }

func (jobKind) overrides() []string {
	return []string{"spec.parallelism", "spec.completions", "spec.backoffLimit", "spec.activeDeadlineSeconds"}
}

func (jobKind) validate(_ *overrides, s *spec) error {
	if s.CompletionMode == jobIndexed && s.Completions == noLimit {
		return overrideErr("--set: an Indexed Job needs spec.completions")
	}
	return nil
}

// A Job's pods run to their end: there is no steady state to resize.
func (jobKind) resize(*simulation, int) {}

// finished: a Job's outcome is "complete" or "failed: REASON".
func (jobKind) finished(st workloadStatus) (string, time.Time, bool) {
	switch st.Finished {
	case "":
		return "", time.Time{}, false
	case jobComplete:
		return OutcomeComplete, st.FinishedAt, true
	}
	return "failed: " + st.FinishedBy, st.FinishedAt, true
}

type jobController struct {
	s         *simulation
	deletedAt time.Time // when the recorded Job was deleted; zero if never
}

// jobPods is what one sync counts of the Job's pods.
type jobPods struct {
	active, terminating   []*simPod
	succeeded, failed     int
	succeededIdx          map[string]bool
	failJob               bool // a failure matched a FailJob rule
	lastSuccess, lastFail time.Time
	failedAfterSuccess    int
}

func (jc *jobController) count(sp *spec) jobPods {
	var c jobPods
	c.succeededIdx = map[string]bool{}
	var fails []time.Time
	for _, p := range jc.s.st.pods {
		switch {
		case p.phase == phaseSucceeded:
			if sp.CompletionMode == jobIndexed {
				if c.succeededIdx[p.index] {
					continue
				}
				c.succeededIdx[p.index] = true
			}
			c.succeeded++
			if p.finishedAt.After(c.lastSuccess) {
				c.lastSuccess = p.finishedAt
			}
		case p.phase == phaseFailed:
			action := ""
			for _, r := range sp.FailureRules {
				if r.matches(p.exitCode) {
					action = r.action
					break
				}
			}
			switch action {
			case string(batchv1.PodFailurePolicyActionIgnore):
				continue
			case string(batchv1.PodFailurePolicyActionFailJob):
				c.failJob = true
			}
			c.failed++
			fails = append(fails, p.finishedAt)
			if p.finishedAt.After(c.lastFail) {
				c.lastFail = p.finishedAt
			}
		case p.deleting:
			c.terminating = append(c.terminating, p)
		default:
			c.active = append(c.active, p)
		}
	}
	for _, t := range fails {
		if t.After(c.lastSuccess) || c.lastSuccess.IsZero() {
			c.failedAfterSuccess++
		}
	}
	return c
}

// backoffRemaining is how long the Job must still wait after its failures before it
// creates pods.
func (c *jobPods) backoffRemaining(now time.Time) time.Duration {
	if c.failedAfterSuccess == 0 {
		return 0
	}
	d := jobBackoffMax
	if c.failedAfterSuccess <= 16 {
		d = min(jobBackoffBase<<(c.failedAfterSuccess-1), jobBackoffMax)
	}
	return max(c.lastFail.Add(d).Sub(now), 0)
}

func (jc *jobController) sync() {
	s := jc.s
	j := s.st.w
	if j == nil || j.status.Finished != "" || !jc.deletedAt.IsZero() && !s.now.Before(jc.deletedAt) {
		return
	}
	sp := &j.spec
	c := jc.count(sp)

	if sp.Suspend {
		jc.deleteAll(c.active)
		j.status.StartTime = time.Time{}
		return
	}
	if j.status.StartTime.IsZero() {
		j.status.StartTime = metaTime(s.now)
	}
	reason := ""
	switch {
	case c.failJob:
		reason = jobReasonFailurePolicy
	case c.failed > int(sp.BackoffLimit):
		reason = jobReasonBackoff
	case sp.ActiveDeadlineSeconds > 0 && !s.now.Before(j.status.StartTime.Add(time.Duration(sp.ActiveDeadlineSeconds)*time.Second)):
		reason = jobReasonDeadline
	}
	if reason != "" {
		j.status.Finished, j.status.FinishedBy, j.status.FinishedAt = jobFailed, reason, s.now
		jc.deleteAll(c.active)
		return
	}
	if sp.ActiveDeadlineSeconds > 0 {
		deadline := j.status.StartTime.Add(time.Duration(sp.ActiveDeadlineSeconds) * time.Second)
		s.at(deadline, func() { s.enqueueIn(ctrlJob, "", 0) })
	}
	jc.manage(sp, &c)
	active := len(c.active)
	complete := false
	switch {
	case sp.CompletionMode == jobIndexed:
		complete = c.succeeded >= int(sp.Completions) && active == 0
	case sp.Completions == noLimit:
		complete = c.succeeded > 0 && active == 0
	default:
		complete = c.succeeded >= int(sp.Completions) && active == 0
	}
	if complete {
		j.status.Finished, j.status.FinishedAt = jobComplete, s.now
	}
}

// manage is manageJob: create the missing pods (after the back-off) or delete the surplus.
func (jc *jobController) manage(sp *spec, c *jobPods) {
	s := jc.s
	active := len(c.active)
	counted := active
	if sp.PodReplacementPolicy == jobReplaceFailed {
		counted += len(c.terminating)
	}
	want := int(sp.Parallelism)
	switch {
	case sp.Completions != noLimit:
		want = max(min(want, int(sp.Completions)-c.succeeded), 0)
	case c.succeeded > 0:
		want = active
	}
	if active > want {
		pods := append([]*simPod(nil), c.active...)
		sort.SliceStable(pods, func(a, b int) bool { return jobDeleteFirst(pods[a], pods[b]) })
		jc.deleteAll(pods[:active-want])
		return
	}
	if counted >= want {
		return
	}
	if d := c.backoffRemaining(s.now); d > 0 {
		s.at(s.now.Add(d), func() { s.enqueueIn(ctrlJob, "", 0) })
		return
	}
	n := min(want-counted, jobMaxCreatePerSync)
	var indexes []string
	if sp.CompletionMode == jobIndexed {
		busy := map[string]bool{}
		for _, p := range c.active {
			busy[p.index] = true
		}
		if sp.PodReplacementPolicy == jobReplaceFailed {
			for _, p := range c.terminating {
				busy[p.index] = true
			}
		}
		for i := 0; i < int(sp.Completions) && len(indexes) < n; i++ {
			k := strconv.Itoa(i)
			if !busy[k] && !c.succeededIdx[k] {
				indexes = append(indexes, k)
			}
		}
		n = len(indexes)
	}
	if n == 0 {
		return
	}
	key := s.st.w.spec.Template
	s.newBatch()
	for i := 0; i < n; i++ {
		ps := podSpec{revKey: key, revName: s.revisionName(key), ordinal: -1}
		if indexes != nil {
			ps.index = indexes[i]
		}
		s.createPod(ps)
	}
	s.endBatch()
}

// jobDeleteFirst orders active pods as upstream's ActivePods does for deletion: unscheduled,
// then pending, then not ready, then the newest.
func jobDeleteFirst(a, b *simPod) bool {
	if a.scheduled != b.scheduled {
		return !a.scheduled
	}
	if (a.phase == "Pending") != (b.phase == "Pending") {
		return a.phase == "Pending"
	}
	if a.ready != b.ready {
		return !a.ready
	}
	return a.created.After(b.created)
}

// deleteAll deletes pods in one burst.
func (jc *jobController) deleteAll(pods []*simPod) {
	if len(pods) == 0 {
		return
	}
	jc.s.newBatch()
	for _, p := range pods {
		jc.s.deletePod(p, true)
	}
	jc.s.endBatch()
}

// hadReason: the Job was suspended or had failed (its deadline passed) while p ran. A pod
// that had ended, or whose Job was gone, is the garbage collector's (history limits, Replace).
func (jobKind) hadReason(scn *Scenario, p *PodRecord) bool {
	if p.finishSeq != 0 && p.finishSeq <= p.delSeq {
		return false
	}
	w := workloadAt(scn.x, p.delSeq)
	if w == nil {
		return false
	}
	if w.spec.Suspend || w.status.Finished == jobFailed {
		return true
	}
	ads := w.spec.ActiveDeadlineSeconds
	return ads > 0 && !w.status.StartTime.IsZero() && !p.DeleteRequested.Before(w.status.StartTime.Add(time.Duration(ads)*time.Second))
}
