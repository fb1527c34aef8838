package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/khist/khist/eventlog"
	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// apiResource is one resource at its preferred version, as discovered.
type apiResource struct {
	group, version, resource, kind string
	namespaced                     bool
}

func (r apiResource) String() string {
	if r.group == "" {
		return r.resource
	}
	return r.resource + "." + r.group
}

func (r apiResource) apiVersion() string {
	if r.group == "" {
		return r.version
	}
	return r.group + "/" + r.version
}

// watcher lists and watches one resource (in one namespace, or in all), and publishes what it
// sees. Its run method is the only goroutine that uses its fields, except the atomics.
type watcher struct {
	c      *Collector
	res    apiResource
	ns     string // namespace watched; "" for all
	t      *table
	pub    *publisher
	log    *slog.Logger
	hb     heartbeat
	prefix []byte // "kind":...,"apiVersion":... for List items, which have neither
	// metaOnly asks the API server for the objects' metadata only (PartialObjectMetadata):
	// Secrets, unless Options.SecretKeyNames.
	metaOnly bool

	onChange func()      // called after a change is published (CRD and APIService watches)
	onListed func(error) // called once, after the first list

	s, hs *scanner // hs reads versions back from the log
	o, ho scanned
	rv    []byte // last resourceVersion seen

	// resume is the resourceVersion up to which the log holds this watch's changes (its last
	// progress record), "" when unknown: the watch resumes from there instead of listing.
	resume string
	// resuming is set while a watch resumed from resume has not yet received an event: a 410
	// Gone then means the resume point is too old.
	resuming bool
	// replayTo is, while a resumed watch replays changes the log may hold already, the
	// highest resourceVersion of the kind the log holds (0 once passed).
	replayTo uint64
	// covered: the log holds this resource's changes up to some point (recorded by this
	// process or an earlier one), so that a relist now may miss changes (counted).
	covered bool
	// lossy is set during a relist of a covered resource.
	lossy bool
	// published is set by handle when it sent a version.
	published bool
	// onWatching, if set, is called once the first watch request is accepted.
	onWatching func()

	// ck is how far the watch has come, for the session's progress records (checkpointDue).
	ckMu      sync.Mutex
	ckRV      string
	ckN       uint64 // envelopes the session had sent when the watch reached ckRV
	ckChanges uint64 // versions recorded so far
	// The last progress record written, and when (used by the session's progress loop only).
	written        string
	writtenAt      time.Time
	writtenChanges uint64

	// Metrics of this resource, looked up once.
	mKnown, mHeartbeat, mNamespace, mUnobserved prometheus.Counter
	mLast, mObjects                             prometheus.Gauge

	lastRV atomic.Uint64 // numeric form of rv, for Sync
	busy   atomic.Bool   // handling a change or listing
	active atomic.Int64  // unix nanos of the last change handled
}

// errGone is a watch that must start again from a new list: its resourceVersion was compacted.
var errGone = errors.New("resource version too old (410 Gone)")

func (c *Collector) newWatcher(res apiResource, ns string, pub *publisher) *watcher {
	hb := heartbeatOf(res.group, res.kind)
	if c.opts.KeepHeartbeats {
		hb = hbNone
	}
	w := &watcher{
		c:        c,
		res:      res,
		ns:       ns,
		t:        c.state.table(res.group, res.kind, res.resource),
		pub:      pub,
		hb:       hb,
		prefix:   typePrefix(res.apiVersion(), res.kind),
		metaOnly: res.group == "" && res.resource == "secrets" && !c.opts.SecretKeyNames,
		s:        newScanner(),
		hs:       newScanner(),
	}
	m := c.metrics
	w.mKnown = m.filtered.WithLabelValues(res.group, res.resource, "known")
	w.mHeartbeat = m.filtered.WithLabelValues(res.group, res.resource, "heartbeat")
	w.mNamespace = m.filtered.WithLabelValues(res.group, res.resource, "namespace")
	w.mUnobserved = m.unobserved.WithLabelValues(res.group, res.resource)
	w.mLast = m.lastEvent.WithLabelValues(res.group, res.resource)
	w.mObjects = m.objects.WithLabelValues(res.group, res.kind)
	w.log = c.log.With("resource", res.String())
	if ns != "" {
		w.log = w.log.With("namespace", ns)
	}
	return w
}

// path returns the collection's URL path.
func (w *watcher) path() string {
	var b strings.Builder
	if w.res.group == "" {
		b.WriteString("/api/")
	} else {
		b.WriteString("/apis/")
		b.WriteString(w.res.group)
		b.WriteByte('/')
	}
	b.WriteString(w.res.version)
	if w.ns != "" && w.res.namespaced {
		b.WriteString("/namespaces/")
		b.WriteString(w.ns)
	}
	b.WriteByte('/')
	b.WriteString(w.res.resource)
	return b.String()
}

// run lists and watches until ctx ends or the log fails (the error returned).
func (w *watcher) run(ctx context.Context) error {
	m := w.c.metrics
	g, r := w.res.group, w.res.resource
	needList, reason := true, "start"
	failures := 0
	first := true
	switch {
	case w.resume != "":
		// The API server replays, from its watch history, the changes since the log's
		// progress: those made while no collector watched (a restart, a failover).
		needList = false
		w.rv = append(w.rv[:0], w.resume...)
		w.noteRV()
		w.resuming, w.covered = true, true
		w.replayTo = w.t.highWater()
		w.onWatching = func() {
			if first {
				first = false
				if w.onListed != nil {
					w.onListed(nil)
				}
			}
		}
		w.log.Debug("resuming the watch from the log's progress", "rv", w.resume)
	case w.t.highWater() > 0:
		reason, w.covered = "resume-unknown", true
		w.log.Warn("the log holds this resource's changes but no progress of its watch (written by an older khist, or dropped by the stream's retention): relisting; changes made while no collector watched are recorded only as the state the list finds (khist_collector_unobserved_changes_total)")
	}
	for ctx.Err() == nil {
		if needList {
			m.relists.WithLabelValues(g, r, reason).Inc()
			w.lossy = w.covered
			err := w.list(ctx)
			w.lossy = false
			if first {
				first = false
				if w.onListed != nil {
					w.onListed(err)
				}
			}
			if err != nil {
				if isPublishError(err) || ctx.Err() != nil {
					return err
				}
				failures++
				reason = "error"
				if apierrors.IsForbidden(err) {
					reason = "forbidden"
				}
				w.logFailure("list failed", err, failures)
				if !sleep(ctx, backoff(failures, err)) {
					return ctx.Err()
				}
				continue
			}
			needList, failures = false, 0
			w.covered = true
		}
		err := w.watch(ctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case isPublishError(err):
			return err
		case err == nil:
			m.watchRestarts.WithLabelValues(g, r, "closed").Inc()
			failures = 0
			w.resuming = false
		case w.resuming && (errors.Is(err, errGone) || apierrors.IsGone(err) || apierrors.IsResourceExpired(err) ||
			apierrors.HasStatusCause(err, metav1.CauseTypeResourceVersionTooLarge)):
			// The API server no longer has the changes since the resume point (its watch
			// history is short: minutes), or never had it (another cluster's log?).
			m.watchRestarts.WithLabelValues(g, r, "gone").Inc()
			w.log.Warn("cannot resume the watch from the log's progress: the API server's watch history no longer reaches back to it (410 Gone); relisting: changes made while no collector watched are recorded only as the state the list finds (khist_collector_unobserved_changes_total)", "rv", string(w.rv), "err", err)
			w.resuming, w.replayTo = false, 0
			needList, reason = true, "resume-gone"
		case errors.Is(err, errGone) || apierrors.IsGone(err) || apierrors.IsResourceExpired(err):
			m.watchRestarts.WithLabelValues(g, r, "gone").Inc()
			w.log.Info("watch fell behind etcd compaction (410 Gone): relisting", "rv", string(w.rv))
			needList, reason = true, "gone"
		default:
			m.watchRestarts.WithLabelValues(g, r, "error").Inc()
			failures++
			w.logFailure("watch failed", err, failures)
			if failures >= 5 {
				needList, reason = true, "error"
			}
			if !sleep(ctx, backoff(failures, err)) {
				return ctx.Err()
			}
		}
	}
	return ctx.Err()
}

func (w *watcher) logFailure(msg string, err error, failures int) {
	if apierrors.IsForbidden(err) {
		// The collector's role does not grant this resource (a custom resource with no
		// ClusterRole aggregated into khist-collector, or Secrets left out on purpose): it is
		// skipped, said once, and tried again every minute in case the role changes.
		level := slog.LevelWarn
		if failures > 1 {
			level = slog.LevelDebug
		}
		w.log.Log(context.Background(), level, "not permitted to list this resource: skipping it until the collector's role grants get, list and watch on it (see deploy/README.md); checking again every minute", "err", err)
		return
	}
	level := slog.LevelWarn
	if failures > 1 && failures%10 != 0 {
		level = slog.LevelDebug // say it once, then every tenth time
	}
	w.log.Log(context.Background(), level, msg, "err", err, "failures", failures)
}

// backoff is the wait after the n-th failure in a row: up to 30s, or a minute when retrying
// cannot help until something changes (forbidden, not found).
func backoff(n int, err error) time.Duration {
	if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
		return time.Minute
	}
	d := 500 * time.Millisecond << min(n-1, 6)
	d = min(d, 30*time.Second)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// list reads the whole collection, page by page, publishes a RESYNC for each object whose
// version the log lacks, and a DeletedUnobserved for each object the log holds that is gone.
func (w *watcher) list(ctx context.Context) error {
	w.busy.Store(true)
	defer w.busy.Store(false)
	start := time.Now()
	gen := w.c.state.nextGen()
	cont := ""
	var meta metav1.ListMeta
	for {
		req := w.c.rc.Get().AbsPath(w.path()).Param("limit", strconv.FormatInt(w.c.opts.ListPageSize, 10))
		if w.metaOnly {
			req = req.SetHeader("Accept", acceptMetadataList)
		}
		if cont != "" {
			req = req.Param("continue", cont)
		}
		body, err := req.Stream(ctx)
		if err != nil {
			if cont != "" && (apierrors.IsResourceExpired(err) || apierrors.IsGone(err)) {
				// The continue token outlived etcd's history: start the list again.
				w.log.Info("list continuation expired: listing again from the start")
				cont, gen = "", w.c.state.nextGen()
				continue
			}
			return err
		}
		meta, err = w.readList(ctx, body, gen)
		body.Close()
		if err != nil {
			return err
		}
		if meta.Continue == "" {
			break
		}
		cont = meta.Continue
	}
	if err := w.sweep(ctx, gen); err != nil {
		return err
	}
	w.rv = append(w.rv[:0], meta.ResourceVersion...)
	w.noteRV()
	w.reached()
	w.mObjects.Set(float64(w.t.len()))
	w.c.metrics.listDuration.WithLabelValues(w.res.group, w.res.resource).Observe(time.Since(start).Seconds())
	w.active.Store(time.Now().UnixNano())
	return nil
}

// readList reads one page, publishing its items as it goes.
func (w *watcher) readList(ctx context.Context, body io.Reader, gen uint32) (metav1.ListMeta, error) {
	var meta metav1.ListMeta
	dec := jsontext.NewDecoder(body, decodeOpts...)
	if t, err := dec.ReadToken(); err != nil || t.Kind() != '{' {
		return meta, fmt.Errorf("list %s: response is not a JSON object: %v", w.res, err)
	}
	for dec.PeekKind() == '"' {
		name, err := dec.ReadValue()
		if err != nil {
			return meta, err
		}
		switch string(name) {
		case `"metadata"`:
			v, err := dec.ReadValue()
			if err != nil {
				return meta, err
			}
			if err := json.Unmarshal(v, &meta); err != nil {
				return meta, fmt.Errorf("list %s: metadata: %w", w.res, err)
			}
		case `"items"`:
			if dec.PeekKind() != '[' {
				if err := dec.SkipValue(); err != nil { // null
					return meta, err
				}
				continue
			}
			dec.ReadToken()
			for dec.PeekKind() == '{' {
				v, err := dec.ReadValue()
				if err != nil {
					return meta, err
				}
				if err := w.s.object(v, w.hb, &w.o); err != nil {
					return meta, fmt.Errorf("list %s: item: %w", w.res, err)
				}
				if err := w.handle(ctx, eventlog.Resync, v, gen); err != nil {
					return meta, err
				}
			}
			if _, err := dec.ReadToken(); err != nil {
				return meta, err
			}
		default:
			if err := dec.SkipValue(); err != nil {
				return meta, err
			}
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return meta, fmt.Errorf("list %s: %w", w.res, err)
	}
	return meta, nil
}

// watch watches from w.rv until the server ends the watch (nil), the stream fails, or the
// version is too old (errGone).
func (w *watcher) watch(ctx context.Context) error {
	timeout := w.c.opts.WatchTimeout + rand.N(w.c.opts.WatchTimeout)
	req := w.c.rc.Get().AbsPath(w.path()).
		Param("watch", "true").
		Param("resourceVersion", string(w.rv)).
		Param("allowWatchBookmarks", "true").
		Param("timeoutSeconds", strconv.Itoa(int(timeout.Seconds())))
	if w.metaOnly {
		req = req.SetHeader("Accept", acceptMetadata)
	}
	body, err := req.Stream(ctx)
	if err != nil {
		return err
	}
	defer body.Close()
	if w.onWatching != nil {
		w.onWatching()
		w.onWatching = nil
	}
	dec := jsontext.NewDecoder(body, decodeOpts...)
	for {
		v, err := dec.ReadValue()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("watch stream: %w", err)
		}
		w.busy.Store(true)
		err = w.event(ctx, v)
		w.busy.Store(false)
		if err != nil {
			return err
		}
	}
}

// event handles one watch event.
func (w *watcher) event(ctx context.Context, v []byte) error {
	typ, err := w.s.event(v, w.hb, &w.o)
	if err != nil {
		return fmt.Errorf("watch event: %w", err)
	}
	switch string(typ) {
	case "ADDED":
		err = w.handle(ctx, eventlog.Added, v, 0)
	case "MODIFIED":
		err = w.handle(ctx, eventlog.Modified, v, 0)
	case "DELETED":
		err = w.handle(ctx, eventlog.Deleted, v, 0)
	case "BOOKMARK":
	case "ERROR":
		var st metav1.Status
		if uerr := json.Unmarshal(v[w.o.start:w.o.end], &st); uerr != nil {
			return fmt.Errorf("watch ERROR event: %s", v[w.o.start:w.o.end])
		}
		if st.Code == http.StatusGone || st.Reason == metav1.StatusReasonExpired || st.Reason == metav1.StatusReasonGone {
			return errGone
		}
		return apierrors.FromObject(&st)
	default:
		return fmt.Errorf("watch event of unknown type %q", typ)
	}
	if err != nil {
		return err
	}
	w.resuming = false
	if len(w.o.rv) > 0 {
		w.rv = append(w.rv[:0], w.o.rv...)
		w.noteRV()
		w.reached()
	}
	return nil
}

// reached notes, for the session's progress records, that the watch has reached w.rv and
// whether it recorded a version since the last call.
func (w *watcher) reached() {
	n := w.pub.sent.Load()
	w.ckMu.Lock()
	w.ckRV, w.ckN = string(w.rv), n
	if w.published {
		w.ckChanges++
	}
	w.ckMu.Unlock()
	w.published = false
}

// checkpoint returns how far the watch has come: its resourceVersion, the envelopes sent when
// it got there, and the versions it recorded so far.
func (w *watcher) checkpoint() (rv string, n, changes uint64) {
	w.ckMu.Lock()
	defer w.ckMu.Unlock()
	return w.ckRV, w.ckN, w.ckChanges
}

func (w *watcher) noteRV() {
	if n, err := strconv.ParseUint(string(w.rv), 10, 64); err == nil {
		w.lastRV.Store(n)
	}
	w.active.Store(time.Now().UnixNano())
}

// handle decides about one object version (w.o, scanned from data) and publishes it when the
// log lacks it. gen is the relist generation (0 for watch events).
func (w *watcher) handle(ctx context.Context, typ eventlog.EventType, data []byte, gen uint32) error {
	o := &w.o
	m := w.c.metrics
	g, r := w.res.group, w.res.resource
	if len(o.name) == 0 || len(o.rv) == 0 || len(o.uid) == 0 {
		w.log.Warn("object without name, uid or resourceVersion: not recorded", "name", string(o.name))
		m.filtered.WithLabelValues(g, r, "invalid").Inc()
		return nil
	}
	if !w.c.filter.object(w.res.group, w.res.kind, string(o.namespace), string(o.name)) {
		w.mNamespace.Inc()
		return nil
	}
	if gen == 0 && w.replayTo != 0 {
		if n, err := strconv.ParseUint(string(o.rv), 10, 64); err == nil {
			if n > w.replayTo {
				w.replayTo = 0 // past what the log can hold: the replay is over
			} else if w.inLogAlready(ctx, typ, n) {
				if typ == eventlog.Deleted {
					w.t.forget(string(o.uid))
				}
				w.mKnown.Inc()
				return nil
			}
		}
	}
	rv := keyOf(o.rv)
	if typ == eventlog.Deleted {
		w.t.forget(string(o.uid))
	} else {
		d, seq := w.t.observe(o.uid, o.namespace, o.name, rv, o.hash, gen)
		if d == needHash {
			w.t.setHash(string(o.uid), seq, w.c.hashAt(ctx, w.hs, &w.ho, w.hb, string(o.uid), seq))
			d, _ = w.t.observe(o.uid, o.namespace, o.name, rv, o.hash, gen)
		}
		if d == verify && w.c.inLog(ctx, w.t, string(o.namespace), string(o.name), string(o.uid), string(o.rv)) {
			d = known
		}
		switch d {
		case known:
			w.mKnown.Inc()
			return nil
		case heartbeatOnly:
			w.mHeartbeat.Inc()
			return nil
		}
	}
	e, err := w.envelope(typ, data)
	if err != nil {
		w.log.Error("cannot record object", "name", string(o.name), "err", err)
		m.filtered.WithLabelValues(g, r, "invalid").Inc()
		return nil
	}
	w.mLast.Set(float64(e.Observed.Unix()))
	if err := w.pub.publish(ctx, w.t, e); err != nil {
		return err
	}
	w.published = true
	if gen != 0 && w.lossy {
		w.mUnobserved.Inc()
	}
	if gen == 0 {
		w.mObjects.Set(float64(w.t.len()))
	}
	if w.onChange != nil && typ != eventlog.Resync {
		w.onChange()
	}
	return nil
}

// envelope builds the envelope of the scanned object w.o: its JSON without managedFields' field
// sets and, for a Secret, without values.
func (w *watcher) envelope(typ eventlog.EventType, data []byte) (*eventlog.Envelope, error) {
	o := &w.o
	group, version, kind := w.res.group, w.res.version, w.res.kind
	var prefix []byte
	switch {
	case w.metaOnly:
		// PartialObjectMetadata of the watched resource: recorded as that resource's kind.
		if o.kind != nil || o.apiVersion != nil {
			return w.metadataEnvelope(typ, data)
		}
		prefix = w.prefix
	case o.kind == nil && o.apiVersion == nil:
		prefix = w.prefix
	case o.kind == nil || o.apiVersion == nil:
		return nil, fmt.Errorf("object has apiVersion or kind but not both")
	default:
		if string(o.apiVersion) != w.res.apiVersion() {
			av := string(o.apiVersion)
			if g, v, ok := strings.Cut(av, "/"); ok {
				group, version = g, v
			} else {
				group, version = "", av
			}
		}
		if string(o.kind) != kind {
			kind = string(o.kind)
		}
	}
	body := assemble(data, o, prefix)
	return w.newEnvelope(typ, group, version, kind, body)
}

// The Accept headers of metadata-only lists and watches.
const (
	acceptMetadataList = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
	acceptMetadata     = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
)

// metadataEnvelope builds the envelope of a PartialObjectMetadata the API server sent for the
// watched resource: the object as the resource's kind, with its metadata only.
func (w *watcher) metadataEnvelope(typ eventlog.EventType, data []byte) (*eventlog.Envelope, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(assemble(data, &w.o, nil), &obj); err != nil {
		return nil, err
	}
	obj["kind"], _ = json.Marshal(w.res.kind)
	obj["apiVersion"], _ = json.Marshal(w.res.apiVersion())
	body, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return w.newEnvelope(typ, w.res.group, w.res.version, w.res.kind, body)
}

// newEnvelope wraps an object's recorded JSON; a Secret's values are removed.
func (w *watcher) newEnvelope(typ eventlog.EventType, group, version, kind string, body []byte) (*eventlog.Envelope, error) {
	o := &w.o
	if kind == "Secret" && group == "" {
		var err error
		if body, err = eventlog.Sanitize(kind, body); err != nil {
			return nil, err
		}
	}
	return &eventlog.Envelope{
		Type:            typ,
		Cluster:         w.c.opts.Cluster,
		Group:           group,
		Version:         version,
		Kind:            kind,
		Resource:        w.res.resource,
		Namespace:       string(o.namespace),
		Name:            string(o.name),
		UID:             string(o.uid),
		ResourceVersion: string(o.rv),
		Observed:        time.Now().UTC(),
		Source:          w.c.opts.Source,
		Actor:           string(o.actor),
		Object:          body,
	}, nil
}

// sweep records the deletion of the objects in the watcher's scope that the list of generation
// gen did not find.
func (w *watcher) sweep(ctx context.Context, gen uint32) error {
	gone := w.t.sweep(gen, func(ns, name string) bool {
		if w.ns != "" && w.res.namespaced && ns != w.ns {
			return false
		}
		return w.c.filter.object(w.res.group, w.res.kind, ns, name)
	})
	for _, v := range gone {
		if err := w.c.publishVanished(ctx, w.pub, w.t, w.res.apiVersion(), v); err != nil {
			return err
		}
	}
	if len(gone) > 0 {
		w.log.Info("objects deleted while unobserved", "count", len(gone))
		if w.lossy {
			w.mUnobserved.Add(float64(len(gone)))
		}
	}
	return nil
}

// inLogAlready reports whether version n of the scanned object, replayed by a resumed watch,
// is in the log already: the table knows this version or a newer one of it, or the log's last
// envelope of its name is a version of it at n or later (it was deleted since, or recorded
// by the previous collector after its last progress record). JetStream's de-duplication
// would drop most of these within its window; this holds beyond it.
func (w *watcher) inLogAlready(ctx context.Context, typ eventlog.EventType, n uint64) bool {
	o := &w.o
	if typ != eventlog.Deleted && w.t.covers(string(o.uid), n) {
		return true
	}
	last, err := w.c.elog.LastOf(ctx, eventlog.Subject(w.c.opts.Cluster, w.res.group, w.res.kind, string(o.namespace), string(o.name)))
	if err != nil || last == nil || last.UID != string(o.uid) {
		return false
	}
	m, err := strconv.ParseUint(last.ResourceVersion, 10, 64)
	return err == nil && m >= n
}
