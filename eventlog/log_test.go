package eventlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// mustOpenLog opens an embedded log on t.TempDir() and closes it in t.Cleanup.
func mustOpenLog(t testing.TB, dir string) *Log {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	l, err := Open(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatalf("open log: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func testEnvelope(i int, body []byte) *Envelope {
	if body == nil {
		body = []byte(fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-%d","namespace":"shop","resourceVersion":"%d"}}`, i, 100+i))
	}
	return &Envelope{
		Type: Modified, Cluster: "prod.eu-1", Group: "", Version: "v1", Kind: "Pod", Resource: "pods",
		Namespace: "shop", Name: fmt.Sprintf("web-%d.a_b", i), UID: fmt.Sprintf("uid-%d", i),
		ResourceVersion: fmt.Sprint(100 + i), Observed: time.Date(2026, 11, 20, 10, 0, i, 123456789, time.UTC),
		Source: "test", Actor: "kube-controller-manager", Object: body,
	}
}

func readAll(t testing.TB, l *Log, o ReadOptions) []*Envelope {
	t.Helper()
	var out []*Envelope
	err := l.Read(context.Background(), o, func(b []*Envelope) error {
		for _, e := range b {
			c := *e
			c.Object = append([]byte(nil), e.Object...)
			out = append(out, &c)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return out
}

func publishAll(t testing.TB, l *Log, envs []*Envelope) PublishStats {
	t.Helper()
	p, err := l.NewPublisher(PublisherOptions{MaxInFlight: 64})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, e := range envs {
		if err := p.Publish(ctx, e); err != nil {
			t.Fatalf("publish %s: %v", e, err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	return p.Stats()
}

func TestRoundTrip(t *testing.T) {
	l := mustOpenLog(t, "")
	var in []*Envelope
	for i := 0; i < 300; i++ {
		in = append(in, testEnvelope(i, nil))
	}
	st := publishAll(t, l, in)
	if st.Published != 300 || st.Duplicates != 0 || st.Failed != 0 {
		t.Fatalf("stats = %+v, want 300 published", st)
	}
	out := readAll(t, l, ReadOptions{Batch: 64})
	if len(out) != len(in) {
		t.Fatalf("read %d envelopes, want %d", len(out), len(in))
	}
	for i := range in {
		want := *in[i]
		want.Seq = uint64(i + 1)
		got := *out[i]
		if !bytes.Equal(got.Object, want.Object) {
			t.Fatalf("envelope %d: body differs", i)
		}
		got.Object, want.Object = nil, nil
		if !got.Observed.Equal(want.Observed) {
			t.Fatalf("envelope %d: observed %v, want %v", i, got.Observed, want.Observed)
		}
		got.Observed, want.Observed = time.Time{}, time.Time{}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("envelope %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
	// Reading from a sequence starts there.
	if tail := readAll(t, l, ReadOptions{StartSeq: 291}); len(tail) != 10 || tail[0].Seq != 291 {
		t.Fatalf("read from 291: %d envelopes, first seq %d", len(tail), tail[0].Seq)
	}
}

func TestDuplicatesDropped(t *testing.T) {
	l := mustOpenLog(t, "")
	e := testEnvelope(1, nil)
	if st := publishAll(t, l, []*Envelope{e, e, e}); st.Published != 1 || st.Duplicates != 2 {
		t.Fatalf("stats = %+v, want 1 published and 2 duplicates", st)
	}
	// Another event type of the same version is a different message.
	d := *e
	d.Type = Resync
	if st := publishAll(t, l, []*Envelope{&d}); st.Published != 1 {
		t.Fatalf("RESYNC of the same version: %+v, want published", st)
	}
	if got := readAll(t, l, ReadOptions{}); len(got) != 2 {
		t.Fatalf("log holds %d envelopes, want 2", len(got))
	}
}

func TestInvalidEnvelopeRefused(t *testing.T) {
	l := mustOpenLog(t, "")
	p, err := l.NewPublisher(PublisherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	e := testEnvelope(1, nil)
	e.Type = "CHANGED"
	if err := p.Publish(context.Background(), e); !errors.Is(err, ErrInvalidEnvelope) {
		t.Fatalf("publish with bad type: %v, want ErrInvalidEnvelope", err)
	}
	big := testEnvelope(2, bytes.Repeat([]byte("x"), MaxObjectSize+2048))
	if err := p.Publish(context.Background(), big); !errors.Is(err, ErrInvalidEnvelope) {
		t.Fatalf("publish over etcd's limit: %v, want ErrInvalidEnvelope", err)
	}
}

func TestLargestObject(t *testing.T) {
	l := mustOpenLog(t, "")
	body := []byte(`{"apiVersion":"v1","kind":"ConfigMap","data":{"blob":"` + strings.Repeat("a1b2c3d4", MaxObjectSize/8-16) + `"}}`)
	if len(body) < 1500*1024 {
		t.Fatalf("test body is only %d bytes", len(body))
	}
	e := testEnvelope(1, body)
	publishAll(t, l, []*Envelope{e})
	got := readAll(t, l, ReadOptions{})
	if len(got) != 1 || !bytes.Equal(got[0].Object, body) {
		t.Fatalf("1.5 MiB object did not come back intact")
	}
}

func TestSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	publishAll(t, l, []*Envelope{testEnvelope(1, nil), testEnvelope(2, nil)})
	l.Close()
	l2 := mustOpenLog(t, dir)
	got := readAll(t, l2, ReadOptions{})
	if len(got) != 2 || got[1].Name != "web-2.a_b" {
		t.Fatalf("after restart: %d envelopes", len(got))
	}
	// And de-duplication still holds within the window.
	if st := publishAll(t, l2, []*Envelope{testEnvelope(2, nil)}); st.Duplicates != 1 {
		t.Fatalf("after restart: %+v, want a duplicate", st)
	}
}

func TestSecondProcessSharesEmbeddedServer(t *testing.T) {
	dir := t.TempDir()
	owner := mustOpenLog(t, dir)
	if !owner.Embedded {
		t.Fatal("first open should run the embedded server")
	}
	publishAll(t, owner, []*Envelope{testEnvelope(1, nil)})
	// A second open on the same directory (as a second khist process would) connects to it.
	other := mustOpenLog(t, dir)
	if other.Embedded {
		t.Fatal("second open started another server on a store in use")
	}
	if got := readAll(t, other, ReadOptions{}); len(got) != 1 {
		t.Fatalf("second client reads %d envelopes, want 1", len(got))
	}
}

// startServer starts a nats-server in the test's process with o, stopped when the test ends.
func startServer(t *testing.T, o *server.Options) *server.Server {
	t.Helper()
	srv, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("server did not start")
	}
	return srv
}

func TestExternalMaxPayloadTooSmall(t *testing.T) {
	srv := startServer(t, &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	_, err := Open(context.Background(), Options{URL: srv.ClientURL()})
	if !errors.Is(err, ErrMaxPayloadTooSmall) || !strings.Contains(err.Error(), "max_payload") {
		t.Fatalf("open against a 1 MiB max_payload server: %v, want ErrMaxPayloadTooSmall naming max_payload", err)
	}
}

func TestExternalServer(t *testing.T) {
	srv := startServer(t, &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), MaxPayload: 8 << 20, NoSigs: true, NoLog: true})
	l, err := Open(context.Background(), Options{URL: srv.ClientURL(), Stream: StreamConfig{MaxAge: time.Hour, MaxBytes: 1 << 30}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	publishAll(t, l, []*Envelope{testEnvelope(1, nil)})
	if got := readAll(t, l, ReadOptions{}); len(got) != 1 {
		t.Fatalf("external: read %d", len(got))
	}
	info, err := l.JetStream().Stream(context.Background(), l.StreamName())
	if err != nil {
		t.Fatal(err)
	}
	cfg := info.CachedInfo().Config
	if cfg.MaxAge != time.Hour || cfg.MaxBytes != 1<<30 || cfg.Compression == 0 {
		t.Fatalf("stream config not applied: %+v", cfg)
	}
}

func TestReadFilterAndDurable(t *testing.T) {
	l := mustOpenLog(t, "")
	var in []*Envelope
	for i := 0; i < 20; i++ {
		e := testEnvelope(i, nil)
		if i%2 == 1 {
			e.Namespace = "other"
		}
		in = append(in, e)
	}
	publishAll(t, l, in)
	got := readAll(t, l, ReadOptions{Filters: []string{Filter("prod.eu-1", "", "Pod", "other")}})
	if len(got) != 10 {
		t.Fatalf("filtered read: %d, want 10", len(got))
	}
	for _, e := range got {
		if e.Namespace != "other" {
			t.Fatalf("filter leaked %s", e)
		}
	}
	// No match at all ends too.
	if got := readAll(t, l, ReadOptions{Filters: []string{Filter("nope", "*", "*", "*")}}); len(got) != 0 {
		t.Fatalf("read of an absent cluster: %d", len(got))
	}
	// A durable consumer resumes where its caller says.
	first := readAll(t, l, ReadOptions{Durable: "t1", Batch: 5})
	if len(first) != 20 {
		t.Fatalf("durable read: %d", len(first))
	}
	rest := readAll(t, l, ReadOptions{Durable: "t1", StartSeq: 15})
	if len(rest) != 6 || rest[0].Seq != 15 {
		t.Fatalf("durable re-read from 15: %d envelopes", len(rest))
	}
}

// A durable consumer keeps its state in the server's memory and takes no acknowledgements:
// nothing of it is written to the store, and an older khist's durable consumer of the same
// name (acknowledged, its state on disk) is replaced even at the position asked for.
func TestDurableStateInMemory(t *testing.T) {
	dir := t.TempDir()
	l := mustOpenLog(t, dir)
	var in []*Envelope
	for i := 0; i < 20; i++ {
		in = append(in, testEnvelope(i, nil))
	}
	publishAll(t, l, in)
	ctx := context.Background()
	if _, err := l.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: "old", DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: 1,
		AckPolicy: jetstream.AckAllPolicy,
	}); err != nil {
		t.Fatal(err)
	}
	if !consumerDirExists(t, dir, "old") {
		t.Fatal("the old-style consumer has no state on disk: the test cannot tell the change")
	}
	for _, name := range []string{"old", "new"} {
		if got := readAll(t, l, ReadOptions{Durable: name, Batch: 5}); len(got) != 20 {
			t.Fatalf("durable %s read %d envelopes, want 20", name, len(got))
		}
		c, err := l.stream.Consumer(ctx, name)
		if err != nil {
			t.Fatalf("durable %s after the read: %v", name, err)
		}
		info := c.CachedInfo()
		if !info.Config.MemoryStorage || info.Config.AckPolicy != jetstream.AckNonePolicy || info.Delivered.Stream != 20 {
			t.Errorf("durable %s: memory %v, ack policy %v, delivered %d; want memory, none, 20", name, info.Config.MemoryStorage, info.Config.AckPolicy, info.Delivered.Stream)
		}
		if consumerDirExists(t, dir, name) {
			t.Errorf("durable %s keeps state on disk", name)
		}
	}
	// Resumed where the caller says: from its position (the consumer is kept) or before it.
	if got := readAll(t, l, ReadOptions{Durable: "new", StartSeq: 21}); len(got) != 0 {
		t.Fatalf("durable read from the end: %d envelopes", len(got))
	}
	publishAll(t, l, []*Envelope{testEnvelope(20, nil), testEnvelope(21, nil), testEnvelope(22, nil)})
	if got := readAll(t, l, ReadOptions{Durable: "new", StartSeq: 21}); len(got) != 3 || got[0].Seq != 21 {
		t.Fatalf("durable read of the 3 new events: %d envelopes", len(got))
	}
	if got := readAll(t, l, ReadOptions{Durable: "new", StartSeq: 19}); len(got) != 5 || got[0].Seq != 19 {
		t.Fatalf("durable re-read from 19: %d envelopes", len(got))
	}
}

// consumerDirExists says whether the embedded server's store under dir holds a directory for
// the consumer name (a file-stored consumer's state).
func consumerDirExists(t *testing.T, dir, name string) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(filepath.Join(dir, "jetstream"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == name && filepath.Base(filepath.Dir(p)) == "obs" {
			found = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestFollowStopsOnCancel(t *testing.T) {
	l := mustOpenLog(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan int, 10)
	done := make(chan error, 1)
	go func() {
		done <- l.Read(ctx, ReadOptions{Follow: true}, func(b []*Envelope) error { got <- len(b); return nil })
	}()
	publishAll(t, l, []*Envelope{testEnvelope(1, nil)})
	select {
	case n := <-got:
		if n != 1 {
			t.Fatalf("follow delivered %d", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not deliver a new event")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("follow returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not stop on cancel")
	}
}

// TestQuietFollowerWaits: a follower that has read everything waits for the next event with
// a long request instead of asking the server again every MaxWait (issue 13: that polling was
// most of an idle khist collect's CPU), yet delivers a new event at once and stops at once.
func TestQuietFollowerWaits(t *testing.T) {
	l := mustOpenLog(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan int, 10)
	done := make(chan error, 1)
	go func() {
		done <- l.Read(ctx, ReadOptions{Follow: true, MaxWait: 30 * time.Millisecond}, func(b []*Envelope) error { got <- len(b); return nil })
	}()
	deliver := func(i int) time.Duration {
		t.Helper()
		sent := time.Now()
		publishAll(t, l, []*Envelope{testEnvelope(i, nil)})
		select {
		case <-got:
			return time.Since(sent)
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d not delivered", i)
			return 0
		}
	}
	deliver(1)
	time.Sleep(1500 * time.Millisecond) // the follower checks its consumer and goes idle
	inMsgs := func() int64 {
		v, err := l.srv.Varz(nil)
		if err != nil {
			t.Fatal(err)
		}
		return v.InMsgs
	}
	in := inMsgs()
	time.Sleep(3 * time.Second)
	// Polling, it sent one request every 30ms (100 in 3s) and asked for the consumer's
	// state every second; waiting, none or one.
	if n := inMsgs() - in; n > 10 {
		t.Errorf("a quiet follower sent %d messages to the server in 3s, want at most 10", n)
	}
	if d := deliver(2); d > time.Second {
		t.Errorf("an idle follower delivered a new event after %s", d)
	}
	time.Sleep(1500 * time.Millisecond)
	stopped := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("follow returned %v, want context.Canceled", err)
		}
		if d := time.Since(stopped); d > time.Second {
			t.Errorf("an idle follower took %s to stop", d)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("follow did not stop on cancel")
	}
}

func TestPublisherFailsFastWhenServerDies(t *testing.T) {
	srv := startServer(t, &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), MaxPayload: 8 << 20, NoSigs: true, NoLog: true})
	l, err := Open(context.Background(), Options{URL: srv.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var acked, failed int
	p, err := l.NewPublisher(PublisherOptions{MaxInFlight: 200, Retries: 1, AckTimeout: time.Second, OnAck: func(_ *Envelope, _ uint64, _ bool, err error) {
		if err != nil {
			failed++
		} else {
			acked++
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	publishAll(t, l, []*Envelope{testEnvelope(0, nil)})
	srv.Shutdown()
	start := time.Now()
	ctx := context.Background()
	for i := 1; i <= 150; i++ {
		if err := p.Publish(ctx, testEnvelope(i, nil)); err != nil {
			break // an earlier failure is reported here; nothing more is sent
		}
	}
	err = p.Close(ctx)
	if !errors.Is(err, ErrPublish) {
		t.Fatalf("close after the server died: %v, want ErrPublish", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("failing a window of 150 took %s; it should take about one AckTimeout plus the retry", d)
	}
	st := p.Stats()
	if st.Published+st.Duplicates != acked || st.Failed != failed || failed == 0 {
		t.Fatalf("stats %+v disagree with OnAck (%d acked, %d failed)", st, acked, failed)
	}
}

func TestStreamSettingsKeptUnlessApplied(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	open := func(sc StreamConfig) time.Duration {
		t.Helper()
		l, err := Open(ctx, Options{DataDir: dir, Stream: sc})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		st, err := l.JetStream().Stream(ctx, l.StreamName())
		if err != nil {
			t.Fatal(err)
		}
		return st.CachedInfo().Config.MaxAge
	}
	if got := open(StreamConfig{MaxAge: time.Hour}); got != time.Hour {
		t.Fatalf("created with max age %s, want 1h", got)
	}
	if got := open(StreamConfig{}); got != time.Hour {
		t.Fatalf("an open without settings changed the max age to %s", got)
	}
	if got := open(StreamConfig{MaxAge: 2 * time.Hour, Apply: true}); got != 2*time.Hour {
		t.Fatalf("applied max age 2h, stream has %s", got)
	}
}

// TestStreamSettingsAppliedOnlyWhenChanged: applying the settings the stream already has asks
// the server for nothing, so a user that may not change the stream (deploy/nats-server.conf's
// khist-writer, a fleet's collector) can still be given them, e.g. a collector restarted with
// --stream-replicas 3; other settings are refused with ErrNotPermitted.
func TestStreamSettingsAppliedOnlyWhenChanged(t *testing.T) {
	srv := startServer(t, &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		MaxPayload: 8 << 20, NoSigs: true, NoLog: true, Users: []*server.User{
			{Username: "admin", Password: "a"},
			{Username: "writer", Password: "w", Permissions: &server.Permissions{Publish: &server.SubjectPermission{
				Allow: []string{"khist.ev.>", "$JS.API.>"}, Deny: []string{"$JS.API.STREAM.UPDATE.>"}}}},
		}})
	ctx := context.Background()
	open := func(user, password string, sc StreamConfig) error {
		l, err := Open(ctx, Options{URL: srv.ClientURL(), User: user, Password: password, Stream: sc})
		if err == nil {
			l.Close()
		}
		return err
	}
	set := StreamConfig{MaxAge: time.Hour, Apply: true}
	if err := open("admin", "a", set); err != nil {
		t.Fatal(err)
	}
	if err := open("writer", "w", set); err != nil {
		t.Fatalf("the writer applying the stream's own settings: %v", err)
	}
	err := open("writer", "w", StreamConfig{MaxAge: time.Minute, Apply: true})
	if !errors.Is(err, ErrNotPermitted) || !strings.Contains(err.Error(), "$JS.API.STREAM.UPDATE.KHIST") {
		t.Fatalf("the writer changing the max age: %v, want ErrNotPermitted naming the update", err)
	}
}

// TestServerKeptForItsClients (issue 14, item 5): the process that runs the embedded server
// keeps it running, when it is done, until the other processes on the data directory are done
// with it; a process that starts meanwhile waits for an address rather than failing.
func TestServerKeptForItsClients(t *testing.T) {
	dir := t.TempDir()
	owner, err := Open(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	other := mustOpenLog(t, dir)
	closed := make(chan struct{})
	go func() { owner.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("the server's process stopped it while another used it")
	case <-time.After(500 * time.Millisecond):
	}
	// The other process still publishes and reads.
	publishAll(t, other, []*Envelope{testEnvelope(1, nil), testEnvelope(2, nil)})
	if got := readAll(t, other, ReadOptions{}); len(got) != 2 {
		t.Fatalf("read %d events, want 2", len(got))
	}
	other.Close()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the server's process did not stop after its last client left")
	}
	// The next process runs the server itself, and finds the events.
	next := mustOpenLog(t, dir)
	if !next.Embedded {
		t.Fatal("the next process did not run the server")
	}
	if got := readAll(t, next, ReadOptions{}); len(got) != 2 {
		t.Fatalf("read %d events after the hand-over, want 2", len(got))
	}
}

// TestClientWaitBoundsClose: a process asked to stop with a bound (a collector on SIGTERM)
// stops its embedded server after that bound even while another process still uses it.
func TestClientWaitBoundsClose(t *testing.T) {
	dir := t.TempDir()
	owner, err := Open(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	owner.SetClientWait(time.Second)
	other := mustOpenLog(t, dir)
	defer other.Close()
	start := time.Now()
	done := make(chan struct{})
	go func() { owner.Close(); close(done) }()
	select {
	case <-done:
		if d := time.Since(start); d < time.Second {
			t.Errorf("stopped after %s, before its bound, while another process used the server", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10 s with a client wait of 1 s")
	}
}
