package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/nats-io/nats.go/jetstream"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// Collector records a cluster into the event log. Create it with New and run it with Start.
type Collector struct {
	opts   Options
	log    *slog.Logger
	elog   *eventlog.Log
	stream jetstream.Stream
	rc     *rest.RESTClient
	disco  discovery.DiscoveryInterface
	filter *filter
	state  *state

	metrics *metrics

	synced     chan struct{}
	syncedOnce sync.Once

	mu  sync.Mutex
	cur *session // the running session, nil between sessions

	discoHash string // hash of the discovery the log holds last (see recordDiscovery)
}

// New returns a collector of the cluster that cfg reaches, recording into l. It does not
// contact the cluster or the log: Start does.
func New(cfg *rest.Config, l *eventlog.Log, opts Options) (*Collector, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	f, err := newFilter(&opts)
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	cfg.Timeout = 0 // watches last minutes; each request is bound by its context instead
	if cfg.UserAgent == "" {
		cfg.UserAgent = "khist-collector"
	}
	// API warnings (deprecated versions the collector reads because they are preferred) go to
	// the structured log once each, not to klog.
	cfg.WarningHandler = &warnings{log: opts.Logger, seen: map[string]bool{}}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	// Raw REST with JSON, decoded by the collector in one pass: the dynamic client's
	// configuration without its decoding.
	rcfg := dynamic.ConfigFor(cfg)
	rcfg.AcceptContentTypes = "application/json"
	rcfg.ContentType = "application/json"
	rcfg.GroupVersion = &schema.GroupVersion{}
	rcfg.APIPath = "/"
	rc, err := rest.RESTClientForConfigAndClient(rcfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	dcfg := rest.CopyConfig(cfg)
	dcfg.Timeout = 30 * time.Second
	disco, err := discovery.NewDiscoveryClientForConfig(dcfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes discovery client: %w", err)
	}
	return &Collector{
		opts:    opts,
		log:     opts.Logger.With("cluster", opts.Cluster),
		elog:    l,
		rc:      rc,
		disco:   disco,
		filter:  f,
		state:   newState(),
		metrics: newMetrics(opts.Registerer),
		synced:  make(chan struct{}),
	}, nil
}

// Start reads what the log holds of the cluster, then lists and watches every resource until
// ctx ends, when it returns nil. It returns an error when it cannot start (the log cannot be
// read for a reason other than its being unavailable for a while) and when the NATS server
// refuses its events (eventlog.ErrNotPermitted: its user may not publish this cluster's
// subjects, which retrying does not change); other failures (API server unreachable, log
// unavailable) are retried, logged and counted in the metrics. Start may be called once.
func (c *Collector) Start(ctx context.Context) error {
	st, err := c.elog.JetStream().Stream(ctx, c.elog.StreamName())
	if err != nil {
		return fmt.Errorf("collector: open stream %s: %w", c.elog.StreamName(), err)
	}
	c.stream = st
	for tries := 1; ; tries++ {
		err := c.load(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		if !eventlog.Unavailable(err) {
			return fmt.Errorf("collector: %w", err)
		}
		// A clustered log may not answer for a moment (a consumer just created whose leader
		// is not yet serving, an election): read it again from the start.
		c.log.Warn("the log did not answer while its state was read: reading it again", "err", err, "try", tries)
		c.state = newState()
		if !c.waitLog(ctx, backoff(tries, err)) {
			return nil
		}
	}
	failures := 0
	for {
		err := c.runSession(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, eventlog.ErrNotPermitted) {
			return fmt.Errorf("collector: %w", err)
		}
		failures++
		c.metrics.sessions.Inc()
		c.log.Error("the log failed: stopping the watches; they resume from their last recorded progress once it accepts events again", "err", err)
		if !c.waitLog(ctx, backoff(failures, err)) {
			return nil
		}
	}
}

// waitLog waits first, then until the log answers, and reports false if ctx ended. The time
// shows in the metrics (khist_collector_log_waiting, khist_collector_log_wait_seconds_total).
func (c *Collector) waitLog(ctx context.Context, first time.Duration) bool {
	start := time.Now()
	c.metrics.logWaiting.Set(1)
	defer func() {
		c.metrics.logWaiting.Set(0)
		waited := time.Since(start)
		c.metrics.logWait.Add(waited.Seconds())
		if ctx.Err() == nil {
			c.log.Info("the log accepts events again: resuming the watches", "waited", waited.Round(time.Millisecond))
		}
	}()
	if !sleep(ctx, first) {
		return false
	}
	for {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := c.elog.LastSeq(pctx)
		cancel()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		c.log.Warn("waiting for the log", "err", err)
		if !sleep(ctx, 5*time.Second) {
			return false
		}
	}
}

// Synced is closed once every resource found by the first discovery has been listed (or its
// first list has failed), or its watch resumed from the log's progress (the API server
// accepted it; the replayed changes follow), and what the lists found is acknowledged by the
// log.
func (c *Collector) Synced() <-chan struct{} { return c.synced }

// Sync waits until the changes committed to the cluster before the call are in the log, as far
// as the collector can tell: every watch has passed the cluster's current resourceVersion, or
// has been idle for quiet since the call (a watch of a resource that does not change sees
// nothing to pass it), and every version sent is acknowledged. Tests and recorders use it
// after a scenario; it is not needed in production.
func (c *Collector) Sync(ctx context.Context, quiet time.Duration) error {
	select {
	case <-c.synced:
	case <-ctx.Done():
		return ctx.Err()
	}
	rv, err := c.currentRV(ctx)
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	probe := time.Now()
	for {
		c.mu.Lock()
		s := c.cur
		c.mu.Unlock()
		if s != nil && time.Since(probe) >= 10*time.Millisecond {
			if s.caughtUp(rv, probe, quiet) {
				return s.pub.flush(ctx)
			}
		}
		if !sleep(ctx, 20*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// currentRV returns the cluster's current resourceVersion (a consistent read).
func (c *Collector) currentRV(ctx context.Context) (uint64, error) {
	raw, err := c.rc.Get().AbsPath("/api/v1/namespaces").Param("limit", "1").DoRaw(ctx)
	if err != nil {
		return 0, err
	}
	var list struct {
		Metadata metav1.ListMeta `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return 0, err
	}
	var n uint64
	if _, err := fmt.Sscan(list.Metadata.ResourceVersion, &n); err != nil {
		return 0, fmt.Errorf("resourceVersion %q is not an integer", list.Metadata.ResourceVersion)
	}
	return n, nil
}

// session is one publisher and the watches that use it. When the log fails, the session ends,
// and the next one starts with relists.
type session struct {
	c   *Collector
	pub *publisher

	mu      sync.Mutex
	running map[watchKey]*running

	fail    chan error
	trigger chan struct{}
	wg      sync.WaitGroup
}

type watchKey struct{ group, resource, namespace string }

type running struct {
	w      *watcher
	cancel context.CancelFunc
	done   chan struct{}
}

func (c *Collector) runSession(ctx context.Context) error {
	pub, err := c.newPublisher()
	if err != nil {
		return err
	}
	s := &session{
		c:       c,
		pub:     pub,
		running: map[watchKey]*running{},
		fail:    make(chan error, 1),
		trigger: make(chan struct{}, 1),
	}
	pub.onFail = func(err error) {
		select {
		case s.fail <- err:
		default:
		}
	}
	c.mu.Lock()
	c.cur = s
	c.mu.Unlock()
	pctx, stopProgress := context.WithCancel(ctx)
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		s.progressLoop(pctx)
	}()
	err = s.run(ctx)
	c.mu.Lock()
	c.cur = nil
	c.mu.Unlock()
	// Stop the progress records and every watch, then wait for what is in flight: the
	// shutdown order matters, as the acknowledgements tell the state which versions were
	// lost.
	stopProgress()
	<-progressDone
	ws := s.watchers()
	s.stopAll()
	if ctx.Err() != nil && !isPublishError(err) {
		// Stopping (s.run returned ctx's error): record how far each watch came, so that the
		// next start resumes there.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if pub.flush(fctx) == nil {
			for _, w := range ws {
				if s.writeProgress(fctx, w, true) != nil {
					break
				}
			}
		}
		cancel()
	}
	closed := make(chan error, 1)
	go func() { closed <- pub.close() }()
	if ctx.Err() == nil {
		// The log failed: wait for its verdict on every version in flight, so that the next
		// session relists knowing which were lost.
		if cerr := <-closed; cerr != nil && err == nil {
			err = cerr
		}
		return err
	}
	// Shutting down: wait a while for acknowledgements. Versions still unacknowledged are
	// not lost: the next start finds them missing from the log and records them.
	select {
	case <-closed:
	case <-time.After(shutdownGrace):
		c.log.Warn("stopping with versions unacknowledged by the log; the next start records them", "waited", shutdownGrace)
	}
	return err
}

// shutdownGrace is how long a stopping collector waits for the log's acknowledgements.
const shutdownGrace = 20 * time.Second

func (s *session) run(ctx context.Context) error {
	c := s.c
	missing := map[gk]int{} // consecutive discoveries in which a recorded kind was not served
	failures := 0
	first := true
	ticker := time.NewTicker(c.opts.DiscoveryInterval)
	defer ticker.Stop()
	for {
		err := s.reconcile(ctx, missing, first)
		if err != nil {
			if isPublishError(err) {
				return err
			}
			failures++
			c.metrics.discoveryErrors.Inc()
			c.log.Warn("API discovery failed", "err", err, "failures", failures)
		} else {
			failures = 0
			first = false
		}
		var retry <-chan time.Time
		if first && err != nil {
			retry = time.After(backoff(failures, err))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-s.fail:
			return err
		case <-ticker.C:
		case <-retry:
		case <-s.trigger:
			// A CRD or APIService changed: let the API server publish the new resources.
			if !sleep(ctx, time.Second) {
				return ctx.Err()
			}
			select {
			case <-s.trigger:
			default:
			}
		}
	}
}

// reconcile discovers the API and starts and stops watches to match it.
func (s *session) reconcile(ctx context.Context, missing map[gk]int, first bool) error {
	c := s.c
	resources, failed, doc, err := c.discover()
	if err != nil {
		return err
	}
	if len(failed) == 0 {
		// A discovery with groups missing is not recorded: the last complete one stands.
		c.recordDiscovery(ctx, doc)
	}
	want := map[watchKey]apiResource{}
	served := map[gk]bool{}
	nss := c.filter.watchNamespaces()
	for _, r := range resources {
		served[gk{r.group, r.kind}] = true
		if r.namespaced && nss != nil {
			for _, ns := range nss {
				want[watchKey{r.group, r.resource, ns}] = r
			}
			continue
		}
		want[watchKey{r.group, r.resource, ""}] = r
	}
	s.mu.Lock()
	var stop []*running
	for k, run := range s.running {
		r, ok := want[k]
		if ok && r.version == run.w.res.version {
			continue
		}
		if !ok && failed[k.group] {
			continue // the group is unavailable for now: keep what runs
		}
		stop = append(stop, run)
		delete(s.running, k)
	}
	s.mu.Unlock()
	for _, run := range stop {
		c.log.Info("resource no longer served at this version: stopping its watch", "resource", run.w.res.String(), "version", run.w.res.version)
		run.cancel()
		<-run.done
	}
	var initial []watchKey
	s.mu.Lock()
	for k := range want {
		if _, ok := s.running[k]; !ok {
			initial = append(initial, k)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(initial, func(a, b watchKey) int {
		return strings.Compare(a.group+"/"+a.resource+"/"+a.namespace, b.group+"/"+b.resource+"/"+b.namespace)
	})
	var listed func(error)
	if first && len(initial) > 0 {
		var mu sync.Mutex
		left := len(initial)
		listed = func(error) {
			mu.Lock()
			left--
			done := left == 0
			mu.Unlock()
			if done {
				go s.markSynced(ctx)
			}
		}
	} else if first {
		go s.markSynced(ctx)
	}
	for _, k := range initial {
		s.start(ctx, want[k], k.namespace, listed)
	}
	c.metrics.resources.Set(float64(len(want)))

	// Kinds the log holds that the API no longer serves (a CRD deleted while the collector was
	// down): after two discoveries without them, their objects are recorded as deleted.
	for _, t := range c.state.all() {
		if served[t.gk] || failed[t.gk.group] || t.len() == 0 || !c.filter.resource(t.gk.group, t.resource, t.gk.kind) {
			delete(missing, t.gk)
			continue
		}
		missing[t.gk]++
		if missing[t.gk] < 2 {
			continue
		}
		delete(missing, t.gk)
		gone := t.sweep(0, func(ns, name string) bool { return c.filter.object(t.gk.group, t.gk.kind, ns, name) })
		c.log.Info("kind no longer served: recording its objects as deleted", "group", t.gk.group, "kind", t.gk.kind, "objects", len(gone))
		for _, v := range gone {
			if err := c.publishVanished(ctx, s.pub, t, "", v); err != nil {
				return err
			}
		}
		c.metrics.objects.WithLabelValues(t.gk.group, t.gk.kind).Set(float64(t.len()))
	}
	return nil
}

func (s *session) markSynced(ctx context.Context) {
	if err := s.pub.flush(ctx); err != nil {
		return
	}
	s.c.syncedOnce.Do(func() {
		s.c.log.Info("initial lists recorded")
		close(s.c.synced)
	})
}

// start runs a watcher for r in namespace ns ("" for all).
func (s *session) start(ctx context.Context, r apiResource, ns string, listed func(error)) {
	c := s.c
	w := c.newWatcher(r, ns, s.pub)
	w.onListed = listed
	w.resume = c.state.resumePoint(r.group, r.resource, ns)
	w.written, w.writtenAt = w.resume, time.Now() // the log holds this progress already
	if (r.group == "apiextensions.k8s.io" && r.resource == "customresourcedefinitions") ||
		(r.group == "apiregistration.k8s.io" && r.resource == "apiservices") {
		w.onChange = func() {
			select {
			case s.trigger <- struct{}{}:
			default:
			}
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	run := &running{w: w, cancel: cancel, done: make(chan struct{})}
	s.mu.Lock()
	s.running[watchKey{r.group, r.resource, ns}] = run
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(run.done)
		err := w.run(wctx)
		if err != nil && wctx.Err() == nil {
			select {
			case s.fail <- err:
			default:
			}
		}
	}()
}

// watchers returns the running watchers.
func (s *session) watchers() []*watcher {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := make([]*watcher, 0, len(s.running))
	for _, run := range s.running {
		ws = append(ws, run.w)
	}
	return ws
}

// progressLoop writes the watches' progress records when due (see checkpointDue), looking
// five times per Options.ProgressInterval (at least once a second), until ctx ends.
func (s *session) progressLoop(ctx context.Context) {
	t := time.NewTicker(min(s.c.opts.ProgressInterval/5, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, w := range s.watchers() {
			if err := s.writeProgress(ctx, w, false); err != nil {
				return // the log failed: the session ends
			}
		}
	}
}

// writeProgress publishes a progress record of w when one is due (final: whenever it moved).
func (s *session) writeProgress(ctx context.Context, w *watcher, final bool) error {
	rv, n, changes := w.checkpoint()
	changed := changes != w.writtenChanges || final
	interval := s.c.opts.ProgressInterval
	if final {
		interval = 0
	}
	if !checkpointDue(rv, n, s.pub.acked.Load(), changed, w.written, w.writtenAt, time.Now(), interval) || s.pub.failed.Load() {
		return nil
	}
	e := eventlog.NewProgress(s.c.opts.Cluster, w.res.group, w.res.resource, w.ns, rv, s.c.opts.Source)
	e.Observed = time.Now().UTC()
	if err := s.pub.publish(ctx, nil, e); err != nil {
		return err
	}
	w.written, w.writtenAt, w.writtenChanges = rv, time.Now(), changes
	return nil
}

func (s *session) stopAll() {
	s.mu.Lock()
	for _, run := range s.running {
		run.cancel()
	}
	s.running = map[watchKey]*running{}
	s.mu.Unlock()
	s.wg.Wait()
}

// caughtUp reports whether every watch has passed rv or been idle for quiet since probe.
func (s *session) caughtUp(rv uint64, probe time.Time, quiet time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for _, run := range s.running {
		w := run.w
		if w.lastRV.Load() >= rv && !w.busy.Load() {
			continue
		}
		last := time.Unix(0, w.active.Load())
		if last.Before(probe) {
			last = probe
		}
		if !w.busy.Load() && now.Sub(last) >= quiet {
			continue
		}
		return false
	}
	return true
}

// warnings logs each distinct API warning once, at debug level.
type warnings struct {
	log  *slog.Logger
	mu   sync.Mutex
	seen map[string]bool
}

func (w *warnings) HandleWarningHeader(code int, agent, text string) {
	if code != 299 || text == "" {
		return
	}
	w.mu.Lock()
	first := !w.seen[text]
	w.seen[text] = true
	w.mu.Unlock()
	if first {
		w.log.Debug("API server warning", "warning", text)
	}
}
