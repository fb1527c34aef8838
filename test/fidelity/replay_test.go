package fidelity

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/khist/khist/replay"
)

// minShare is the share of recorded rollouts the replay must match step for step.
const minShare = 0.95

// TestFixturesReplay replays every recorded scenario and compares the simulated steps with the
// recorded ones. It prints the share of rollouts that matched and fails below minShare.
func TestFixturesReplay(t *testing.T) {
	var histories []scenarioHistory
	for i := range Scenarios {
		s := &Scenarios[i]
		path := FixturePath("testdata", s.Name)
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s: no recording at %s: run go test ./test/fidelity -run Live -record", s.Name, path)
			continue
		}
		h, err := replay.LoadWatchFiles(path)
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		histories = append(histories, scenarioHistory{s, h})
	}
	checkFidelity(t, histories)
}

// scenarioHistory is a scenario and its recorded history.
type scenarioHistory struct {
	s *Scenario
	h []replay.Version
}

// checkFidelity audits each scenario's rollouts against the recording (the decision audit,
// replay compare's verdict) and replays them freely, prints the share of rollouts and of
// decisions the audit reproduced and the share of rollouts the free run reproduced step for
// step, and fails when the audit's rollout share is below minShare.
func checkFidelity(t *testing.T, histories []scenarioHistory) {
	t.Helper()
	total, matched, decisions, decided, free := 0, 0, 0, 0, 0
	var report strings.Builder
	for _, sh := range histories {
		s, h := sh.s, sh.h
		res, err := replay.Compare(h, s.Kind, s.Name, s.Workload, replay.CompareOptions{})
		if err != nil {
			t.Errorf("%s: compare: %v", s.Name, err)
			continue
		}
		for _, r := range res.Rollouts {
			total++
			decisions += len(r.Decisions)
			decided += r.DecisionsMatched
			freeRun := "free run: match"
			if r.FreeRun != nil && r.FreeRun.Match {
				free++
			} else if r.FreeRun != nil {
				freeRun = "free run: " + describe(r.FreeRun.Divergence)
			}
			if r.Match {
				matched++
				fmt.Fprintf(&report, "  MATCH     %-22s %s (%d decisions; %s)\n", s.Name, r.ID, len(r.Decisions), freeRun)
				continue
			}
			fmt.Fprintf(&report, "  DIVERGES  %-22s %s: %s (%d of %d decisions; %s)\n", s.Name, r.ID, describe(r.Divergence),
				r.DecisionsMatched, len(r.Decisions), freeRun)
		}
	}
	if total == 0 {
		t.Fatal("no rollout replayed")
	}
	share := float64(matched) / float64(total)
	t.Logf("fidelity: decision audit: %d of %d recorded rollouts matched (%.1f%%), %d of %d decisions (%.1f%%); free run: %d of %d rollouts step for step (%.1f%%)\n%s",
		matched, total, 100*share, decided, decisions, 100*float64(decided)/float64(max(decisions, 1)), free, total, 100*float64(free)/float64(total), report.String())
	if share < minShare {
		t.Errorf("fidelity %.1f%% is below %.0f%%", 100*share, 100*minShare)
	}
}

func describe(d any) string {
	if d == nil {
		return "?"
	}
	return strings.TrimSpace(fmt.Sprintf("%+v", d))
}
