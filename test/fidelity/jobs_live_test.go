package fidelity

import (
	"compress/gzip"
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/khist/khist/test/e2e"
)

var (
	jobsSuite = flag.Bool("jobs", false, "play the jobs suite (JobScenarios, each JobRuns times): TestLiveJobs; with -record its recordings become testdata/jobs/NAMESPACE.json.gz")
	jobRun    = flag.Int("job-run", 0, "play only run N of each job scenario (namespace NAME-N), e.g. to record one more (default: runs 1 to JobRuns)")
)

// TestLiveJobs plays every job scenario JobRuns times, all at once, on the real control plane
// while khist's collector records it, and keeps each namespace's recording (with -record as
// the fixture TestJobFixtures reads; without, under test/artifacts/fidelity-jobs). It runs
// only with -jobs (make fidelity-jobs): about 6 minutes, bound by the CronJob scenarios.
func TestLiveJobs(t *testing.T) {
	if !*jobsSuite {
		t.Skip("the jobs suite runs with -jobs (make fidelity-jobs)")
	}
	if testCluster == nil {
		t.Skip("needs the test control plane (not with -short)")
	}
	var scenarios []Scenario
	for _, s := range JobScenarios {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), s.Name) {
			continue
		}
		if *jobRun > 0 {
			scenarios = append(scenarios, JobScenarioRun(s, *jobRun))
			continue
		}
		for i := 1; i <= JobRuns; i++ {
			scenarios = append(scenarios, JobScenarioRun(s, i))
		}
	}
	if len(scenarios) == 0 {
		t.Fatalf("-scenarios %q selects no job scenario", *only)
	}
	var names []string
	for _, s := range scenarios {
		names = append(names, s.Name)
	}
	rec := e2e.StartRecorder(t, testCluster, e2e.RecorderOptions{Cluster: "fidelity-jobs", IncludeNamespaces: names})
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(scenarios))
	for i := range scenarios {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &scenarios[i]
			errs[i] = s.Run(ctx, runner{testCluster})
			t.Logf("%s done after %s (err: %v)", s.Name, time.Since(begin).Round(time.Second), errs[i])
		}()
	}
	wg.Wait()
	failed := false
	for _, err := range errs {
		if err != nil && !strings.Contains(err.Error(), context.Canceled.Error()) {
			t.Error(err)
			failed = true
		}
	}
	time.Sleep(5 * time.Second) // the last status updates
	envs, err := rec.Envelopes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range scenarios {
		s := &scenarios[i]
		mine := ForScenario(envs, s)
		path := filepath.Join("..", "artifacts", "fidelity-jobs", s.Name+".json.gz")
		if *record && !failed {
			path = JobFixturePath("testdata", s.Name)
		}
		if err := e2e.WriteWatchFileLevel(path, mine, gzip.BestCompression); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d events, %d bytes", path, len(mine), st.Size())
	}
}
