package replay

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// CompareOptions selects what Compare compares.
type CompareOptions struct {
	// RolloutID restricts the comparison to one rollout (see Scenario.Rollout); "" compares
	// every rollout of the history.
	RolloutID string
	// RolloutsBefore is the number of the workload's rollouts that started before the history
	// given, when it is a window of the whole (see Scenario.NumberFrom); 0 for a whole history.
	RolloutsBefore int
	// FreeRun makes the free-running simulation's comparison the verdict (Match, Simulated,
	// Divergence), as before the decision audit; by default they are the audit's, and the
	// free run's is reported beside it (RolloutComparison.FreeRun).
	FreeRun bool
	// Audit tunes the decision audit.
	Audit AuditOptions
}

// Verdicts of a comparison (CompareResult.Mode).
const (
	ModeAudit   = "audit"
	ModeFreeRun = "free-run"
)

// CompareResult says whether the recorded controller did what its algorithm does.
type CompareResult struct {
	Workload string `json:"workload"` // "deployment/checkout"
	Match    bool   `json:"match"`    // every rollout matched
	// Mode says which comparison Match carries: ModeAudit (the decision audit, the default)
	// or ModeFreeRun.
	Mode string `json:"mode"`
	// Decisions counts the recorded controller writes audited in the rollouts compared, and
	// DecisionsMatched those a sync on a state the controller could have seen makes.
	Decisions        int `json:"decisions"`
	DecisionsMatched int `json:"decisionsMatched"`
	// FreeRunMatched counts the rollouts the free-running simulation reproduces step for step.
	FreeRunMatched int                 `json:"freeRunMatched"`
	Rollouts       []RolloutComparison `json:"rollouts"`
}

// RolloutComparison is the comparison of one rollout.
type RolloutComparison struct {
	ID string `json:"id"`
	// Seq is the rollout's Rollout.LogSeq: the stream sequence at which it started when the
	// history comes from the event log, the ID khist rollouts shows.
	Seq   uint64    `json:"seq"`
	Start time.Time `json:"start"`
	Match bool      `json:"match"`
	// Recorded and Simulated are, under the audit, the controller's recorded writes and the
	// writes its syncs on the states it saw make (one per decision, none for a decision no
	// sync makes); under a free run, every recorded step and the simulated steps.
	Recorded   []Step      `json:"recorded"`
	Simulated  []Step      `json:"simulated"`
	Divergence *Divergence `json:"divergence"`
	// Decisions are the controller's writes during the rollout, audited (see Decision).
	Decisions        []Decision `json:"decisions"`
	DecisionsMatched int        `json:"decisionsMatched"`
	// Inputs are the changes others made during the rollout (spec edits, scales, pods
	// deleted by hand, nodes): taken as they happened, never counted as divergences.
	Inputs []Input `json:"inputs"`
	// FreeRun is the free-running simulation's comparison (see Simulate).
	FreeRun *FreeRunComparison `json:"freeRun"`
}

// FreeRunComparison is a rollout replayed by the free-running simulation in the recorded
// environment, compared step for step with the recording.
type FreeRunComparison struct {
	Match      bool        `json:"match"`
	Simulated  []Step      `json:"simulated"`
	Divergence *Divergence `json:"divergence"`
}

// Divergence is the first step where the controller's algorithm and the recording part.
type Divergence struct {
	// Step is the 1-based position of the first differing step (under the audit, decision)
	// in both lists.
	Step int `json:"step"`
	// Recorded and Simulated are the steps at that position; nil when the list ended first.
	Recorded  *Step  `json:"recorded"`
	Simulated *Step  `json:"simulated"`
	Reason    string `json:"reason"`
	// View is the log position of the last change of the state the audited decision was
	// made on, and Inputs that state, one line per object the controller reads (audit only).
	View   uint64   `json:"view,omitempty"`
	Inputs []string `json:"inputs,omitempty"`
}

// A Report is a replay's answer for one workload: WriteTable renders it for a terminal, and
// encoding/json serializes it. A *CompareResult, *WhatIfResult or *CronComparison.
type Report interface {
	WriteTable(w io.Writer) error
}

// CompareReport compares a workload of any registered kind with its recording: a standalone
// kind's own replay (a CronJob's schedule decisions, whose window opts.RolloutID does not
// select), else Compare.
func CompareReport(h []Version, kind, ns, name string, opts CompareOptions) (Report, error) {
	if rk := kindByName(kind); rk != nil {
		if sk := standaloneOf(rk.kind()); sk != nil {
			return sk.compare(h, ns, name, nil)
		}
	}
	return Compare(h, kind, ns, name, opts)
}

// Compare audits the decisions the workload's controller was recorded making during every
// rollout of a workload (or the one opts names): for each write, a sync of the re-implemented
// controller on the state the log shows it could have seen must make the same write (see
// AuditOptions). It also replays each rollout in the recorded environment (EnvAsRecorded) with
// the free-running simulation and compares the simulated steps with the recorded ones, step
// for step, reported beside the audit. Steps upstream issues concurrently (pods a StatefulSet
// creates in one Parallel batch, a DaemonSet's creations or deletions of one sync) are compared
// as a set, order counting only between bursts. Simulated ReplicaSets and revisions carry the
// recorded names of the ones with the same pod template.
func Compare(h []Version, kind, ns, name string, opts CompareOptions) (*CompareResult, error) {
	scn, err := ExtractScenario(kind, ns, name, h)
	if err != nil {
		return nil, err
	}
	scn.NumberFrom(opts.RolloutsBefore)
	rollouts := scn.Rollouts
	if opts.RolloutID != "" {
		ro, err := scn.Rollout(opts.RolloutID)
		if err != nil {
			return nil, err
		}
		rollouts = []Rollout{*ro}
	} else if len(rollouts) == 0 {
		_, err := scn.Rollout("")
		return nil, err
	}
	return compareRollouts(&scn, rollouts, opts)
}

// compareRollouts audits rollouts of a scenario and replays them in the recorded environment.
func compareRollouts(scn *Scenario, rollouts []Rollout, opts CompareOptions) (*CompareResult, error) {
	mode := ModeAudit
	if opts.FreeRun {
		mode = ModeFreeRun
	}
	res := &CompareResult{Workload: workloadName(scn), Match: true, Mode: mode, Rollouts: []RolloutComparison{}}
	if scn.x.audit == nil {
		scn.x.audit = auditScenario(scn, opts.Audit)
	}
	for i := range rollouts {
		ro := &rollouts[i]
		sim, err := Simulate(*scn, SimOptions{RolloutID: ro.ID, Environment: EnvAsRecorded})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ro.ID, err)
		}
		free := compareSteps(ro.Recorded, sim.Steps)
		rc := auditRollout(scn, ro)
		rc.FreeRun = &FreeRunComparison{Match: free.Match, Simulated: free.Simulated, Divergence: free.Divergence}
		if opts.FreeRun {
			rc.Match, rc.Recorded, rc.Simulated, rc.Divergence = free.Match, free.Recorded, free.Simulated, free.Divergence
		}
		rc.ID, rc.Seq, rc.Start = ro.ID, ro.LogSeq, ro.Start
		res.Match = res.Match && rc.Match
		res.Decisions += len(rc.Decisions)
		res.DecisionsMatched += rc.DecisionsMatched
		if free.Match {
			res.FreeRunMatched++
		}
		res.Rollouts = append(res.Rollouts, rc)
	}
	return res, nil
}

// auditRollout gathers the audited decisions of one rollout: the writes of its window (a
// rollout superseded by a newer template ends where the template changed; later writes belong
// to the next rollout), and the check of its last state.
func auditRollout(scn *Scenario, ro *Rollout) RolloutComparison {
	a := scn.x.audit
	rc := RolloutComparison{Match: true, Recorded: []Step{}, Simulated: []Step{}, Decisions: []Decision{}, Inputs: inputsOf(scn, ro)}
	if rc.Inputs == nil {
		rc.Inputs = []Input{}
	}
	for _, d := range a.decisions {
		if d.seq < ro.Seq || d.seq >= ro.EndSeq {
			continue
		}
		rc.Recorded = append(rc.Recorded, d.Step)
		switch {
		case d.Match:
			rc.DecisionsMatched++
			rc.Simulated = append(rc.Simulated, d.Step)
		case len(d.Expected) > 0:
			rc.Simulated = append(rc.Simulated, d.Expected[0])
		}
		if !d.Match && rc.Divergence == nil {
			rc.Match = false
			rc.Divergence = decisionDivergence(len(rc.Decisions)+1, &d, true)
		} else {
			d.Inputs = nil // kept for the first divergence only
		}
		rc.Decisions = append(rc.Decisions, d)
	}
	for ri := range scn.Rollouts {
		if scn.Rollouts[ri].Seq != ro.Seq {
			continue
		}
		if d := a.final[ri]; d != nil && rc.Divergence == nil {
			rc.Match = false
			rc.Divergence = decisionDivergence(len(rc.Decisions)+1, d, false)
		}
	}
	return rc
}

func decisionDivergence(step int, d *Decision, recorded bool) *Divergence {
	dv := &Divergence{Step: step, Reason: d.Reason, View: d.View, Inputs: d.Inputs}
	if recorded {
		c := d.Step
		dv.Recorded = &c
	}
	if len(d.Expected) > 0 {
		c := d.Expected[0]
		dv.Simulated = &c
	}
	return dv
}

// compareSteps aligns simulated steps, batch by batch, with the recorded ones.
func compareSteps(rec, sim []Step) RolloutComparison {
	rc := RolloutComparison{Recorded: nonNil(rec), Simulated: nonNil(append([]Step(nil), sim...)), Match: true}
	out := rc.Simulated
	i := 0
	for j := 0; j < len(out); {
		m := 1
		if b := out[j].batch; b != 0 {
			for j+m < len(out) && out[j+m].batch == b {
				m++
			}
		}
		if i >= len(rec) {
			rc.diverge(i, nil, &out[j], "the simulated controller took a step the recorded one did not take")
			return rc
		}
		window := rec[i:min(i+m, len(rec))]
		batch := out[j : j+m]
		if k, ok := matchBatch(window, batch); !ok {
			var r, s *Step
			if k < len(window) {
				r = &window[k]
			}
			if k < len(batch) {
				s = &batch[k]
			}
			reason := "the simulated controller took another step"
			if r == nil {
				reason = "the simulated controller took a step the recorded one did not take"
			}
			rc.diverge(i+k, r, s, reason)
			return rc
		}
		i, j = i+m, j+m
	}
	if i < len(rec) {
		rc.diverge(i, &rec[i], nil, "the recorded controller took a step the simulated one did not take")
	}
	return rc
}

func nonNil(s []Step) []Step {
	if s == nil {
		return []Step{}
	}
	return s
}

func (rc *RolloutComparison) diverge(i int, r, s *Step, reason string) {
	rc.Match = false
	d := &Divergence{Step: i + 1, Reason: reason}
	if r != nil {
		c := *r
		d.Recorded = &c
	}
	if s != nil {
		c := *s
		d.Simulated = &c
	}
	rc.Divergence = d
}

// matchBatch compares a batch of concurrent simulated steps with the recorded steps at the same
// positions, as sets. It reorders batch so that matching steps sit where the recorded ones are
// (the steps no recorded one matches fill the other places, canonically ordered), and returns
// the position of the first recorded step the batch does not contain.
func matchBatch(window, batch []Step) (int, bool) {
	if len(batch) == 1 {
		return 0, len(window) == 1 && window[0].sameAction(batch[0])
	}
	used := make([]bool, len(batch))
	pos := make([]int, len(window))
	first := -1
	for wi, r := range window {
		pos[wi] = -1
		for k := range batch {
			if !used[k] && r.sameAction(batch[k]) {
				used[k], pos[wi] = true, k
				break
			}
		}
		if pos[wi] < 0 && first < 0 {
			first = wi
		}
	}
	var rest []Step
	for k := range batch {
		if !used[k] {
			rest = append(rest, batch[k])
		}
	}
	slices.SortStableFunc(rest, func(a, b Step) int { return cmp.Compare(a.sortKey(), b.sortKey()) })
	out := make([]Step, 0, len(batch))
	for wi := range window {
		switch {
		case pos[wi] >= 0:
			out = append(out, batch[pos[wi]])
		case len(rest) > 0:
			out, rest = append(out, rest[0]), rest[1:]
		}
	}
	out = append(out, rest...)
	copy(batch, out)
	if first < 0 && len(window) == len(batch) {
		return 0, true
	}
	if first < 0 {
		first = len(window)
	}
	return first, false
}

// WriteTable renders the comparison for a terminal. Under the audit: for each rollout, the
// recorded decisions beside what the controller's sync on the state it saw makes, with how long
// after the last change of that state it acted, then MATCH or the first divergence with the
// state it was decided on, the free run's verdict, and the inputs from others. Under a free
// run: the recorded and simulated steps side by side, then MATCH or the first divergence.
func (r *CompareResult) WriteTable(w io.Writer) error {
	verdict := "MATCH"
	if !r.Match {
		verdict = "DIVERGED"
	}
	if r.Mode == ModeFreeRun {
		if _, err := fmt.Fprintf(w, "%s: %s (%s, free run)\n", r.Workload, verdict, count(len(r.Rollouts), "rollout")); err != nil {
			return err
		}
		for _, rc := range r.Rollouts {
			if err := rc.writeFreeRun(w); err != nil {
				return err
			}
		}
		return nil
	}
	if _, err := fmt.Fprintf(w, "%s: %s (%s; %d of %s reproduced; free run: %d of %s)\n",
		r.Workload, verdict, count(len(r.Rollouts), "rollout"), r.DecisionsMatched, count(r.Decisions, "decision"), r.FreeRunMatched, count(len(r.Rollouts), "rollout")); err != nil {
		return err
	}
	for _, rc := range r.Rollouts {
		if err := rc.writeAudit(w); err != nil {
			return err
		}
	}
	return nil
}

func (rc *RolloutComparison) writeAudit(w io.Writer) error {
	fmt.Fprintf(w, "\n%s, started %s (sequence %d)\n", rc.ID, rc.Start.UTC().Format(time.RFC3339), rc.Seq)
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "  #\tRECORDED\tSYNC ON THE STATE SEEN\tREACTED AFTER")
	for i, d := range rc.Decisions {
		sim, lag := "-", "-"
		switch {
		case d.Match && d.SameSync:
			sim, lag = d.Step.String()+" (same sync)", ""
		case d.Match:
			sim, lag = d.Step.String(), time.Duration(d.Reaction).Round(time.Millisecond).String()
			if d.Behind > 0 {
				lag += fmt.Sprintf(" (%s unseen)", count(d.Behind, "change"))
			}
		case len(d.Expected) > 0:
			sim = d.Expected[0].String()
		}
		mark := ""
		if rc.Divergence != nil && rc.Divergence.Step == i+1 {
			mark = "\t<- first divergence"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s%s\n", i+1, d.Step.String(), sim, dash(lag), mark)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	free := "no free run"
	if f := rc.FreeRun; f != nil && f.Match {
		free = fmt.Sprintf("free run: MATCH (%s)", count(len(f.Simulated), "step"))
	} else if f != nil && f.Divergence != nil {
		free = fmt.Sprintf("free run: DIVERGED at step %d (recorded: %s, simulated: %s)", f.Divergence.Step, stepOrNone(f.Divergence.Recorded), stepOrNone(f.Divergence.Simulated))
	}
	if rc.Match {
		fmt.Fprintf(w, "  MATCH: %d of %s; %s\n", rc.DecisionsMatched, count(len(rc.Decisions), "decision"), free)
	} else {
		d := rc.Divergence
		fmt.Fprintf(w, "  DIVERGED at decision %d of %d: %s (recorded: %s, expected: %s); %d of %s matched; %s\n",
			d.Step, len(rc.Decisions), d.Reason, stepOrNone(d.Recorded), stepOrNone(d.Simulated), rc.DecisionsMatched, count(len(rc.Decisions), "decision"), free)
		if len(d.Inputs) > 0 {
			fmt.Fprintf(w, "  the state it was decided on (log up to sequence %d):\n", d.View)
			for _, l := range d.Inputs {
				fmt.Fprintf(w, "    %s\n", l)
			}
		}
	}
	for _, in := range rc.Inputs {
		who := in.Actor
		if who == "" {
			who = "someone"
		}
		fmt.Fprintf(w, "  input: %s %s %s (sequence %d)\n", in.Time.UTC().Format(time.TimeOnly), who, in.Change, in.Seq)
	}
	return nil
}

func (rc *RolloutComparison) writeFreeRun(w io.Writer) error {
	fmt.Fprintf(w, "\n%s, started %s (sequence %d)\n", rc.ID, rc.Start.UTC().Format(time.RFC3339), rc.Seq)
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "  #\tRECORDED\tSIMULATED")
	n := max(len(rc.Recorded), len(rc.Simulated))
	for i := 0; i < n; i++ {
		rs, ss := "", ""
		if i < len(rc.Recorded) {
			rs = rc.Recorded[i].String()
		}
		if i < len(rc.Simulated) {
			ss = rc.Simulated[i].String()
		}
		if rc.Divergence != nil && i+1 == rc.Divergence.Step {
			fmt.Fprintf(tw, "  %d\t%s\t%s\t<- first divergence\n", i+1, dash(rs), dash(ss))
			continue
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\n", i+1, dash(rs), dash(ss))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rc.Match {
		fmt.Fprintf(w, "  MATCH: %s\n", count(len(rc.Recorded), "step"))
		return nil
	}
	d := rc.Divergence
	fmt.Fprintf(w, "  DIVERGED at step %d: %s (recorded: %s, simulated: %s)\n", d.Step, d.Reason, stepOrNone(d.Recorded), stepOrNone(d.Simulated))
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func stepOrNone(s *Step) string {
	if s == nil {
		return "none"
	}
	return strings.TrimSpace(s.String())
}

// count is n and a noun, singular for one: "1 step", "3 steps".
func count[N int | int32 | int64](n N, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// plural is a noun for a count: singular for one.
func plural[N int | int32 | int64](n N, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}
