package e2e

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/khist/khist/collector"
	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/test/cluster"
	"github.com/prometheus/client_golang/prometheus"
)

// RecorderOptions configure StartRecorder. Zero values mean the documented defaults.
type RecorderOptions struct {
	// Cluster is the cluster's name in the log. Default "e2e".
	Cluster string
	// DataDir holds the embedded NATS store. Default: a new t.TempDir().
	DataDir string
	// NATSURL, when set, records into that external JetStream instead of an embedded one.
	NATSURL string
	// NoCompress stores the stream uncompressed (so that its raw bytes can be searched).
	NoCompress bool
	// Include, Exclude, IncludeNamespaces, ExcludeNamespaces and KeepHeartbeats are passed to
	// the collector (see collector.Options). Default: everything, heartbeats filtered.
	Include, Exclude                     []string
	IncludeNamespaces, ExcludeNamespaces []string
	KeepHeartbeats                       bool
	// SecretKeyNames watches Secrets in full (collector.Options.SecretKeyNames).
	SecretKeyNames bool
	// DiscoveryInterval is the collector's; default 5s, so that tests see new CRDs quickly.
	DiscoveryInterval time.Duration
	// WatchTimeout and PublishAckTimeout are the collector's; default its own (5m, 10s).
	WatchTimeout, PublishAckTimeout time.Duration
	// Impersonate runs the collector as this user (e.g. a ServiceAccount, to test its RBAC).
	Impersonate string
	// WrapTransport wraps the collector's HTTP transport (e.g. a FaultTransport).
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// Quiet is how long a watch must be idle to count as caught up in Sync. Default 1s.
	Quiet time.Duration
	// Logger receives the collector's logs. Default: t.Log at level info.
	Logger *slog.Logger
}

// Recorder is a collector running in-process against a test cluster, recording into its own
// log. It stops when the test ends.
type Recorder struct {
	Cluster   *cluster.Cluster
	Log       *eventlog.Log
	Collector *collector.Collector
	Registry  *prometheus.Registry
	DataDir   string
	Name      string // the cluster's name in the log

	opts   RecorderOptions
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// StartRecorder starts a collector of c and returns once its initial lists are recorded.
func StartRecorder(t testing.TB, c *cluster.Cluster, o RecorderOptions) *Recorder {
	t.Helper()
	if o.Cluster == "" {
		o.Cluster = "e2e"
	}
	if o.DataDir == "" && o.NATSURL == "" {
		o.DataDir = t.TempDir()
	}
	if o.DiscoveryInterval == 0 {
		o.DiscoveryInterval = 5 * time.Second
	}
	if o.Quiet == 0 {
		o.Quiet = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	ctx := context.Background()
	l, err := eventlog.Open(ctx, eventlog.Options{
		DataDir: o.DataDir,
		URL:     o.NATSURL,
		Stream:  eventlog.StreamConfig{NoCompress: o.NoCompress},
		Name:    "khist-e2e-recorder",
	})
	if err != nil {
		t.Fatalf("recorder: open log: %v", err)
	}
	cfg := c.RESTConfig()
	if o.WrapTransport != nil {
		cfg.Wrap(o.WrapTransport)
	}
	if o.Impersonate != "" {
		cfg.Impersonate.UserName = o.Impersonate
	}
	reg := prometheus.NewRegistry()
	col, err := collector.New(cfg, l, collector.Options{
		Cluster:           o.Cluster,
		Include:           o.Include,
		Exclude:           o.Exclude,
		IncludeNamespaces: o.IncludeNamespaces,
		ExcludeNamespaces: o.ExcludeNamespaces,
		KeepHeartbeats:    o.KeepHeartbeats,
		SecretKeyNames:    o.SecretKeyNames,
		DiscoveryInterval: o.DiscoveryInterval,
		WatchTimeout:      o.WatchTimeout,
		PublishAckTimeout: o.PublishAckTimeout,
		Registerer:        reg,
		Logger:            o.Logger,
	})
	if err != nil {
		l.Close()
		t.Fatalf("recorder: %v", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	r := &Recorder{Cluster: c, Log: l, Collector: col, Registry: reg, DataDir: o.DataDir, Name: o.Cluster, opts: o, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- col.Start(rctx) }()
	t.Cleanup(func() { r.Stop() })
	sctx, scancel := context.WithTimeout(ctx, 2*time.Minute)
	defer scancel()
	select {
	case <-col.Synced():
	case err := <-r.done:
		r.done <- err
		t.Fatalf("recorder: collector stopped before its first sync: %v", err)
	case <-sctx.Done():
		t.Fatalf("recorder: the collector's initial lists took over 2 minutes")
	}
	return r
}

// Stop stops the collector and closes the log. It is idempotent and called when the test ends.
func (r *Recorder) Stop() error {
	var err error
	r.once.Do(func() {
		r.cancel()
		err = <-r.done
		r.done <- err
		r.Log.Close()
	})
	return err
}

// Sync waits until the changes made to the cluster so far are in the log (collector.Sync).
func (r *Recorder) Sync(ctx context.Context) error {
	return r.Collector.Sync(ctx, r.opts.Quiet)
}

// Envelopes syncs, then returns every envelope of the log in stream order.
func (r *Recorder) Envelopes(ctx context.Context) ([]*eventlog.Envelope, error) {
	if err := r.Sync(ctx); err != nil {
		return nil, err
	}
	return ReadAll(ctx, r.Log)
}

// ReadAll returns every object version of a log in stream order (the discovery and audit
// records left out: see ReadDiscoveries).
func ReadAll(ctx context.Context, l *eventlog.Log) ([]*eventlog.Envelope, error) {
	return readLog(ctx, l, func(e *eventlog.Envelope) bool { return e.Type.IsObject() })
}

// ReadDiscoveries returns the discovery records of a log in stream order.
func ReadDiscoveries(ctx context.Context, l *eventlog.Log) ([]*eventlog.Envelope, error) {
	return readLog(ctx, l, func(e *eventlog.Envelope) bool { return e.Type == eventlog.Discovered })
}

func readLog(ctx context.Context, l *eventlog.Log, keep func(*eventlog.Envelope) bool) ([]*eventlog.Envelope, error) {
	var out []*eventlog.Envelope
	err := l.Read(ctx, eventlog.ReadOptions{}, func(b []*eventlog.Envelope) error {
		for _, e := range b {
			if keep(e) {
				e.Object = append([]byte(nil), e.Object...)
				out = append(out, e)
			}
		}
		return nil
	})
	return out, err
}

// Record runs a recorder of c around steps and returns the log's envelopes: the collector is
// started (and has listed the cluster) before steps run, and the envelopes are read once it
// has caught up with what steps did. steps typically runs kubectl (c.Kubectl) and waits for
// the cluster to settle.
func Record(t testing.TB, c *cluster.Cluster, o RecorderOptions, steps func(ctx context.Context) error) []*eventlog.Envelope {
	t.Helper()
	r := StartRecorder(t, c, o)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := steps(ctx); err != nil {
		t.Fatalf("record: steps: %v", err)
	}
	envs, err := r.Envelopes(ctx)
	if err != nil {
		t.Fatalf("record: read the log: %v", err)
	}
	return envs
}

// WatchEventType maps a log event type to a kubectl watch event type: RESYNC, a version seen
// on a list, is ADDED (as kubectl --watch prints the objects it lists first), and
// DELETED_UNOBSERVED is DELETED.
func WatchEventType(t eventlog.EventType) string {
	switch t {
	case eventlog.Resync:
		return "ADDED"
	case eventlog.DeletedUnobserved:
		return "DELETED"
	}
	return string(t)
}

// WriteWatchFile writes envelopes as `kubectl get --watch --output-watch-events -o json`
// would, one {"type":...,"object":...} per line (see WatchEventType), gzip-compressed when
// path ends in .gz. The file imports back with `khist import` (importer.ReadWatch).
func WriteWatchFile(path string, envs []*eventlog.Envelope) error {
	return WriteWatchFileLevel(path, envs, gzip.DefaultCompression)
}

// WriteWatchFileLevel is WriteWatchFile with a gzip compression level (gzip.BestCompression for
// fixtures kept in the repository); the level is ignored when path does not end in .gz.
func WriteWatchFileLevel(path string, envs []*eventlog.Envelope, level int) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	var w io.Writer = f
	var gz *gzip.Writer
	if strings.HasSuffix(path, ".gz") {
		if gz, err = gzip.NewWriterLevel(f, level); err != nil {
			return err
		}
		w = gz
	}
	bw := bufio.NewWriter(w)
	if err := WriteWatchEvents(bw, envs); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if gz != nil {
		return gz.Close()
	}
	return nil
}

// WriteWatchEvents writes envelopes as kubectl watch events, one per line (see WriteWatchFile).
func WriteWatchEvents(w io.Writer, envs []*eventlog.Envelope) error {
	for _, e := range envs {
		if !e.Type.IsObject() {
			continue // kubectl watch files carry no discovery, audit or progress records
		}
		if !json.Valid(e.Object) {
			return fmt.Errorf("%s: body is not JSON", e)
		}
		// observed is khist's addition to kubectl's format (which readers ignore): when the
		// collector saw the change, finer than the objects' one-second timestamps.
		var observed string
		if !e.Observed.IsZero() {
			observed = e.Observed.UTC().Format(time.RFC3339Nano)
		}
		line, err := json.Marshal(struct {
			Type     string          `json:"type"`
			Object   json.RawMessage `json:"object"`
			Observed string          `json:"observed,omitempty"`
		}{WatchEventType(e.Type), e.Object, observed})
		if err != nil {
			return err
		}
		if _, err := w.Write(append(line, '\n')); err != nil {
			return err
		}
	}
	return nil
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	defer func() { recover() }() // a log line after the test ended
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// FaultTransport holds back or breaks the collector's connections to the API server, to
// reproduce a collector that falls behind. Use its Wrap as RecorderOptions.WrapTransport.
type FaultTransport struct {
	mu     sync.Mutex
	cond   *sync.Cond
	paused bool
	epoch  int
}

// NewFaultTransport returns a FaultTransport that lets everything through.
func NewFaultTransport() *FaultTransport {
	f := &FaultTransport{}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// Wrap returns rt with the faults.
func (f *FaultTransport) Wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		f.mu.Lock()
		for f.paused {
			f.cond.Wait()
		}
		epoch := f.epoch
		f.mu.Unlock()
		resp, err := rt.RoundTrip(req)
		if resp != nil {
			resp.Body = &faultBody{f: f, rc: resp.Body, epoch: epoch}
		}
		return resp, err
	})
}

// Pause holds back every response byte read from now on, and every new request.
func (f *FaultTransport) Pause() {
	f.mu.Lock()
	f.paused = true
	f.mu.Unlock()
}

// BreakAndResume fails every connection opened before (what was held back is lost, as when a
// connection drops) and lets new ones through.
func (f *FaultTransport) BreakAndResume() {
	f.mu.Lock()
	f.paused = false
	f.epoch++
	f.cond.Broadcast()
	f.mu.Unlock()
}

// Resume lets held-back bytes and requests through.
func (f *FaultTransport) Resume() {
	f.mu.Lock()
	f.paused = false
	f.cond.Broadcast()
	f.mu.Unlock()
}

var errBroken = errors.New("connection broken by the test's FaultTransport")

type faultBody struct {
	f     *FaultTransport
	rc    io.ReadCloser
	epoch int
}

func (b *faultBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	f := b.f
	f.mu.Lock()
	for f.paused && f.epoch == b.epoch {
		f.cond.Wait()
	}
	broken := f.epoch != b.epoch
	f.mu.Unlock()
	if broken {
		b.rc.Close()
		return 0, errBroken
	}
	return n, err
}

func (b *faultBody) Close() error { return b.rc.Close() }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
