package replay

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// The decision audit. A free-running simulation has to guess when the real controllers ran and
// what they had seen by then; on a busy control plane they run late and see many changes at
// once (a ReplicaSet status write that reports fifty new pods available), and a simulation that
// reacts to every change alone takes other steps. The audit does not guess: for each write the
// recorded controller made (a ReplicaSet scaled or created, a pod created or deleted), it
// rebuilds from the log the state the controller could have seen when it made it, runs the
// controller's sync on that state, and checks that the sync makes the same write.
//
// What the controller could see is a prefix of the log: its informers deliver each kind's
// changes in order, possibly late. The audit tries the state just before the write first, then
// older states, as long as they were current within MaxLag of the write, and never older than
// the controller's own previous write (a sync on a state without it would have failed with a
// conflict, or would have repeated it). Writes one sync issues in a row (the clean-up and
// scale-down of several old ReplicaSets, a burst of pod creations) are matched against that
// sync's remaining writes; writes issued concurrently in one burst compare as a set, order
// counting only between bursts. Changes made by others (a person's spec edit or scale, a pod
// deleted by hand, a node added) are inputs: they are part of the state, never decisions.

// DefaultMaxLag is AuditOptions.MaxLag's default.
const DefaultMaxLag = 5 * time.Second

// AuditOptions tune the decision audit.
type AuditOptions struct {
	// MaxLag is how far behind the log a controller's view may be when it decides: a write is
	// explained by a sync on any state of the log that was current within MaxLag before it.
	// Default (0): DefaultMaxLag.
	MaxLag time.Duration
}

// Decision is one write of the workload's controller, audited.
type Decision struct {
	Step Step      `json:"step"`
	Seq  uint64    `json:"seq"` // the write's position in the log
	Time time.Time `json:"time"`
	// Match is set when a sync on a state the controller could have seen makes this write.
	Match bool `json:"match"`
	// View is the log position of the last change in the state that explains the write (0
	// when it continues the sync of the decision before it, see SameSync); Lag is the time
	// from the end of that state to the write.
	View     uint64   `json:"view,omitempty"`
	Lag      Duration `json:"lag"`
	SameSync bool     `json:"sameSync,omitempty"`
	// Reaction is the time from the last change in that state to the write: how long the
	// controller took to act on what it saw.
	Reaction Duration `json:"reaction"`
	// Behind counts the changes of what the controller reads that the log shows between the
	// state that explains the write and the write: changes its informers had not delivered yet.
	Behind int `json:"behind,omitempty"`
	// Expected is what the controller's sync on the latest state before the write does, when
	// no state explains the write; empty when that sync makes no write.
	Expected []Step `json:"expected,omitempty"`
	// Inputs describes the state the first divergence of a rollout was decided on.
	Inputs []string `json:"inputs,omitempty"`
	// Reason says why the decision did not match.
	Reason string `json:"reason,omitempty"`

	seq uint64 // the scenario's seq
}

// Input is a change made by someone other than the workload's controller during a rollout:
// the audit takes it as part of the state, not as a decision.
type Input struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor,omitempty"`
	Change string    `json:"change"`
}

// loggedStep is a recorded step with its place in the history.
type loggedStep struct {
	s     Step
	seq   uint64
	actor string
	// external marks a write made by someone other than the workload's controller (a
	// ReplicaSet scaled by hand): an input, not a decision.
	external bool
}

// viewPoint is a position in the log where something the workload's controller reads changed.
type viewPoint struct {
	seq uint64
	t   time.Time
}

// audit holds the decisions of a scenario, computed once.
type audit struct {
	decisions []Decision
	// final, per rollout index (0-based), a write the controller's sync on the rollout's last
	// state asked for and the recorded controller never made.
	final map[int]*Decision
}

// auditScenario audits every recorded write of the workload's controller, in log order.
func auditScenario(scn *Scenario, opts AuditOptions) *audit {
	if opts.MaxLag <= 0 {
		opts.MaxLag = DefaultMaxLag
	}
	x := scn.x
	points := viewPoints(scn)
	a := &audit{final: map[int]*Decision{}}
	var pending [][]Step // the remaining bursts of the last sync
	var pendingView uint64
	var lower uint64 // the views must hold the controller's previous write
	for i, ls := range x.steps {
		if ls.external {
			continue
		}
		d := Decision{Step: ls.s, Seq: x.toLogSeq(ls.seq), Time: ls.s.Time, seq: ls.seq}
		if len(pending) > 0 {
			if k := indexSame(pending[0], ls.s); k >= 0 {
				pending[0] = append(pending[0][:k:k], pending[0][k+1:]...)
				if len(pending[0]) == 0 {
					pending = pending[1:]
				}
				d.Match, d.SameSync, d.View = true, true, x.toLogSeq(pendingView)
				a.decisions = append(a.decisions, d)
				lower = ls.seq
				continue
			}
		}
		pending = nil
		cands := candidates(points, ls.seq, ls.s.Time, lower, opts.MaxLag)
		for ci, j := range cands {
			steps := syncOnView(scn, points[j].seq+1, ls.s.Time, x.steps[i:])
			if ci == 0 {
				d.Expected = steps
			}
			bursts := burstsOf(steps)
			if len(bursts) == 0 {
				continue
			}
			if k := indexSame(bursts[0], ls.s); k >= 0 {
				bursts[0] = append(bursts[0][:k:k], bursts[0][k+1:]...)
				if len(bursts[0]) == 0 {
					bursts = bursts[1:]
				}
				pending, pendingView = bursts, points[j].seq
				d.Match, d.View, d.Expected, d.Behind = true, x.toLogSeq(points[j].seq), nil, ci
				d.Lag = Duration(max(ls.s.Time.Sub(viewEnd(points, j, ls.s.Time)), 0))
				d.Reaction = Duration(max(ls.s.Time.Sub(points[j].t), 0))
				break
			}
		}
		if !d.Match {
			d.Reason = "the controller's sync on the state it saw makes another write"
			if len(d.Expected) == 0 {
				d.Reason = "the controller's sync on the state it saw makes no write"
			}
			if len(cands) > 0 {
				d.Inputs = describeView(scn, points[cands[0]].seq+1, ls.s.Time)
				d.View = x.toLogSeq(points[cands[0]].seq)
			}
		}
		a.decisions = append(a.decisions, d)
		lower = ls.seq
	}
	for ri := range scn.Rollouts {
		if d := finalCheck(scn, &scn.Rollouts[ri], points, opts.MaxLag); d != nil {
			a.final[ri] = d
		}
	}
	return a
}

// finalCheck runs the controller's sync on the last state of a rollout: when it asks for a
// write although that state had lasted MaxLag without the recorded controller making one, the
// controller stopped short. A rollout whose state changed within MaxLag of its end (its
// successor started, or the history ended) is not held to it.
func finalCheck(scn *Scenario, ro *Rollout, points []viewPoint, maxLag time.Duration) *Decision {
	j := sort.Search(len(points), func(i int) bool { return points[i].seq >= ro.EndSeq }) - 1
	if j < 0 || points[j].seq < ro.Seq {
		return nil
	}
	if ro.End.Sub(points[j].t) < maxLag {
		return nil
	}
	now := ro.End
	steps := syncOnView(scn, points[j].seq+1, now, nil)
	if len(steps) == 0 {
		return nil
	}
	return &Decision{Seq: scn.x.toLogSeq(points[j].seq), Time: now, Expected: steps, View: scn.x.toLogSeq(points[j].seq),
		Reason: fmt.Sprintf("the recorded controller stopped: its sync on the rollout's last state (unchanged for %s) makes a write it never made", ro.End.Sub(points[j].t).Round(time.Millisecond)),
		Inputs: describeView(scn, points[j].seq+1, now),
		Step:   steps[0],
		seq:    points[j].seq,
		Lag:    Duration(ro.End.Sub(points[j].t))}
}

// candidates returns the indexes into points of the states a write at seq (time t) may have
// been decided on, latest first: the state just before it, then older ones that were still
// current within maxLag of t, none before the position lower.
func candidates(points []viewPoint, seq uint64, t time.Time, lower uint64, maxLag time.Duration) []int {
	j := sort.Search(len(points), func(i int) bool { return points[i].seq >= seq }) - 1
	var out []int
	for ; j >= 0 && points[j].seq >= lower; j-- {
		if len(out) > 0 && viewEnd(points, j, t).Before(t.Add(-maxLag)) {
			break
		}
		out = append(out, j)
	}
	if len(out) == 0 && j >= 0 {
		out = append(out, j) // nothing changed since the previous write: the state it left
	}
	return out
}

// viewEnd is the time at which the state after points[j] stopped being current.
func viewEnd(points []viewPoint, j int, t time.Time) time.Time {
	if j+1 < len(points) && points[j+1].t.Before(t) {
		return points[j+1].t
	}
	return t
}

// viewPoints lists, in log order, the positions where something the workload's controller
// reads changed: the workload, its ReplicaSets or revisions, its pods (for the controllers
// that read pods), its claims, the nodes. It is computed once per scenario.
func viewPoints(scn *Scenario) []viewPoint {
	x := scn.x
	if x.points == nil {
		x.points = computeViewPoints(scn)
	}
	return x.points
}

func computeViewPoints(scn *Scenario) []viewPoint {
	x := scn.x
	ps := []viewPoint{}
	add := func(seq uint64, t time.Time) {
		if seq != 0 {
			ps = append(ps, viewPoint{seq, t})
		}
	}
	for _, wv := range x.workload {
		add(wv.seq, wv.t)
	}
	readsPods := !viaReplicaSets(scn.Kind) // else it reads its ReplicaSets
	for _, rs := range x.rs {
		for _, v := range rs.vers {
			add(v.seq, v.t)
		}
	}
	for _, wv := range x.workload {
		if wv.w.spec.Strategy == strategyRecreate {
			readsPods = true
		}
	}
	if readsPods {
		for i := range scn.Pods {
			p := &scn.Pods[i]
			add(p.createSeq, p.Created)
			add(p.scheduledSeq, p.Scheduled)
			add(p.runningSeq, p.Running)
			add(p.readySeq, p.Ready)
			add(p.delSeq, p.DeleteRequested)
			add(p.goneSeq, p.Gone)
			add(p.finishSeq, p.Finished)
		}
	}
	for _, vs := range x.nodes {
		for _, v := range vs {
			add(v.seq, v.t)
		}
	}
	for _, cr := range x.crs {
		add(cr.seq, time.Time{})
	}
	for _, seq := range x.pvcs {
		add(seq, time.Time{})
	}
	slices.SortFunc(ps, func(a, b viewPoint) int { return cmp.Compare(a.seq, b.seq) })
	out := ps[:0]
	for _, p := range ps {
		if n := len(out); n > 0 && out[n-1].seq == p.seq {
			out[n-1].t = maxTime(out[n-1].t, p.t)
			continue
		}
		out = append(out, p)
	}
	// Times without an observation (revisions, claims) take their predecessor's.
	for i := 1; i < len(out); i++ {
		out[i].t = maxTime(out[i].t, out[i-1].t)
	}
	return out
}

// snapshot builds the simulated store as the log left it just before seq, at time now, with
// no future: what a controller sees when it syncs on that state.
func snapshot(scn *Scenario, seq uint64, now time.Time, upcoming []loggedStep) *simulation {
	ro := &Rollout{Seq: seq, EndSeq: seq, Start: now, End: now}
	s := &simulation{clock: newClock(now), scn: scn, ro: ro, mode: EnvAsRecorded, snapshot: true}
	s.ov, _ = parseOverrides(scn.Kind, nil)
	// One sync needs no recorded counterparts nor latencies: pods it creates are only named.
	s.env = &environment{mode: EnvAsRecorded, lat: readyLatency{kind: "recorded"}, kind: scn.Kind, pool: map[string][]*PodRecord{},
		used: map[*PodRecord]bool{}, revLat: map[string][]time.Duration{}, revNever: map[string]bool{}, term: scn.x.termMedian, end: scn.End}
	s.st = &store{pvcs: map[string]bool{}, onNode: map[string]int{}, activeOn: map[string]int{}, notify: func(change) {}}
	s.startControllers()
	s.syncFn = func(controllerID, string) {}
	if err := s.init(); err != nil {
		return nil
	}
	// Where upstream picks at random (the DaemonSet's nodes), follow the recorded writes.
	s.nodePref, s.nodeCreated = nodeOrders(len(upcoming), func(i int) *Step { return &upcoming[i].s })
	return s
}

// syncOnView runs the workload controller's sync once on the state just before seq and
// returns the writes it makes.
func syncOnView(scn *Scenario, seq uint64, now time.Time, upcoming []loggedStep) []Step {
	s := snapshot(scn, seq, now, upcoming)
	if s == nil {
		return nil
	}
	s.dispatch(s.wk.controller(), "")
	return s.steps
}

// burstsOf groups steps into bursts: the steps of one concurrent batch, or one step alone.
func burstsOf(steps []Step) [][]Step {
	var out [][]Step
	for i := 0; i < len(steps); {
		j := i + 1
		if b := steps[i].batch; b != 0 {
			for j < len(steps) && steps[j].batch == b {
				j++
			}
		}
		out = append(out, append([]Step(nil), steps[i:j]...))
		i = j
	}
	return out
}

// indexSame returns the index of the step of burst that is the same action as s, or -1.
func indexSame(burst []Step, s Step) int {
	for k := range burst {
		if burst[k].sameAction(s) {
			return k
		}
	}
	return -1
}

// describeView renders the state a controller decided on, one line per object it reads.
func describeView(scn *Scenario, seq uint64, now time.Time) []string {
	s := snapshot(scn, seq, now, nil)
	if s == nil || s.st.w == nil {
		return []string{"the workload did not exist"}
	}
	return s.wk.describe(s)
}

// describePods lists the simulated store's pods by ordinal and node, one line each.
func describePods(s *simulation) []string {
	var out []string
	pods := append([]*simPod(nil), s.st.pods...)
	slices.SortStableFunc(pods, func(a, b *simPod) int {
		return cmp.Or(cmp.Compare(a.ordinal, b.ordinal), cmp.Compare(a.node, b.node))
	})
	for _, p := range pods {
		state := p.phase
		if p.ready {
			state += ", ready"
		}
		if p.deleting {
			state += ", terminating"
		}
		out = append(out, fmt.Sprintf("pod %s (%s) on %s: %s", p.name, p.revName, dash(p.node), state))
	}
	return out
}

// inputsOf lists the changes made by others during a rollout.
func inputsOf(scn *Scenario, ro *Rollout) []Input {
	x := scn.x
	var out []Input
	in := func(seq uint64) bool { return seq >= ro.Seq && seq < ro.EndSeq }
	for _, c := range scn.Changes {
		if !in(c.Seq) {
			continue
		}
		what := "created " + strings.ToLower(scn.Kind)
		if len(c.Fields) > 0 {
			what = "changed spec." + strings.Join(c.Fields, ", spec.")
		} else if c.Fields != nil || len(out) > 0 || c.Seq != ro.Seq || ro.Previous != "" {
			what = "changed the spec"
		}
		out = append(out, Input{Seq: x.toLogSeq(c.Seq), Time: c.Time, Actor: c.Actor, Change: what})
	}
	for _, ls := range x.steps {
		if ls.external && in(ls.seq) {
			out = append(out, Input{Seq: x.toLogSeq(ls.seq), Time: ls.s.Time, Actor: ls.actor,
				Change: fmt.Sprintf("scaled replicaset %s %d->%d", ls.s.ReplicaSet, ls.s.From, ls.s.To)})
		}
	}
	for i := range scn.Pods {
		p := &scn.Pods[i]
		if p.DeletedBy == deletedByExternal && in(p.delSeq) {
			out = append(out, Input{Seq: x.toLogSeq(p.delSeq), Time: p.DeleteRequested, Change: "deleted pod " + p.Name})
		}
	}
	for _, name := range x.nodeOrder {
		if !kindOf(scn.Kind).readsNodes() {
			break // the other controllers do not read nodes
		}
		vs := x.nodes[name]
		for i, v := range vs {
			if !in(v.seq) {
				continue
			}
			switch {
			case i == 0:
				out = append(out, Input{Seq: x.toLogSeq(v.seq), Time: v.t, Change: "node " + name + " added"})
			case v.deleted:
				out = append(out, Input{Seq: x.toLogSeq(v.seq), Time: v.t, Change: "node " + name + " removed"})
			case v.n.Unschedulable != vs[i-1].n.Unschedulable:
				what := "cordoned"
				if !v.n.Unschedulable {
					what = "uncordoned"
				}
				out = append(out, Input{Seq: x.toLogSeq(v.seq), Time: v.t, Change: "node " + name + " " + what})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Input) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}
