package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run executes the khist root command in-process, as the binary would, and returns its output.
func run(t *testing.T, dataDir string, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append([]string{"--data-dir", dataDir}, args...))
	err := cmd.Execute()
	return out.String(), err
}

const sampleDir = "../../eventlog/importer/testdata/sample-rolling"

func TestImportAndLog(t *testing.T) {
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(sampleDir, "*.json.gz"))
	out, err := run(t, dir, append([]string{"import", "--no-project"}, files...)...)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	if !strings.Contains(out, "imported 188 events, 0 duplicates skipped") {
		t.Fatalf("import summary: %s", out)
	}
	out, err = run(t, dir, append([]string{"import", "--no-project"}, files...)...)
	if err != nil || !strings.Contains(out, "imported 0 events, 188 duplicates skipped") {
		t.Fatalf("re-import: %v %s", err, out)
	}
	out, err = run(t, dir, "log", "rs", "-n", "sample-rolling")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(out, "\n"); lines != 42 { // header + 41 ReplicaSet versions
		t.Fatalf("log rs: %d lines\n%s", lines, out)
	}
	// Nothing recorded there: said, not an empty table.
	out, err = run(t, dir, "log", "rs", "-n", "nosuch")
	if err != nil || out != "No ReplicaSet events recorded in namespace nosuch.\n" {
		t.Fatalf("log rs -n nosuch: %v %q", err, out)
	}
	out, err = run(t, dir, "log", "deploy/checkout", "-n", "sample-rolling", "-o", "json", "--limit", "1")
	if err != nil || !strings.HasPrefix(out, `{"seq":1,"type":"ADDED","cluster":"default","apiVersion":"apps/v1","kind":"Deployment"`) {
		t.Fatalf("log -o json: %v %s", err, out)
	}
}

func TestBadInputsGiveOneLineErrors(t *testing.T) {
	dir := t.TempDir()
	yaml := filepath.Join(t.TempDir(), "pods.yaml")
	os.WriteFile(yaml, []byte("apiVersion: v1\nkind: Pod\n"), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"import", "--no-project", yaml}, "import: " + yaml + ":1: expected a JSON object"},
		{[]string{"import", "--no-project", "/nonexistent.json"}, "import: /nonexistent.json: cannot open"},
		{[]string{"import", "--format", "csv", yaml}, "--format: unknown format \"csv\": use watch or audit"},
		{[]string{"log", "--since", "yesterday"}, "--since: cannot parse \"yesterday\": use RFC 3339"},
		{[]string{"log", "frobs/x"}, "unknown kind \"frobs\""},
		{[]string{"log", "-o", "xml"}, "-o: unknown output \"xml\": use table or json"},
	}
	for _, c := range cases {
		_, err := run(t, dir, c.args...)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("khist %s: error %v, want one line starting %q", strings.Join(c.args, " "), err, c.want)
		}
	}
	// The failed imports wrote nothing.
	out, err := run(t, dir, "log")
	if err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("log after failed imports: %v\n%s", err, out)
	}
}

func TestDoctorSpace(t *testing.T) {
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(sampleDir, "*.json.gz"))
	if out, err := run(t, dir, append([]string{"import"}, files...)...); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	out, err := run(t, dir, "doctor", "--space")
	if err != nil {
		t.Fatalf("doctor --space: %v\n%s", err, out)
	}
	for _, want := range []string{"ok: nothing missing", "space:  log store ", "space:  views file ", "(of which free ", "\n        ver ", "\n        names ", "% full\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("doctor --space: no %q in\n%s", want, out)
		}
	}
}
