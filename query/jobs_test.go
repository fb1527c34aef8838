package query

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/projector"
)

// The jobs suite's recordings (test/fidelity/testdata/jobs, made on the real control plane by
// TestLiveJobs): each scenario played twice, in namespaces NAME and NAME-2.
var jobScenarios = map[string]string{ // namespace of the first run -> the workload
	"job-parallel": "job/work", "job-flaky": "job/crawl", "job-backoff": "job/migrate", "job-indexed": "job/shard", "job-deadline": "job/slow",
	"cron-allow": "cronjob/tick", "cron-forbid": "cronjob/report", "cron-replace": "cronjob/sync", "cron-suspend": "cronjob/backup",
}

// jobRecordings lists the recordings: namespace -> scenario (its first run's namespace).
func jobRecordings(t *testing.T) map[string]string {
	files, _ := filepath.Glob(filepath.Join("..", "test", "fidelity", "testdata", "jobs", "*.json.gz"))
	out := map[string]string{}
	for _, f := range files {
		ns := strings.TrimSuffix(filepath.Base(f), ".json.gz")
		base := ns
		for s := range jobScenarios {
			if ns == s || strings.HasPrefix(ns, s+"-") {
				base = s
			}
		}
		if _, ok := jobScenarios[base]; !ok {
			t.Errorf("%s: a recording of no known job scenario", f)
			continue
		}
		out[ns] = base
	}
	if len(out) < 2*len(jobScenarios) {
		t.Errorf("%d job recordings, want each of the %d scenarios twice", len(out), len(jobScenarios))
	}
	return out
}

// TestJobFixtures checks, on every recording of the jobs suite, the runs, steps and outcomes
// its scenario implies (see test/fidelity/jobs.go).
func TestJobFixtures(t *testing.T) {
	ctx := context.Background()
	for ns, sc := range jobRecordings(t) {
		t.Run(ns, func(t *testing.T) {
			s := loadScenario(t, "jobs-"+ns)
			v := s.views
			kind, name, _ := strings.Cut(jobScenarios[sc], "/")
			if kind == "job" {
				checkJob(t, ctx, v, sc, ns, name)
				return
			}
			checkCronJob(t, ctx, v, sc, ns, name, s.last)
		})
	}
}

func checkJob(t *testing.T, ctx context.Context, v *Views, sc, ns, name string) {
	runs, err := v.DB.JobRuns(ctx, projector.JobFilter{Cluster: v.Cluster, Namespace: ns, Name: name})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs of job/%s: %v, %v; want one", name, runs, err)
	}
	r := runs[0]
	steps, err := v.DB.JobSteps(ctx, v.Cluster, ns, name, r.UID)
	if err != nil {
		t.Fatal(err)
	}
	count := func(action string) int {
		n := 0
		for _, s := range steps {
			if s.Action == action {
				n++
			}
		}
		return n
	}
	if got := count(projector.JobActionCreatePod); got != r.PodsCreated {
		t.Errorf("%d create-pod steps, run says %d pods created", got, r.PodsCreated)
	}
	switch sc {
	case "job-parallel":
		if r.Outcome != projector.JobComplete || r.Succeeded != 10 || r.Failed != 0 || r.PodsCreated != 10 {
			t.Errorf("want Complete with 10 pods created and succeeded, got %s, %d created, %d succeeded, %d failed", r.Outcome, r.PodsCreated, r.Succeeded, r.Failed)
		}
		if r.PeakRunning != 3 {
			t.Errorf("peak %d pods running, want parallelism 3", r.PeakRunning)
		}
	case "job-backoff":
		// backoffLimit 3: the Job fails after 4 pod failures, each exit code 2, the
		// controller waiting longer before each retry (10 s, 20 s, 40 s).
		if r.Outcome != projector.JobFailed || r.Reason != "BackoffLimitExceeded" || r.Failed != 4 || r.PodsCreated != 4 || r.Succeeded != 0 {
			t.Errorf("want Failed BackoffLimitExceeded after 4 failures, got %s %s, %d created, %d failed", r.Outcome, r.Reason, r.PodsCreated, r.Failed)
		}
		if r.ExitCodes["Error 2"] != 4 {
			t.Errorf("exit codes %v, want 4 x Error 2", r.ExitCodes)
		}
		var lastFail time.Time
		var gaps []time.Duration
		for _, s := range steps {
			switch s.Action {
			case projector.JobActionFailed:
				lastFail = s.At
			case projector.JobActionCreatePod:
				if !lastFail.IsZero() {
					gaps = append(gaps, s.At.Sub(lastFail))
				}
			}
		}
		if len(gaps) != 3 {
			t.Fatalf("retries after %v, want 3", gaps)
		}
		for i, g := range gaps {
			want := 10 * time.Second << i
			if g < want-2*time.Second || g > want+5*time.Second {
				t.Errorf("retry %d came %s after the failure, want about %s (exponential back-off)", i+1, g, want)
			}
		}
	case "job-flaky":
		// Pods fail at even odds: the Job completes after 6 successes, every other pod created
		// having failed (exit code 1), with fewer failures than its backoffLimit (20).
		if r.Outcome != projector.JobComplete || r.Succeeded != 6 || r.PodsCreated != r.Succeeded+r.Failed || r.Failed > 20 {
			t.Errorf("want Complete after 6 successes, got %s, %d created, %d succeeded, %d failed", r.Outcome, r.PodsCreated, r.Succeeded, r.Failed)
		}
		if count(projector.JobActionFailed) != r.Failed || r.ExitCodes["Error 1"] != r.Failed {
			t.Errorf("%d pod-failed steps, exit codes %v; want %d x Error 1", count(projector.JobActionFailed), r.ExitCodes, r.Failed)
		}
		sum := 0
		for _, a := range r.Attempts {
			sum += a
		}
		if sum != r.PodsCreated || r.Failed > 0 && len(r.Attempts) < 2 {
			t.Errorf("attempts %v for %d pods created and %d failures", r.Attempts, r.PodsCreated, r.Failed)
		}
	case "job-indexed":
		if r.Outcome != projector.JobComplete || r.Succeeded != 5 || r.CompletionMode != "Indexed" {
			t.Errorf("want Indexed Complete with 5 successes, got %s %s, %d succeeded", r.CompletionMode, r.Outcome, r.Succeeded)
		}
		var idx []int
		for _, s := range steps {
			if s.Action == projector.JobActionCreatePod && s.Index != nil {
				idx = append(idx, *s.Index)
			}
		}
		slices.Sort(idx)
		if !slices.Equal(slices.Compact(idx), []int{0, 1, 2, 3, 4}) {
			t.Errorf("indexes created %v, want 0..4", idx)
		}
		if len(r.Suspensions) != 1 || r.Suspensions[0].To.IsZero() {
			t.Fatalf("suspensions %v, want one, resumed", r.Suspensions)
		}
		for _, s := range steps {
			if s.Action == projector.JobActionCreatePod && s.At.Before(r.Suspensions[0].To) {
				t.Errorf("pod %s created at %s, while the Job was suspended", s.Pod, s.At)
			}
		}
	case "job-deadline":
		if r.Outcome != projector.JobFailed || r.Reason != "DeadlineExceeded" || r.Deleted != 2 || r.Succeeded != 0 {
			t.Errorf("want Failed DeadlineExceeded with its 2 running pods deleted, got %s %s, %d deleted", r.Outcome, r.Reason, r.Deleted)
		}
		if d := r.Ended.Sub(r.Started); d < 20*time.Second {
			t.Errorf("failed %s after its start, before its activeDeadlineSeconds (20)", d)
		}
	}
}

func checkCronJob(t *testing.T, ctx context.Context, v *Views, sc, ns, name string, last time.Time) {
	var out bytes.Buffer
	if err := v.Runs(ctx, RunsArgs{Object: "cronjob/" + name, Namespace: ns}, &out); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	specs, err := v.DB.CronSpecs(ctx, v.Cluster, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := v.DB.JobRuns(ctx, projector.JobFilter{Cluster: v.Cluster, Namespace: ns, CronJob: name})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := cronRuns(specs, jobs, last)
	if err != nil {
		t.Fatal(err)
	}
	var ran, notRun []RunRow
	for _, r := range rows {
		if r.Job != "" {
			ran = append(ran, r)
		} else if r.NotRun != NotRunPending {
			notRun = append(notRun, r)
		}
	}
	// Every Job was made for a time of the schedule, each a minute after the one before.
	for i, r := range rows {
		if r.Scheduled.Second() != 0 || i > 0 && r.Scheduled.Sub(rows[i-1].Scheduled) != time.Minute {
			t.Errorf("scheduled times %v are not the minutes of * * * * *", r.Scheduled)
		}
	}
	reasons := func() string {
		var s []string
		for _, r := range notRun {
			s = append(s, r.Scheduled.Format("15:04")+" "+r.NotRun)
		}
		return fmt.Sprint(s)
	}
	switch sc {
	case "cron-allow":
		// Runs of 70-75 s every minute: each time runs, two at once, and the successful
		// Jobs beyond the last are cleaned up.
		if len(notRun) != 0 || len(ran) < 4 {
			t.Errorf("%d runs, not run: %s; want every time run", len(ran), reasons())
		}
		overlap, cleaned := false, 0
		for i, r := range ran {
			if i > 0 && !ran[i-1].Ended.IsZero() && ran[i-1].Ended.After(r.Created) {
				overlap = true
			}
			if !r.CleanedUp.IsZero() {
				cleaned++
			}
		}
		if !overlap {
			t.Error("no two runs overlap under Allow")
		}
		if cleaned < 2 {
			t.Errorf("%d Jobs cleaned up, want all but the last complete ones (successfulJobsHistoryLimit 1)", cleaned)
		}
	case "cron-forbid":
		// Runs of 150 s: the times that fall during a run are skipped, the most recent one
		// starting late once it ends; never two at once.
		skipped, late := 0, 0
		for _, r := range notRun {
			if strings.HasPrefix(r.NotRun, NotRunForbid) {
				skipped++
			}
		}
		for i, r := range ran {
			if r.Late > 5*time.Second {
				late++
			}
			if i > 0 && !ran[i-1].Ended.IsZero() && ran[i-1].Ended.Sub(r.Created) > 5*time.Second {
				t.Errorf("%s started while %s ran, under Forbid", r.Job, ran[i-1].Job)
			}
		}
		if skipped < 2 || late < 1 || len(notRun) != skipped {
			t.Errorf("%d times skipped by Forbid, %d runs late, not run: %s; want >= 2 skipped and one late", skipped, late, reasons())
		}
	case "cron-replace":
		// Runs of 90 s every minute: each run is replaced by the next.
		if len(notRun) != 0 || len(ran) < 4 {
			t.Errorf("%d runs, not run: %s", len(ran), reasons())
		}
		for i, r := range ran[:len(ran)-1] {
			if r.ReplacedBy != ran[i+1].Job {
				t.Errorf("%s replaced by %q, want %s", r.Job, r.ReplacedBy, ran[i+1].Job)
			}
		}
		if s := specs[len(specs)-1]; s.TimeZone != "Asia/Kolkata" {
			t.Errorf("time zone %q", s.TimeZone)
		}
	case "cron-suspend":
		// Suspended for two times; resumed 45 s past the second, beyond its
		// startingDeadlineSeconds (30): suspended, then missed; runs before and after.
		var got []string
		for _, r := range notRun {
			got = append(got, strings.SplitN(r.NotRun, " (", 2)[0])
		}
		if !slices.Equal(got, []string{NotRunSuspended, NotRunMissed}) {
			t.Errorf("not run: %s; want one suspended, then one missed", reasons())
		}
		if len(ran) < 2 || len(notRun) == 0 || !ran[0].Scheduled.Before(notRun[0].Scheduled) || !ran[len(ran)-1].Scheduled.After(notRun[len(notRun)-1].Scheduled) {
			t.Errorf("%d runs; want runs before the suspension and after it", len(ran))
		}
	}
	for _, r := range ran {
		if r.Outcome == "failed" || strings.HasPrefix(r.Outcome, "failed ") {
			t.Errorf("%s %s", r.Job, r.Outcome)
		}
	}
}

// TestJobsGolden runs the Job and CronJob queries on the first run of each jobs scenario and
// compares their output with testdata/golden/jobs-NAMESPACE/QUERY.golden.
func TestJobsGolden(t *testing.T) {
	ctx := context.Background()
	for sc, obj := range jobScenarios {
		t.Run(sc, func(t *testing.T) {
			s := loadScenario(t, "jobs-"+sc)
			kind, name, _ := strings.Cut(obj, "/")
			since, until := rfc(s.first), rfc(s.last.Add(time.Second))
			qs := []goldenQuery{
				{"rollouts-" + sc, func(ctx context.Context, v *Views, w *bytes.Buffer) error {
					return v.Rollouts(ctx, RolloutsArgs{Namespace: sc, Output: "wide"}, w)
				}},
				{"rollouts-" + sc + ".json", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
					return v.Rollouts(ctx, RolloutsArgs{Namespace: sc, Output: "json"}, w)
				}},
				{"history-" + kind + "-" + name, func(ctx context.Context, v *Views, w *bytes.Buffer) error {
					return v.History(ctx, HistoryArgs{Object: obj, Namespace: sc}, w)
				}},
				{"timeline-" + sc, func(ctx context.Context, v *Views, w *bytes.Buffer) error {
					return v.Timeline(ctx, TimelineArgs{Namespace: sc, Since: since, Until: until}, w)
				}},
			}
			if kind == "job" {
				qs = append(qs, goldenQuery{"steps-job-" + name, func(ctx context.Context, v *Views, w *bytes.Buffer) error {
					return v.Steps(ctx, StepsArgs{Object: obj, Namespace: sc, Rollout: "all"}, w)
				}}, goldenQuery{"steps-job-" + name + ".json", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
					return v.Steps(ctx, StepsArgs{Object: obj, Namespace: sc, Output: "json"}, w)
				}})
			} else {
				qs = append(qs, goldenQuery{"runs-cronjob-" + name, func(ctx context.Context, v *Views, w *bytes.Buffer) error {
					return v.Runs(ctx, RunsArgs{Object: obj, Namespace: sc}, w)
				}}, goldenQuery{"runs-cronjob-" + name + ".json", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
					return v.Runs(ctx, RunsArgs{Object: obj, Namespace: sc, Output: "json"}, w)
				}}, goldenQuery{"rollouts-cronjob-" + name, func(ctx context.Context, v *Views, w *bytes.Buffer) error {
					return v.Rollouts(ctx, RolloutsArgs{Object: obj, Namespace: sc}, w)
				}})
			}
			for _, q := range qs {
				t.Run(q.slug, func(t *testing.T) {
					var out bytes.Buffer
					if err := q.run(ctx, s.views, &out); err != nil {
						fmt.Fprintf(&out, "error: %v\n", err)
					}
					checkGolden(t, filepath.Join("testdata", "golden", "jobs-"+sc, q.slug+".golden"), out.Bytes())
				})
			}
		})
	}
}

// TestJobsBadInput: one-line errors for what runs and steps cannot take.
func TestJobsBadInput(t *testing.T) {
	ctx := context.Background()
	v := loadScenario(t, "jobs-cron-allow").views
	for _, c := range []struct {
		run  func(w *bytes.Buffer) error
		want string
	}{
		{func(w *bytes.Buffer) error {
			return v.Runs(ctx, RunsArgs{Object: "deploy/web", Namespace: "cron-allow"}, w)
		}, "have no schedule"},
		{func(w *bytes.Buffer) error {
			return v.Runs(ctx, RunsArgs{Object: "cronjob/nope", Namespace: "cron-allow"}, w)
		}, "no cronjob"},
		{func(w *bytes.Buffer) error {
			return v.Runs(ctx, RunsArgs{Object: "cronjob/tick", Namespace: "cron-allow", Since: "yesterday"}, w)
		}, "--since"},
		{func(w *bytes.Buffer) error { return v.Runs(ctx, RunsArgs{Object: "", Namespace: "cron-allow"}, w) }, "a CronJob is needed"},
		{func(w *bytes.Buffer) error {
			return v.Steps(ctx, StepsArgs{Object: "cronjob/tick", Namespace: "cron-allow"}, w)
		}, "khist runs"},
	} {
		var out bytes.Buffer
		err := c.run(&out)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("error %v, want one line containing %q", err, c.want)
		}
	}
}

// TestCronRunsSchedule checks cronRuns on a made-up history: a nightly schedule in a time zone,
// a night with no Job, a Job made by hand and a spec change of the schedule.
func TestCronRunsSchedule(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	deadline := int64(300)
	specs := []projector.CronSpec{
		{Seq: 1, At: at("2026-12-01T10:00:00Z"), Created: at("2026-12-01T10:00:00Z"), Schedule: "0 2 * * *", TimeZone: "Europe/Paris", StartingDeadlineSeconds: &deadline},
		{Seq: 50, At: at("2026-12-03T12:00:00Z"), Schedule: "30 3 * * *", TimeZone: "Europe/Paris", StartingDeadlineSeconds: &deadline},
	}
	job := func(name, sched, created, ended string) projector.JobRun {
		r := projector.JobRun{Name: name, UID: name, Created: at(created), Ended: at(ended), Outcome: projector.JobComplete, FirstSeq: 1}
		if sched != "" {
			s := at(sched)
			r.Scheduled = &s
		}
		return r
	}
	runs := []projector.JobRun{
		job("nightly-a", "2026-12-02T01:00:00Z", "2026-12-02T01:00:01Z", "2026-12-02T01:10:00Z"),
		// 2026-12-03 01:00 UTC: no Job (the controller was down past the deadline).
		job("nightly-manual", "", "2026-12-03T09:00:00Z", "2026-12-03T09:05:00Z"),
		job("nightly-b", "2026-12-04T02:30:00Z", "2026-12-04T02:30:02Z", "2026-12-04T02:40:00Z"),
	}
	rows, err := cronRuns(specs, runs, at("2026-12-04T12:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.Scheduled.Format("01-02T15:04")+" "+r.Job+r.NotRun+fmt.Sprint(map[bool]string{true: " manual"}[r.Manual]))
	}
	want := []string{
		"12-02T01:00 nightly-a",             // 02:00 in Paris (UTC+1 in winter)
		"12-03T01:00 " + NotRunMissed,       // no Job, a starting deadline
		"12-03T09:00 nightly-manual manual", // made by hand
		"12-04T02:30 nightly-b",             // the new schedule, 03:30 in Paris
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := cronRuns([]projector.CronSpec{{At: at("2026-12-01T10:00:00Z"), Schedule: "61 * * * *"}}, nil, at("2026-12-02T00:00:00Z")); err == nil {
		t.Error("a bad schedule gave no error")
	}
	if _, err := cronRuns([]projector.CronSpec{{At: at("2026-12-01T10:00:00Z"), Schedule: "* * * * *", TimeZone: "Mars/Olympus"}}, nil, at("2026-12-02T00:00:00Z")); err == nil {
		t.Error("an unknown time zone gave no error")
	}
}

// TestCleanedUp: a finished Job deleted while its CronJob exists was cleaned up by the history
// limits; one deleted with its CronJob, or while running, was not.
func TestCleanedUp(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	specs := []projector.CronSpec{{UID: "cj", At: t0, Schedule: "* * * * *"}, {UID: "cj", At: t0.Add(time.Hour), Gone: true}}
	run := func(outcome string, gone time.Duration) *projector.JobRun {
		return &projector.JobRun{Owner: projector.Ref{Kind: "CronJob", Name: "c", UID: "cj"}, Outcome: outcome, Gone: true, GoneAt: t0.Add(gone)}
	}
	if !cleanedUp(run(projector.JobComplete, 10*time.Minute), specs) {
		t.Error("a finished Job deleted while its CronJob exists: not cleaned up")
	}
	if cleanedUp(run(projector.JobComplete, time.Hour), specs) {
		t.Error("a Job deleted with its CronJob: cleaned up")
	}
	if cleanedUp(run("", 10*time.Minute), specs) {
		t.Error("a running Job deleted: cleaned up")
	}
}
