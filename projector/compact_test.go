package projector

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/khist/khist/eventlog"
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

// TestLiveFoldCompacts follows a log as Run does, in transactions of 50 events, and checks that
// the fold compacted the file on its way (every compactEvery events, when it was wasteful: the
// file was replaced by a new one) and that its views are those of a fold in the same
// transactions that never compacted.
func TestLiveFoldCompacts(t *testing.T) {
	envs := genHistory(genConfig{Seed: 3, Events: 30000, LateRate: 0.05})
	l := mustOpenLog(t, "")
	publishAll(t, l, envs)
	last, err := l.LastSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	live := mustOpenDBAt(t, filepath.Join(dir, "live.db"), nil)
	inode := func() uint64 {
		t.Helper()
		fi, err := os.Stat(live.Path())
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	before := inode()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o, err := buildOptions(DefaultDurable, []Option{WithBatch(50), WithLinger(0), WithProgress(func(pr Progress) {
		if pr.Seq >= last {
			cancel()
		}
	})})
	if err != nil {
		t.Fatal(err)
	}
	o.maxTx = 50
	if _, err := fold(ctx, l, live, o, true); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if s, err := live.Seq(); err != nil || s != last {
		t.Fatalf("the live fold stopped at %d (%v), want %d", s, err, last)
	}
	// The same events read back from the log (numbered by it), folded 50 at a time.
	var logged []*eventlog.Envelope
	if err := l.Read(context.Background(), eventlog.ReadOptions{StartSeq: 1, Batch: 1000}, func(b []*eventlog.Envelope) error {
		logged = append(logged, b...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	plain := mustOpenDBAt(t, filepath.Join(dir, "plain.db"), nil)
	foldAll(t, plain, logged, 50)
	ul, err := live.Space()
	if err != nil {
		t.Fatal(err)
	}
	up, err := plain.Space()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("followed: file %d, in use %d; folded 50 at a time, never compacted: file %d, in use %d", ul.FileBytes, ul.InuseBytes, up.FileBytes, up.InuseBytes)
	if inode() == before {
		t.Errorf("the live fold of %d events did not compact its file (%d bytes, %d in use)", len(envs), ul.FileBytes, ul.InuseBytes)
	}
	if want, got := mustDump(t, plain), mustDump(t, live); want != got {
		t.Fatalf("the live fold's views differ from the plain fold's:\n%s", firstDiff(want, got))
	}
}
