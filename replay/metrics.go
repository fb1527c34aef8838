package replay

import (
	"cmp"
	"encoding/json"
	"slices"
	"time"
)

// Rollout metrics are computed the same way for recorded and simulated rollouts, from the
// lives of the workload's pods: when each was created, became Ready, was asked to terminate and
// was removed.

type lifeline struct {
	rev                           string // template key
	created, ready, deleted, gone time.Time
	readyLTT                      time.Time // the Ready condition's transition time, as stored
}

// availableAt is when the pod became available as upstream's IsPodAvailable sees it: at once
// without minReadySeconds, else strictly after its stored Ready transition time (one-second
// resolution) plus minReadySeconds.
func (l *lifeline) availableAt(minReady time.Duration) time.Time {
	if minReady == 0 || l.readyLTT.IsZero() {
		return l.ready.Add(minReady)
	}
	return maxTime(l.ready, l.readyLTT.Add(minReady+time.Nanosecond))
}

type timeline struct {
	points      []AvailabilityPoint
	completed   bool
	completedAt time.Time
}

type tlEvent struct {
	t                                   time.Time
	i                                   int // position before sorting: keeps the sort stable
	pods, active, updated, avail, setTo int
	desired                             bool
}

// buildTimeline sweeps the lifelines and returns the state of the workload at each change
// between from and to, and when it first completed: as many updated pods as desired, no
// other active pod, all of them available (see lifeline.availableAt).
//
// partition is the number of pods a partitioned StatefulSet rolling update leaves at the old
// revision on purpose: such a rollout completes with Desired-partition updated pods.
func buildTimeline(lines []lifeline, target string, desired []desiredPoint, minReady time.Duration, partition int, from, to time.Time) *timeline {
	evs := make([]tlEvent, 0, 4*len(lines)+len(desired))
	for _, l := range lines {
		up := 0
		if l.rev == target {
			up = 1
		}
		evs = append(evs, tlEvent{t: l.created, pods: 1, active: 1, updated: up})
		if !l.ready.IsZero() {
			a := l.availableAt(minReady)
			if l.deleted.IsZero() || a.Before(l.deleted) {
				evs = append(evs, tlEvent{t: a, avail: 1})
				if !l.deleted.IsZero() {
					evs = append(evs, tlEvent{t: l.deleted, avail: -1})
				}
			}
		}
		if !l.deleted.IsZero() {
			evs = append(evs, tlEvent{t: l.deleted, active: -1, updated: -up})
		}
		if !l.gone.IsZero() {
			evs = append(evs, tlEvent{t: l.gone, pods: -1})
		}
	}
	for _, d := range desired {
		evs = append(evs, tlEvent{t: d.t, desired: true, setTo: d.n})
	}
	for i := range evs {
		evs[i].i = i
	}
	slices.SortFunc(evs, func(a, b tlEvent) int {
		if c := a.t.Compare(b.t); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})

	tl := &timeline{}
	var cur AvailabilityPoint
	active := 0
	emit := func(t time.Time) {
		p := cur
		p.Time = t
		p.Terminating = p.Pods - active
		if n := len(tl.points); n > 0 {
			q := tl.points[n-1]
			q.Time = t
			if q == p {
				return
			}
		}
		tl.points = append(tl.points, p)
		if !tl.completed && p.Updated >= max(p.Desired-partition, 0) && active == p.Desired && p.Available == p.Desired {
			tl.completed, tl.completedAt = true, t
		}
	}
	started := false
	for i := 0; i < len(evs); {
		t := evs[i].t
		if t.After(to) {
			break
		}
		if !started && t.After(from) {
			emit(from)
			started = true
		}
		for ; i < len(evs) && evs[i].t.Equal(t); i++ {
			e := evs[i]
			cur.Pods += e.pods
			active += e.active
			cur.Updated += e.updated
			cur.Available += e.avail
			if e.desired {
				cur.Desired = e.setTo
			}
		}
		if !started && t.Equal(from) {
			started = true
		}
		if started {
			emit(t)
		}
	}
	if !started {
		emit(from)
	}
	return tl
}

// summary computes the metrics between from and the completion (or to).
func (tl *timeline) summary(from, to time.Time) RolloutSummary {
	end := to
	if tl.completed {
		end = tl.completedAt
	}
	s := RolloutSummary{Duration: Duration(end.Sub(from)), LowestAvailable: -1, LowestAvailableShare: 1}
	for _, p := range tl.points {
		if p.Time.After(end) {
			break
		}
		if s.LowestAvailable < 0 || p.Available < s.LowestAvailable {
			s.LowestAvailable = p.Available
			if p.Desired > 0 {
				s.LowestAvailableShare = float64(p.Available) / float64(p.Desired)
			}
		}
		s.PeakPods = max(s.PeakPods, p.Pods-p.Terminating)
		s.PeakWithTerminating = max(s.PeakWithTerminating, p.Pods)
	}
	if s.LowestAvailable < 0 {
		s.LowestAvailable = 0
	}
	return s
}

// recordedSummary measures a recorded rollout.
func recordedSummary(scn *Scenario, ro *Rollout) RolloutSummary {
	x := scn.x
	tl := recordedTimeline(scn, ro)
	s := tl.summary(ro.Start, ro.End)
	s.Steps = len(ro.Recorded)
	switch {
	case tl.completed:
		s.Outcome = OutcomeComplete
	case deadlineExceeded(x, ro):
		s.Outcome = OutcomeDeadlineExceeded
	case ro.Index < len(scn.Rollouts):
		s.Outcome = OutcomeSuperseded
		if next := scn.Rollouts[ro.Index]; next.Revision == ro.Previous && ro.Previous != "" {
			s.Outcome = OutcomeRolledBack
		}
	default:
		s.Outcome = OutcomeInProgress
	}
	if f, ok := kindOf(scn.Kind).(finisher); ok {
		s.Run = recordedRun(scn, ro)
		s.Outcome, s.Duration = OutcomeInProgress, Duration(ro.End.Sub(ro.Start))
		for _, wv := range x.workload {
			if wv.seq < ro.Seq || wv.seq >= ro.EndSeq || isDelete(wv.typ) {
				continue
			}
			if outcome, _, done := f.finished(wv.w.status); done {
				s.Outcome, s.Duration = outcome, Duration(wv.t.Sub(ro.Start))
				break
			}
		}
	}
	return s
}

// RecordedAvailability is a recorded rollout's pods over time and the bounds its strategy set.
type RecordedAvailability struct {
	Rollout    string              `json:"rollout"` // its ID, as Rollout takes it
	Start, End time.Time           `json:"-"`
	Points     []AvailabilityPoint `json:"availability"`
	// MaxSurge and MaxUnavailable are a Deployment's rolling update bounds at the start of the
	// rollout, resolved against its replicas (0 for other kinds and Recreate).
	MaxSurge       int32 `json:"maxSurge"`
	MaxUnavailable int32 `json:"maxUnavailable"`
}

// RecordedAvailability returns the availability over time of a recorded rollout (id as Rollout
// takes it), measured as the summaries measure it.
func (s *Scenario) RecordedAvailability(id string) (*RecordedAvailability, error) {
	if s.x == nil {
		return nil, ErrNotExtracted
	}
	ro, err := s.Rollout(id)
	if err != nil {
		return nil, err
	}
	ra := &RecordedAvailability{Rollout: ro.ID, Start: ro.Start, End: ro.End, Points: recordedTimeline(s, ro).points}
	if s.Kind == KindDeployment {
		for _, wv := range s.x.workload {
			if wv.seq == ro.Seq && !isDelete(wv.typ) {
				ra.MaxSurge, ra.MaxUnavailable = fenceposts(&wv.w.spec)
			}
		}
	}
	return ra, nil
}

// recordedTimeline is the availability timeline of a recorded rollout.
func recordedTimeline(scn *Scenario, ro *Rollout) *timeline {
	x := scn.x
	wk := kindOf(scn.Kind)
	var lines []lifeline
	for i := range scn.Pods {
		p := &scn.Pods[i]
		if p.createSeq >= ro.EndSeq || (p.goneSeq != 0 && p.goneSeq < ro.Seq) {
			continue
		}
		l := lifeline{rev: p.revKey, created: p.Created, ready: p.Ready, readyLTT: p.readyLTT}
		if p.delSeq != 0 {
			l.deleted = p.DeleteRequested
		}
		if p.goneSeq != 0 {
			l.gone = p.Gone
		}
		lines = append(lines, l)
	}
	target := ro.template
	var minReady int32
	var desired []desiredPoint
	nodesAt := func(seq uint64) []*node {
		var out []*node
		for _, name := range x.nodeOrder {
			var cur *nodeVer
			for i, v := range x.nodes[name] {
				if v.seq <= seq {
					cur = &x.nodes[name][i]
				}
			}
			if cur != nil && !cur.deleted {
				out = append(out, cur.n)
			}
		}
		return out
	}
	addDesired := func(t time.Time, w *workloadObj, seq uint64) {
		n := wk.wants(&w.spec, w.tmpl, func() []*node { return nodesAt(seq) })
		if k := len(desired); k > 0 && desired[k-1].n == n {
			return
		}
		desired = append(desired, desiredPoint{t, n})
	}
	var last *workloadObj
	partition := 0
	for _, wv := range x.workload {
		if wv.seq >= ro.EndSeq {
			break
		}
		if isDelete(wv.typ) {
			continue
		}
		last = wv.w
		partition = wk.keepsOld(&wv.w.spec)
		if wv.seq == ro.Seq {
			minReady = wv.w.spec.MinReadySeconds
		}
		if wv.seq >= ro.Seq {
			addDesired(wv.t, wv.w, wv.seq)
		}
	}
	if wk.readsNodes() && last != nil {
		for _, name := range x.nodeOrder {
			for _, v := range x.nodes[name] {
				if v.seq > ro.Seq && v.seq < ro.EndSeq {
					addDesired(v.t, last, v.seq)
				}
			}
		}
		slices.SortStableFunc(desired, func(a, b desiredPoint) int { return a.t.Compare(b.t) })
	}
	return buildTimeline(lines, target, desired, time.Duration(minReady)*time.Second, partition, ro.Start, ro.End)
}

// deadlineExceeded reports whether the recorded Deployment reported ProgressDeadlineExceeded
// during the rollout.
func deadlineExceeded(x *extraction, ro *Rollout) bool {
	for _, wv := range x.workload {
		if wv.seq < ro.Seq || wv.seq >= ro.EndSeq || isDelete(wv.typ) {
			continue
		}
		if c := wv.w.status.Progressing; c != nil && c.Reason == reasonTimedOut {
			return true
		}
	}
	return false
}

// RunSummary is what a run of a workload that ends (a Job) did, beside its duration and
// outcome.
type RunSummary struct {
	PodsCreated int `json:"podsCreated"`
	Failures    int `json:"failures"` // pods that ended Failed
}

// rolloutSummaryJSON is RolloutSummary's serialized shape without Run.
type rolloutSummaryJSON RolloutSummary

// runSummaryJSON is the serialized shape of a run's summary.
type runSummaryJSON struct {
	Duration    Duration `json:"duration"`
	PodsCreated int      `json:"podsCreated"`
	Failures    int      `json:"failures"`
	Steps       int      `json:"steps"`
	Outcome     string   `json:"outcome"`
}

// MarshalJSON writes a run's shape when Run is set, else the rollout's.
func (s RolloutSummary) MarshalJSON() ([]byte, error) {
	if s.Run != nil {
		return json.Marshal(runSummaryJSON{s.Duration, s.Run.PodsCreated, s.Run.Failures, s.Steps, s.Outcome})
	}
	return json.Marshal(rolloutSummaryJSON(s))
}

// UnmarshalJSON reads either shape MarshalJSON writes.
func (s *RolloutSummary) UnmarshalJSON(b []byte) error {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return err
	}
	if _, ok := probe["podsCreated"]; ok {
		var r runSummaryJSON
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		*s = RolloutSummary{Duration: r.Duration, Steps: r.Steps, Outcome: r.Outcome, Run: &RunSummary{PodsCreated: r.PodsCreated, Failures: r.Failures}}
		return nil
	}
	return json.Unmarshal(b, (*rolloutSummaryJSON)(s))
}

// recordedRun is what a recorded run did: the pods its controller created and those that
// failed during it.
func recordedRun(scn *Scenario, ro *Rollout) *RunSummary {
	r := &RunSummary{}
	for _, st := range ro.Recorded {
		if st.Action == ActionCreate {
			r.PodsCreated++
		}
	}
	for i := range scn.Pods {
		p := &scn.Pods[i]
		if p.Phase == phaseFailed && p.finishSeq >= ro.Seq && (ro.EndSeq == 0 || p.finishSeq < ro.EndSeq) {
			r.Failures++
		}
	}
	return r
}
