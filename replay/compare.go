package replay

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// CompareOptions selects what Compare compares.
type CompareOptions struct {
	// RolloutID restricts the comparison to one rollout (see Scenario.Rollout); "" compares
	// every rollout of the history.
	RolloutID string
}

// CompareResult says whether the simulated controller takes the recorded steps.
type CompareResult struct {
	Workload string              `json:"workload"` // "deployment/checkout"
	Match    bool                `json:"match"`    // every rollout matched
	Rollouts []RolloutComparison `json:"rollouts"`
}

// RolloutComparison is the comparison of one rollout.
type RolloutComparison struct {
	ID string `json:"id"`
	// Seq is the rollout's Rollout.LogSeq: the stream sequence at which it started when the
	// history comes from the event log, the ID khist rollouts shows.
	Seq        uint64      `json:"seq"`
	Start      time.Time   `json:"start"`
	Match      bool        `json:"match"`
	Recorded   []Step      `json:"recorded"`
	Simulated  []Step      `json:"simulated"`
	Divergence *Divergence `json:"divergence"`
}

// Divergence is the first step where the simulation and the recording part.
type Divergence struct {
	// Step is the 1-based position of the first differing step in both lists.
	Step int `json:"step"`
	// Recorded and Simulated are the steps at that position; nil when the list ended first.
	Recorded  *Step  `json:"recorded"`
	Simulated *Step  `json:"simulated"`
	Reason    string `json:"reason"`
}

// Compare replays every rollout of a workload (or the one opts names) in the recorded
// environment (EnvAsRecorded) and compares the simulated steps with the recorded ones, step for
// step. Steps upstream issues concurrently (pods a StatefulSet creates in one Parallel batch, a
// DaemonSet's creations or deletions of one sync) are compared as a set and listed in the
// recorded order when they match. Simulated ReplicaSets and revisions carry the recorded names
// of the ones with the same pod template.
func Compare(h []Version, kind, ns, name string, opts CompareOptions) (*CompareResult, error) {
	scn, err := ExtractScenario(kind, ns, name, h)
	if err != nil {
		return nil, err
	}
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
	return compareRollouts(&scn, rollouts)
}

// compareRollouts replays rollouts of a scenario in the recorded environment and compares.
func compareRollouts(scn *Scenario, rollouts []Rollout) (*CompareResult, error) {
	res := &CompareResult{Workload: workloadName(scn), Match: true, Rollouts: []RolloutComparison{}}
	for i := range rollouts {
		ro := &rollouts[i]
		sim, err := Simulate(*scn, SimOptions{RolloutID: ro.ID, Environment: EnvAsRecorded})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ro.ID, err)
		}
		rc := compareSteps(ro.Recorded, sim.Steps)
		rc.ID, rc.Seq, rc.Start = ro.ID, ro.LogSeq, ro.Start
		res.Match = res.Match && rc.Match
		res.Rollouts = append(res.Rollouts, rc)
	}
	return res, nil
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
	sort.SliceStable(rest, func(a, b int) bool { return rest[a].sortKey() < rest[b].sortKey() })
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

// WriteTable renders the comparison for a terminal: for each rollout, the recorded and the
// simulated steps side by side, then MATCH or the first divergence.
func (r *CompareResult) WriteTable(w io.Writer) error {
	verdict := "MATCH"
	if !r.Match {
		verdict = "DIVERGED"
	}
	if _, err := fmt.Fprintf(w, "%s: %s (%d rollouts)\n", r.Workload, verdict, len(r.Rollouts)); err != nil {
		return err
	}
	for _, rc := range r.Rollouts {
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
			fmt.Fprintf(w, "  MATCH: %d steps\n", len(rc.Recorded))
			continue
		}
		d := rc.Divergence
		fmt.Fprintf(w, "  DIVERGED at step %d: %s (recorded: %s, simulated: %s)\n", d.Step, d.Reason, stepOrNone(d.Recorded), stepOrNone(d.Simulated))
	}
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
