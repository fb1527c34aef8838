package projector

import (
	"context"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
)

const crashChildEnv = "KHIST_PROJECTOR_CRASH_CHILD"

// TestCrash kills the projector (a child process: this test binary re-executed) with SIGKILL
// at random points while it folds a log of 100k events from a real JetStream, restarts it
// several times, and checks that the views it finally has are those of an uninterrupted fold.
func TestCrash(t *testing.T) { crashTest(t, "TestCrash", false) }

// TestCrashFollowing is TestCrash with the projector as khist collect and project run it: Run,
// following the log with the durable consumer (its state in the server's memory, no
// acknowledgements) and collect's linger. The server (this process's) outlives each killed
// child and keeps the consumer where the killed reader left it, ahead of the views.
func TestCrashFollowing(t *testing.T) { crashTest(t, "TestCrashFollowing", true) }

func crashTest(t *testing.T, name string, follow bool) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(t, dir, follow)
		return
	}
	if testing.Short() {
		t.Skip("crash test folds 100k events")
	}
	n := 100000
	if v, err := strconv.Atoi(os.Getenv("KHIST_CRASH_EVENTS")); err == nil {
		n = v
	}
	began := time.Now()
	envs := genHistory(genConfig{Seed: 5, Events: n, Namespaces: 8, Deployments: 8, Replicas: 4})
	dir := t.TempDir()
	l := mustOpenLog(t, filepath.Join(dir, "log"))
	publishAll(t, l, envs)
	if last, err := l.LastSeq(context.Background()); err != nil || last != uint64(n) {
		t.Fatalf("log has %d events (%v), want %d", last, err, n)
	}
	t.Logf("generated and published %d events in %s", n, time.Since(began).Round(time.Millisecond))

	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	views := filepath.Join(dir, "views.db")
	kills := 0
	for run := 0; ; run++ {
		cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if run < 8 {
			wait := time.Duration(100+r.IntN(1100)) * time.Millisecond
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("child: %v", err)
				}
				if kills < 3 {
					t.Fatalf("child finished after only %d kills: make the log longer", kills)
				}
				t.Logf("child finished before kill %d", kills+1)
				goto finished
			case <-time.After(wait):
			}
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			kills++
			db := mustOpenDBAt(t, views, &Options{Timeout: 10 * time.Second})
			c, err := db.Counts()
			if err != nil {
				t.Fatal(err)
			}
			mustCheckAndClose(t, db)
			t.Logf("killed after %s: views at %d of %d", wait, c.Seq, n)
			continue
		}
		if err := <-done; err != nil {
			t.Fatalf("last run: %v", err)
		}
		break
	}
finished:
	got := mustOpenDBAt(t, views, nil)
	if s, _ := got.Seq(); s != uint64(n) {
		t.Fatalf("views at %d after the last run, want %d", s, n)
	}
	ref := mustOpenDBAt(t, filepath.Join(dir, "reference.db"), nil)
	if _, err := CatchUp(context.Background(), l, ref, WithDurable("reference")); err != nil {
		t.Fatal(err)
	}
	a, b := mustDump(t, ref), mustDump(t, got)
	if a != b {
		t.Fatalf("views after %d kills differ from an uninterrupted fold:\n%s", kills, firstDiff(a, b))
	}
	t.Logf("%d kills, views equal to an uninterrupted fold (%d dump lines), in %s", kills, len(a)/80, time.Since(began).Round(time.Millisecond))
}

// crashChild is the projector process of TestCrash: it folds the log into the views until
// they hold every event, with CatchUp, or with Run (the default durable consumer) when follow.
func crashChild(t *testing.T, dir string, follow bool) {
	l, err := eventlog.Open(context.Background(), eventlog.Options{DataDir: filepath.Join(dir, "log"), Name: "crash-child"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	db, err := Open(filepath.Join(dir, "views.db"), &Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if follow {
		last, err := l.LastSeq(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		stop := func(seq uint64) {
			if seq >= last {
				cancel()
			}
		}
		if seq, err := db.Seq(); err != nil {
			t.Fatal(err)
		} else {
			stop(seq)
		}
		if err := Run(ctx, l, db, WithLinger(500*time.Millisecond), WithProgress(func(p Progress) { stop(p.Seq) })); err != nil {
			t.Fatal(err)
		}
		return
	}
	if _, err := CatchUp(context.Background(), l, db); err != nil {
		t.Fatal(err)
	}
}
