package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/khist/khist/test/faults"
)

// TestFullDisk reproduces issue 14, item 9 through the commands: on a full disk an import, a
// rebuild and the views said "insufficient resources", "context deadline exceeded" or worse,
// never that the disk is full. Now they say it in one line, with the path and what to do;
// the read commands still answer from a full disk; and after the space is freed a re-run of
// the import completes the log, nothing lost.
func TestFullDisk(t *testing.T) {
	disk := faults.SmallDisk(t, 6<<20)
	dir := filepath.Join(disk, "data")
	first := writeConfigMaps(t, 200)
	if out, err := run(t, dir, "import", first); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	// The second file holds the first 200 events again and 100 more.
	second := filepath.Join(t.TempDir(), "more.json")
	more, _ := os.ReadFile(writeConfigMaps(t, 300))
	os.WriteFile(second, more, 0o600)

	filler := faults.Fill(t, disk)
	oneLine := func(args []string, err error, want ...string) {
		t.Helper()
		if err == nil {
			t.Errorf("khist %s on a full disk: no error", strings.Join(args, " "))
			return
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) || strings.Contains(err.Error(), "\n") {
				t.Errorf("khist %s: error %q, want one line with %q", strings.Join(args, " "), err, w)
			}
		}
	}
	args := []string{"import", second}
	_, err := run(t, dir, args...)
	oneLine(args, err, "disk full: ADDED ConfigMap fault/cm-200 rv=201 not stored", filepath.Join(dir, "jetstream"), "free space there, or move --data-dir to a larger disk", "nothing stored is lost", "run the same import again to store the rest")
	args = []string{"rebuild"}
	_, err = run(t, dir, args...)
	oneLine(args, err, "disk full: ", "views.db.rebuild", "free space there")

	// Reading needs no room.
	if out, err := run(t, dir, "log"); err != nil || strings.Count(out, " ConfigMap ") != 200 {
		t.Errorf("log on a full disk: %v, %d events, want 200\n%s", err, strings.Count(out, " ConfigMap "), firstLine(out))
	}
	if out, err := run(t, dir, "get", "cm/cm-150", "-n", "fault"); err != nil || !strings.Contains(out, "name: cm-150") {
		t.Errorf("get on a full disk: %v\n%s", err, tail(out))
	}

	// Space freed: the import, run again, completes the log.
	os.Remove(filler)
	if out, err := run(t, dir, "import", second); err != nil || !strings.Contains(out, "imported 100 events, 200 duplicates skipped") {
		t.Fatalf("import after the space was freed: %v\n%s", err, out)
	}
	if out, err := run(t, dir, "log"); err != nil || strings.Count(out, "\n") != 301 {
		t.Fatalf("log: %v, %d lines, want 301", err, strings.Count(out, "\n"))
	}
	if out, err := run(t, dir, "get", "cm/cm-250", "-n", "fault"); err != nil || !strings.Contains(out, "name: cm-250") {
		t.Errorf("get: %v\n%s", err, tail(out))
	}
}
