package replay

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCronJobReplay replays the schedule decisions of every CronJob of the jobs suite's
// recordings and compares the Jobs created and deleted with the recorded ones.
func TestCronJobReplay(t *testing.T) {
	files, _ := filepath.Glob("../test/fidelity/testdata/jobs/cron-*.json.gz")
	if len(files) == 0 {
		t.Skip("no CronJob recording")
	}
	names := map[string]string{"cron-allow": "tick", "cron-forbid": "report", "cron-replace": "sync", "cron-suspend": "backup"}
	matched := 0
	for _, f := range files {
		ns := strings.TrimSuffix(filepath.Base(f), ".json.gz")
		base := ns
		if i := strings.LastIndex(ns, "-"); i > 0 && names[ns] == "" {
			base = ns[:i]
		}
		h, err := LoadWatchFiles(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := CompareCronJob(h, ns, names[base], nil)
		if err != nil {
			t.Fatalf("%s: %v", ns, err)
		}
		if res.Match {
			matched++
			continue
		}
		var b strings.Builder
		_ = res.WriteTable(&b)
		t.Errorf("%s: %s", ns, b.String())
	}
	// every recorded CronJob reproduced: a divergence fails
	t.Logf("CronJob replay: %d of %d recorded CronJobs reproduced step for step", matched, len(files))
}

// TestCronJobWhatIf replays recorded CronJobs with other settings: Forbid's skipped minutes run
// under Allow, and a startingDeadlineSeconds of 60 starts at the resumption the minute that 30
// made it miss.
func TestCronJobWhatIf(t *testing.T) {
	h, err := LoadWatchFiles("../test/fidelity/testdata/jobs/cron-forbid.json.gz")
	if err != nil {
		t.Skip(err)
	}
	res, err := CompareCronJob(h, "cron-forbid", "report", []string{"spec.concurrencyPolicy=Allow"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range res.Simulated {
		got = append(got, s.Action+" "+s.Job+" "+s.Time.Format("15:04:05"))
	}
	want := []string{"create report-29943954 09:54:00", "create report-29943955 09:55:00", "create report-29943956 09:56:00",
		"create report-29943957 09:57:00", "create report-29943958 09:58:00"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") || res.Match {
		t.Errorf("Allow: %v (match %v), want %v", got, res.Match, want)
	}

	h, err = LoadWatchFiles("../test/fidelity/testdata/jobs/cron-suspend.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	res, err = CompareCronJob(h, "cron-suspend", "backup", []string{"startingDeadlineSeconds=60"})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range res.Simulated {
		found = found || s.Action == ActionCreate && s.Job == "backup-29943957" && s.Time.Sub(s.Scheduled) > 40*time.Second
	}
	if !found {
		t.Errorf("startingDeadlineSeconds=60: the 09:57 run did not start late at the resumption: %v", res.Simulated)
	}

	for _, bad := range []string{"spec.concurrencyPolicy=Sometimes", "spec.schedule=nope", "spec.replicas=2", "startingDeadlineSeconds=-1", "timeZone=Mars/Base"} {
		if _, err := CompareCronJob(h, "cron-suspend", "backup", []string{bad}); !errors.Is(err, ErrInvalidOverride) {
			t.Errorf("--set %s: %v, want ErrInvalidOverride", bad, err)
		}
	}
}

// TestCronJobRegistered checks that the CronJob is a registered kind that the entry points
// dispatch to through the registry: CompareReport and WhatIfReport give its schedule replay
// for any kubectl spelling, CheckWhatIf its --set checks, and without its registration the
// kind is unknown to all of them.
func TestCronJobRegistered(t *testing.T) {
	h := jobFixture(t, "cron-forbid")
	if !slices.Contains(Kinds(), KindCronJob) {
		t.Fatalf("Kinds() = %v, want CronJob among them", Kinds())
	}
	for _, k := range []string{"CronJob", "cj", "cronjobs", "cronjob.batch"} {
		rep, err := CompareReport(h, k, "cron-forbid", "report", CompareOptions{})
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		c, ok := rep.(*CronComparison)
		if !ok || !c.Match || len(c.Recorded) == 0 {
			t.Fatalf("%s: got %T %+v, want a matching CronComparison", k, rep, rep)
		}
	}
	rep, err := WhatIfReport(h, "cj", "cron-forbid", "report", WhatIfOptions{Set: []string{"spec.concurrencyPolicy=Allow"}})
	if err != nil {
		t.Fatal(err)
	}
	if c := rep.(*CronComparison); c.Match || len(c.Simulated) <= len(c.Recorded) {
		t.Errorf("what-if Allow: match %v, %d simulated steps for %d recorded, want more Jobs than Forbid made", c.Match, len(c.Simulated), len(c.Recorded))
	}
	if err := CheckWhatIf("cj", WhatIfOptions{Set: []string{"spec.replicas=3"}}); !errors.Is(err, ErrInvalidOverride) {
		t.Errorf("CheckWhatIf(cj, spec.replicas): %v, want ErrInvalidOverride", err)
	}
	if _, err := WhatIfReport(h, "cj", "cron-forbid", "report", WhatIfOptions{Set: []string{"spec.parallelism=3"}}); !errors.Is(err, ErrInvalidOverride) {
		t.Errorf("WhatIfReport(cj, spec.parallelism): %v, want ErrInvalidOverride", err)
	}
	// The pod simulation refuses it, naming the kinds it takes.
	if _, err := Compare(h, "cj", "cron-forbid", "report", CompareOptions{}); !errors.Is(err, ErrUnsupportedKind) {
		t.Errorf("Compare(cj): %v, want ErrUnsupportedKind", err)
	}

	registerMu.Lock()
	saved := current().kinds
	publish(slices.DeleteFunc(slices.Clone(saved), func(k registeredKind) bool { return k.kind() == KindCronJob }))
	registerMu.Unlock()
	defer func() {
		registerMu.Lock()
		publish(saved)
		registerMu.Unlock()
	}()
	if _, err := CompareReport(h, "cj", "cron-forbid", "report", CompareOptions{}); !errors.Is(err, ErrUnsupportedKind) {
		t.Errorf("unregistered: CompareReport(cj): %v, want ErrUnsupportedKind", err)
	}
	if err := CheckWhatIf("cj", WhatIfOptions{}); !errors.Is(err, ErrUnsupportedKind) {
		t.Errorf("unregistered: CheckWhatIf(cj): %v, want ErrUnsupportedKind", err)
	}
}
