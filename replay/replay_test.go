package replay

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// update rewrites the golden files: go test ./replay/... -update
var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// sample is a recording of a real control plane copied from the project's shared recordings
// (see testdata/RECORDINGS.md).
type sample struct {
	dir, kind, ns, name string
}

var (
	sampleRolling     = sample{"sample-rolling", "deployment", "sample-rolling", "checkout"}
	sampleStatefulSet = sample{"sample-statefulset", "statefulset", "sample-statefulset", "cache"}
)

// load reads the sample's watch files.
func (s sample) load(t testing.TB) []Version {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", s.dir, "*.json.gz"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no watch files in testdata/%s: %v", s.dir, err)
	}
	h, err := LoadWatchFiles(files...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: run go test ./replay/... -update to create it", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; if the change is intended, run go test ./replay/... -update\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}
