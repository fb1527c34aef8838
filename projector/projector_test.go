package projector

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/nats-io/nats.go/jetstream"
)

// TestCatchUpEqualsApply folds a recording published to a real in-process JetStream, in two
// catch-ups, and compares with folding the same envelopes directly.
func TestCatchUpEqualsApply(t *testing.T) {
	envs := loadRecording(t, "testdata/sample-statefulset", "test")
	l := mustOpenLog(t, "")
	publishAll(t, l, envs[:100])
	db := MustOpenDB(t)
	ctx := context.Background()
	var progress []Progress
	st, err := CatchUp(ctx, l, db, WithBatch(37), WithProgress(func(p Progress) { progress = append(progress, p) }))
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != 100 || st.Applied != 100 || st.LastSeq != 100 || st.FirstSeq != 1 || len(progress) == 0 || progress[len(progress)-1].Done != 100 || progress[0].Total != 100 {
		t.Fatalf("first catch-up: %+v, progress %+v", st, progress)
	}
	publishAll(t, l, envs[100:])
	st, err = EnsureCurrent(ctx, l, db)
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != uint64(len(envs)-100) || st.LastSeq != uint64(len(envs)) {
		t.Fatalf("second catch-up: %+v", st)
	}
	if st, err := EnsureCurrent(ctx, l, db); err != nil || st.Events != 0 {
		t.Fatalf("current views: %+v, %v", st, err)
	}
	direct := MustOpenDB(t)
	foldAll(t, direct, envs, 1000)
	if a, b := mustDump(t, direct), mustDump(t, db); a != b {
		t.Fatalf("CatchUp differs from Apply:\n%s", firstDiff(a, b))
	}
}

func TestRunFollowsAndStops(t *testing.T) {
	envs := loadRecording(t, "testdata/sample-rolling", "test")
	l := mustOpenLog(t, "")
	db := MustOpenDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, l, db, WithMaxWait(10*time.Millisecond)) }()
	publishAll(t, l, envs)
	// A read command in the same process waits for the running fold.
	ectx, ecancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer ecancel()
	if st, err := EnsureCurrent(ectx, l, db); err != nil || st.LastSeq != uint64(len(envs)) {
		t.Fatalf("EnsureCurrent during Run: %+v, %v", st, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, _ := db.Seq()
		if s == uint64(len(envs)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Run folded up to %d of %d", s, len(envs))
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
}

// TestRunReleasesAfterRead: following a quiet log, Run closes the views file (for other
// processes) after a read in this process opened it again, each time, and meanwhile does
// not wake up to look at a file it has closed (issue 13: an idle collector's CPU).
func TestRunReleasesAfterRead(t *testing.T) {
	envs := loadRecording(t, "testdata/sample-rolling", "test")
	l := mustOpenLog(t, "")
	db := MustOpenDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, l, db, WithMaxWait(10*time.Millisecond)) }()
	publishAll(t, l, envs[:100])
	released := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); db.heldFor() > 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the views file is still open after 5s", what)
			}
		}
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if s, _ := db.Seq(); s == 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not fold the events")
		}
	}
	released("after the fold")
	for i := range 3 {
		if _, err := db.Counts(); err != nil {
			t.Fatal(err)
		}
		if db.heldFor() == 0 {
			t.Fatalf("read %d: the file is not open", i)
		}
		released(fmt.Sprintf("after read %d", i))
		looks := db.idleLooks.Load()
		time.Sleep(time.Second)
		if n := db.idleLooks.Load() - looks; n > 2 {
			t.Errorf("read %d: Run looked %d times in 1s at the file it had closed", i, n)
		}
	}
	// Events after the quiet spell are folded, and the file released again.
	publishAll(t, l, envs[100:])
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if s, _ := db.Seq(); s == uint64(len(envs)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not fold the later events")
		}
	}
	released("after the later events")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestRebuild(t *testing.T) {
	envs := loadRecording(t, "testdata/sample-rolling", "test")
	l := mustOpenLog(t, "")
	publishAll(t, l, envs)
	dir := t.TempDir()
	path := filepath.Join(dir, "views.db")
	db := mustOpenDBAt(t, path, nil)
	if _, err := CatchUp(context.Background(), l, db); err != nil {
		t.Fatal(err)
	}
	want := mustDump(t, db)
	// The views are in use: rebuild refuses.
	if _, err := Rebuild(context.Background(), l, path, WithViewOptions(Options{Timeout: 200 * time.Millisecond})); !errors.Is(err, ErrInUse) {
		t.Fatalf("rebuild of open views: %v, want ErrInUse", err)
	}
	mustCheckAndClose(t, db)
	os.WriteFile(path+".rebuild", []byte("left over"), 0o600)
	st, err := Rebuild(context.Background(), l, path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != uint64(len(envs)) {
		t.Fatalf("rebuild: %+v", st)
	}
	db2 := mustOpenDBAt(t, path, nil)
	if got := mustDump(t, db2); got != want {
		t.Fatalf("rebuilt views differ:\n%s", firstDiff(want, got))
	}
	if _, err := os.Stat(path + ".rebuild"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("rebuild left its temporary file: %v", err)
	}
}

// TestGapReported: events dropped by the stream's retention before they were folded are
// reported (without a retention limit they are damage: see eventlog TestPurgedHeadIsDamage).
func TestGapReported(t *testing.T) {
	envs := loadRecording(t, "testdata/sample-rolling", "test")
	ctx := context.Background()
	l, err := eventlog.Open(ctx, eventlog.Options{DataDir: t.TempDir(), Stream: eventlog.StreamConfig{MaxAge: 24 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	publishAll(t, l, envs[:50])
	st, err := l.JetStream().Stream(ctx, l.StreamName())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(ctx, jetstream.WithPurgeSequence(21)); err != nil {
		t.Fatal(err)
	}
	db := MustOpenDB(t)
	s, err := CatchUp(ctx, l, db)
	if err != nil {
		t.Fatal(err)
	}
	if s.Gap != 20 || s.FirstSeq != 21 || s.Events != 30 {
		t.Fatalf("stats %+v: want a gap of 20 before 21", s)
	}
}

// TestAheadOfLog: views built from another log (or a deleted stream) are refused, not fed.
func TestAheadOfLog(t *testing.T) {
	envs := loadRecording(t, "testdata/sample-rolling", "test")
	db := MustOpenDB(t)
	foldAll(t, db, envs, 100)
	l := mustOpenLog(t, "")
	publishAll(t, l, envs[:10])
	if _, err := CatchUp(context.Background(), l, db); !errors.Is(err, ErrAhead) {
		t.Fatalf("CatchUp: %v, want ErrAhead", err)
	}
	if _, err := EnsureCurrent(context.Background(), l, db); !errors.Is(err, ErrAhead) {
		t.Fatalf("EnsureCurrent: %v, want ErrAhead", err)
	}
}
