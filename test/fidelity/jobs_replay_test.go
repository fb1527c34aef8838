package fidelity

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/khist/khist/replay"
)

// jobDivergences are the recorded Job runs the replay does not reproduce step for step, by
// "NAMESPACE/JOB", with the reason. A run listed here that matches, or one that diverges
// without being listed, fails TestJobReplay.
var jobDivergences = map[string]string{}

// TestJobReplay replays every Job of the jobs suite's recordings (the Jobs of the job
// scenarios and those the CronJobs started) with the Job controller and compares the pods it
// creates and deletes with the recorded ones, step for step (see replay.Compare): at least
// 95% must match, and every divergence must be one of jobDivergences.
func TestJobReplay(t *testing.T) {
	total, free, audited := 0, 0, 0
	var report strings.Builder
	files, err := filepath.Glob(JobFixturePath("testdata", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recording of the jobs suite (%v): make fidelity-jobs records them", err)
	}
	for _, p := range files {
		ns := strings.TrimSuffix(filepath.Base(p), ".json.gz")
		h, err := replay.LoadWatchFiles(p)
		if err != nil {
			t.Errorf("%s: %v", ns, err)
			continue
		}
		var jobs []string
		seen := map[string]bool{}
		for _, v := range h {
			if v.Kind == "Job" && !seen[v.Name] {
				seen[v.Name] = true
				jobs = append(jobs, v.Name)
			}
		}
		sort.Strings(jobs)
		for _, name := range jobs {
			key := ns + "/" + name
			res, err := replay.Compare(h, "job", ns, name, replay.CompareOptions{})
			if err != nil {
				t.Errorf("%s: compare: %v", key, err)
				continue
			}
			for _, r := range res.Rollouts {
				total++
				if r.Match {
					audited++
				}
				ok := r.FreeRun != nil && r.FreeRun.Match
				if ok {
					free++
				}
				why, listed := jobDivergences[key]
				switch {
				case ok && listed:
					t.Errorf("%s: listed as diverging (%s) but reproduced: remove it from jobDivergences", key, why)
				case !ok && !listed:
					var sim []replay.Step
					d := any(nil)
					if r.FreeRun != nil {
						d, sim = r.FreeRun.Divergence, r.FreeRun.Simulated
					}
					t.Errorf("%s: diverges and is not explained in jobDivergences: %s\n  recorded:  %v\n  simulated: %v", key, describe(d), r.Recorded, sim)
				case !ok:
					fmt.Fprintf(&report, "  DIVERGES  %-28s %s\n", key, why)
				}
			}
		}
	}
	if total == 0 {
		t.Fatal("no Job replayed")
	}
	t.Logf("Job replay: %d of %d recorded Job runs reproduced step for step (%.1f%%); decision audit: %d of %d\n%s",
		free, total, 100*float64(free)/float64(total), audited, total, report.String())
	if float64(free) < 0.95*float64(total) {
		t.Errorf("%d of %d Job runs reproduced, below 95%%", free, total)
	}
}
