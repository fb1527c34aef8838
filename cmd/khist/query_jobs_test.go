package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestJobCommands runs runs, steps, rollouts and history on Jobs and CronJobs of the jobs
// fidelity recordings, as the binary would: the wiring. What the answers say is tested in
// package query (TestJobFixtures, TestJobsGolden).
func TestJobCommands(t *testing.T) {
	dir := t.TempDir()
	rec := func(ns string) string { return filepath.Join("../../test/fidelity/testdata/jobs", ns+".json.gz") }
	if out, err := run(t, dir, "import", rec("job-backoff"), rec("cron-forbid"), rec("cron-replace")); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"runs", "cronjob/report", "-n", "cron-forbid"}, []string{"concurrencyPolicy Forbid", "skipped: concurrencyPolicy Forbid (report-29943954 running)", "(+32s)"}},
		{[]string{"runs", "cj", "sync", "-n", "cron-replace", "-o", "json"}, []string{`"replacedBy": "sync-29943955"`, `"timeZone": "Asia/Kolkata"`}},
		{[]string{"runs", "cj/sync", "-n", "cron-replace", "--since", "2026-12-07T09:56:30Z", "--until", "2026-12-07T09:57:30Z"}, []string{"1 time scheduled", "sync-29943957"}},
		{[]string{"steps", "job/migrate", "-n", "job-backoff"}, []string{"Run job/migrate#1", "Pod migrate-thvsh failed: Error, exit code 2", "Job failed: BackoffLimitExceeded"}},
		{[]string{"rollouts", "-n", "job-backoff"}, []string{"job/migrate#1", "failed (BackoffLimitExceeded)", "0/1 succeeded, 4 failed (backoffLimit 3)"}},
		{[]string{"rollouts", "cronjob/report", "-n", "cron-forbid"}, []string{"cronjob/report#1", "cronjob/report#2"}},
		{[]string{"history", "cj/report", "-n", "cron-forbid"}, []string{`schedule "* * * * *", Forbid`}},
		{[]string{"__complete", "steps", "job/migrate", "-n", "job-backoff", "--rollout", ""}, []string{"job/migrate#1\tstarted "}},
	} {
		out, err := run(t, dir, c.args...)
		if err != nil {
			t.Errorf("khist %s: %v\n%s", strings.Join(c.args, " "), err, out)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("khist %s: output lacks %q:\n%s", strings.Join(c.args, " "), w, out)
			}
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"runs"}, "runs: a CronJob is needed: khist runs cronjob/NAME"},
		{[]string{"runs", "job/migrate", "-n", "job-backoff"}, "runs: jobs have no schedule: use a cronjob (cj)"},
		{[]string{"runs", "cj/reprot", "-n", "cron-forbid"}, `no cronjob "reprot" in namespace cron-forbid`},
		{[]string{"runs", "cj/report", "-n", "cron-forbid", "--since", "soon"}, `--since: cannot parse "soon"`},
		{[]string{"steps", "job/migrate", "-n", "job-backoff", "--rollout", "#2"}, "job/migrate has no run #2"},
	} {
		out, err := run(t, dir, c.args...)
		if err == nil {
			t.Errorf("khist %s: no error\n%s", strings.Join(c.args, " "), out)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("khist %s: error %q, want one line with %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}
