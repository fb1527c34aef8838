package projector

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The jobs view keeps the runs of Jobs and the schedule of CronJobs, as the Job controller and
// the CronJob controller left them in the objects they wrote:
//
//   - a JobRun per Job (per uid: a name may be reused): its spec (parallelism, completions,
//     backoffLimit, activeDeadlineSeconds, completion mode), the CronJob that made it and the
//     time it was scheduled for, when it started, its pods created, succeeded and failed (the
//     failures count against backoffLimit), the most pods running at once, its suspensions, and
//     how it ended: Complete, or Failed with the reason of its Failed condition
//     (BackoffLimitExceeded, DeadlineExceeded, ...), and when it was deleted;
//   - a JobStep per thing that happened to the Job or its pods: pod created (with its index in
//     Indexed mode), pod succeeded or failed (with its container's exit code and reason, or the
//     pod's reason), running pod deleted (by the controller: deadline, suspension, or the
//     CronJob's Replace), Job suspended or resumed, Job complete or failed;
//   - a CronSpec per CronJob version whose spec (schedule, time zone, suspend, concurrency
//     policy, starting deadline, history limits) differs from the one before, and one at its
//     deletion: what the schedule was at any time.
//
// Buckets: "jobs": cluster NUL namespace NUL job NUL uid -> JSON JobRun; "jobsteps": cluster
// NUL namespace NUL job NUL seq (8) index (1) -> JSON JobStep; "cronspecs": cluster NUL
// namespace NUL cronjob NUL seq (8) -> JSON CronSpec.
var bJobs, bJobSteps, bCronSpecs = []byte("jobs"), []byte("jobsteps"), []byte("cronspecs")

func init() { registerBuckets(bJobs, bJobSteps, bCronSpecs) }

// Outcomes of a Job run (JobRun.Outcome); "" while it runs.
const (
	JobComplete = "Complete"
	JobFailed   = "Failed"
)

// Actions of job steps.
const (
	JobActionCreatePod = "create-pod"
	JobActionSucceeded = "pod-succeeded"
	JobActionFailed    = "pod-failed"
	JobActionDeletePod = "delete-pod" // a pod deleted before it ended
	JobActionSuspend   = "suspend"
	JobActionResume    = "resume"
	JobActionComplete  = "complete"
	JobActionFail      = "fail"
	JobActionDeleted   = "deleted" // the Job itself
)

// JobRun is one Job's run.
type JobRun struct {
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	// Owner is the Job's controller (a CronJob), if any; Scheduled the time the CronJob
	// scheduled it for (its annotation).
	Owner     Ref        `json:"owner,omitzero"`
	Scheduled *time.Time `json:"scheduled,omitempty"`

	FirstSeq uint64    `json:"firstSeq"`
	Created  time.Time `json:"created"`           // metadata.creationTimestamp
	Started  time.Time `json:"started,omitzero"`  // status.startTime
	Actor    string    `json:"actor,omitempty"`   // who created it
	Ended    time.Time `json:"ended,omitzero"`    // when its outcome was first seen
	EndSeq   uint64    `json:"endSeq,omitempty"`  // the event that showed it
	Outcome  string    `json:"outcome,omitempty"` // Complete, Failed; "" while it runs
	Reason   string    `json:"reason,omitempty"`  // of the Failed condition
	Message  string    `json:"message,omitempty"`

	Parallelism           *int32   `json:"parallelism,omitempty"`
	Completions           *int32   `json:"completions,omitempty"`
	BackoffLimit          *int32   `json:"backoffLimit,omitempty"`
	ActiveDeadlineSeconds *int64   `json:"activeDeadlineSeconds,omitempty"`
	CompletionMode        string   `json:"completionMode,omitempty"`
	Images                []string `json:"images,omitempty"` // of its pod template

	PodsCreated int `json:"podsCreated"`
	Succeeded   int `json:"succeeded"` // pods seen succeeding
	Failed      int `json:"failed"`    // pods seen failing (the retries against backoffLimit)
	Deleted     int `json:"deleted"`   // pods deleted before they ended
	Running     int `json:"running"`   // pods created that have not ended
	PeakRunning int `json:"peakRunning"`
	// Attempts are the pods created per attempt: an attempt starts with the first pod
	// created after a failure (the first with the Job's first pod).
	Attempts []int `json:"attempts,omitempty"`
	// FailedSince: a pod failed since the current attempt started.
	FailedSince bool `json:"failedSince,omitempty"`
	// ExitCodes counts the failures by "reason exit-code" (e.g. "Error 2").
	ExitCodes map[string]int `json:"exitCodes,omitempty"`
	// Steps is the number of its JobSteps.
	Steps int `json:"steps"`
	// StatusSucceeded and StatusFailed are the Job's own counts (its status).
	StatusSucceeded int32 `json:"statusSucceeded"`
	StatusFailed    int32 `json:"statusFailed"`

	Suspended   bool         `json:"suspended,omitempty"` // now (at its last version)
	Suspensions []Suspension `json:"suspensions,omitempty"`

	Gone    bool      `json:"gone,omitempty"` // the Job was deleted
	GoneAt  time.Time `json:"goneAt,omitzero"`
	GoneSeq uint64    `json:"goneSeq,omitempty"`
}

// Suspension is a time a Job (or CronJob) was suspended; To is zero while it lasts.
type Suspension struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to,omitzero"`
}

// JobStep is one thing that happened to a Job or its pods.
type JobStep struct {
	Seq       uint64    `json:"seq"`
	At        time.Time `json:"at"`
	Namespace string    `json:"-"` // from the key
	Job       Ref       `json:"job"`
	Action    string    `json:"action"`
	Pod       string    `json:"pod,omitempty"`
	Index     *int      `json:"index,omitempty"` // Indexed Jobs
	Node      string    `json:"node,omitempty"`
	ExitCode  *int32    `json:"exitCode,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Message   string    `json:"message,omitempty"`
	Actor     string    `json:"actor,omitempty"`
}

// CronSpec is a CronJob's spec from Seq on (until the next one).
type CronSpec struct {
	Seq                        uint64    `json:"seq"`
	At                         time.Time `json:"at"`
	UID                        string    `json:"uid"`
	Created                    time.Time `json:"created"`
	Schedule                   string    `json:"schedule"`
	TimeZone                   string    `json:"timeZone,omitempty"`
	Suspend                    bool      `json:"suspend,omitempty"`
	ConcurrencyPolicy          string    `json:"concurrencyPolicy,omitempty"`
	StartingDeadlineSeconds    *int64    `json:"startingDeadlineSeconds,omitempty"`
	SuccessfulJobsHistoryLimit *int32    `json:"successfulJobsHistoryLimit,omitempty"`
	FailedJobsHistoryLimit     *int32    `json:"failedJobsHistoryLimit,omitempty"`
	Actor                      string    `json:"actor,omitempty"`
	Gone                       bool      `json:"gone,omitempty"` // the CronJob was deleted
}

func (c *CronSpec) same(o *CronSpec) bool {
	eq64 := func(a, b *int64) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }
	eq32 := func(a, b *int32) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }
	return c.UID == o.UID && c.Schedule == o.Schedule && c.TimeZone == o.TimeZone && c.Suspend == o.Suspend &&
		c.ConcurrencyPolicy == o.ConcurrencyPolicy && eq64(c.StartingDeadlineSeconds, o.StartingDeadlineSeconds) &&
		eq32(c.SuccessfulJobsHistoryLimit, o.SuccessfulJobsHistoryLimit) && eq32(c.FailedJobsHistoryLimit, o.FailedJobsHistoryLimit) &&
		c.Gone == o.Gone
}

func jobKey(cluster, ns, job, uid string) []byte { return key(cluster, ns, job, uid) }

func foldJobs(t *txn, ev *event) error {
	h, o := ev.head, ev.obj
	if o == nil || h.Group != "batch" && h.Group != "" {
		return nil
	}
	switch {
	case h.Kind == "Job" && h.Group == "batch":
		return foldJob(t, ev)
	case h.Kind == "CronJob" && h.Group == "batch":
		return foldCronSpec(t, ev)
	case h.Kind == "Pod" && h.Group == "" && h.Owner.Kind == "Job":
		return foldJobPod(t, ev)
	}
	return nil
}

// loadRun reads a Job's run (a new one if none).
func loadRun(t *txn, k []byte, cluster, ns, name, uid string) (*JobRun, error) {
	r := &JobRun{Cluster: cluster, Namespace: ns, Name: name, UID: uid}
	if v := t.bucket(bJobs).Get(k); v != nil {
		if err := unmarshalRecord(v, r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *JobRun) ended(ev *event, outcome, reason, message string) {
	if r.Outcome != "" {
		return
	}
	r.Outcome, r.Reason, r.Message = outcome, reason, message
	r.Ended, r.EndSeq = ev.env.Observed, ev.env.Seq
}

func foldJob(t *txn, ev *event) error {
	h, o := ev.head, ev.obj
	k := jobKey(h.Cluster, h.Namespace, h.Name, h.UID)
	r, err := loadRun(t, k, h.Cluster, h.Namespace, h.Name, h.UID)
	if err != nil {
		return err
	}
	job := Ref{Kind: "Job", Name: h.Name, UID: h.UID}
	step := func(action string, s JobStep) error {
		s.Job, s.Action = job, action
		r.Steps++
		return addJobStep(t, ev, &s)
	}
	if r.FirstSeq == 0 {
		r.FirstSeq, r.Actor = ev.env.Seq, ev.actor
		if c := o.Metadata.CreationTimestamp; c != nil {
			r.Created = *c
		} else {
			r.Created = ev.env.Observed
		}
	}
	if h.Owner.Kind == "CronJob" {
		r.Owner = h.Owner
	}
	if ts := o.Metadata.Annotations.ScheduledTimestamp; ts != "" {
		if at, err := time.Parse(time.RFC3339, ts); err == nil {
			r.Scheduled = &at
		}
	}
	r.Parallelism, r.Completions, r.BackoffLimit = o.Spec.Parallelism, o.Spec.Completions, o.Spec.BackoffLimit
	r.ActiveDeadlineSeconds, r.CompletionMode = o.Spec.ActiveDeadlineSeconds, o.Spec.CompletionMode
	if r.Images == nil {
		r.Images = templateImages(o.Spec.Template)
	}
	if st := o.Status.StartTime; st != nil && r.Started.IsZero() {
		r.Started = *st
	}
	r.StatusSucceeded, r.StatusFailed = max(r.StatusSucceeded, o.Status.Succeeded), max(r.StatusFailed, o.Status.Failed)
	suspended := o.Spec.Suspend != nil && *o.Spec.Suspend
	if suspended != r.Suspended && !ev.gone {
		r.Suspended = suspended
		if suspended {
			r.Suspensions = append(r.Suspensions, Suspension{From: ev.env.Observed})
			if err := step(JobActionSuspend, JobStep{Actor: ev.actor}); err != nil {
				return err
			}
		} else {
			if n := len(r.Suspensions); n > 0 && r.Suspensions[n-1].To.IsZero() {
				r.Suspensions[n-1].To = ev.env.Observed
			}
			if err := step(JobActionResume, JobStep{Actor: ev.actor}); err != nil {
				return err
			}
		}
	}
	if r.Outcome == "" {
		if c := o.Status.Condition("Complete"); c != nil && c.Status == "True" {
			r.ended(ev, JobComplete, c.Reason, c.Message)
			if err := step(JobActionComplete, JobStep{Reason: c.Reason, Message: c.Message}); err != nil {
				return err
			}
		} else if c := o.Status.Condition("Failed"); c != nil && c.Status == "True" {
			r.ended(ev, JobFailed, c.Reason, c.Message)
			if err := step(JobActionFail, JobStep{Reason: c.Reason, Message: c.Message}); err != nil {
				return err
			}
		}
	}
	if ev.gone && !r.Gone {
		r.Gone, r.GoneAt, r.GoneSeq = true, ev.env.Observed, ev.env.Seq
		if err := step(JobActionDeleted, JobStep{Actor: ev.actor}); err != nil {
			return err
		}
	}
	return putRecord(t, bJobs, k, r)
}

// podIndex is an Indexed Job's pod's completion index.
func podIndex(o *Object) *int {
	if s := o.Metadata.Annotations.CompletionIndex; s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			return &n
		}
	}
	return nil
}

// podExit is how a failed pod ended: its first terminated container's exit code and reason,
// else the pod's reason (DeadlineExceeded, Evicted ...).
func podExit(o *Object) (*int32, string, string) {
	for _, c := range o.Status.ContainerStatuses {
		if tm := c.State.Terminated; tm != nil {
			code := tm.ExitCode
			return &code, tm.Reason, tm.Message
		}
	}
	return nil, o.Status.Reason, ""
}

func foldJobPod(t *txn, ev *event) error {
	h, o := ev.head, ev.obj
	// Most versions of a pod change nothing here: decide before reading the run. A pod that
	// ended or was being deleted before, or first seen on a relist, shows no change observed.
	created := ev.isNew && ev.env.Type == "ADDED"
	settled := ev.prev.Phase == "Succeeded" || ev.prev.Phase == "Failed" || ev.prev.Deleting || ev.isNew && !created
	phase := o.Status.Phase
	ended := !settled && (phase == "Succeeded" || phase == "Failed")
	deleted := !settled && !ended && !ev.isNew && (o.Metadata.DeletionTimestamp != nil || ev.gone)
	if !created && !ended && !deleted {
		return nil
	}
	k := jobKey(h.Cluster, h.Namespace, h.Owner.Name, h.Owner.UID)
	r, err := loadRun(t, k, h.Cluster, h.Namespace, h.Owner.Name, h.Owner.UID)
	if err != nil {
		return err
	}
	s := JobStep{Job: Ref{Kind: "Job", Name: h.Owner.Name, UID: h.Owner.UID}, Pod: h.Name, Index: podIndex(o), Node: o.Spec.NodeName}
	var steps []JobStep
	if created {
		r.PodsCreated++
		if len(r.Attempts) == 0 || r.FailedSince {
			r.Attempts, r.FailedSince = append(r.Attempts, 0), false
		}
		r.Attempts[len(r.Attempts)-1]++
		r.Running++
		r.PeakRunning = max(r.PeakRunning, r.Running)
		c := s
		c.Action = JobActionCreatePod
		steps = append(steps, c)
	}
	switch {
	case ended && phase == "Succeeded":
		r.Succeeded++
		r.Running = max(r.Running-1, 0)
		c := s
		c.Action = JobActionSucceeded
		c.ExitCode, c.Reason, c.Message = podExit(o)
		steps = append(steps, c)
	case ended:
		r.Failed++
		r.FailedSince = true
		r.Running = max(r.Running-1, 0)
		c := s
		c.Action = JobActionFailed
		c.ExitCode, c.Reason, c.Message = podExit(o)
		if r.ExitCodes == nil {
			r.ExitCodes = map[string]int{}
		}
		code := "-"
		if c.ExitCode != nil {
			code = strconv.Itoa(int(*c.ExitCode))
		}
		r.ExitCodes[orDefault(c.Reason, "Failed")+" "+code]++
		steps = append(steps, c)
	case deleted:
		r.Deleted++
		r.Running = max(r.Running-1, 0)
		c := s
		c.Action, c.Actor = JobActionDeletePod, ev.actor
		steps = append(steps, c)
	}
	for i := range steps {
		if err := addJobStep(t, ev, &steps[i]); err != nil {
			return err
		}
	}
	r.Steps += len(steps)
	return putRecord(t, bJobs, k, r)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// addJobStep stores a step of the current event under its Job.
func addJobStep(t *txn, ev *event, s *JobStep) error {
	h := ev.head
	s.Seq, s.At = ev.env.Seq, ev.env.Observed
	k := append(appendBE8(prefix(h.Cluster, h.Namespace, s.Job.Name), s.Seq), 0)
	for t.bucket(bJobSteps).Get(k) != nil {
		k[len(k)-1]++ // a second step of the same event
	}
	return putRecord(t, bJobSteps, k, s)
}

func foldCronSpec(t *txn, ev *event) error {
	h, o := ev.head, ev.obj
	c := CronSpec{Seq: ev.env.Seq, At: ev.env.Observed, UID: h.UID, Schedule: o.Spec.Schedule,
		Suspend: o.Spec.Suspend != nil && *o.Spec.Suspend, ConcurrencyPolicy: o.Spec.ConcurrencyPolicy,
		StartingDeadlineSeconds: o.Spec.StartingDeadlineSeconds, SuccessfulJobsHistoryLimit: o.Spec.SuccessfulJobsHistoryLimit,
		FailedJobsHistoryLimit: o.Spec.FailedJobsHistoryLimit, Actor: ev.actor, Gone: ev.gone}
	if o.Spec.TimeZone != nil {
		c.TimeZone = *o.Spec.TimeZone
	}
	if ct := o.Metadata.CreationTimestamp; ct != nil {
		c.Created = *ct
	}
	p := prefix(h.Cluster, h.Namespace, h.Name)
	// The spec before: the last record under p (sequences grow, so it is the one just before
	// where this one goes).
	cur := t.bucket(bCronSpecs).Cursor()
	k, v := cur.Seek(appendBE8(slices.Clip(p), ev.env.Seq))
	if k == nil {
		k, v = cur.Last()
	} else {
		k, v = cur.Prev()
	}
	if k != nil && bytes.HasPrefix(k, p) && len(k) == len(p)+8 {
		var last CronSpec
		if err := unmarshalRecord(v, &last); err != nil {
			return err
		}
		if last.same(&c) {
			return nil
		}
	}
	return putRecord(t, bCronSpecs, appendBE8(p, ev.env.Seq), &c)
}

// JobFilter selects Job runs.
type JobFilter struct {
	Cluster   string    // "" for every cluster
	Namespace string    // "" for every namespace
	Name      string    // the Job's name; "" for all
	CronJob   string    // only the Jobs of this CronJob (by name); "" for all
	From, To  time.Time // runs that overlap [From, To); zero To has no end
}

// JobRuns returns the Job runs the filter selects, in creation order.
func (db *DB) JobRuns(ctx context.Context, f JobFilter) ([]JobRun, error) {
	var out []JobRun
	err := db.view(func(tx *bolt.Tx) error {
		p := filterPrefix(f.Cluster, f.Namespace, f.Name)
		c := tx.Bucket(bJobs).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			var r JobRun
			if err := unmarshalRecord(v, &r); err != nil {
				return err
			}
			if f.Namespace != "" && r.Namespace != f.Namespace || f.Name != "" && r.Name != f.Name ||
				f.CronJob != "" && (r.Owner.Kind != "CronJob" || r.Owner.Name != f.CronJob) || r.FirstSeq == 0 {
				continue
			}
			end := r.Ended
			if end.IsZero() && r.Gone {
				end = r.GoneAt
			}
			if !f.To.IsZero() && !r.Created.Before(f.To) || !f.From.IsZero() && !end.IsZero() && end.Before(f.From) {
				continue
			}
			out = append(out, r)
		}
		return nil
	})
	slices.SortStableFunc(out, func(a, b JobRun) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return cmpU64(a.FirstSeq, b.FirstSeq)
	})
	return out, err
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// JobSteps returns the steps of the Jobs named name (of every uid, uid "" ) in order.
func (db *DB) JobSteps(ctx context.Context, cluster, ns, name, uid string) ([]JobStep, error) {
	var out []JobStep
	err := db.view(func(tx *bolt.Tx) error {
		p := prefix(cluster, ns, name)
		c := tx.Bucket(bJobSteps).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if len(k) != len(p)+9 {
				continue
			}
			var s JobStep
			if err := unmarshalRecord(v, &s); err != nil {
				return err
			}
			if uid != "" && s.Job.UID != uid {
				continue
			}
			s.Namespace = ns
			out = append(out, s)
		}
		return ctx.Err()
	})
	return out, err
}

// CronSpecs returns the spec changes of the CronJobs named name, in order.
func (db *DB) CronSpecs(ctx context.Context, cluster, ns, name string) ([]CronSpec, error) {
	var out []CronSpec
	err := db.view(func(tx *bolt.Tx) error {
		p := prefix(cluster, ns, name)
		c := tx.Bucket(bCronSpecs).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if len(k) != len(p)+8 {
				continue
			}
			var s CronSpec
			if err := unmarshalRecord(v, &s); err != nil {
				return err
			}
			out = append(out, s)
		}
		return ctx.Err()
	})
	return out, err
}
