package projector

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
)

const shareChildEnv = "KHIST_PROJECTOR_SHARE_CHILD"

// TestSharedViews runs the projector as khist collect does, in another process (this test
// binary re-executed: flock is per process), which owns the embedded NATS server, publishes a
// burst of events, then a steady stream, then nothing, and folds them with Run. Meanwhile this
// process acts as read commands do, over and over: it connects to the child's server (through
// DATA_DIR/nats.addr), opens the views, folds the tail they lack (EnsureCurrent, with an
// ephemeral consumer) and queries them; every third time read-only without folding
// (--no-update), and once keeping them for a long query meanwhile the child waits. Every open
// must succeed within its timeout, the child's durable consumer must be left alone (its Run
// fails otherwise), and the final views must equal an uninterrupted fold of the log.
func TestSharedViews(t *testing.T) {
	if dir := os.Getenv(shareChildEnv); dir != "" {
		shareChild(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("runs a projector process for several seconds")
	}
	n := 30000
	if v, err := strconv.Atoi(os.Getenv("KHIST_SHARE_EVENTS")); err == nil {
		n = v
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSharedViews$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), shareChildEnv+"="+dir, "KHIST_SHARE_EVENTS="+strconv.Itoa(n))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	stop, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); close(exited) }()
	defer func() {
		stop.Close()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
		}
	}()

	// The child runs the embedded server; this process connects to it, as a read command
	// started while khist collect runs does.
	addr := filepath.Join(dir, "log", "nats.addr")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(addr); err == nil {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("child exited: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child did not start its server\n%s", out.String())
		}
	}
	ctx := context.Background()
	l, err := eventlog.Open(ctx, eventlog.Options{DataDir: filepath.Join(dir, "log"), Name: "share-reader"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Embedded {
		t.Fatal("the reader started its own server instead of using the child's")
	}

	views := filepath.Join(dir, "views.db")
	var rounds, byReader int
	var maxWaitRW, maxWaitRO, sumWait, maxEnsure, maxQuery time.Duration
	began := time.Now()
	for {
		select {
		case err := <-exited:
			t.Fatalf("child exited early: %v\n%s", err, out.String())
		default:
		}
		// A read command: open the views for writing, bring them up to date and answer
		// from them; every third one with --no-update: read-only, as they are.
		readOnly := rounds%3 == 2
		t0 := time.Now()
		db, err := Open(views, &Options{ReadOnly: readOnly})
		if err != nil {
			t.Fatalf("round %d: open (read-only %v) after %s: %v", rounds, readOnly, time.Since(t0), err)
		}
		w := time.Since(t0)
		if readOnly {
			maxWaitRO = max(maxWaitRO, w)
		} else {
			maxWaitRW = max(maxWaitRW, w)
		}
		sumWait += w
		var st Stats
		if !readOnly {
			t1 := time.Now()
			if st, err = EnsureCurrent(ctx, l, db); err != nil {
				t.Fatalf("round %d: EnsureCurrent: %v", rounds, err)
			}
			maxEnsure = max(maxEnsure, time.Since(t1))
			byReader += int(st.Applied)
		}
		t1 := time.Now()
		seq, err := db.Seq()
		if err != nil {
			t.Fatal(err)
		}
		if seq < st.LastSeq {
			t.Fatalf("round %d: views at %d after EnsureCurrent reached %d", rounds, seq, st.LastSeq)
		}
		rs, err := db.Rollouts(ctx, RolloutFilter{Cluster: "gen"})
		if err != nil {
			t.Fatalf("round %d: rollouts: %v", rounds, err)
		}
		if len(rs) > 0 {
			r := rs[len(rs)-1]
			if _, err := db.Versions(ctx, ObjectRef{Cluster: "gen", Group: "apps", Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}); err != nil {
				t.Fatalf("round %d: versions of %s/%s: %v", rounds, r.Namespace, r.Name, err)
			}
		}
		maxQuery = max(maxQuery, time.Since(t1))
		if rounds == 2 {
			// A long query: the child waits for the file meanwhile, and catches up after.
			time.Sleep(1500 * time.Millisecond)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		rounds++
		if b, err := os.ReadFile(filepath.Join(dir, "published")); err == nil && string(b) == strconv.FormatUint(seq, 10) {
			break
		}
		if time.Since(began) > 3*time.Minute {
			t.Fatalf("views at %d after %d rounds\n%s", seq, rounds, out.String())
		}
		time.Sleep(time.Duration(50+rounds%4*50) * time.Millisecond)
	}
	// The log is quiet: the child has closed the file after its last transaction.
	var maxQuiet time.Duration
	for i := 0; i < 5; i++ {
		t0 := time.Now()
		db, err := Open(views, &Options{ReadOnly: i%2 == 0})
		if err != nil {
			t.Fatalf("quiet round %d: %v", i, err)
		}
		maxQuiet = max(maxQuiet, time.Since(t0))
		db.Close()
		time.Sleep(100 * time.Millisecond)
	}
	if maxQuiet > time.Second {
		t.Errorf("opening the views of a quiet log waited %s", maxQuiet)
	}
	t.Logf("%d rounds in %s: the reader folded %d events; longest wait for the file %s (write), %s (read-only), mean %s (quiet log: %s); longest EnsureCurrent %s, query %s",
		rounds, time.Since(began).Round(time.Millisecond), byReader, maxWaitRW.Round(time.Microsecond), maxWaitRO.Round(time.Microsecond), (sumWait / time.Duration(rounds)).Round(time.Microsecond), maxQuiet.Round(time.Microsecond), maxEnsure.Round(time.Microsecond), maxQuery.Round(time.Microsecond))

	// The reader used ephemeral consumers only: the child's durable one is the only one left.
	stream, err := l.JetStream().Stream(ctx, l.StreamName())
	if err != nil {
		t.Fatal(err)
	}
	names := stream.ConsumerNames(ctx)
	var consumers []string
	for name := range names.Name() {
		consumers = append(consumers, name)
	}
	if len(consumers) != 1 || consumers[0] != DefaultDurable {
		t.Errorf("consumers after the test: %v, want only %s", consumers, DefaultDurable)
	}

	// The reference: an uninterrupted fold of the same log.
	ref := MustOpenDB(t)
	if _, err := CatchUp(ctx, l, ref); err != nil {
		t.Fatal(err)
	}
	// The child keeps its server running while this process uses it (eventlog: the server's
	// process waits for its clients): leave it first.
	l.Close()
	stop.Close()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("child did not stop\n%s", out.String())
	}
	t.Logf("child:\n%s", childLog(out.String()))
	got := mustOpenDBAt(t, views, nil)
	if a, b := mustDump(t, ref), mustDump(t, got); a != b {
		t.Fatalf("views folded by two processes in turn differ from an uninterrupted fold:\n%s", firstDiff(a, b))
	}
}

// childLog keeps the lines the child logged.
func childLog(s string) string {
	var out []byte
	for _, line := range bytes.Split([]byte(s), []byte("\n")) {
		if bytes.Contains(line, []byte("share_test.go")) {
			out = append(append(out, bytes.TrimSpace(line)...), '\n')
		}
	}
	return string(out)
}

// shareChild is the projector process of TestSharedViews: it runs the embedded server, folds
// the log with Run and publishes n events (half at once, the rest at 3000/s) until its stdin
// closes.
func shareChild(t *testing.T, dir string) {
	n, _ := strconv.Atoi(os.Getenv("KHIST_SHARE_EVENTS"))
	envs := genHistory(genConfig{Seed: 11, Events: n, Namespaces: 4, Deployments: 5, Replicas: 4, DupRate: 0.02})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := eventlog.Open(ctx, eventlog.Options{DataDir: filepath.Join(dir, "log"), Name: "share-child"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !l.Embedded {
		t.Fatal("the child must run the server")
	}
	db, err := Open(filepath.Join(dir, "views.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var txs, events uint64
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, l, db, WithMaxWait(10*time.Millisecond), WithProgress(func(p Progress) { txs, events = txs+1, p.Done }))
	}()
	p, err := l.NewPublisher(eventlog.PublisherOptions{MaxInFlight: 4096})
	if err != nil {
		t.Fatal(err)
	}
	burst := n / 2
	start := time.Now()
	for i, e := range envs {
		if i >= burst && i%300 == 0 {
			// 3000 events/s after the burst.
			time.Sleep(time.Until(start.Add(time.Duration(i-burst) * time.Second / 3000)))
		}
		if i == burst {
			start = time.Now()
		}
		if err := p.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	last, err := l.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "published"), []byte(strconv.FormatUint(last, 10)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("published %d events (%d after de-duplication)", n, last)
	io.Copy(io.Discard, os.Stdin)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	c, err := db.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("child: %d events read in %d fold transactions, file opened again %d times; views at %d, %d applied", events, txs, db.reopens.Load(), c.Seq, c.Applied)
}

// TestFoldsInTurn: two DBs on the same file fold in turn, each closing the file for the other
// (as two processes do), with events the other already applied re-delivered. Each event is
// applied once, and what the first one remembered of the views (the object cache, used by
// Apply, which does not speculate) is dropped when the other one wrote them: the views equal
// one uninterrupted fold.
func TestFoldsInTurn(t *testing.T) {
	envs := genHistory(genConfig{Seed: 3, Events: 6000, Namespaces: 2, Deployments: 3, Replicas: 3})
	path := filepath.Join(t.TempDir(), "views.db")
	a, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	for i, lo := 0, 0; lo < len(envs); i++ {
		hi := min(lo+700, len(envs))
		if i%2 == 0 {
			// a folds from a bit before where the views are: the overlap is skipped.
			if err := a.Apply(ctx, envs[max(0, lo-100):hi]); err != nil {
				t.Fatal(err)
			}
			if err := a.release(); err != nil {
				t.Fatal(err)
			}
		} else {
			b, err := Open(path, &Options{Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Apply(ctx, envs[max(0, lo-100):hi]); err != nil {
				t.Fatal(err)
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
		}
		lo = hi
	}
	c, err := a.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if c.Seq != uint64(len(envs)) || c.Applied+c.Skipped != uint64(len(envs)) {
		t.Fatalf("counts %+v after %d events", c, len(envs))
	}
	direct := MustOpenDB(t)
	foldAll(t, direct, envs, 700)
	if x, y := mustDump(t, direct), mustDump(t, a); x != y {
		t.Fatalf("views folded in turn differ from one fold:\n%s", firstDiff(x, y))
	}
	mustCheckAndClose(t, a)
}

// TestOpenWaitsForTheFile: Open waits for another holder of the file (flock is per open file,
// so a second DB in this process stands for another process) up to its timeout, gets it
// within milliseconds of its release, and fails with a one-line ErrInUse after the timeout.
func TestOpenWaitsForTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "views.db")
	a, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, ro := range []bool{false, true} {
		t0 := time.Now()
		_, err = Open(path, &Options{ReadOnly: ro, Timeout: 200 * time.Millisecond})
		if !errors.Is(err, ErrInUse) || strings.Contains(err.Error(), "\n") || time.Since(t0) > 2*time.Second {
			t.Fatalf("open (read-only %v) of a held file: %v after %s, want a one-line ErrInUse after 200ms", ro, err, time.Since(t0))
		}
	}
	released := make(chan time.Time, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		a.release()
		released <- time.Now()
	}()
	b, err := Open(path, &Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got := time.Now()
	if d := got.Sub(<-released); d > 100*time.Millisecond {
		t.Errorf("open got the file %s after its release", d)
	}
	// a, used again, waits for b (a reader) in turn.
	go func() {
		time.Sleep(200 * time.Millisecond)
		b.Close()
	}()
	if _, err := a.Seq(); err != nil {
		t.Fatalf("a after b: %v", err)
	}
}
