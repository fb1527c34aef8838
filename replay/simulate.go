package replay

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SimOptions selects what Simulate replays and how. The zero value replays the last rollout
// of the scenario in the recorded environment (EnvAsRecorded) with the recorded settings.
type SimOptions struct {
	// RolloutID selects the rollout (see Scenario.Rollout); "" means the last one.
	RolloutID string
	// Environment selects how pods behave; EnvAsRecorded by default.
	Environment Environment
	// Set overrides fields of the workload's spec, as PATH=VALUE (see WhatIf). They apply to
	// the workload's state before the rollout and to every change during it.
	Set []string
	// ReadyLatency is how long new pods take to become Ready under EnvLatency: "recorded"
	// (default: each pod takes what its counterpart took), "p50", "p90", "max" (that
	// percentile of the recorded latencies of the pod's revision) or a duration. Pods that
	// never became Ready stay unready in every case.
	ReadyLatency string
	// InstantControllers makes the controllers act at once on every change, as on a quiet
	// control plane, even where the recording shows them late (see latencyModel).
	InstantControllers bool
}

// SimResult is the outcome of one simulated rollout.
type SimResult struct {
	Workload string    `json:"workload"`
	Rollout  string    `json:"rollout"`
	Start    time.Time `json:"start"`
	// Steps are the controller's steps, in the order it took them.
	Steps []Step `json:"steps"`
	// Availability has a point each time the number of pods or of available pods changed.
	Availability []AvailabilityPoint `json:"availability"`
	Completed    bool                `json:"completed"`
	CompletedAt  time.Time           `json:"completedAt"`
	Summary      RolloutSummary      `json:"summary"`
	// Claims are the PersistentVolumeClaims the StatefulSet controller created.
	Claims []string `json:"claims,omitempty"`
	// Events is how many events the simulation processed.
	Events int `json:"events"`
}

// AvailabilityPoint is the state of the workload's pods from Time on.
type AvailabilityPoint struct {
	Time        time.Time `json:"time"`
	Pods        int       `json:"pods"`        // existing pods, terminating ones included
	Terminating int       `json:"terminating"` // pods asked to terminate, not yet removed
	Available   int       `json:"available"`   // not terminating, Ready for minReadySeconds
	Updated     int       `json:"updated"`     // not terminating, of the revision rolled out
	Desired     int       `json:"desired"`
}

// RolloutSummary is what a rollout did, in numbers.
type RolloutSummary struct {
	// Duration is from the start of the rollout to its completion (all pods of the new
	// revision, as many as desired, available, none of an older one), or to the end of the
	// observation when it did not complete.
	Duration             Duration `json:"duration"`
	LowestAvailable      int      `json:"lowestAvailable"`
	LowestAvailableShare float64  `json:"lowestAvailableShare"` // of the desired replicas
	// PeakPods is the most pods at once that were not terminating: what maxSurge bounds and
	// what a workload's status.replicas counts (as khist rollouts reports it).
	PeakPods int `json:"peakPods"`
	// PeakWithTerminating also counts the pods asked to terminate and not yet gone, which
	// still hold their node's resources.
	PeakWithTerminating int `json:"peakPodsWithTerminating"`
	Steps               int `json:"steps"`
	// Outcome is one of: complete, progress deadline exceeded, rolled back, superseded,
	// in progress (the history ended first), stalled (the simulation could not progress any
	// more), incomplete (the recorded window ended first); for a Job, complete or
	// "failed: REASON".
	Outcome string `json:"outcome"`
	// Run is set for the runs of the kinds whose workloads end (Jobs): what the run did. Its
	// serialized shape then replaces the availability figures, which mean little for them:
	// {"duration","podsCreated","failures","steps","outcome"}.
	Run *RunSummary `json:"-"`
}

// Outcomes.
const (
	OutcomeComplete         = "complete"
	OutcomeDeadlineExceeded = "progress deadline exceeded"
	OutcomeRolledBack       = "rolled back"
	OutcomeSuperseded       = "superseded"
	OutcomeInProgress       = "in progress"
	OutcomeStalled          = "stalled"
	OutcomeIncomplete       = "incomplete"
)

// Duration is a time.Duration that serializes as a string such as "8.4s".
type Duration time.Duration

// MarshalJSON writes the duration as time.Duration's String, rounded to the millisecond.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).Round(time.Millisecond).String() + `"`), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (d *Duration) UnmarshalJSON(b []byte) error {
	v, err := time.ParseDuration(strings.Trim(string(b), `"`))
	*d = Duration(v)
	return err
}

// ErrNotExtracted is returned by Simulate for a Scenario not made by ExtractScenario.
var ErrNotExtracted = errors.New("replay: scenario not extracted: use ExtractScenario")

// Simulate replays one rollout of a scenario with the simulated controllers and returns the
// steps they took, availability over time and the completion time. It is deterministic: the
// same scenario and options always give the same result.
func Simulate(scn Scenario, opts SimOptions) (*SimResult, error) {
	if scn.x == nil {
		return nil, ErrNotExtracted
	}
	ro, err := scn.Rollout(opts.RolloutID)
	if err != nil {
		return nil, err
	}
	lat, err := parseReadyLatency(opts.ReadyLatency)
	if err != nil {
		return nil, err
	}
	ov, err := parseOverrides(scn.Kind, opts.Set)
	if err != nil {
		return nil, err
	}
	s := &simulation{clock: newClock(ro.Start), scn: &scn, ro: ro, mode: opts.Environment, ov: ov}
	if !opts.InstantControllers {
		s.lat = scn.x.lat.fresh()
	}
	s.env = newEnvironment(&scn, ro, opts.Environment, lat)
	s.st = &store{pvcs: map[string]bool{}, onNode: map[string]int{}, activeOn: map[string]int{}, notify: s.onChange}
	s.startControllers()
	s.syncFn = s.dispatch
	if err := s.init(); err != nil {
		return nil, err
	}
	s.run()
	return s.result(), nil
}

type simulation struct {
	*clock
	scn  *Scenario
	ro   *Rollout
	mode Environment
	env  *environment
	ov   *overrides
	st   *store

	// wk is the workload's kind; ctrls its controllers, by workqueue (see workloadKind).
	wk    workloadKind
	ctrls map[controllerID]controller

	steps         []Step
	batchID       int
	curBatch      int
	uidSeq        int
	nodePref      map[string]int // DaemonSet: nodes by first recorded step (see preferred)
	nodeCreated   map[string]int // and by first recorded creation
	deadlineAt    time.Time
	claimsCreated []string
	desired       []desiredPoint
	// spec changes waiting for the Deployment controller's next sync, in log order
	afterDeploymentSync []*SpecChange
	// snapshot: init builds the state before the rollout's Seq and schedules nothing (the
	// decision audit runs one sync on it)
	snapshot bool
}

type desiredPoint struct {
	t time.Time
	n int
}

// startControllers binds the workload kind's controllers to the simulation.
func (s *simulation) startControllers() {
	s.wk = kindOf(s.scn.Kind)
	s.ctrls = s.wk.start(s)
}

// dispatch runs the sync of a controller the workqueue hands a key to.
func (s *simulation) dispatch(c controllerID, key string) {
	if ctrl := s.ctrls[c]; ctrl != nil {
		ctrl.sync(key)
	}
}

// onChange is the informers: it enqueues the controllers that watch the changed object.
func (s *simulation) onChange(c change) { s.wk.onChange(s, c) }

// replicaSetReaction is how long the ReplicaSet controller takes to act on a change of rs's
// spec. On a busy control plane it is late (see latencyModel); while the simulation takes the
// recorded steps in the recorded world, it acts on the scale the simulation just made when the
// recorded one acted on the same recorded scale: the ReplicaSet controller is the environment
// of the Deployment controller under test, as the kubelets are.
func (s *simulation) replicaSetReaction(rs *simRS) time.Duration {
	if n := len(s.steps); n > 0 && s.env.followsRecording() && n <= len(s.ro.Recorded) && s.steps[n-1].ReplicaSet == rs.name {
		if t, ok := s.lat.reaction(s.ro.Recorded[n-1]); ok {
			s.lat.delay(ctrlReplicaSet) // keeps the cycle where it would be
			return max(t.Sub(s.now), 0)
		}
	}
	return s.lat.delay(ctrlReplicaSet)
}

func (s *simulation) revisionName(key string) string { return revisionName(s.scn, key) }

func (s *simulation) step(st Step) {
	st.Time = s.now
	st.batch = s.curBatch
	s.env.observeStep(len(s.steps), st)
	s.steps = append(s.steps, st)
}

// newBatch starts a group of concurrent steps; endBatch closes it.
func (s *simulation) newBatch() {
	s.batchID++
	s.curBatch = s.batchID
}

func (s *simulation) endBatch() { s.curBatch = 0 }

// podSpec is what a controller asks for when it creates a pod.
type podSpec struct {
	owner           *simRS
	revKey, revName string
	ordinal         int
	node            string // DaemonSet: the node the pod is for
	name            string // StatefulSet: the pod's name
	index           string // Job: the completion index of an Indexed Job's pod
}

// createPod creates a pod, as the API server and the scheduler would, and plans what the
// environment will do to it.
func (s *simulation) createPod(ps podSpec) *simPod {
	p := &simPod{owner: ps.owner, revKey: ps.revKey, revName: ps.revName, ordinal: ps.ordinal, node: ps.node, name: ps.name,
		index: ps.index, created: s.now, creationTS: metaTime(s.now), phase: "Pending"}
	r := s.env.counterpart(ps)
	p.rec = r
	if r != nil {
		if p.name == "" {
			p.name = r.Name
		}
		p.uid = r.UID
		if p.node == "" && r.Node != "" && s.st.nodeByName(r.Node) != nil {
			p.node = r.Node
		}
	}
	s.uidSeq++
	if p.uid == "" {
		p.uid = fmt.Sprintf("sim-%08d", s.uidSeq)
	}
	if p.name == "" {
		prefix := s.scn.Name
		if ps.owner != nil {
			prefix = ps.owner.name
		}
		p.name = fmt.Sprintf("%s-sim%05d", prefix, s.uidSeq)
	}
	if p.node == "" {
		p.node = s.pickNode()
	}
	pl := s.env.plan(ps.revKey, r, s.now)
	s.st.addPod(p)
	if s.podWritesAreSteps() {
		s.step(Step{Kind: s.scn.Kind, Pod: p.name, Action: ActionCreate, Revision: p.revName, Node: p.node, Index: p.index})
	}
	s.schedulePlan(p, pl)
	return p
}

// podWritesAreSteps reports whether the controller's pod creations and deletions are its steps:
// they are unless its kind records steps of its own (see stepRecorder).
func (s *simulation) podWritesAreSteps() bool {
	_, own := s.wk.(stepRecorder)
	return !own
}

// pickNode is the scheduler: the node with the fewest of the workload's pods, by name on ties.
func (s *simulation) pickNode() string {
	best, bestN := "", -1
	for _, n := range s.st.nodes {
		if n.Unschedulable {
			continue
		}
		if c := s.st.onNode[n.Name]; bestN < 0 || c < bestN {
			best, bestN = n.Name, c
		}
	}
	return best
}

// schedulePlan turns a pod's plan into events.
func (s *simulation) schedulePlan(p *simPod, pl podPlan) {
	var last time.Time
	for _, t := range []time.Time{pl.scheduled, pl.running, pl.ready, pl.finish} {
		if !t.IsZero() && !t.Equal(last) {
			s.at(t, func() { s.applyPlan(p, pl) })
			last = t
		}
	}
	if !pl.externalDelete.IsZero() {
		s.at(pl.externalDelete, func() { s.deletePod(p, false) })
	}
}

// applyPlan makes the transitions of a pod's plan that are due.
func (s *simulation) applyPlan(p *simPod, pl podPlan) {
	if p.gone {
		return
	}
	changed, became := false, false
	if !pl.scheduled.IsZero() && !p.scheduled && !s.now.Before(pl.scheduled) {
		s.st.setScheduled(p)
		changed = true
	}
	if !pl.running.IsZero() && p.phase == "Pending" && !s.now.Before(pl.running) {
		p.phase, changed = "Running", true
	}
	if !pl.ready.IsZero() && !p.ready && !s.now.Before(pl.ready) {
		s.st.setReady(p, s.now)
		changed, became = true, true
	}
	if !pl.finish.IsZero() && !p.finished() && !s.now.Before(pl.finish) {
		p.phase, p.exitCode, p.finishedAt, changed = pl.finishPhase, pl.exitCode, metaTime(s.now), true
	}
	if changed {
		s.st.podChanged(p, became)
	}
}

// deletePod asks for a pod's deletion; the environment removes it later.
func (s *simulation) deletePod(p *simPod, byController bool) {
	if p.deleting || p.gone {
		return
	}
	s.st.setDeleting(p, s.now)
	if byController && s.podWritesAreSteps() {
		s.step(Step{Kind: s.scn.Kind, Pod: p.name, Action: ActionDelete, Revision: p.revName, Node: p.node, Index: p.index})
	}
	s.st.podChanged(p, false)
	gone := s.env.goneAt(p, s.now)
	s.at(gone, func() { s.st.removePod(p, s.now) })
}

// envEvent is an event of the recorded world, scheduled in log order.
type envEvent struct {
	seq uint64
	t   time.Time
	fn  func()
}

// init builds the world as it was just before the rollout started and schedules what the
// recorded world did during it.
func (s *simulation) init() error {
	x, ro := s.scn.x, s.ro
	S := ro.Seq
	var evs []envEvent

	// Nodes.
	for _, name := range x.nodeOrder {
		var cur *nodeVer
		for i, v := range x.nodes[name] {
			if v.seq >= S {
				if v.seq < ro.EndSeq {
					v := v
					evs = append(evs, envEvent{v.seq, v.t, func() { s.nodeChange(name, v) }})
				}
				continue
			}
			cur = &x.nodes[name][i]
		}
		if cur != nil && !cur.deleted {
			s.st.nodes = append(s.st.nodes, cur.n)
		}
	}
	slices.SortFunc(s.st.nodes, func(a, b *node) int { return cmp.Compare(a.Name, b.Name) })

	// The workload.
	if w := workloadAt(x, S); w != nil {
		sp := w.spec
		if err := s.ov.apply(&sp); err != nil {
			return err
		}
		d := &simWorkload{name: s.scn.Name, uid: s.scn.UID, generation: w.meta.Metadata.Generation, spec: sp, tmpl: w.tmpl, status: w.status}
		if c := w.status.Progressing; c != nil {
			cc := *c // the scenario is shared: never write into it
			d.status.Progressing = &cc
		}
		d.revision, _ = strconv.ParseInt(w.meta.Metadata.Annotations[annRevision], 10, 64)
		s.st.w = d
	}

	// ReplicaSets.
	for _, t := range x.rs {
		var cur *rsVer
		if i := sort.Search(len(t.vers), func(i int) bool { return t.vers[i].seq >= S }); i > 0 {
			cur = &t.vers[i-1]
		}
		if cur == nil || cur.deleted {
			continue
		}
		o := cur.o
		rs := &simRS{name: t.name, uid: t.uid, revKey: t.template, creationTS: t.created, replicas: o.replicas,
			minReadySeconds: o.minReadySeconds, generation: o.meta.Metadata.Generation, status: o.status}
		a := o.meta.Metadata.Annotations
		rs.revision, _ = strconv.ParseInt(a[annRevision], 10, 64)
		rs.desired, rs.hasDesired = annotationInt32(a, annDesiredReplicas)
		rs.max, rs.hasMax = annotationInt32(a, annMaxReplicas)
		s.st.rss = append(s.st.rss, rs)
	}

	// Controller revisions and claims.
	if !viaReplicaSets(s.scn.Kind) {
		s.initRevisions(S)
		for name, seq := range x.pvcs {
			if seq < S {
				s.st.pvcs[name] = true
			}
		}
	}

	// Pods.
	for i := range s.scn.Pods {
		r := &s.scn.Pods[i]
		if r.createSeq >= S || (r.goneSeq != 0 && r.goneSeq < S) {
			continue
		}
		p := &simPod{name: r.Name, uid: r.UID, revKey: r.revKey, revName: r.Revision, ordinal: r.Ordinal, node: r.Node,
			created: r.Created, creationTS: r.createdTS(), phase: "Pending", rec: r}
		if viaReplicaSets(s.scn.Kind) {
			if p.owner = s.st.rsByName(r.Revision); p.owner == nil {
				continue
			}
		}
		p.scheduled = r.scheduledSeq != 0 && r.scheduledSeq < S
		if r.runningSeq != 0 && r.runningSeq < S {
			p.phase = "Running"
		}
		if r.readySeq != 0 && r.readySeq < S {
			p.ready, p.readyAt, p.readyLTT, p.phase = true, r.Ready, r.readyLTT, "Running"
		}
		if r.finishSeq != 0 && r.finishSeq < S {
			p.phase, p.exitCode, p.finishedAt = r.Phase, r.ExitCode, r.finishedAt
		}
		p.index = r.Index
		if r.delSeq != 0 && r.delSeq < S {
			p.deleting, p.deletedAt = true, r.DeleteRequested
		}
		s.st.insertPod(p)
		if byOrdinal(s.scn.Kind) && len(x.pvcs) == 0 && s.st.w != nil {
			for _, c := range s.st.w.spec.Claims {
				s.st.pvcs[fmt.Sprintf("%s-%s-%d", c, s.scn.Name, r.Ordinal)] = true
			}
		}
		if !s.snapshot {
			evs = append(evs, s.initialPodFuture(p, r)...)
		}
	}
	if err := s.ov.resizeInitial(s); err != nil {
		return err
	}

	// The people: spec changes during the rollout.
	for i := range s.scn.Changes {
		c := &s.scn.Changes[i]
		if c.Seq >= S && c.Seq < ro.EndSeq {
			if t := c.afterSync; !t.IsZero() {
				// After the Deployment controller's first sync at t, at the latest just after t.
				evs = append(evs, envEvent{c.Seq, t, func() {
					s.afterDeploymentSync = append(s.afterDeploymentSync, c)
					s.at(t.Add(time.Microsecond), func() { s.applyDeferred(c) })
				}})
				continue
			}
			evs = append(evs, envEvent{c.Seq, c.Time, func() { s.applyChange(c) }})
		}
	}
	if err := s.validateSpecs(); err != nil {
		return err
	}
	if s.snapshot {
		return nil
	}

	slices.SortStableFunc(evs, func(a, b envEvent) int { return cmp.Compare(a.seq, b.seq) })
	for _, e := range evs {
		s.at(e.t, e.fn)
	}
	if s.mode == EnvAsRecorded {
		// The run stops where the recorded rollout ended: before the next rollout's change, or
		// after everything that happened at the last instant of the history.
		stopAt := ro.End
		if ro.Index == len(s.scn.Rollouts) {
			stopAt = stopAt.Add(time.Nanosecond)
		}
		s.at(stopAt, s.stop)
	}
	// Where upstream picks nodes in random order, follow the recording (see daemonset.go).
	s.nodePref, s.nodeCreated = nodeOrders(len(ro.Recorded), func(i int) *Step { return &ro.Recorded[i] })
	s.recordDesired()
	return nil
}

// createdTS is the pod's creationTimestamp as stored (one-second resolution).
func (r *PodRecord) createdTS() time.Time {
	if !r.creationTimestamp.IsZero() {
		return r.creationTimestamp
	}
	return metaTime(r.Created)
}

// annotationInt32 reads a non-negative int32 annotation, as upstream's
// getNonNegativeInt32FromAnnotation.
func annotationInt32(a map[string]string, key string) (int32, bool) {
	v, ok := a[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 31)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}

// initialPodFuture schedules what the recorded world did to a pod that existed when the
// rollout started: readiness it had not reached yet, its removal, a deletion by someone else.
func (s *simulation) initialPodFuture(p *simPod, r *PodRecord) []envEvent {
	var evs []envEvent
	eff := func(raw, aligned time.Time) time.Time {
		if s.env.followsRecording() && !aligned.IsZero() {
			return aligned
		}
		return raw
	}
	if !p.ready && r.readySeq != 0 {
		pl := podPlan{ready: eff(r.Ready, r.readyEff)}
		if !p.scheduled {
			pl.scheduled = pl.ready
		}
		if p.phase != "Running" {
			pl.running = pl.ready
		}
		evs = append(evs, envEvent{r.readySeq, pl.ready, func() { s.applyPlan(p, pl) }})
	} else if !p.scheduled && r.scheduledSeq != 0 {
		pl := podPlan{scheduled: r.Scheduled}
		evs = append(evs, envEvent{r.scheduledSeq, r.Scheduled, func() { s.applyPlan(p, pl) }})
	}
	if p.deleting {
		gone := s.ro.End.Add(s.env.term)
		seq := s.ro.EndSeq
		if r.goneSeq != 0 {
			gone, seq = eff(r.Gone, r.goneEff), r.goneSeq
		}
		evs = append(evs, envEvent{seq, gone, func() { s.st.removePod(p, s.now) }})
	} else if r.DeletedBy == deletedByExternal && r.delSeq >= s.ro.Seq && r.delSeq < s.ro.EndSeq {
		evs = append(evs, envEvent{r.delSeq, r.DeleteRequested, func() { s.deletePod(p, false) }})
	}
	return evs
}

// initRevisions loads the StatefulSet's or DaemonSet's controller revisions as they were
// before seq: the recorded ControllerRevisions, or the templates seen so far.
func (s *simulation) initRevisions(seq uint64) {
	x := s.scn.x
	seen := map[string]*ctrlRevision{}
	for _, cr := range x.crs {
		if cr.seq >= seq {
			continue
		}
		if r, ok := seen[cr.template]; ok {
			r.revision = max(r.revision, cr.revision)
			continue
		}
		r := &ctrlRevision{name: cr.hash, key: cr.template, revision: cr.revision}
		seen[cr.template] = r
		s.st.revisions = append(s.st.revisions, r)
	}
	if len(s.st.revisions) > 0 {
		return
	}
	n := int64(0)
	for _, wv := range x.workload {
		if wv.seq >= seq || isDelete(wv.typ) {
			continue
		}
		k := wv.w.spec.Template
		if r, ok := seen[k]; ok {
			if r != s.st.revisions[len(s.st.revisions)-1] {
				n++
				r.revision = n
			}
			continue
		}
		n++
		r := &ctrlRevision{name: s.revisionName(k), key: k, revision: n}
		seen[k] = r
		s.st.revisions = append(s.st.revisions, r)
	}
}

// nodeChange applies a recorded change of a node; pods of a removed node go with it, as the
// pod garbage collector removes them.
func (s *simulation) nodeChange(name string, v nodeVer) {
	if !v.deleted {
		s.st.setNode(name, v.n)
		return
	}
	s.st.setNode(name, nil)
	for _, p := range append([]*simPod(nil), s.st.pods...) {
		if p.node == name {
			s.st.removePod(p, s.now)
		}
	}
}

// applyDeferred applies a change waiting for a Deployment sync (see SpecChange.afterSync),
// unless it was applied already.
func (s *simulation) applyDeferred(c *SpecChange) {
	i := slices.Index(s.afterDeploymentSync, c)
	if i < 0 {
		return
	}
	s.afterDeploymentSync = slices.Delete(s.afterDeploymentSync, i, i+1)
	s.applyChange(c)
}

// applyChange applies a person's change of the workload's spec, with the overrides on top.
func (s *simulation) applyChange(c *SpecChange) {
	sp := c.w.spec
	_ = s.ov.apply(&sp) // validated in init
	if s.st.w == nil {
		s.st.w = &simWorkload{name: s.scn.Name, uid: s.scn.UID, generation: c.Generation, spec: sp, tmpl: c.w.tmpl}
	} else {
		d := s.st.w
		d.generation, d.spec, d.tmpl = c.Generation, sp, c.w.tmpl
	}
	s.recordDesired()
	s.st.workloadChanged()
}

// validateSpecs checks the overridden specs the rollout will use.
func (s *simulation) validateSpecs() error {
	check := func(sp spec) error {
		sp2 := sp
		if err := s.ov.apply(&sp2); err != nil {
			return err
		}
		return s.ov.validate(s.scn.Kind, &sp2)
	}
	if s.st.w != nil {
		if err := s.ov.validate(s.scn.Kind, &s.st.w.spec); err != nil {
			return err
		}
	}
	for i := range s.scn.Changes {
		c := &s.scn.Changes[i]
		if c.Seq >= s.ro.Seq && c.Seq < s.ro.EndSeq {
			if err := check(c.w.spec); err != nil {
				return err
			}
		}
	}
	return nil
}

// recordDesired notes how many pods the workload wants from now on.
func (s *simulation) recordDesired() {
	n := 0
	if w := s.st.w; w != nil {
		n = s.wk.wants(&w.spec, w.tmpl, func() []*node { return s.st.nodes })
	}
	if k := len(s.desired); k > 0 && s.desired[k-1].n == n {
		return
	}
	s.desired = append(s.desired, desiredPoint{s.now, n})
}

func (s *simulation) result() *SimResult {
	res := &SimResult{Workload: workloadName(s.scn), Rollout: s.ro.ID, Start: s.ro.Start, Steps: s.steps, Events: s.events}
	for _, c := range s.claimsCreated {
		res.Claims = append(res.Claims, c)
	}
	target := s.ro.template
	if target == "" && s.st.w != nil {
		target = s.st.w.spec.Template
	}
	lines := make([]lifeline, 0, len(s.st.ever))
	mrs := time.Duration(0)
	if s.st.w != nil {
		mrs = time.Duration(s.st.w.spec.MinReadySeconds) * time.Second
	}
	for _, p := range s.st.ever {
		l := lifeline{rev: p.revKey, created: p.created}
		if p.ready {
			l.ready, l.readyLTT = p.readyAt, p.readyLTT
		}
		if p.deleting {
			l.deleted = p.deletedAt
		}
		if p.gone {
			l.gone = p.goneAt
		}
		lines = append(lines, l)
	}
	end := s.now
	if s.mode == EnvAsRecorded {
		end = s.ro.End
	}
	partition := 0
	if s.st.w != nil {
		partition = s.wk.keepsOld(&s.st.w.spec)
	}
	tl := buildTimeline(lines, target, s.desired, mrs, partition, s.ro.Start, end)
	res.Availability = tl.points
	res.Completed, res.CompletedAt = tl.completed, tl.completedAt
	res.Summary = tl.summary(s.ro.Start, end)
	res.Summary.Steps = len(s.steps)
	switch {
	case tl.completed:
		res.Summary.Outcome = OutcomeComplete
	case !s.deadlineAt.IsZero():
		res.Summary.Outcome = OutcomeDeadlineExceeded
	case s.mode == EnvAsRecorded:
		res.Summary.Outcome = OutcomeIncomplete
	default:
		res.Summary.Outcome = OutcomeStalled
	}
	if f, ok := s.wk.(finisher); ok && s.st.w != nil {
		run := &RunSummary{}
		for _, st := range s.steps {
			if st.Action == ActionCreate {
				run.PodsCreated++
			}
		}
		for _, p := range s.st.ever {
			if p.phase == phaseFailed {
				run.Failures++
			}
		}
		res.Summary.Run = run
		if outcome, at, done := f.finished(s.st.w.status); done {
			res.Completed, res.CompletedAt = true, at
			res.Summary.Outcome, res.Summary.Duration = outcome, Duration(at.Sub(s.ro.Start))
		} else if s.mode != EnvAsRecorded {
			res.Summary.Outcome, res.Summary.Duration = OutcomeStalled, Duration(end.Sub(s.ro.Start))
		} else {
			res.Summary.Outcome, res.Summary.Duration = OutcomeIncomplete, Duration(end.Sub(s.ro.Start))
		}
	}
	return res
}

// A finisher is a workload kind whose workloads end (Jobs): a run's outcome and duration are
// the workload's end, not its pods' availability.
type finisher interface {
	// finished returns the outcome of a workload with status st and when it ended; false
	// while it runs.
	finished(st workloadStatus) (outcome string, at time.Time, ok bool)
}

func workloadName(scn *Scenario) string { return strings.ToLower(scn.Kind) + "/" + scn.Name }
