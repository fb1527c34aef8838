package query

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/khist/khist/projector"
	"github.com/robfig/cron/v3"
)

// Jobs and CronJobs in the audit. A Job run is to a Job what a rollout is to a Deployment:
// rollouts lists it as job/NAME#N (N counts the Jobs of that name; #1 unless the name was
// reused), with its outcome, duration and pods; steps job/NAME lists its pods' creations and
// terminations; a CronJob's rows are the runs of its Jobs, numbered cronjob/NAME#N, and runs
// cronjob/NAME lists its schedule.

// isJobKind tells whether k is Job or CronJob.
func isJobKind(k Kind) bool { return k.Group == "batch" && (k.Kind == "Job" || k.Kind == "CronJob") }

// JobInfo is what a rollout row of a Job run adds.
type JobInfo struct {
	Job                   string                 `json:"job"`
	Scheduled             *time.Time             `json:"scheduled,omitempty"`
	Completions           *int32                 `json:"completions,omitempty"`
	Parallelism           *int32                 `json:"parallelism,omitempty"`
	BackoffLimit          *int32                 `json:"backoffLimit,omitempty"`
	ActiveDeadlineSeconds *int64                 `json:"activeDeadlineSeconds,omitempty"`
	CompletionMode        string                 `json:"completionMode,omitempty"`
	PodsCreated           int                    `json:"podsCreated"`
	Attempts              []int                  `json:"attempts,omitempty"` // pods created per attempt (see projector.JobRun)
	Succeeded             int                    `json:"succeeded"`
	Failed                int                    `json:"failed"`
	DeletedPods           int                    `json:"deletedPods,omitempty"`
	ExitCodes             map[string]int         `json:"exitCodes,omitempty"`
	Reason                string                 `json:"reason,omitempty"`
	Message               string                 `json:"message,omitempty"`
	Suspensions           []projector.Suspension `json:"suspensions,omitempty"`
	Deleted               time.Time              `json:"deleted,omitzero"`
}

// jobOutcome is a Job run's outcome in the words of the tables: complete, failed
// (BackoffLimitExceeded), running, suspended, deleted while running.
func jobOutcome(r *projector.JobRun) string {
	switch {
	case r.Outcome == projector.JobComplete:
		return "complete"
	case r.Outcome == projector.JobFailed && r.Reason != "":
		return "failed (" + r.Reason + ")"
	case r.Outcome == projector.JobFailed:
		return "failed"
	case r.Gone:
		return "deleted while running"
	case r.Suspended:
		return "suspended"
	}
	return "running"
}

// jobRows are the rollout rows of the Job runs f selects. cron names the rows after the
// CronJob (cronjob/NAME#N) instead of the Job.
func (v *Views) jobRows(ctx context.Context, f projector.JobFilter, end time.Time, cron bool) ([]RolloutRow, error) {
	runs, err := v.DB.JobRuns(ctx, projector.JobFilter{Cluster: f.Cluster, Namespace: f.Namespace, Name: f.Name, CronJob: f.CronJob})
	if err != nil {
		return nil, err
	}
	numbers := map[string]int{}
	var out []RolloutRow
	for i := range runs {
		r := &runs[i]
		wk := r.Namespace + "/" + r.Name
		kind, name := "Job", r.Name
		if cron {
			wk, kind, name = r.Namespace+"/cronjob/"+r.Owner.Name, "CronJob", r.Owner.Name
		}
		numbers[wk]++
		stop := r.Ended
		if stop.IsZero() && r.Gone {
			stop = r.GoneAt
		}
		if !f.To.IsZero() && !r.Created.Before(f.To) || !f.From.IsZero() && !stop.IsZero() && stop.Before(f.From) {
			continue
		}
		row := RolloutRow{
			Cluster: f.Cluster, ID: r.FirstSeq, Number: numbers[wk], Ref: fmt.Sprintf("%s/%s#%d", strings.ToLower(kind), name, numbers[wk]),
			Workload: ObjectKey{Group: "batch", Kind: kind, Namespace: r.Namespace, Name: name},
			ToImages: r.Images, Started: r.Created, Ended: stop, EndSeq: r.EndSeq,
			Outcome: jobOutcome(r), PeakPods: int32(r.PeakRunning), Steps: r.Steps, Actor: r.Actor,
			Job: &JobInfo{Job: r.Name, Scheduled: r.Scheduled, Completions: r.Completions, Parallelism: r.Parallelism,
				BackoffLimit: r.BackoffLimit, ActiveDeadlineSeconds: r.ActiveDeadlineSeconds, CompletionMode: r.CompletionMode,
				PodsCreated: r.PodsCreated, Attempts: r.Attempts, Succeeded: r.Succeeded, Failed: r.Failed, DeletedPods: r.Deleted, ExitCodes: r.ExitCodes,
				Reason: r.Reason, Message: r.Message, Suspensions: r.Suspensions, Deleted: r.GoneAt},
		}
		row.Actor, row.Who = v.who(ctx, ObjectKey{Group: "batch", Kind: "Job", Namespace: r.Namespace, Name: r.Name}, "", r.Created, r.Actor, false)
		if row.EndSeq == 0 && r.Gone {
			row.EndSeq = r.GoneSeq
		}
		if r.Completions != nil {
			row.Desired = *r.Completions
		}
		row.Strategy = jobStrategy(r)
		if !stop.IsZero() {
			row.Duration = stop.Sub(r.Created)
		} else if end.After(r.Created) {
			row.Duration = end.Sub(r.Created)
		}
		out = append(out, row)
	}
	return out, nil
}

// jobStrategy says how a Job runs its pods: "completions 10, parallelism 3, backoffLimit 6".
func jobStrategy(r *projector.JobRun) string {
	var p []string
	if r.CompletionMode == "Indexed" {
		p = append(p, "Indexed")
	}
	if r.Completions != nil {
		p = append(p, fmt.Sprintf("completions %d", *r.Completions))
	}
	if r.Parallelism != nil {
		p = append(p, fmt.Sprintf("parallelism %d", *r.Parallelism))
	}
	if r.BackoffLimit != nil {
		p = append(p, fmt.Sprintf("backoffLimit %d", *r.BackoffLimit))
	}
	if r.ActiveDeadlineSeconds != nil {
		p = append(p, fmt.Sprintf("activeDeadlineSeconds %d", *r.ActiveDeadlineSeconds))
	}
	return strings.Join(p, ", ")
}

// jobPodsText is a Job run's pods in the MIN AVAILABLE column: "10/10 succeeded, 0 failed".
func jobPodsText(r RolloutRow) string {
	j := r.Job
	s := strconv.Itoa(j.Succeeded)
	if j.Completions != nil {
		s += "/" + strconv.Itoa(int(*j.Completions))
	}
	s += " succeeded, " + strconv.Itoa(j.Failed) + " failed"
	if j.DeletedPods > 0 {
		s += ", " + strconv.Itoa(j.DeletedPods) + " deleted running"
	}
	if j.BackoffLimit != nil && j.Failed > 0 {
		s += fmt.Sprintf(" (backoffLimit %d)", *j.BackoffLimit)
	}
	return s
}

// jobRolloutRows are the Job runs as rollouts selects them: of a Job (kind Job), of a
// CronJob's Jobs (kind CronJob), or of every Job (kind "").
func (v *Views) jobRolloutRows(ctx context.Context, f projector.RolloutFilter, end time.Time) ([]RolloutRow, error) {
	jf := projector.JobFilter{Cluster: f.Cluster, Namespace: f.Namespace, From: f.From, To: f.To}
	switch f.Kind {
	case "Job":
		jf.Name = f.Name
	case "CronJob":
		if f.Name == "" {
			rows, err := v.jobRows(ctx, jf, end, true)
			if err != nil {
				return nil, err
			}
			return slices.DeleteFunc(rows, func(r RolloutRow) bool { return r.Workload.Name == "" }), nil
		}
		jf.CronJob = f.Name
		return v.jobRows(ctx, jf, end, true)
	case "":
	default:
		return nil, nil
	}
	return v.jobRows(ctx, jf, end, false)
}

// JobStepText says a Job step in words.
func jobStepText(s projector.JobStep) string {
	pod := "pod " + s.Pod
	if s.Index != nil {
		pod += fmt.Sprintf(" (index %d)", *s.Index)
	}
	exit := func() string {
		var p []string
		if s.Reason != "" {
			p = append(p, s.Reason)
		}
		if s.ExitCode != nil {
			p = append(p, fmt.Sprintf("exit code %d", *s.ExitCode))
		}
		if s.Message != "" {
			p = append(p, s.Message)
		}
		return strings.Join(p, ", ")
	}
	switch s.Action {
	case projector.JobActionCreatePod:
		t := "Created " + pod
		if s.Node != "" {
			t += " on node " + s.Node
		}
		return t
	case projector.JobActionSucceeded:
		return "Pod " + strings.TrimPrefix(pod, "pod ") + " succeeded"
	case projector.JobActionFailed:
		t := "Pod " + strings.TrimPrefix(pod, "pod ") + " failed"
		if e := exit(); e != "" {
			t += ": " + e
		}
		return t
	case projector.JobActionDeletePod:
		return "Deleted running " + pod
	case projector.JobActionSuspend:
		return "Job suspended"
	case projector.JobActionResume:
		return "Job resumed"
	case projector.JobActionComplete:
		return "Job complete"
	case projector.JobActionFail:
		t := "Job failed"
		if s.Reason != "" {
			t += ": " + s.Reason
		}
		if s.Message != "" {
			t += " (" + s.Message + ")"
		}
		return t
	case projector.JobActionDeleted:
		if s.Actor != "" {
			return "Job deleted by " + s.Actor
		}
		return "Job deleted"
	}
	return s.Action + " " + s.Pod
}

// jobSteps is khist steps for a Job: the steps of its runs (--rollout: #N, latest, all).
func (v *Views) jobSteps(ctx context.Context, a StepsArgs, k Kind, name, ns string, out string, w io.Writer) error {
	if k.Kind == "CronJob" {
		return errorf(ErrBadArgument, "steps: a CronJob's steps are those of its Jobs: use khist runs cronjob/%s to find them, then khist steps job/JOB", name)
	}
	_, last, err := v.Span(ctx)
	if err != nil {
		return err
	}
	rows, err := v.jobRows(ctx, projector.JobFilter{Cluster: v.Cluster, Namespace: ns, Name: name}, last, false)
	if err != nil {
		return err
	}
	subject := "job/" + name
	if len(rows) == 0 {
		return errorf(ErrNotFound, "%s in namespace %s has no recorded run", subject, ns)
	}
	sel := strings.TrimSpace(a.Rollout)
	var chosen []RolloutRow
	switch sel {
	case "", "latest":
		chosen = rows[len(rows)-1:]
	case "all":
		chosen = rows
	default:
		i := strings.LastIndexByte(sel, '#')
		n, err := strconv.Atoi(sel[i+1:])
		if i < 0 || err != nil {
			return errorf(ErrBadArgument, "--rollout: %q: use #N (a run of khist rollouts, e.g. %s#1), latest or all", sel, subject)
		}
		for _, r := range rows {
			if r.Number == n {
				chosen = append(chosen, r)
			}
		}
		if len(chosen) == 0 {
			return errorf(ErrNotFound, "--rollout: %s has no run %s: it has #1 to #%d", subject, sel, len(rows))
		}
	}
	type runSteps struct {
		Run   RolloutRow `json:"rollout"`
		Steps []StepRow  `json:"steps"`
	}
	runs, err := v.DB.JobRuns(ctx, projector.JobFilter{Cluster: v.Cluster, Namespace: ns, Name: name})
	if err != nil {
		return err
	}
	var doc []runSteps
	for _, r := range chosen {
		uid := ""
		for _, jr := range runs {
			if jr.FirstSeq == r.ID {
				uid = jr.UID
			}
		}
		steps, err := v.DB.JobSteps(ctx, v.Cluster, ns, name, uid)
		if err != nil {
			return err
		}
		rs := runSteps{Run: r, Steps: []StepRow{}}
		for _, s := range steps {
			target := "job/" + name
			if s.Pod != "" {
				target = "pod/" + s.Pod
			}
			rs.Steps = append(rs.Steps, StepRow{Seq: s.Seq, Time: s.At, Action: s.Action, Text: jobStepText(s), Target: target,
				Elapsed: "+" + FormatDuration(s.At.Sub(r.Started))})
		}
		doc = append(doc, rs)
	}
	if handled, err := writeRows(w, doc, out, a.Printer); handled {
		return err
	}
	for i, rs := range doc {
		if i > 0 {
			fmt.Fprintln(w)
		}
		r := rs.Run
		fmt.Fprintf(w, "Run %s in namespace %s: %s, started %s", r.Ref, ns, orNone(r.Strategy), v.Env.FormatTime(r.Started))
		if r.Actor != "" {
			fmt.Fprintf(w, " by %s", r.Actor)
		}
		fmt.Fprintf(w, ", %s", r.Outcome)
		if d := durationText(r); d != "-" {
			fmt.Fprintf(w, " after %s", d)
		}
		created := plural(int64(r.Job.PodsCreated), "pod", "pods") + " created"
		if n := len(r.Job.Attempts); n > 1 {
			var per []string
			for _, a := range r.Job.Attempts {
				per = append(per, strconv.Itoa(a))
			}
			created += fmt.Sprintf(" in %d attempts (%s)", n, strings.Join(per, "+"))
		}
		fmt.Fprintf(w, "; %s, %s, peak %s running\n", created, jobPodsText(r), plural(int64(r.PeakPods), "pod", "pods"))
		if len(rs.Steps) == 0 {
			fmt.Fprintln(w, "No steps recorded.")
			continue
		}
		t := &table{columns: []column{{name: "TIME"}, {name: "ELAPSED"}, {name: "STEP"}}}
		for _, s := range rs.Steps {
			t.add(s, v.Env.FormatClock(s.Time), s.Elapsed, s.Text)
		}
		if err := t.print(w, false, a.Table); err != nil {
			return err
		}
	}
	return nil
}

// RunsArgs are the arguments of khist runs.
type RunsArgs struct {
	Object       string // cronjob/NAME
	Namespace    string // -n
	Since, Until string // --since, --until: the scheduled times listed (default: the CronJob's recorded life)
	Output       string // -o: table or json
	Table        TableOptions
	Printer      Printer
}

// RunsFormats are the -o values of khist runs.
var RunsFormats = []string{OutTable, OutJSON}

// Reasons a scheduled time has no Job (RunRow.NotRun).
const (
	NotRunSuspended = "suspended"
	NotRunMissed    = "missed: past startingDeadlineSeconds"
	NotRunForbid    = "skipped: concurrencyPolicy Forbid"
	NotRunUnknown   = "no Job recorded"
	NotRunPending   = "pending (end of the recorded history)"
)

// RunRow is one scheduled time of a CronJob and what became of it.
type RunRow struct {
	Scheduled time.Time     `json:"scheduled"`
	Job       string        `json:"job,omitempty"`
	Created   time.Time     `json:"created,omitzero"`
	Late      time.Duration `json:"lateNanos,omitempty"` // from the scheduled time to the Job's creation
	Ended     time.Time     `json:"ended,omitzero"`
	Duration  time.Duration `json:"durationNanos,omitempty"` // to the end, or to the end of the history while it runs
	Outcome   string        `json:"outcome,omitempty"`       // of the Job
	Pods      int           `json:"pods,omitempty"`
	Failed    int           `json:"failedPods,omitempty"`
	// NotRun says why no Job ran for the time: suspended, missed (startingDeadlineSeconds),
	// skipped (Forbid, with the Job that was running), no Job recorded.
	NotRun string `json:"notRun,omitempty"`
	// ReplacedBy: the Job was deleted while running, by concurrencyPolicy Replace, for this one.
	ReplacedBy string `json:"replacedBy,omitempty"`
	// CleanedUp: when the finished Job was deleted (the CronJob's history limits).
	CleanedUp time.Time `json:"cleanedUp,omitzero"`
	// Manual: a Job of the CronJob not made by its schedule (kubectl create job --from);
	// Scheduled is then its creation.
	Manual bool `json:"manual,omitempty"`
}

// RunsDoc is khist runs -o json.
type RunsDoc struct {
	CronJob   ObjectKey            `json:"cronJob"`
	Specs     []projector.CronSpec `json:"specs"`
	From      time.Time            `json:"from"`
	To        time.Time            `json:"to"`
	Runs      []RunRow             `json:"runs"`
	CleanedUp []string             `json:"cleanedUp,omitempty"` // Jobs deleted by the history limits in the window
}

// cronParser reads a CronJob's schedule as the CronJob controller does: five fields, or a
// descriptor (@hourly ...).
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// cronSchedule parses a spec's schedule in its time zone (UTC when none: the controller's
// own zone, which the history does not say).
func cronSchedule(s projector.CronSpec) (cron.Schedule, *time.Location, error) {
	loc := time.UTC
	sched := s.Schedule
	if strings.HasPrefix(sched, "TZ=") || strings.HasPrefix(sched, "CRON_TZ=") {
		tz, rest, _ := strings.Cut(sched, " ")
		_, name, _ := strings.Cut(tz, "=")
		l, err := time.LoadLocation(name)
		if err != nil {
			return nil, nil, err
		}
		loc, sched = l, rest
	}
	if s.TimeZone != "" {
		l, err := time.LoadLocation(s.TimeZone)
		if err != nil {
			return nil, nil, fmt.Errorf("time zone %q: %w", s.TimeZone, err)
		}
		loc = l
	}
	cs, err := cronParser.Parse(sched)
	return cs, loc, err
}

// jobScheduled is the time a CronJob's Job was scheduled for: its annotation, else the
// minutes since the epoch that end its name (NAME-MINUTES) when that is before its creation
// by less than a day. A Job made by hand from the CronJob (kubectl create job --from) has none.
func jobScheduled(r *projector.JobRun) (time.Time, bool) {
	if r.Scheduled != nil {
		return r.Scheduled.UTC(), true
	}
	i := strings.LastIndexByte(r.Name, '-')
	if i < 0 {
		return time.Time{}, false
	}
	m, err := strconv.ParseInt(r.Name[i+1:], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	at := time.Unix(m*60, 0).UTC()
	if d := r.Created.Sub(at); d < -time.Minute || d > 24*time.Hour {
		return time.Time{}, false
	}
	return at, true
}

// Runs writes every scheduled time of a CronJob in a window, and for each the Job it started
// (its duration and outcome) or why none ran.
func (v *Views) Runs(ctx context.Context, a RunsArgs, w io.Writer) error {
	out, err := OutJSON, error(nil)
	if a.Printer == nil {
		if out, err = ParseOutput(a.Output, RunsFormats...); err != nil {
			return err
		}
	}
	if strings.TrimSpace(a.Object) == "" {
		return errorf(ErrBadArgument, "runs: a CronJob is needed: khist runs cronjob/NAME")
	}
	k, name, err := v.ParseObject(ctx, a.Object)
	if err != nil {
		return err
	}
	if k.Kind != "CronJob" || k.Group != "batch" {
		return errorf(ErrBadArgument, "runs: %s have no schedule: use a cronjob (cj), e.g. khist runs cronjob/%s", k.Resource, name)
	}
	since, until, err := v.Env.Window(a.Since, a.Until)
	if err != nil {
		return err
	}
	ns := namespaceOf(k, Scope{Namespace: a.Namespace})
	if _, err := v.lifetimes(ctx, k, ns, name); err != nil {
		return err
	}
	specs, err := v.DB.CronSpecs(ctx, v.Cluster, ns, name)
	if err != nil {
		return err
	}
	if len(specs) == 0 {
		return errorf(ErrNotFound, "cronjob/%s in namespace %s: no spec recorded", name, ns)
	}
	_, last, err := v.Span(ctx)
	if err != nil {
		return err
	}
	runs, err := v.DB.JobRuns(ctx, projector.JobFilter{Cluster: v.Cluster, Namespace: ns, CronJob: name})
	if err != nil {
		return err
	}
	doc := RunsDoc{CronJob: ObjectKey{Group: "batch", Kind: "CronJob", Namespace: ns, Name: name}, Specs: specs, Runs: []RunRow{}}
	rows, err := cronRuns(specs, runs, last)
	if err != nil {
		return errorf(ErrBadArgument, "cronjob/%s: %v", name, err)
	}
	doc.From, doc.To = specs[0].Created, last
	if doc.From.IsZero() {
		doc.From = specs[0].At
	}
	if !since.IsZero() {
		doc.From = since
	}
	if !until.IsZero() && until.Before(doc.To) {
		doc.To = until
	}
	for _, r := range rows {
		if r.Scheduled.Before(doc.From) || r.Scheduled.After(doc.To) {
			continue
		}
		doc.Runs = append(doc.Runs, r)
	}
	for i := range runs {
		if r := &runs[i]; cleanedUp(r, specs) && !r.GoneAt.Before(doc.From) && !r.GoneAt.After(doc.To) {
			doc.CleanedUp = append(doc.CleanedUp, r.Name)
		}
	}
	if a.Printer != nil {
		return printRows(a.Printer, doc.Runs, w)
	}
	if out == OutJSON {
		j, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return err
		}
		_, err = w.Write(append(j, '\n'))
		return err
	}
	s := specs[len(specs)-1]
	tz := s.TimeZone
	if tz == "" {
		tz = "the controller's time zone (UTC assumed)"
	}
	fmt.Fprintf(w, "CronJob cronjob/%s in namespace %s: schedule %q in %s, concurrencyPolicy %s", name, ns, s.Schedule, tz, orDefaultStr(s.ConcurrencyPolicy, "Allow"))
	if s.StartingDeadlineSeconds != nil {
		fmt.Fprintf(w, ", startingDeadlineSeconds %d", *s.StartingDeadlineSeconds)
	}
	if n := len(specs); n > 1 {
		fmt.Fprintf(w, " (%d spec changes recorded)", n-1)
	}
	fmt.Fprintf(w, "\n%s scheduled from %s to %s; %s\n", plural(int64(len(doc.Runs)), "time", "times"), v.Env.FormatTime(doc.From), v.Env.FormatTime(doc.To),
		plural(int64(len(doc.CleanedUp)), "Job", "Jobs")+" cleaned up by the history limits")
	if len(doc.Runs) == 0 {
		return nil
	}
	t := &table{columns: []column{{name: "SCHEDULED"}, {name: "JOB"}, {name: "STARTED"}, {name: "DURATION"}, {name: "OUTCOME"}, {name: "PODS"}, {name: "CLEANED UP"}}}
	for _, r := range doc.Runs {
		if r.Job == "" {
			t.add(r, v.Env.FormatClock(r.Scheduled), "-", "-", "-", r.NotRun, "-", "-")
			continue
		}
		started := v.Env.FormatClock(r.Created)
		if r.Late >= 2*time.Second {
			started += " (+" + FormatDuration(r.Late) + ")"
		}
		d := "-"
		if r.Duration > 0 {
			d = FormatDuration(r.Duration)
			if r.Ended.IsZero() {
				d += "+"
			}
		}
		outcome := r.Outcome
		if r.Manual {
			outcome += " (made by hand, not scheduled)"
		}
		if r.ReplacedBy != "" {
			outcome = "replaced by " + r.ReplacedBy
		}
		pods := strconv.Itoa(r.Pods)
		if r.Failed > 0 {
			pods += fmt.Sprintf(" (%d failed)", r.Failed)
		}
		cleaned := "-"
		if !r.CleanedUp.IsZero() {
			cleaned = v.Env.FormatClock(r.CleanedUp)
		}
		t.add(r, v.Env.FormatClock(r.Scheduled), r.Job, started, d, outcome, pods, cleaned)
	}
	return t.print(w, false, a.Table)
}

func orDefaultStr(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// specAt returns the spec in force at t (the last one at or before it), or nil before the
// first.
func specAt(specs []projector.CronSpec, t time.Time) *projector.CronSpec {
	var s *projector.CronSpec
	for i := range specs {
		if specs[i].At.After(t) {
			break
		}
		s = &specs[i]
	}
	return s
}

// cronRuns lists the scheduled times of a CronJob's specs up to end, each with its Job (runs,
// matched by scheduled time) or the reason it has none, as the CronJob controller decides:
// no Job while suspended; under Forbid, none while another of its Jobs runs (the most recent
// time skipped starts late, once that Job ends, unless past startingDeadlineSeconds); on
// resuming, the most recent time missed starts late unless past startingDeadlineSeconds.
// Times of Jobs that the schedule does not give (another time zone) are listed all the same.
func cronRuns(specs []projector.CronSpec, runs []projector.JobRun, end time.Time) ([]RunRow, error) {
	byTime := map[time.Time]*projector.JobRun{}
	manual := map[time.Time]bool{}
	for i := range runs {
		at, ok := jobScheduled(&runs[i])
		if !ok {
			at = runs[i].Created.UTC()
			manual[at] = true
		}
		byTime[at] = &runs[i]
	}
	times := map[time.Time]bool{}
	for i, s := range specs {
		if s.Gone {
			break
		}
		from := s.At
		if i == 0 && !s.Created.IsZero() {
			from = s.Created
		}
		to := end
		if i+1 < len(specs) {
			to = specs[i+1].At
		}
		sched, loc, err := cronSchedule(s)
		if err != nil {
			return nil, fmt.Errorf("schedule %q: %v", s.Schedule, err)
		}
		for t := sched.Next(from.In(loc)); !t.After(to) && len(times) < 100000; t = sched.Next(t) {
			times[t.UTC()] = true
		}
	}
	for at := range byTime {
		times[at] = true
	}
	sorted := make([]time.Time, 0, len(times))
	for t := range times {
		sorted = append(sorted, t)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Before(sorted[j]) })
	// running returns a Job of the CronJob running at t (created before, not ended).
	running := func(t time.Time) *projector.JobRun {
		for i := range runs {
			r := &runs[i]
			stop := r.Ended
			if r.Gone && (stop.IsZero() || r.GoneAt.Before(stop)) {
				stop = r.GoneAt
			}
			if r.Created.Before(t) && (stop.IsZero() || stop.After(t)) {
				return r
			}
		}
		return nil
	}
	var out []RunRow
	for _, t := range sorted {
		row := RunRow{Scheduled: t}
		r := byTime[t]
		if r == nil {
			s := specAt(specs, t)
			switch {
			case s != nil && s.Suspend:
				row.NotRun = NotRunSuspended
				if resumed := nextResume(specs, t); !resumed.IsZero() && s.StartingDeadlineSeconds != nil &&
					resumed.Sub(t) > time.Duration(*s.StartingDeadlineSeconds)*time.Second && lastBefore(sorted, resumed) == t {
					row.NotRun = fmt.Sprintf("%s (resumed %s later)", NotRunMissed, FormatDuration(resumed.Sub(t)))
				}
			case s != nil && s.ConcurrencyPolicy == "Forbid" && running(t) != nil:
				row.NotRun = NotRunForbid + " (" + running(t).Name + " running)"
			case end.Sub(t) < 10*time.Second:
				row.NotRun = NotRunPending
			case s != nil && s.StartingDeadlineSeconds != nil:
				row.NotRun = NotRunMissed
			default:
				row.NotRun = NotRunUnknown
			}
			out = append(out, row)
			continue
		}
		row.Job, row.Created, row.Late, row.Manual = r.Name, r.Created, r.Created.Sub(t), manual[t]
		row.Outcome, row.Pods, row.Failed = jobOutcome(r), r.PodsCreated, r.Failed
		stop := r.Ended
		if stop.IsZero() && r.Gone {
			stop = r.GoneAt
		}
		row.Ended = stop
		if !stop.IsZero() {
			row.Duration = stop.Sub(r.Created)
		} else if end.After(r.Created) {
			row.Duration = end.Sub(r.Created)
		}
		if r.Gone && r.Outcome == "" {
			// Deleted while running: by Replace when another of its Jobs was created then.
			for i := range runs {
				o := &runs[i]
				if o.UID != r.UID && !o.Created.Before(r.Created) && absDur(o.Created.Sub(r.GoneAt)) < 5*time.Second {
					row.ReplacedBy = o.Name
				}
			}
		}
		if cleanedUp(r, specs) {
			row.CleanedUp = r.GoneAt
		}
		out = append(out, row)
	}
	return out, nil
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// nextResume is when the suspension in force at t ended (zero if it did not).
func nextResume(specs []projector.CronSpec, t time.Time) time.Time {
	for _, s := range specs {
		if s.At.After(t) && !s.Suspend && !s.Gone {
			return s.At
		}
	}
	return time.Time{}
}

// lastBefore is the last of the sorted times before t.
func lastBefore(sorted []time.Time, t time.Time) time.Time {
	var last time.Time
	for _, s := range sorted {
		if !s.Before(t) {
			break
		}
		last = s
	}
	return last
}

// mergeRows adds the Job runs to the rollouts, in start order.
func mergeRows(rows, jobs []RolloutRow) []RolloutRow {
	if len(jobs) == 0 {
		return rows
	}
	rows = append(rows, jobs...)
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].ID < rows[j].ID })
	return rows
}

// jobHistoryRows are khist history for a Job (one row per Job of that name, with its run) or
// a CronJob (one row per spec: schedule, time zone, policy, suspension, as it changed).
func (v *Views) jobHistoryRows(ctx context.Context, k Kind, ns, name string, last time.Time) ([]HistoryRow, error) {
	var rows []HistoryRow
	if k.Kind == "Job" {
		runs, err := v.DB.JobRuns(ctx, projector.JobFilter{Cluster: v.Cluster, Namespace: ns, Name: name})
		if err != nil {
			return nil, err
		}
		jr, err := v.jobRows(ctx, projector.JobFilter{Cluster: v.Cluster, Namespace: ns, Name: name}, last, false)
		if err != nil {
			return nil, err
		}
		for i, r := range runs {
			row := HistoryRow{Revision: int64(i + 1), Object: "job/" + r.Name, Images: r.Images, Created: r.Created,
				Actor: r.Actor, ChangeCause: jobStrategy(&r), Pods: r.PodsCreated, Deleted: r.GoneAt}
			row.Actor, row.Who = v.who(ctx, ObjectKey{Group: "batch", Kind: "Job", Namespace: ns, Name: r.Name}, "", r.Created, r.Actor, false)
			p := Period{From: r.Created, To: r.GoneAt}
			row.Current, row.StillCurrent = []Period{p}, p.To.IsZero()
			for j := range jr {
				if jr[j].ID == r.FirstSeq {
					row.Rollout = &jr[j]
				}
			}
			rows = append(rows, row)
		}
		return rows, nil
	}
	specs, err := v.DB.CronSpecs(ctx, v.Cluster, ns, name)
	if err != nil {
		return nil, err
	}
	for i, s := range specs {
		if s.Gone {
			continue
		}
		row := HistoryRow{Revision: int64(len(rows) + 1), Object: "cronjob/" + name, Created: s.At, Actor: s.Actor, ChangeCause: cronSpecText(s)}
		row.Actor, row.Who = v.who(ctx, ObjectKey{Group: "batch", Kind: "CronJob", Namespace: ns, Name: name}, "", s.At, s.Actor, false)
		p := Period{From: s.At}
		if i+1 < len(specs) {
			p.To = specs[i+1].At
		}
		row.Current, row.StillCurrent = []Period{p}, p.To.IsZero()
		rows = append(rows, row)
	}
	return rows, nil
}

// cronSpecText says a CronJob's spec: schedule "0 2 * * *" (Europe/Paris), Forbid, suspended.
func cronSpecText(s projector.CronSpec) string {
	t := fmt.Sprintf("schedule %q", s.Schedule)
	if s.TimeZone != "" {
		t += " (" + s.TimeZone + ")"
	}
	t += ", " + orDefaultStr(s.ConcurrencyPolicy, "Allow")
	if s.StartingDeadlineSeconds != nil {
		t += fmt.Sprintf(", startingDeadlineSeconds %d", *s.StartingDeadlineSeconds)
	}
	if s.Suspend {
		t += ", suspended"
	}
	return t
}

// cleanedUp tells whether a CronJob's Job was deleted by its history limits: finished, then
// deleted while the CronJob still existed (not with it).
func cleanedUp(r *projector.JobRun, specs []projector.CronSpec) bool {
	if !r.Gone || r.Outcome == "" {
		return false
	}
	for _, s := range specs {
		if s.Gone && s.UID == r.Owner.UID && !r.GoneAt.Before(s.At.Add(-time.Second)) {
			return false
		}
	}
	return true
}
