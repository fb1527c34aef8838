package fidelity

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/khist/khist/replay"
)

// Thresholds of the decision audit over the busy suite (issue 12).
const (
	busyMinDecisionShare = 0.99
	busyMinRolloutShare  = 0.97
	// the free run (compare --free-run) step for step, and a what-if without overrides
	// predicting the duration and the lowest availability within 10% of the recording
	busyMinFreeRunShare = 0.90
	busyMinWhatIfShare  = 0.90
)

// busyTally adds up one part of the suite.
type busyTally struct {
	rollouts, matched, decisions, decided, free int
	// what-if with no override against the recording, over completed rollouts
	whatIfs, durWithin, availWithin int
	report                          strings.Builder
}

func (b *busyTally) add(o *busyTally) {
	b.rollouts += o.rollouts
	b.matched += o.matched
	b.decisions += o.decisions
	b.decided += o.decided
	b.free += o.free
	b.whatIfs += o.whatIfs
	b.durWithin += o.durWithin
	b.availWithin += o.availWithin
	b.report.WriteString(o.report.String())
}

func pct(a, b int) float64 {
	if b == 0 {
		return 100
	}
	return 100 * float64(a) / float64(b)
}

func (b *busyTally) String() string {
	return fmt.Sprintf("decision audit: %d of %d rollouts (%.1f%%), %d of %d decisions (%.2f%%); free run: %d of %d rollouts step for step (%.1f%%); "+
		"what-if without overrides within 10%% of the recording: duration %d of %d (%.1f%%), lowest availability %d of %d (%.1f%%)",
		b.matched, b.rollouts, pct(b.matched, b.rollouts), b.decided, b.decisions, pct(b.decided, b.decisions),
		b.free, b.rollouts, pct(b.free, b.rollouts),
		b.durWithin, b.whatIfs, pct(b.durWithin, b.whatIfs), b.availWithin, b.whatIfs, pct(b.availWithin, b.whatIfs))
}

// within10 reports whether got is within 10% of want.
func within10(got, want float64) bool {
	if want == 0 {
		return got == 0
	}
	d := (got - want) / want
	return d >= -0.10 && d <= 0.10
}

// tallyWorkload audits one workload of a recording, replays it freely, and runs a what-if
// without overrides for each of its completed rollouts.
func tallyWorkload(t *testing.T, label string, h []replay.Version, kind, ns, name string) *busyTally {
	tl := &busyTally{}
	res, err := replay.Compare(h, kind, ns, name, replay.CompareOptions{})
	if err != nil {
		t.Errorf("%s %s/%s: compare: %v", label, kind, name, err)
		return tl
	}
	for _, r := range res.Rollouts {
		tl.rollouts++
		tl.decisions += len(r.Decisions)
		tl.decided += r.DecisionsMatched
		if r.FreeRun != nil && r.FreeRun.Match {
			tl.free++
		}
		if r.Match {
			tl.matched++
		} else {
			fmt.Fprintf(&tl.report, "  DIVERGES %-28s %s: %s (%d of %d decisions)\n", label, r.ID, describe(r.Divergence), r.DecisionsMatched, len(r.Decisions))
			for _, in := range r.Divergence.Inputs {
				fmt.Fprintf(&tl.report, "      %s\n", in)
			}
		}
		wi, err := replay.WhatIf(h, kind, ns, name, replay.WhatIfOptions{RolloutID: r.ID})
		if err != nil {
			t.Errorf("%s %s: what-if: %v", label, r.ID, err)
			continue
		}
		if wi.Recorded.Outcome != replay.OutcomeComplete {
			continue
		}
		tl.whatIfs++
		dur := within10(float64(wi.Replay.Duration), float64(wi.Recorded.Duration))
		av := within10(float64(wi.Replay.LowestAvailable), float64(wi.Recorded.LowestAvailable))
		if dur {
			tl.durWithin++
		}
		if av {
			tl.availWithin++
		}
		if !dur || !av {
			fmt.Fprintf(&tl.report, "  WHAT-IF  %-28s %s: duration %s recorded %s, lowest available %d recorded %d\n", label, r.ID,
				time.Duration(wi.Replay.Duration).Round(time.Millisecond), time.Duration(wi.Recorded.Duration).Round(time.Millisecond),
				wi.Replay.LowestAvailable, wi.Recorded.LowestAvailable)
		}
	}
	return tl
}

// TestBusyReplay audits every recorded run of the busy suite (test/fidelity/testdata/busy):
// each controller decision must follow from a state the controller could have seen (at least
// 99% of decisions and 97% of rollouts), reported beside the free run's share and the what-if's
// accuracy without overrides (each with its own threshold). The quiet suite is TestFixturesReplay.
func TestBusyReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("the busy recordings take a minute to audit")
	}
	var all busyTally
	var mu sync.Mutex
	byScenario := map[string]*busyTally{}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	files := 0
	for i := range BusyScenarios {
		s := &BusyScenarios[i]
		byScenario[s.Name] = &busyTally{}
		for _, p := range busyFixtures(t, "testdata", s.Name) {
			files++
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				h, err := replay.LoadWatchFiles(p)
				if err != nil {
					t.Errorf("%s: %v", p, err)
					return
				}
				names := s.Workloads
				if len(names) == 0 {
					names = []string{s.Workload}
				}
				label := strings.TrimSuffix(filepath.Base(p), ".json.gz")
				for _, n := range names {
					tl := tallyWorkload(t, label, h, s.Kind, s.Name, n)
					mu.Lock()
					byScenario[s.Name].add(tl)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if files == 0 {
		t.Skip("no busy recording under testdata/busy")
	}
	var lines strings.Builder
	for i := range BusyScenarios {
		tl := byScenario[BusyScenarios[i].Name]
		if tl.rollouts == 0 {
			continue
		}
		fmt.Fprintf(&lines, "  %-26s %s\n", BusyScenarios[i].Name, tl)
		all.add(tl)
	}
	t.Logf("busy suite, %d recordings: %s\n%s%s", files, &all, lines.String(), all.report.String())
	if pct(all.decided, all.decisions) < 100*busyMinDecisionShare {
		t.Errorf("decision audit: %.2f%% of decisions, below %.0f%%", pct(all.decided, all.decisions), 100*busyMinDecisionShare)
	}
	if pct(all.matched, all.rollouts) < 100*busyMinRolloutShare {
		t.Errorf("decision audit: %.1f%% of rollouts, below %.0f%%", pct(all.matched, all.rollouts), 100*busyMinRolloutShare)
	}
	if pct(all.free, all.rollouts) < 100*busyMinFreeRunShare {
		t.Errorf("free run: %.1f%% of rollouts step for step, below %.0f%%", pct(all.free, all.rollouts), 100*busyMinFreeRunShare)
	}
	if pct(all.durWithin, all.whatIfs) < 100*busyMinWhatIfShare {
		t.Errorf("what-if without overrides: duration within 10%% of the recording for %.1f%% of rollouts, below %.0f%%", pct(all.durWithin, all.whatIfs), 100*busyMinWhatIfShare)
	}
	if pct(all.availWithin, all.whatIfs) < 100*busyMinWhatIfShare {
		t.Errorf("what-if without overrides: lowest availability within 10%% of the recording for %.1f%% of rollouts, below %.0f%%", pct(all.availWithin, all.whatIfs), 100*busyMinWhatIfShare)
	}
}
