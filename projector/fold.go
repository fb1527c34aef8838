package projector

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/khist/khist/eventlog"
	bolt "go.etcd.io/bbolt"
)

// event is one envelope being folded, with what the views share about it: the object decoded
// once, and its head before and after.
type event struct {
	env *eventlog.Envelope
	obj *Object // nil when the JSON could not be decoded

	okey  []byte   // head key
	head  *objHead // the head after this event; views update its fold state
	prev  objHead  // the head before this event (zero, with Replicas and RevNum -1, when new)
	isNew bool     // first version of the object
	gone  bool     // this event ends the object's life
	actor string   // who made this change (see writer)

	// Speculated by decodeEvents (see there).
	speculate bool
	baseSeq   uint64 // the sequence of the previous version of the object in the log
	base      []byte // its JSON (cleared once the delta is computed)
	delta     []byte // the delta from it, or nil
}

// decodeEvents decodes the objects of a batch, in parallel, each once. With a speculation
// cache it also computes, in the same parallel pass, the work of the versions view that does
// not depend on the views: each version's delta against the previous version of its object
// in the log. The fold uses them when that previous version is indeed the one it applied
// last, and computes them itself otherwise.
func decodeEvents(envs []*eventlog.Envelope, spec *specCache) []event {
	evs := make([]event, len(envs))
	objs := make([]Object, len(envs))
	for i, e := range envs {
		evs[i].env = e
		if spec != nil && e.Type.IsObject() {
			evs[i].baseSeq, evs[i].base = spec.next(e)
			evs[i].speculate = true
		}
	}
	work := func(lo, hi int) {
		var enc deltaEncoder
		for i := lo; i < hi; i++ {
			ev := &evs[i]
			if !ev.env.Type.IsObject() {
				continue
			}
			if DecodeObject(ev.env.Object, &objs[i]) == nil {
				ev.obj = &objs[i]
			}
			if !ev.speculate {
				continue
			}
			if ev.base != nil {
				ev.delta = enc.encode(nil, ev.base, ev.env.Object)
			}
			ev.base = nil
		}
	}
	workers := min(runtime.GOMAXPROCS(0), (len(envs)+63)/64)
	if workers <= 1 {
		work(0, len(envs))
		return evs
	}
	var wg sync.WaitGroup
	chunk := (len(envs) + workers - 1) / workers
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, len(envs))
		wg.Go(func() { work(lo, hi) })
	}
	wg.Wait()
	return evs
}

// specCache remembers the latest JSON of each object in log order, for decodeEvents, with
// the sequence of its version. It is bounded (see genCache): the fold computes itself what
// was not speculated.
type specCache struct{ g genCache[string, specEntry] }

type specEntry struct {
	seq  uint64
	body []byte
}

func newSpecCache(limit int) *specCache {
	c := &specCache{}
	c.g.init(limit, func(e specEntry) int { return bodySize(e.body) + 64 })
	return c
}

// next returns the previous version of e's object and records e as its latest.
func (c *specCache) next(e *eventlog.Envelope) (uint64, []byte) {
	k := string(objKey(e.Cluster, e.UID, e.Kind, e.Namespace, e.Name))
	prev, _ := c.g.get(k)
	if e.Type.IsDelete() {
		c.g.drop(k)
	} else {
		c.g.put(k, specEntry{e.Seq, e.Object})
	}
	return prev.seq, prev.body
}

// A fold is one view's deterministic function of (views so far, event) -> views. Folds run in
// this order for every event that the versions view accepted.
var folds = []struct {
	name string
	fn   func(t *txn, ev *event) error
}{
	{"names", foldNames},
	{"relations", foldRelations},
	{"timeindex", foldTimeIndex},
	{"revisions", foldRevisions},
	{"rollouts", foldRollouts},
	{"steps", foldSteps},
	{"pods", foldPods},
	{"endpoints", foldEndpoints},
	{"jobs", foldJobs},
}

// txn is a write transaction of the fold, with the buckets and scratch space it uses.
type txn struct {
	db *DB
	tx *bolt.Tx

	meta, uids *bolt.Bucket
	hs         *headStore
	vs         *verStore // version records (read back within the transaction too)

	heads map[uint64]*objHead // heads read in this transaction, by object id
	ids   map[string]uint64   // head key -> object id, for the heads read
	dirty map[uint64]struct{} // heads changed in this transaction; written at finish
	// latest copies of the objects changed in this transaction; written at finish
	latest map[uint64]latestCopy

	scopes map[string][]byte   // time index scopes read in this transaction
	runs   map[string]*timeRun // time index runs by scope, read or written in this transaction
	// scopeKeys and openRuns: by scope, its key in bucket "scopes" and the run it names.
	scopeKeys, openRuns map[string][]byte

	seq              uint64 // last sequence folded
	nextID           uint64
	applied, skipped uint64
	quarantined      uint64
	clusters         map[string]*clusterState

	denc              deltaEncoder
	scratch           []byte
	xscratch          []byte
	zscratch          []byte // a latest copy being written
	rec, hbuf, keyBuf []byte
	arena             valueArena // values put in this transaction (bbolt keeps them until commit)
}

func (db *DB) newTxn(tx *bolt.Tx) *txn {
	t := &txn{db: db, tx: tx, meta: tx.Bucket(bMeta), uids: tx.Bucket(bUIDs), vs: versOf(tx), hs: headsOf(tx),
		clusters: map[string]*clusterState{}, heads: map[uint64]*objHead{}, ids: map[string]uint64{}, dirty: map[uint64]struct{}{}}
	// Buckets whose keys mostly grow (sequences, times) fill their pages; the default 50% is
	// for random inserts.
	t.vs.loose.FillPercent = 1.0
	t.vs.segs.FillPercent = 1.0
	t.hs.obj.FillPercent = 1.0
	for _, b := range [][]byte{bTimeNS, bSteps, bRollouts, bEP, bSnap, bSnapMeta, bLive} {
		t.bucket(b).FillPercent = 0.9
	}
	t.seq = getU64(t.meta, mSeq)
	t.nextID = getU64(t.meta, mNextID)
	t.applied = getU64(t.meta, mApplied)
	t.skipped = getU64(t.meta, mSkipped)
	t.quarantined = getU64(t.meta, mQuarantined)
	return t
}

// keep copies b to memory that stays valid until the transaction ends (see valueArena).
func (t *txn) keep(b []byte) []byte { return t.arena.keep(b) }

// valueArena holds copies of the values of one bbolt write transaction: bbolt keeps the
// values given to Put until commit, so scratch buffers must not be put directly. Nothing that
// outlives the transaction may keep what keep returns (a cache must copy it): a slice keeps
// its whole chunk. Chunks start at 64 KiB and double up to 1 MiB, so that small transactions
// (a live fold's) allocate little. A new transaction takes a new (zero) arena.
type valueArena struct{ buf []byte }

// keep copies b into the arena.
func (a *valueArena) keep(b []byte) []byte {
	if len(a.buf)+len(b) > cap(a.buf) {
		a.buf = make([]byte, 0, max(min(2*cap(a.buf), 1<<20), 64<<10, len(b)))
	}
	n := len(a.buf)
	a.buf = append(a.buf, b...)
	return a.buf[n:len(a.buf):len(a.buf)]
}

// bucket returns a bucket of the views (created by Open).
func (t *txn) bucket(name []byte) *bolt.Bucket { return t.tx.Bucket(name) }

// apply folds one event. Events at or before the stored sequence were folded already and are
// ignored: this is what makes a redelivery after a crash harmless.
func (t *txn) apply(ev *event) error {
	if ev.env.Seq <= t.seq {
		return nil
	}
	t.seq = ev.env.Seq
	switch ev.env.Type {
	case eventlog.Discovered:
		return foldDiscovery(t, ev)
	case eventlog.Audited:
		return foldAudit(t, ev)
	case eventlog.Progress:
		return nil // the collector's, for resuming its watches: no view holds it
	}
	if why := poison(ev.env); why != "" {
		return t.quarantine(ev, why)
	}
	ok, err := foldVersions(t, ev)
	if err != nil {
		return err
	}
	if !ok {
		t.skipped++
		return nil
	}
	for _, f := range folds {
		if err := f.fn(t, ev); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	t.heads[ev.head.ID] = ev.head
	t.ids[string(ev.okey)] = ev.head.ID
	t.dirty[ev.head.ID] = struct{}{}
	t.applied++
	return foldSnapshots(t, ev)
}

// head returns the head stored under k (nil if none), from this transaction's heads first.
// The caller may modify it: heads are written back at finish.
func (t *txn) head(k []byte) (*objHead, error) {
	if id, ok := t.ids[string(k)]; ok {
		return t.heads[id], nil
	}
	v := t.uids.Get(k)
	if v == nil {
		return nil, nil
	}
	h, err := t.headID(readBE8(v))
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("%w: object %d has no head", ErrCorrupt, readBE8(v))
	}
	t.ids[string(k)] = h.ID
	return h, nil
}

// headID returns the head of the object with the given id (nil if none), from this
// transaction's heads first.
func (t *txn) headID(id uint64) (*objHead, error) {
	if h, ok := t.heads[id]; ok {
		return h, nil
	}
	h, err := t.hs.get(id)
	if h == nil || err != nil {
		return nil, err
	}
	t.heads[id] = h
	return h, nil
}

// finish writes the heads, the position and the counters; the caller commits.
func (t *txn) finish() error {
	if err := t.vs.flush(); err != nil {
		return err
	}
	if err := t.putTimeRuns(); err != nil {
		return err
	}
	if err := t.putLatest(); err != nil {
		return err
	}
	ids := make([]uint64, 0, len(t.dirty))
	for id := range t.dirty {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	enc := make(map[uint64][]byte, len(ids))
	for _, id := range ids {
		t.hbuf = t.heads[id].encode(t.hbuf[:0])
		enc[id] = t.keep(t.hbuf)
	}
	if err := t.hs.write(enc); err != nil {
		return err
	}
	for name, cs := range t.clusters {
		if err := t.meta.Put(clusterStateKey(name), cs.encode()); err != nil {
			return err
		}
	}
	for k, v := range map[string]uint64{string(mSeq): t.seq, string(mNextID): t.nextID, string(mApplied): t.applied, string(mSkipped): t.skipped, string(mQuarantined): t.quarantined} {
		if err := putU64(t.meta, []byte(k), v); err != nil {
			return err
		}
	}
	return nil
}

// Apply folds envelopes read from the log (Seq set, increasing) into the views in one
// transaction. Envelopes at or before the views' sequence are ignored. It is the fold CatchUp
// and Run use, for callers that already hold envelopes.
func (db *DB) Apply(ctx context.Context, envs []*eventlog.Envelope) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	db.foldMu.Lock()
	defer db.foldMu.Unlock()
	_, err := db.applyEvents(ctx, db.timeout, false, [][]event{decodeEvents(envs, nil)})
	return err
}

// txCounts are what one transaction did.
type txCounts struct{ applied, skipped, quarantined, seq uint64 }

// applyEvents folds decoded batches in one transaction, waiting up to wait (0: until ctx ends)
// for the file if it was released (see DB.update for freelist). On failure the object cache,
// which may hold versions of the rolled back transaction, is cleared.
func (db *DB) applyEvents(ctx context.Context, wait time.Duration, freelist bool, batches [][]event) (txCounts, error) {
	var c txCounts
	err := db.update(ctx, wait, freelist, func(tx *bolt.Tx) error {
		t := db.newTxn(tx)
		a0, s0, q0 := t.applied, t.skipped, t.quarantined
		for _, b := range batches {
			for i := range b {
				if err := t.apply(&b[i]); err != nil {
					return fmt.Errorf("fold event %d (%s): %w", b[i].env.Seq, b[i].env, err)
				}
			}
		}
		c = txCounts{applied: t.applied - a0, skipped: t.skipped - s0, quarantined: t.quarantined - q0, seq: t.seq}
		return t.finish()
	})
	if err != nil {
		db.cache.reset()
		db.segs.reset()
		db.pendAt.reset()
	}
	return c, err
}
