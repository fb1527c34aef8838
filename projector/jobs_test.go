package projector

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/eventlog/importer"
)

// loadJobsRecording reads a recording of the jobs fidelity suite (test/fidelity/testdata/jobs,
// a watch stream the collector recorded on the real control plane), with sequences from 1.
func loadJobsRecording(t *testing.T, ns string) []*eventlog.Envelope {
	t.Helper()
	p := filepath.Join("..", "test", "fidelity", "testdata", "jobs", ns+".json.gz")
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := importer.ReadWatch("test", importer.Input{Name: p, R: f})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range res.Envelopes {
		e.Seq = uint64(i + 1)
	}
	return res.Envelopes
}

// TestJobsView folds recordings of Jobs and CronJobs and checks what the jobs view keeps: the
// runs, their pods' ends with exit codes, the CronJob's spec changes; folding one event per
// transaction or all at once gives the same views.
func TestJobsView(t *testing.T) {
	ctx := context.Background()
	for _, ns := range []string{"job-backoff", "job-deadline", "cron-suspend", "cron-replace"} {
		t.Run(ns, func(t *testing.T) {
			envs := loadJobsRecording(t, ns)
			one, all := MustOpenDB(t), MustOpenDB(t)
			foldAll(t, one, envs, 1)
			foldAll(t, all, envs, len(envs))
			if a, b := mustDump(t, one), mustDump(t, all); a != b {
				t.Fatalf("folding one event at a time differs from all at once: %s", firstDiff(a, b))
			}
			runs, err := all.JobRuns(ctx, JobFilter{Cluster: "test", Namespace: ns})
			if err != nil || len(runs) == 0 {
				t.Fatalf("runs: %v %v", runs, err)
			}
			switch ns {
			case "job-backoff":
				r := runs[0]
				if r.Outcome != JobFailed || r.Reason != "BackoffLimitExceeded" || r.Failed != 4 || r.BackoffLimit == nil || *r.BackoffLimit != 3 {
					t.Errorf("run %+v: want Failed BackoffLimitExceeded after 4 failures, backoffLimit 3", r)
				}
				steps, err := all.JobSteps(ctx, "test", ns, r.Name, r.UID)
				if err != nil {
					t.Fatal(err)
				}
				failed := 0
				for _, s := range steps {
					if s.Action == JobActionFailed {
						failed++
						if s.ExitCode == nil || *s.ExitCode != 2 || s.Reason != "Error" {
							t.Errorf("failure step %+v: want Error, exit code 2", s)
						}
					}
				}
				if failed != 4 {
					t.Errorf("%d pod-failed steps, want 4", failed)
				}
			case "job-deadline":
				if r := runs[0]; r.Outcome != JobFailed || r.Reason != "DeadlineExceeded" || r.Deleted != 2 {
					t.Errorf("run %+v: want Failed DeadlineExceeded, 2 running pods deleted", r)
				}
			case "cron-suspend":
				specs, err := all.CronSpecs(ctx, "test", ns, "backup")
				if err != nil {
					t.Fatal(err)
				}
				if len(specs) != 3 || specs[0].Suspend || !specs[1].Suspend || specs[2].Suspend {
					t.Errorf("specs %+v: want created, suspended, resumed", specs)
				}
				for _, r := range runs {
					if r.Owner.Kind != "CronJob" || r.Owner.Name != "backup" || r.Scheduled == nil {
						t.Errorf("run %s: owner %v, scheduled %v", r.Name, r.Owner, r.Scheduled)
					}
				}
			case "cron-replace":
				gone := 0
				for _, r := range runs {
					if r.Gone && r.Outcome == "" {
						gone++
					}
				}
				if gone != len(runs)-1 {
					t.Errorf("%d of %d runs deleted while running, want all but the last (Replace)", gone, len(runs))
				}
			}
		})
	}
}
