package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/eventlog/importer"
	"github.com/khist/khist/projector"
	"github.com/prometheus/client_golang/prometheus"
)

// receiver is a webhook that records the messages it accepts; it answers fail[i] to the i-th
// post when set.
type receiver struct {
	mu    sync.Mutex
	posts int
	got   []Message
	fail  []int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.posts++
	if rc.posts <= len(rc.fail) && rc.fail[rc.posts-1] != 0 {
		http.Error(w, "not now", rc.fail[rc.posts-1])
		return
	}
	var m Message
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &m); err != nil || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad message", http.StatusBadRequest)
		return
	}
	rc.got = append(rc.got, m)
}

func (rc *receiver) messages() (int, []Message) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.posts, append([]Message(nil), rc.got...)
}

// recording reads the fixture of a rollout that missed its deadline and was undone, and
// returns its events and the index of the first one that reports the deadline exceeded.
func recording(t *testing.T) ([]*eventlog.Envelope, int) {
	fh, err := os.Open("../test/fidelity/testdata/never-ready-undo.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	res, err := importer.ReadWatch("test", importer.Input{Name: fh.Name(), R: fh})
	if err != nil {
		t.Fatal(err)
	}
	failAt := -1
	for i, e := range res.Envelopes {
		e.Seq = uint64(i + 1)
		if failAt < 0 && e.Kind == "Deployment" && bytes.Contains(e.Object, []byte("ProgressDeadlineExceeded")) {
			failAt = i
		}
	}
	if failAt < 0 {
		t.Fatal("the recording has no ProgressDeadlineExceeded")
	}
	return res.Envelopes, failAt
}

func openDB(t *testing.T) *projector.DB {
	db, err := projector.Open(filepath.Join(t.TempDir(), "views.db"), &projector.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// start runs the notifier until the test ends (or stop is called).
func start(t *testing.T, db *projector.DB, o Options) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, db, o) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	// Run has read the views' position (its first run writes the state file then): what is
	// folded from now on comes after it.
	waitFor(t, "the notifier's start", func() bool { _, err := os.Stat(o.StateFile); return err == nil })
	return stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestNotifyOncePerRollout: a rollout that misses its deadline while the notifier runs is
// announced once, after the receiver's 503s and 500s, and not again when it is then rolled
// back, nor after a restart.
func TestNotifyOncePerRollout(t *testing.T) {
	envs, failAt := recording(t)
	db := openDB(t)
	ctx := context.Background()
	if err := db.Apply(ctx, envs[:failAt]); err != nil {
		t.Fatal(err)
	}
	rc := &receiver{fail: []int{503, 500}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	reg := prometheus.NewPedanticRegistry()
	o := Options{URL: srv.URL, StateFile: filepath.Join(t.TempDir(), "notify.json"), Interval: 10 * time.Millisecond, Retry: time.Millisecond, Registerer: reg}
	stop := start(t, db, o)
	time.Sleep(50 * time.Millisecond)
	if posts, _ := rc.messages(); posts != 0 {
		t.Fatalf("%d posts before anything went wrong", posts)
	}
	if err := db.Apply(ctx, envs[failAt:]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the message", func() bool { _, got := rc.messages(); return len(got) > 0 })
	time.Sleep(100 * time.Millisecond) // the rollback is folded too: no second message
	stop()
	posts, got := rc.messages()
	if posts != 3 || len(got) != 1 {
		t.Fatalf("%d posts, %d messages accepted: want 3 posts (two refused, retried) and 1 message", posts, len(got))
	}
	m := got[0]
	if m.Event != EventDeadlineExceeded || m.Ref != "deployment/web#2" || m.Rollout == nil || m.Rollout.Namespace != "never-ready-undo" ||
		!strings.Contains(m.Text, "deployment/web#2 in namespace never-ready-undo of cluster test missed its progress deadline") {
		t.Errorf("message: %+v", m)
	}
	if v := counterValue(t, reg, "khist_notify_sent_total"); v != 1 {
		t.Errorf("sent: %v", v)
	}
	// A restart sends nothing again.
	o.Registerer = nil
	stop = start(t, db, o)
	time.Sleep(100 * time.Millisecond)
	stop()
	if posts, _ := rc.messages(); posts != 3 {
		t.Errorf("%d posts after a restart, want still 3", posts)
	}
}

// TestNotifyStartsFromNow: a history folded before notifications began is not announced; a
// webhook that refuses a message (4xx) is not retried, and the failure is counted.
func TestNotifyStartsFromNow(t *testing.T) {
	envs, failAt := recording(t)
	db := openDB(t)
	ctx := context.Background()
	if err := db.Apply(ctx, envs); err != nil {
		t.Fatal(err)
	}
	rc := &receiver{fail: []int{404}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	state := filepath.Join(t.TempDir(), "notify.json")
	stop := start(t, db, Options{URL: srv.URL, StateFile: state, Interval: 10 * time.Millisecond, Retry: time.Millisecond})
	time.Sleep(100 * time.Millisecond)
	stop()
	if posts, _ := rc.messages(); posts != 0 {
		t.Fatalf("%d posts for a history folded before notifications began", posts)
	}
	// The same history folded after the start: the refused message is given up at once.
	db2 := openDB(t)
	if err := db2.Apply(ctx, envs[:failAt]); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	stop = start(t, db2, Options{URL: srv.URL, StateFile: filepath.Join(t.TempDir(), "notify.json"), Interval: 10 * time.Millisecond, Retry: time.Millisecond, Registerer: reg})
	if err := db2.Apply(ctx, envs[failAt:]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the failure", func() bool {
		return counterValue(t, reg, "khist_notify_failures_total") == 1
	})
	time.Sleep(50 * time.Millisecond)
	stop()
	if posts, got := rc.messages(); posts != 1 || len(got) != 0 {
		t.Errorf("%d posts, %d accepted: want one refused post", posts, len(got))
	}
}

func TestNotifyBadURL(t *testing.T) {
	err := Run(context.Background(), openDB(t), Options{URL: "hooks.example/x", StateFile: filepath.Join(t.TempDir(), "s")})
	if err == nil || !strings.Contains(err.Error(), "not an http:// or https:// URL") || strings.Contains(err.Error(), "hooks.example") {
		t.Fatalf("Run: %v", err)
	}
}

// counterValue reads a registered counter by name; -1 while it is not registered.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return -1
}

// TestNotifyDivergence: each rollout that ends after the start is audited once (Audit here is
// a stand-in that says the undo diverged); the divergence is announced once, and a restart
// audits nothing again.
func TestNotifyDivergence(t *testing.T) {
	envs, failAt := recording(t)
	db := openDB(t)
	ctx := context.Background()
	if err := db.Apply(ctx, envs[:failAt]); err != nil {
		t.Fatal(err)
	}
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	var mu sync.Mutex
	audited := map[uint64]int{}
	fakeAudit := func(_ context.Context, r projector.Rollout) (bool, string, error) {
		mu.Lock()
		defer mu.Unlock()
		audited[r.StartSeq]++
		return r.Rollback, "step 2: the stand-in says so", nil
	}
	reg := prometheus.NewPedanticRegistry()
	o := Options{URL: srv.URL, StateFile: filepath.Join(t.TempDir(), "notify.json"), Interval: 10 * time.Millisecond, Retry: time.Millisecond, Audit: fakeAudit, Registerer: reg}
	stop := start(t, db, o)
	if err := db.Apply(ctx, envs[failAt:]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two messages", func() bool { _, got := rc.messages(); return len(got) == 2 })
	time.Sleep(100 * time.Millisecond)
	stop()
	_, got := rc.messages()
	var div *Message
	for i := range got {
		if got[i].Event == EventDivergence {
			div = &got[i]
		}
	}
	if len(got) != 2 || div == nil || div.Ref != "deployment/web#3" ||
		!strings.Contains(div.Text, "did not do what the Deployment controller's algorithm does: step 2: the stand-in says so") {
		t.Fatalf("messages: %+v", got)
	}
	mu.Lock()
	n := len(audited)
	for seq, c := range audited {
		if c != 1 {
			t.Errorf("rollout @%d audited %d times", seq, c)
		}
	}
	mu.Unlock()
	// The rollouts that ended after the start: #2 (rolled back) and #3 (the undo).
	if n != 2 || counterValue(t, reg, "khist_replay_audited_total") != 2 || counterValue(t, reg, "khist_replay_divergences_total") != 1 {
		t.Errorf("%d rollouts audited; metrics: %v audited, %v divergences", n, counterValue(t, reg, "khist_replay_audited_total"), counterValue(t, reg, "khist_replay_divergences_total"))
	}
	o.Registerer = nil
	stop = start(t, db, o)
	time.Sleep(100 * time.Millisecond)
	stop()
	mu.Lock()
	defer mu.Unlock()
	if len(audited) != 2 {
		t.Errorf("a restart audited again: %v", audited)
	}
	if posts, _ := rc.messages(); posts != 2 {
		t.Errorf("%d posts after a restart", posts)
	}
}

// TestNotifyNamesTheUser: with the audit record of the request that started the rollout in the
// log (khist collect --audit-webhook), the message names the user, not the field manager.
func TestNotifyNamesTheUser(t *testing.T) {
	envs, failAt := recording(t)
	db := openDB(t)
	ctx := context.Background()
	if err := db.Apply(ctx, envs[:failAt]); err != nil {
		t.Fatal(err)
	}
	rs, err := db.Rollouts(ctx, projector.RolloutFilter{})
	if err != nil || len(rs) < 2 {
		t.Fatalf("rollouts: %d (%v)", len(rs), err)
	}
	r := rs[1]
	if r.Actor == "" {
		t.Fatal("the recording's second rollout has no field manager")
	}
	rec := eventlog.AuditRecord{AuditID: "a-1", Verb: "patch", Group: "apps", APIVersion: "v1", Resource: "deployments",
		Namespace: r.Namespace, Name: r.Name, User: "alice", Impersonator: "ops-bot", Manager: r.Actor,
		Completed: r.Start.Add(-5 * time.Millisecond)}
	ae, err := eventlog.NewAuditEnvelope(r.Cluster, "audit-webhook", &rec)
	if err != nil {
		t.Fatal(err)
	}
	// The API server's batch arrives after the version it made: next in the log.
	ae.Seq = envs[failAt-1].Seq + 1
	rest := []*eventlog.Envelope{ae}
	for _, e := range envs[failAt:] {
		c := *e
		c.Seq++
		rest = append(rest, &c)
	}
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	stop := start(t, db, Options{URL: srv.URL, StateFile: filepath.Join(t.TempDir(), "notify.json"), Interval: 10 * time.Millisecond, Retry: time.Millisecond})
	if err := db.Apply(ctx, rest); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the message", func() bool { _, got := rc.messages(); return len(got) > 0 })
	stop()
	_, got := rc.messages()
	if want := "started by alice (impersonated by ops-bot)"; !strings.Contains(got[0].Text, want) {
		t.Fatalf("message %q does not say %q", got[0].Text, want)
	}
}
