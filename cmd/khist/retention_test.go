package main

import (
	"strings"
	"testing"
	"time"
)

// TestRetention: what the views keep once the stream's retention drops old events, and what
// rebuild can restore (issue 19, item 5). The views keep the history the stream no longer
// holds; rebuild refuses to replace them with views folded from less, and --force rebuilds
// from what the stream still holds: the history that only the views had is gone.
func TestRetention(t *testing.T) {
	dir := t.TempDir()
	const first, second = "../../test/fidelity/testdata/max-surge-0.json.gz", "../../test/fidelity/testdata/never-ready-undo.json.gz"
	mustRun := func(args ...string) string {
		t.Helper()
		out, err := run(t, dir, args...)
		if err != nil {
			t.Fatalf("khist %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	mustRun("import", first)
	rollouts := func() string {
		return mustRun("rollouts", "-A", "--no-headers", "-o", "custom-columns=NS:.workload.namespace")
	}
	before := rollouts()
	if !strings.Contains(before, "max-surge-0") {
		t.Fatalf("no rollout of the first recording:\n%s", before)
	}
	// A retention of one second given to the existing stream: the first recording's events,
	// older than that, are dropped.
	time.Sleep(1500 * time.Millisecond)
	mustRun("--stream-max-age", "1s", "doctor")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, _ := run(t, dir, "doctor")
		if strings.Contains(out, "were dropped by the stream's retention") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream did not drop the old events:\n%s", out)
		}
	}
	mustRun("--stream-max-age", "1h", "doctor") // keep what comes next
	mustRun("import", second)
	// The views still answer for the dropped history, and for the new one.
	both := rollouts()
	if !strings.Contains(both, "max-surge-0") || !strings.Contains(both, "never-ready-undo") {
		t.Fatalf("rollouts after the retention dropped the first recording:\n%s", both)
	}
	// A rebuild would fold only what the stream holds: refused, the views kept.
	out, err := run(t, dir, "rebuild")
	if err == nil || !strings.Contains(err.Error(), "rebuild would lose history") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("rebuild: %v\n%s", err, out)
	}
	if again := rollouts(); again != both {
		t.Fatalf("the views changed after a refused rebuild:\n%s\nwant\n%s", again, both)
	}
	// Forced, it keeps only what the stream holds.
	mustRun("rebuild", "--force")
	after := rollouts()
	if strings.Contains(after, "max-surge-0") || !strings.Contains(after, "never-ready-undo") {
		t.Fatalf("rollouts after rebuild --force:\n%s", after)
	}
}
