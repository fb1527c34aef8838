package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOutputFile reproduces issue 14, item 11: --output-file removed an existing file on an
// argument error, truncated a symbolic link's target and removed the link, and created files
// 0644. The document now replaces the file only when complete, a link is followed only when
// asked, and new files are 0600.
func TestOutputFile(t *testing.T) {
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join("../../query/testdata/scenarios/sample-rolling", "*.json.gz"))
	if out, err := run(t, dir, append([]string{"import"}, files...)...); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	timeline := []string{"timeline", "-n", "sample-rolling", "--since", "2026-11-22T00:00:00Z", "--until", "2026-11-22T01:00:00Z", "-o", "md"}
	const doc = "## deployment.apps/checkout"
	docs := t.TempDir()
	read := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// noLeftovers: no temporary file is left beside the documents.
	noLeftovers := func() {
		t.Helper()
		ents, _ := os.ReadDir(docs)
		for _, e := range ents {
			if strings.Contains(e.Name(), ".khist-") {
				t.Errorf("temporary file left: %s", e.Name())
			}
		}
	}
	oneLine := func(args []string, err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("khist %s: error %v, want one line with %q", strings.Join(args, " "), err, want)
		}
	}

	// An argument error leaves an existing file as it was.
	existing := filepath.Join(docs, "incident.md")
	os.WriteFile(existing, []byte("keep me\n"), 0o640)
	os.Chmod(existing, 0o640)
	for _, bad := range [][]string{
		{"--until", "2020-01-02"},
		{"-o", "xml"},
		{"--since", "yesterday-ish"},
	} {
		args := append(append(append([]string{}, timeline...), bad...), "--output-file", existing)
		_, err := run(t, dir, args...)
		if err == nil {
			t.Errorf("khist %s: no error", strings.Join(args, " "))
		}
		if got := read(existing); got != "keep me\n" {
			t.Errorf("khist %s: existing file now holds %q", strings.Join(args, " "), got)
		}
	}
	noLeftovers()

	// Success replaces it, keeping its permissions.
	if out, err := run(t, dir, append(timeline, "--output-file", existing)...); err != nil || !strings.Contains(out, "wrote "+existing) {
		t.Fatalf("timeline --output-file: %v\n%s", err, out)
	}
	if !strings.Contains(read(existing), doc) {
		t.Errorf("document lacks %q", doc)
	}
	if fi, _ := os.Stat(existing); fi.Mode().Perm() != 0o640 {
		t.Errorf("replaced file has mode %v, want the file's own 0640", fi.Mode().Perm())
	}

	// A new file is readable by its owner only.
	fresh := filepath.Join(docs, "fresh.md")
	if out, err := run(t, dir, append(timeline, "--output-file", fresh)...); err != nil {
		t.Fatalf("timeline --output-file: %v\n%s", err, out)
	}
	if fi, _ := os.Stat(fresh); fi.Mode().Perm()&0o077 != 0 || fi.Mode().Perm()&0o600 != 0o600 {
		t.Errorf("new file has mode %v, want 0600", fi.Mode().Perm())
	}

	// A symbolic link is refused: its target and the link stay as they were.
	target := filepath.Join(t.TempDir(), "elsewhere")
	os.WriteFile(target, []byte("precious\n"), 0o600)
	link := filepath.Join(docs, "link.md")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	args := append(timeline, "--output-file", link)
	_, err := run(t, dir, args...)
	oneLine(args, err, "is a symbolic link (to "+target+"): give the target's path, or add --follow-symlinks")
	if got := read(target); got != "precious\n" {
		t.Errorf("symlink target now holds %q", got)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("symlink gone: %v", err)
	}
	// ... unless asked: then the target is replaced and the link kept.
	if out, err := run(t, dir, append(args, "--follow-symlinks")...); err != nil {
		t.Fatalf("--follow-symlinks: %v\n%s", err, out)
	}
	if !strings.Contains(read(target), doc) {
		t.Errorf("--follow-symlinks: target lacks the document")
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("--follow-symlinks: symlink gone: %v", err)
	}

	// A directory, or a directory that does not exist, is an error that changes nothing.
	args = append(timeline, "--output-file", docs)
	_, err = run(t, dir, args...)
	oneLine(args, err, "is a directory: give a file name")
	args = append(timeline, "--output-file", filepath.Join(docs, "no", "such.md"))
	_, err = run(t, dir, args...)
	oneLine(args, err, "--output-file: cannot write in "+filepath.Join(docs, "no"))
	noLeftovers()

	// A device is written to, not replaced.
	if out, err := run(t, dir, append(timeline, "--output-file", os.DevNull)...); err != nil {
		t.Fatalf("--output-file %s: %v\n%s", os.DevNull, err, out)
	}
	if fi, err := os.Stat(os.DevNull); err != nil || fi.Mode().IsRegular() {
		t.Fatalf("%s replaced: %v", os.DevNull, err)
	}
}
