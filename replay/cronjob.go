package replay

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/khist/khist/eventlog/kinds"
	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
)

// The CronJob controller's schedule decisions, re-implemented from the behaviour upstream
// pkg/controller/cronjob documents (cronjob_controllerv2.go syncCronJob, utils.go
// mostRecentScheduleTime): at each wake-up it takes the most recent scheduled time not yet
// started (since status.lastScheduleTime, or the creation, and with startingDeadlineSeconds no
// earlier than that many seconds ago); it does nothing while suspended; misses a time whose
// deadline passed; under Forbid skips it while a Job of its runs; under Replace deletes the
// running Jobs first; then creates the Job NAME-<minutes since the epoch>. It wakes 100 ms
// after each scheduled time, when one of its Jobs ends and when its spec changes, and deletes
// the oldest finished Jobs beyond successfulJobsHistoryLimit and failedJobsHistoryLimit.
//
// The recorded Jobs are the environment: the Job created for a scheduled time runs as long
// and ends as the recorded Job of that time did; a Job the recording does not have runs as
// long as the recorded ones did in the median and ends as the last one did.
//
// The CronJob replay is its own small simulation: its steps are Jobs, not pods.

// KindCronJob is the kind of CronJobs.
const KindCronJob = kinds.CronJob

// cronJobKind registers the CronJob controller: a standaloneKind, whose steps are Jobs.
type cronJobKind struct{}

func (cronJobKind) kind() string                { return KindCronJob }
func (cronJobKind) names() []string             { return kubectlNames("batch", KindCronJob) }
func (cronJobKind) checkSet(set []string) error { return CheckCronWhatIf(set) }

func (cronJobKind) compare(h []Version, ns, name string, set []string) (Report, error) {
	return CompareCronJob(h, ns, name, set)
}

func (cronJobKind) stepJSON(s Step) any {
	return struct {
		Job    string `json:"job"`
		Action string `json:"action"`
		Time   string `json:"time"`
	}{s.Job, s.Action, s.Time.UTC().Format(stepTimeFormat)}
}

// Job names carry the scheduled time: a CronJob step is its action, Job and time.
func (cronJobKind) sameStep(a, b Step) bool {
	return a.Action == b.Action && a.Job == b.Job && absDur(a.Time.Sub(b.Time)) <= cronStepTolerance
}

func (cronJobKind) stepString(s Step) string  { return cronStepOf(s).String() }
func (cronJobKind) stepSortKey(s Step) string { return s.Action + "/" + s.Job }
func cronStepOf(s Step) CronStep              { return CronStep{Action: s.Action, Job: s.Job, Time: s.Time} }

// cronAsStep is a CronJob step as a Step (of a survey's divergence).
func cronAsStep(c CronStep) *Step {
	return &Step{Kind: KindCronJob, Action: c.Action, Job: c.Job, Time: c.Time}
}

// survey counts the recorded window of a CronJob as one rollout whose decisions are its
// recorded steps (Job creations and deletions): matched up to the first divergence. The
// schedule replay runs free over the window, so its verdict is also the free run's. A CronJob
// that created or deleted no Job at or after since has nothing to count.
func (cronJobKind) survey(h []Version, ns, name string, since time.Time) ([]RolloutComparison, error) {
	cs, err := ExtractCronScenario(ns, name, h)
	if err != nil {
		return nil, err
	}
	res, err := CompareCronJob(h, ns, name, nil)
	if err != nil {
		return nil, err
	}
	recent := false
	for _, s := range res.Recorded {
		recent = recent || since.IsZero() || !s.Time.Before(since)
	}
	if len(res.Recorded) == 0 || !recent {
		return nil, nil
	}
	rc := RolloutComparison{ID: "window", Start: cs.Start, Match: res.Match, Recorded: []Step{}, Simulated: []Step{},
		Decisions: []Decision{}, DecisionsMatched: len(res.Recorded), Inputs: []Input{}, FreeRun: &FreeRunComparison{Match: res.Match, Simulated: []Step{}}}
	for range res.Recorded {
		rc.Decisions = append(rc.Decisions, Decision{})
	}
	if !res.Match {
		rc.DecisionsMatched = min(res.Divergence-1, len(res.Recorded))
		dv := &Divergence{Step: res.Divergence, Reason: "the replayed schedule decision differs"}
		if i := res.Divergence - 1; i < len(res.Recorded) {
			dv.Recorded = cronAsStep(res.Recorded[i])
		}
		if i := res.Divergence - 1; i < len(res.Simulated) {
			dv.Simulated = cronAsStep(res.Simulated[i])
		}
		rc.Divergence, rc.FreeRun.Divergence = dv, dv
	}
	return []RolloutComparison{rc}, nil
}

// cronWakeDelay is how long after a scheduled time the controller wakes (nextScheduleDelta).
const cronWakeDelay = 100 * time.Millisecond

// cronStepTolerance is how far apart in time a simulated and a recorded CronJob step may be.
const cronStepTolerance = 2 * time.Second

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// cronSpec is a CronJob's spec as its controller reads it.
type cronSpec struct {
	Schedule          string
	TimeZone          string
	ConcurrencyPolicy string
	StartingDeadline  int64 // seconds; -1 when unset
	Suspend           bool
	SuccessfulLimit   int32
	FailedLimit       int32
}

func (s cronSpec) schedule() (cron.Schedule, *time.Location, error) {
	loc := time.UTC
	sched := s.Schedule
	if strings.HasPrefix(sched, "TZ=") || strings.HasPrefix(sched, "CRON_TZ=") {
		tz, rest, _ := strings.Cut(sched, " ")
		_, name, _ := strings.Cut(tz, "=")
		l, err := time.LoadLocation(name)
		if err != nil {
			return nil, nil, fmt.Errorf("schedule %q: time zone %q: %v", s.Schedule, name, err)
		}
		loc, sched = l, rest
	}
	if s.TimeZone != "" {
		l, err := time.LoadLocation(s.TimeZone)
		if err != nil {
			return nil, nil, fmt.Errorf("timeZone %q: %v", s.TimeZone, err)
		}
		loc = l
	}
	cs, err := cronParser.Parse(sched)
	if err != nil {
		return nil, nil, fmt.Errorf("schedule %q: %v: use five fields, e.g. \"*/5 * * * *\"", s.Schedule, err)
	}
	return cs, loc, nil
}

func parseCronSpec(obj []byte) (cronSpec, error) {
	var c batchv1.CronJob
	if err := json.Unmarshal(obj, &c); err != nil {
		return cronSpec{}, err
	}
	s := cronSpec{Schedule: c.Spec.Schedule, ConcurrencyPolicy: string(c.Spec.ConcurrencyPolicy), StartingDeadline: -1,
		SuccessfulLimit: deref32(c.Spec.SuccessfulJobsHistoryLimit, 3), FailedLimit: deref32(c.Spec.FailedJobsHistoryLimit, 1)}
	if s.ConcurrencyPolicy == "" {
		s.ConcurrencyPolicy = string(batchv1.AllowConcurrent)
	}
	if c.Spec.TimeZone != nil {
		s.TimeZone = *c.Spec.TimeZone
	}
	if c.Spec.StartingDeadlineSeconds != nil {
		s.StartingDeadline = *c.Spec.StartingDeadlineSeconds
	}
	s.Suspend = c.Spec.Suspend != nil && *c.Spec.Suspend
	return s, nil
}

// CronStep is one write of the CronJob controller: the creation or the deletion of the Job
// of a scheduled time.
type CronStep struct {
	Action    string    `json:"action"` // ActionCreate or ActionDelete
	Job       string    `json:"job"`
	Scheduled time.Time `json:"scheduled"`
	Time      time.Time `json:"time"`
}

func (s CronStep) String() string {
	return fmt.Sprintf("%s %s at %s", s.Action, s.Job, s.Time.UTC().Format(stepTimeFormat))
}

func (s CronStep) same(o CronStep) bool {
	return s.Action == o.Action && s.Scheduled.Equal(o.Scheduled) && absDur(s.Time.Sub(o.Time)) <= cronStepTolerance
}

// cronJobRecord is a recorded Job of the CronJob: the environment.
type cronJobRecord struct {
	name                         string
	scheduled                    time.Time
	created, finished, deleted   time.Time
	createSeq, finishSeq, delSeq uint64
	failed                       bool
}

// cronChange is a recorded change of the CronJob's spec.
type cronChange struct {
	t    time.Time
	spec cronSpec
}

// CronScenario is what the history holds of one CronJob.
type CronScenario struct {
	Namespace, Name, UID string
	Created              time.Time // its creationTimestamp
	Start, End           time.Time // first observation, end of the history or its deletion
	changes              []cronChange
	jobs                 []cronJobRecord
	recorded             []CronStep
}

// ExtractCronScenario extracts a CronJob's spec changes and Jobs from a history.
func ExtractCronScenario(namespace, name string, history []Version) (*CronScenario, error) {
	cs := &CronScenario{Namespace: namespace, Name: name}
	for _, v := range history {
		if v.Kind == KindCronJob && v.Namespace == namespace && v.Name == name && v.Type == Added {
			cs.UID = v.UID
		}
	}
	if cs.UID == "" {
		return nil, fmt.Errorf("%w: no CronJob %s in the history: check the namespace and the name", ErrWorkloadNotFound, qualified(namespace, name))
	}
	byUID := map[string]int{}
	history = boundObserved(history)
	for i := range history {
		v := &history[i]
		switch {
		case v.UID == cs.UID:
			if isDelete(v.Type) {
				cs.End = v.Observed
				continue
			}
			sp, err := parseCronSpec(v.Object)
			if err != nil {
				return nil, fmt.Errorf("replay: CronJob %s seq %d: %v", qualified(namespace, name), v.Seq, err)
			}
			if len(cs.changes) == 0 {
				cs.Start = v.Observed
				var m objMeta
				if decodeJSON(v.Object, &m) == nil && m.Metadata.CreationTimestamp != nil {
					cs.Created = m.Metadata.CreationTimestamp.UTC()
				}
			}
			if n := len(cs.changes); n == 0 || cs.changes[n-1].spec != sp {
				cs.changes = append(cs.changes, cronChange{t: v.Observed, spec: sp})
			}
		case v.Kind == "Job" && v.Namespace == namespace:
			var j batchv1.Job
			if json.Unmarshal(v.Object, &j) != nil {
				continue
			}
			k, known := byUID[v.UID]
			if !known {
				owned := false
				for _, o := range j.OwnerReferences {
					owned = owned || o.Controller != nil && *o.Controller && string(o.UID) == cs.UID
				}
				if !owned {
					continue
				}
				r := cronJobRecord{name: v.Name, created: v.Observed, createSeq: v.Seq}
				if ts, err := time.Parse(time.RFC3339, j.Annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"]); err == nil {
					r.scheduled = ts.UTC()
				} else if i := strings.LastIndex(v.Name, "-"); i > 0 {
					if m, err := strconv.ParseInt(v.Name[i+1:], 10, 64); err == nil {
						r.scheduled = time.Unix(m*60, 0).UTC()
					}
				}
				cs.jobs = append(cs.jobs, r)
				k = len(cs.jobs) - 1
				byUID[v.UID] = k
			}
			r := &cs.jobs[k]
			for _, c := range j.Status.Conditions {
				if r.finishSeq == 0 && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == "True" {
					r.finished, r.finishSeq, r.failed = v.Observed, v.Seq, c.Type == batchv1.JobFailed
				}
			}
			if r.delSeq == 0 && (isDelete(v.Type) || j.DeletionTimestamp != nil) {
				r.deleted, r.delSeq = v.Observed, v.Seq
			}
		}
	}
	if cs.End.IsZero() && len(history) > 0 {
		for i := range history {
			cs.End = maxTime(cs.End, history[i].Observed)
		}
	}
	type seqStep struct {
		seq uint64
		s   CronStep
	}
	var steps []seqStep
	for _, r := range cs.jobs {
		steps = append(steps, seqStep{r.createSeq, CronStep{ActionCreate, r.name, r.scheduled, r.created}})
		if r.delSeq != 0 && r.deleted.Before(cs.End) {
			steps = append(steps, seqStep{r.delSeq, CronStep{ActionDelete, r.name, r.scheduled, r.deleted}})
		}
	}
	slices.SortStableFunc(steps, func(a, b seqStep) int { return cmp.Compare(a.seq, b.seq) })
	for _, s := range steps {
		cs.recorded = append(cs.recorded, s.s)
	}
	if len(cs.changes) > 0 {
		if _, _, err := cs.changes[0].spec.schedule(); err != nil {
			return nil, fmt.Errorf("replay: CronJob %s: %v", qualified(namespace, name), err)
		}
	}
	return cs, nil
}

// cronJobSim is a Job of the simulated CronJob.
type cronJobSim struct {
	name               string
	scheduled, created time.Time
	ends               time.Time // when it finishes
	failed             bool
	finished, deleted  bool
	finishedAt         time.Time
}

// cronSim is one run of the CronJob controller over the recorded window.
type cronSim struct {
	*clock
	cs         *CronScenario
	spec       cronSpec
	set        func(*cronSpec)
	lastSched  time.Time
	jobs       []*cronJobSim
	steps      []CronStep
	typical    time.Duration
	lastFailed bool
	err        error
}

// SimulateCron replays the CronJob controller over the recorded window with the overrides
// set applies to every version of its spec (nil: as recorded) and returns its steps.
func (cs *CronScenario) simulate(set func(*cronSpec)) ([]CronStep, error) {
	if len(cs.changes) == 0 {
		return nil, nil
	}
	s := &cronSim{clock: newClock(cs.Start), cs: cs, set: set}
	var durs []time.Duration
	for _, r := range cs.jobs {
		if r.finishSeq != 0 {
			durs = append(durs, r.finished.Sub(r.created))
			s.lastFailed = r.failed
		}
	}
	s.typical = percentile(durs, 50)
	if len(durs) == 0 {
		s.typical = cs.End.Sub(cs.Start) + time.Hour // runs past the window
	}
	s.syncFn = func(controllerID, string) { s.sync() }
	for _, c := range cs.changes {
		s.at(c.t, func() {
			s.spec = c.spec
			if s.set != nil {
				s.set(&s.spec)
			}
			s.enqueueIn(ctrlCronJob, "", 0)
		})
	}
	s.at(cs.End, s.stop)
	s.run()
	return s.steps, s.err
}

const ctrlCronJob controllerID = "CronJob"

func (s *cronSim) active() []*cronJobSim {
	var out []*cronJobSim
	for _, j := range s.jobs {
		if !j.finished && !j.deleted {
			out = append(out, j)
		}
	}
	return out
}

func (s *cronSim) sync() {
	sched, loc, err := s.spec.schedule()
	if err != nil {
		s.err = err
		s.stop()
		return
	}
	s.cleanup()
	if s.spec.Suspend {
		return
	}
	now := s.now
	earliest := s.lastSched
	if earliest.IsZero() {
		earliest = s.cs.Created
		if earliest.IsZero() {
			earliest = metaTime(s.cs.Start)
		}
	}
	if s.spec.StartingDeadline >= 0 {
		if d := now.Add(-time.Duration(s.spec.StartingDeadline) * time.Second); d.After(earliest) {
			earliest = d
		}
	}
	// the most recent scheduled time in (earliest, now]
	var scheduled time.Time
	for t := sched.Next(earliest.In(loc)); !t.After(now); t = sched.Next(t) {
		scheduled = t.UTC()
	}
	next := sched.Next(now.In(loc)).UTC()
	s.at(next.Add(cronWakeDelay), func() { s.enqueueIn(ctrlCronJob, "", 0) })
	if scheduled.IsZero() {
		return
	}
	if s.spec.StartingDeadline >= 0 && scheduled.Add(time.Duration(s.spec.StartingDeadline)*time.Second).Before(now) {
		return // missed
	}
	name := fmt.Sprintf("%s-%d", s.cs.Name, scheduled.Unix()/60)
	for _, j := range s.jobs {
		if j.name == name {
			return
		}
	}
	active := s.active()
	switch s.spec.ConcurrencyPolicy {
	case string(batchv1.ForbidConcurrent):
		if len(active) > 0 {
			return
		}
	case string(batchv1.ReplaceConcurrent):
		for _, j := range active {
			j.deleted = true
			s.steps = append(s.steps, CronStep{ActionDelete, j.name, j.scheduled, now})
		}
	}
	j := &cronJobSim{name: name, scheduled: scheduled, created: now, failed: s.lastFailed}
	d := s.typical
	for _, r := range s.cs.jobs {
		if r.scheduled.Equal(scheduled) {
			if r.finishSeq != 0 {
				d, j.failed = r.finished.Sub(r.created), r.failed
			} else {
				d = s.cs.End.Sub(r.created) + time.Hour // still running when the history ended
			}
		}
	}
	j.ends = now.Add(d)
	s.jobs = append(s.jobs, j)
	s.lastSched = scheduled
	s.steps = append(s.steps, CronStep{ActionCreate, name, scheduled, now})
	s.at(j.ends, func() {
		if !j.deleted {
			j.finished, j.finishedAt = true, s.now
			s.enqueueIn(ctrlCronJob, "", 0)
		}
	})
}

// cleanup deletes the oldest finished Jobs beyond the history limits.
func (s *cronSim) cleanup() {
	for _, failed := range []bool{false, true} {
		limit := s.spec.SuccessfulLimit
		if failed {
			limit = s.spec.FailedLimit
		}
		var done []*cronJobSim
		for _, j := range s.jobs {
			if j.finished && !j.deleted && j.failed == failed {
				done = append(done, j)
			}
		}
		slices.SortStableFunc(done, func(a, b *cronJobSim) int { return a.finishedAt.Compare(b.finishedAt) })
		for i := 0; i < len(done)-int(limit); i++ {
			done[i].deleted = true
			s.steps = append(s.steps, CronStep{ActionDelete, done[i].name, done[i].scheduled, s.now})
		}
	}
}

// CronComparison is a CronJob's recorded schedule decisions beside the replayed ones.
type CronComparison struct {
	CronJob   string     `json:"cronJob"`
	Set       []string   `json:"set,omitempty"`
	Match     bool       `json:"match"`
	Recorded  []CronStep `json:"recorded"`
	Simulated []CronStep `json:"simulated"`
	// Divergence is the 1-based position of the first differing step; 0 when they match.
	Divergence int `json:"divergence,omitempty"`
}

// CompareCronJob replays a CronJob's schedule decisions over the recorded window, with the
// overrides set (PATH=VALUE: spec.concurrencyPolicy, spec.startingDeadlineSeconds,
// spec.schedule, spec.timeZone, spec.suspend; none to compare with the recording).
func CompareCronJob(h []Version, ns, name string, set []string) (*CronComparison, error) {
	apply, err := parseCronOverrides(set)
	if err != nil {
		return nil, err
	}
	cs, err := ExtractCronScenario(ns, name, h)
	if err != nil {
		return nil, err
	}
	sim, err := cs.simulate(apply)
	if err != nil {
		return nil, err
	}
	res := &CronComparison{CronJob: "cronjob/" + name, Set: set, Recorded: cs.recorded, Simulated: sim, Match: true}
	if res.Recorded == nil {
		res.Recorded = []CronStep{}
	}
	if res.Simulated == nil {
		res.Simulated = []CronStep{}
	}
	for i := 0; i < max(len(sim), len(cs.recorded)); i++ {
		k := cronBurstMatch(cs.recorded, sim, i)
		if !k {
			res.Match, res.Divergence = false, i+1
			break
		}
	}
	return res, nil
}

// cronBurstMatch compares the steps at position i, deletions and the creation of one sync
// being a set: a recorded step matches a simulated one at a nearby position of the same time.
func cronBurstMatch(rec, sim []CronStep, i int) bool {
	if i >= len(rec) || i >= len(sim) {
		return false
	}
	if rec[i].same(sim[i]) {
		return true
	}
	for j := max(i-2, 0); j < min(i+3, len(sim)); j++ {
		if rec[i].same(sim[j]) && sim[j].Time.Equal(sim[i].Time) {
			return true
		}
	}
	return false
}

// CheckCronWhatIf checks a CronJob what-if's --set values before any history is read.
func CheckCronWhatIf(set []string) error {
	_, err := parseCronOverrides(set)
	return err
}

// parseCronOverrides parses --set for a CronJob.
func parseCronOverrides(set []string) (func(*cronSpec), error) {
	var fns []func(*cronSpec)
	for _, kv := range set {
		path, value, ok := strings.Cut(kv, "=")
		path, value = strings.TrimSpace(path), strings.TrimSpace(value)
		if !ok || path == "" || value == "" {
			return nil, overrideErr("--set %q: use PATH=VALUE, e.g. spec.concurrencyPolicy=Forbid", kv)
		}
		if !strings.HasPrefix(path, "spec.") {
			path = "spec." + path
		}
		switch path {
		case "spec.concurrencyPolicy":
			var v string
			for _, p := range []string{"Allow", "Forbid", "Replace"} {
				if strings.EqualFold(p, value) {
					v = p
				}
			}
			if v == "" {
				return nil, overrideErr("--set %s=%s: use Allow, Forbid or Replace", path, value)
			}
			fns = append(fns, func(s *cronSpec) { s.ConcurrencyPolicy = v })
		case "spec.startingDeadlineSeconds":
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || n < 0 {
				return nil, overrideErr("--set %s=%s: use a whole number of seconds (30)", path, value)
			}
			fns = append(fns, func(s *cronSpec) { s.StartingDeadline = n })
		case "spec.schedule":
			if _, _, err := (cronSpec{Schedule: value}).schedule(); err != nil {
				return nil, overrideErr("--set %s=%s: %v", path, value, err)
			}
			fns = append(fns, func(s *cronSpec) { s.Schedule = value })
		case "spec.timeZone":
			if _, err := time.LoadLocation(value); err != nil {
				return nil, overrideErr("--set %s=%s: not a time zone: use an IANA name (Europe/Paris)", path, value)
			}
			fns = append(fns, func(s *cronSpec) { s.TimeZone = value })
		case "spec.suspend":
			b, err := strconv.ParseBool(value)
			if err != nil {
				return nil, overrideErr("--set %s=%s: use true or false", path, value)
			}
			fns = append(fns, func(s *cronSpec) { s.Suspend = b })
		default:
			return nil, overrideErr("--set %s: not a field replay can change for a CronJob: use one of spec.concurrencyPolicy, spec.startingDeadlineSeconds, spec.schedule, spec.timeZone, spec.suspend", path)
		}
	}
	if len(fns) == 0 {
		return nil, nil
	}
	return func(s *cronSpec) {
		for _, f := range fns {
			f(s)
		}
	}, nil
}

// WriteTable writes the comparison as text: the verdict, then the recorded and the replayed
// steps side by side.
func (c *CronComparison) WriteTable(w io.Writer) error {
	verdict := "MATCH"
	if !c.Match {
		verdict = fmt.Sprintf("DIVERGES at step %d", c.Divergence)
	}
	what, col := "replay", "REPLAY"
	if len(c.Set) > 0 {
		what, col = "what-if ("+strings.Join(c.Set, ", ")+")", "WHAT-IF"
		if !c.Match {
			verdict = fmt.Sprintf("differs from the recording from step %d", c.Divergence)
		}
	}
	if _, err := fmt.Fprintf(w, "%s: %s (%d recorded steps, %d in the %s)\n", c.CronJob, verdict, len(c.Recorded), len(c.Simulated), what); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintf(tw, "  #\tRECORDED\t%s\n", col)
	for i := 0; i < max(len(c.Recorded), len(c.Simulated)); i++ {
		r, s := "-", "-"
		if i < len(c.Recorded) {
			r = c.Recorded[i].String()
		}
		if i < len(c.Simulated) {
			s = c.Simulated[i].String()
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\n", i+1, r, s)
	}
	return tw.Flush()
}
