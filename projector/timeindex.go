package projector

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The time index view maps observed time to versions, for timelines and point-in-time reads.
//
// Bucket "tn" holds runs of entries, one run per key: scope (4 bytes) time (8 bytes, ns since
// the epoch) seq (8) of the run's first entry -> the run: uvarint (last time - first time),
// uvarint (last seq - first seq), the first entry's object id (uvarint), then for each further
// entry uvarint (time - previous time), uvarint (seq - previous seq), uvarint object id. A
// scope is one namespace of one cluster (namespace "" holds the cluster-scoped objects),
// numbered in order of first sight in bucket "scopes": cluster NUL namespace NUL -> scope (4
// bytes) followed by the time and seq (8 + 8) of the run that its next entry may extend, so
// that an entry does not repeat the names. An entry costs about 9 bytes instead of
// a key of its own (36 with bbolt's element).
//
// A run takes entries of its scope in log order while their times do not decrease, spans at
// most runSpan of observed time and grows to about runBytes; then a new run starts. Observed
// times need not increase along the log (imports of older recordings), so runs may overlap in
// time, but a run's entries lie within runSpan of its key: a scan from time T reads the runs
// keyed from T - runSpan on and merges them into (time, seq) order.
var bTimeNS, bScopes = []byte("tn"), []byte("scopes")

func init() { registerBuckets(bTimeNS, bScopes) }

const (
	runSpan  = uint64(time.Minute)
	runBytes = 1024
)

// timeRun is the run of a scope that a transaction appends to.
type timeRun struct {
	key       []byte // scope, first time, first seq
	t0, s0    uint64 // time and seq of the first entry
	last, seq uint64 // time and seq of the last entry
	entries   []byte // the value after its header
	dirty     bool
}

func foldTimeIndex(t *txn, ev *event) error {
	h := ev.head
	sc, err := t.scope(h.Cluster, h.Namespace)
	if err != nil {
		return err
	}
	tk, seq := timeKey(ev.env.Observed), ev.env.Seq
	r, err := t.timeRun(sc)
	if err != nil {
		return err
	}
	if r != nil && tk >= r.last && tk-r.t0 <= runSpan && len(r.entries) < runBytes && seq > r.seq {
		r.entries = binary.AppendUvarint(binary.AppendUvarint(binary.AppendUvarint(r.entries, tk-r.last), seq-r.seq), h.ID)
		r.last, r.seq, r.dirty = tk, seq, true
		return nil
	}
	if err := t.putTimeRun(r); err != nil {
		return err
	}
	t.runs[string(sc)] = &timeRun{key: appendBE8(appendBE8(append(make([]byte, 0, 20), sc...), tk), seq),
		t0: tk, s0: seq, last: tk, seq: seq, entries: binary.AppendUvarint(make([]byte, 0, 64), h.ID), dirty: true}
	return nil
}

// timeRun returns the run that the scope's next entry may extend: the one this transaction
// wrote last, else the one the scope names (nil if the scope has none).
func (t *txn) timeRun(sc []byte) (*timeRun, error) {
	if r, ok := t.runs[string(sc)]; ok {
		return r, nil
	}
	if t.runs == nil {
		t.runs = map[string]*timeRun{}
	}
	open := t.openRuns[string(sc)]
	if len(open) != 16 {
		t.runs[string(sc)] = nil
		return nil, nil
	}
	k := append(slices.Clone(sc), open...)
	v := t.bucket(bTimeNS).Get(k)
	if v == nil {
		return nil, fmt.Errorf("%w: time index run %x of scope %x is missing", ErrCorrupt, k, sc)
	}
	d := dec{b: v}
	dt, ds := d.u(), d.u()
	if d.err != nil {
		return nil, fmt.Errorf("%w: time index run %x: %v", ErrCorrupt, k, d.err)
	}
	r := &timeRun{key: k, t0: readBE8(k[len(sc):]), s0: readBE8(k[len(sc)+8:])}
	r.last, r.seq = r.t0+dt, r.s0+ds
	r.entries = append(make([]byte, 0, len(d.b)+64), d.b...)
	t.runs[string(sc)] = r
	return r, nil
}

// putTimeRun writes r (nil: nothing) if this transaction changed it.
func (t *txn) putTimeRun(r *timeRun) error {
	if r == nil || !r.dirty {
		return nil
	}
	v := binary.AppendUvarint(binary.AppendUvarint(t.rec[:0], r.last-r.t0), r.seq-r.s0)
	t.rec = append(v, r.entries...)
	r.dirty = false
	return t.bucket(bTimeNS).Put(r.key, t.keep(t.rec))
}

// putTimeRuns writes the runs this transaction changed, and names each scope's last run in
// bucket "scopes".
func (t *txn) putTimeRuns() error {
	for sc, r := range t.runs {
		if r == nil {
			continue
		}
		if err := t.putTimeRun(r); err != nil {
			return err
		}
		if open := r.key[len(sc):]; string(open) != string(t.openRuns[sc]) {
			if err := t.bucket(bScopes).Put(t.scopeKeys[sc], t.keep(append([]byte(sc), open...))); err != nil {
				return err
			}
		}
	}
	return nil
}

// timeRunEntries calls fn for each entry of the run stored under k (scope, time, seq) with
// value v, in order.
func timeRunEntries(k, v []byte, fn func(timeEntry) bool) error {
	if len(k) < 16 {
		return fmt.Errorf("%w: time index key %x", ErrCorrupt, k)
	}
	tk, seq := readBE8(k[len(k)-16:]), readBE8(k[len(k)-8:])
	d := dec{b: v}
	d.u()
	d.u()
	id := d.u()
	for d.err == nil {
		if !fn(timeEntry{At: keyTime(tk), Seq: seq, ID: id}) {
			return nil
		}
		if len(d.b) == 0 {
			break
		}
		tk += d.u()
		seq += d.u()
		id = d.u()
	}
	if d.err != nil {
		return fmt.Errorf("%w: time index run %x: %v", ErrCorrupt, k, d.err)
	}
	return nil
}

// scope returns the scope of a namespace, numbering it when it is new.
func (t *txn) scope(cluster, namespace string) ([]byte, error) {
	k := prefix(cluster, namespace)
	if sc, ok := t.scopes[string(k)]; ok {
		return sc, nil
	}
	b := t.bucket(bScopes)
	v := b.Get(k)
	var sc, open []byte
	if len(v) >= 4 {
		sc, open = slices.Clone(v[:4]), slices.Clone(v[4:])
	} else {
		n, err := b.NextSequence()
		if err != nil {
			return nil, err
		}
		if n >= 1<<32 {
			return nil, fmt.Errorf("more than 2^32 namespaces")
		}
		sc = binary.BigEndian.AppendUint32(nil, uint32(n))
		if err := b.Put(k, sc); err != nil {
			return nil, err
		}
	}
	if t.scopes == nil {
		t.scopes, t.scopeKeys, t.openRuns = map[string][]byte{}, map[string][]byte{}, map[string][]byte{}
	}
	t.scopes[string(k)] = sc
	t.scopeKeys[string(sc)], t.openRuns[string(sc)] = k, open
	return sc, nil
}

// scopeOf returns the time index prefix of a namespace: nil if it has no entries.
func scopeOf(tx *bolt.Tx, cluster, namespace string) []byte {
	if v := tx.Bucket(bScopes).Get(prefix(cluster, namespace)); len(v) >= 4 {
		return v[:4]
	}
	return nil
}

// namespacesOf lists the namespaces of a cluster with entries in the time index.
func namespacesOf(tx *bolt.Tx, cluster string) []string {
	return distinct(tx.Bucket(bScopes), prefix(cluster))
}

// timeEntry is one entry of the time index.
type timeEntry struct {
	At  time.Time
	Seq uint64
	ID  uint64
}

// scanTime lists the entries under p (a scope) with from <= time < to (zero to: no end), in
// (time, seq) order, calling fn for each until it returns false.
func scanTime(b *bolt.Bucket, p []byte, from, to time.Time, fn func(timeEntry) bool) error {
	lo, hi := timeKey(from), uint64(0)
	if !to.IsZero() {
		hi = timeKey(to)
	}
	var pending []timeEntry // entries read, not yet passed on
	// emit passes on the pending entries before time upTo (all with upTo 0), in order: a run
	// keyed at upTo or later holds none before it.
	emit := func(upTo uint64) bool {
		slices.SortFunc(pending, func(a, b timeEntry) int {
			if c := a.At.Compare(b.At); c != 0 {
				return c
			}
			return cmp.Compare(a.Seq, b.Seq)
		})
		n := 0
		for _, e := range pending {
			if upTo != 0 && timeKey(e.At) >= upTo {
				break
			}
			n++
			if !fn(e) {
				return false
			}
		}
		pending = append(pending[:0], pending[n:]...)
		return true
	}
	c := b.Cursor()
	for k, v := c.Seek(appendBE8(slices.Clone(p), lo-min(lo, runSpan))); k != nil && bytes.HasPrefix(k, p) && len(k) == len(p)+16; k, v = c.Next() {
		t0 := readBE8(k[len(p):])
		if hi != 0 && t0 >= hi {
			break
		}
		if t0 > 0 && !emit(t0) {
			return nil
		}
		if dt, n := binary.Uvarint(v); n > 0 && t0+dt < lo {
			continue
		}
		err := timeRunEntries(k, v, func(e timeEntry) bool {
			if tk := timeKey(e.At); tk >= lo && (hi == 0 || tk < hi) {
				pending = append(pending, e)
			}
			return true
		})
		if err != nil {
			return err
		}
	}
	emit(0)
	return nil
}

// TimelineFilter selects the versions of a timeline. Zero fields select everything.
type TimelineFilter struct {
	Cluster     string    // "" for every cluster
	Namespaces  []string  // nil for every namespace; "" names the cluster-scoped objects
	Kinds       []string  // nil for every kind
	From, To    time.Time // observed in [From, To); zero To has no end
	Limit       int       // at most this many versions (the first ones); 0 for all
	WithObjects bool      // rebuild each version's JSON
}

// Timeline returns the versions observed in a time window, in (observed time, sequence)
// order, with the objects' identity and the versions' metadata (and JSON with WithObjects).
func (db *DB) Timeline(ctx context.Context, f TimelineFilter) ([]Version, error) {
	var out []Version
	err := db.view(func(tx *bolt.Tx) error {
		clusters := []string{f.Cluster}
		if f.Cluster == "" {
			var err error
			if clusters, err = clustersOf(tx); err != nil {
				return err
			}
		}
		var entries []timeEntry
		collect := func(b *bolt.Bucket, p []byte) error {
			// Without a kind filter, the first Limit entries of each scan hold the first
			// Limit of their union.
			n := 0
			return scanTime(b, p, f.From, f.To, func(e timeEntry) bool {
				entries = append(entries, e)
				n++
				return f.Limit <= 0 || len(f.Kinds) > 0 || n < f.Limit
			})
		}
		for _, c := range clusters {
			namespaces := f.Namespaces
			if namespaces == nil {
				namespaces = namespacesOf(tx, c)
			}
			for _, ns := range namespaces {
				if sc := scopeOf(tx, c, ns); sc != nil {
					if err := collect(tx.Bucket(bTimeNS), sc); err != nil {
						return err
					}
				}
			}
		}
		slices.SortFunc(entries, func(a, b timeEntry) int {
			if c := a.At.Compare(b.At); c != 0 {
				return c
			}
			return cmp.Compare(a.Seq, b.Seq)
		})
		hc := headCache{tx: tx}
		ver := versOf(tx)
		for i, e := range entries {
			if i&1023 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			h, err := hc.get(e.ID)
			if err != nil {
				return err
			}
			if len(f.Kinds) > 0 && !slices.Contains(f.Kinds, h.Kind) {
				continue
			}
			r, err := decodeVer(ver.get(e.Seq), e.Seq)
			if err != nil {
				return err
			}
			v := versionOf(e.Seq, &r, h)
			if f.WithObjects {
				if v.Object, _, err = loadVersion(ver, e.Seq); err != nil {
					return err
				}
			}
			out = append(out, v)
			if f.Limit > 0 && len(out) >= f.Limit {
				break
			}
		}
		return nil
	})
	return out, err
}

// clustersOf lists the clusters with entries in the time index (each has a scope).
func clustersOf(tx *bolt.Tx) ([]string, error) {
	var out []string
	c := tx.Bucket(bScopes).Cursor()
	for k, _ := c.First(); k != nil; {
		i := indexByte(k, 0)
		if i < 0 {
			k, _ = c.Next()
			continue
		}
		out = append(out, string(k[:i]))
		k, _ = c.Seek(append(slices.Clone(k[:i]), 1))
	}
	return out, nil
}

// headCache reads heads by id once per query.
type headCache struct {
	tx *bolt.Tx
	m  map[uint64]*objHead
}

func (c *headCache) get(id uint64) (*objHead, error) {
	if h, ok := c.m[id]; ok {
		return h, nil
	}
	h, err := headByID(c.tx, id)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = map[uint64]*objHead{}
	}
	c.m[id] = h
	return h, nil
}
