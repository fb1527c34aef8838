package replay

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestLiveRecordingsMatch replays recordings of the live fidelity suite whose timing once made
// the simulation diverge (see testdata/RECORDINGS.md): each rollout must take the recorded
// steps.
//   - default-25-2, default-25-3: a ReplicaSet status write reports fewer Ready pods than had
//     become Ready before the pod creation of the same sync; the Deployment controller saw
//     those readiness changes together, after the status write (alignEnvironment).
//   - scale-during-rollout: the Deployment controller synced once more on the old spec after
//     kubectl scale was committed (its write carries the old desired-replicas), then scaled
//     proportionally (syncedBefore, SpecChange.afterSync).
//   - default-25, scale-during-rollout-2: the same scenarios with other timings.
func TestLiveRecordingsMatch(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "live", "*.json.gz"))
	if err != nil || len(files) != 5 {
		t.Fatalf("want the 5 recordings in testdata/live, got %d: %v", len(files), err)
	}
	for _, f := range files {
		ns := strings.TrimSuffix(filepath.Base(f), ".json.gz")
		t.Run(ns, func(t *testing.T) {
			h, err := LoadWatchFiles(f)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Compare(h, "deployment", ns, "web", CompareOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Rollouts) != 2 {
				t.Errorf("%d rollouts, want 2", len(res.Rollouts))
			}
			for _, r := range res.Rollouts {
				if !r.Match {
					t.Errorf("%s diverges: %+v", r.ID, r.Divergence)
				}
			}
		})
	}
}
