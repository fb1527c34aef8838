package diskuse

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDirBytes(t *testing.T) {
	dir := t.TempDir()
	if got := DirBytes(dir); got != 0 {
		t.Fatalf("empty directory: %d bytes", got)
	}
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	for path, size := range map[string]int{"x": 10, "a/y": 300, "a/b/z": 4096} {
		if err := os.WriteFile(filepath.Join(dir, path), make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := DirBytes(dir); got != 4406 {
		t.Errorf("DirBytes = %d, want 4406 (10 + 300 + 4096, nested directories included)", got)
	}
	if got := DirBytes(filepath.Join(dir, "missing")); got != 0 {
		t.Errorf("a missing directory: %d bytes, want 0", got)
	}
}
