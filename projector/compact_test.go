package projector

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestCompactKeepsViews folds a generated history in small transactions (each leaves pages
// free and half full), compacts the file, and checks that the views are the same, that the
// file shrank to about what it holds, and that folding the rest of the log into the compacted
// file gives the same views as folding it into the original.
func TestCompactKeepsViews(t *testing.T) {
	envs := genHistory(genConfig{Seed: 3, Events: 30000, LateRate: 0.05})
	cut := 25000
	dir := t.TempDir()
	a := mustOpenDBAt(t, filepath.Join(dir, "a.db"), nil)
	b := mustOpenDBAt(t, filepath.Join(dir, "b.db"), nil)
	foldAll(t, a, envs[:cut], 50)
	foldAll(t, b, envs[:cut], 50)
	before := mustDump(t, b)
	u0, err := b.Space()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.compactIfWasteful(context.Background()); err != nil {
		t.Fatal(err)
	}
	u1, err := b.Space()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("before: file %d, pages %d, free %d, in use %d; after: file %d, pages %d, free %d, in use %d",
		u0.FileBytes, u0.PageBytes, u0.FreeBytes, u0.InuseBytes, u1.FileBytes, u1.PageBytes, u1.FreeBytes, u1.InuseBytes)
	if u0.FileBytes < compactMin || float64(u0.InuseBytes) >= compactBelow*float64(u0.FileBytes) {
		t.Fatalf("the test's file is not wasteful enough to compact: %+v", u0)
	}
	if float64(u1.InuseBytes) < 0.85*float64(u1.FileBytes) || u1.FileBytes >= u0.FileBytes {
		t.Fatalf("after compacting, %d of %d bytes in use (before: %d of %d)", u1.InuseBytes, u1.FileBytes, u0.InuseBytes, u0.FileBytes)
	}
	if _, err := os.Stat(b.Path() + ".compact"); !os.IsNotExist(err) {
		t.Fatalf("the compaction left its file: %v", err)
	}
	if after := mustDump(t, b); after != before {
		t.Fatalf("compacting changed the views:\n%s", firstDiff(before, after))
	}
	foldAll(t, a, envs[cut:], 50)
	foldAll(t, b, envs[cut:], 50)
	if want, got := mustDump(t, a), mustDump(t, b); want != got {
		t.Fatalf("folding after compacting differs:\n%s", firstDiff(want, got))
	}
}
