package projector

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The snapshots view keeps, per cluster, the set of live objects at points of the log, so that
// "the state of namespace X at time T" is read from the nearest snapshot before T and a short
// fold of the time index after it, not from the beginning of history.
//
//   - bucket "live": cluster NUL namespace NUL id (8 bytes): the objects that exist now;
//   - bucket "snapmeta": cluster NUL time (8) seq (8) -> number of objects: one snapshot, taken
//     after the event seq, whose time is the cluster's watermark (the latest observed time of
//     its events so far);
//   - bucket "snap": cluster NUL time seq namespace NUL kind -> the snapshot's objects of that
//     kind in that namespace: S2 of (id, sequence of the object's latest version) pairs, by
//     id. A state of some kinds (khist state shows no Events, most of a busy namespace's
//     objects) reads only their chunks.
//
// A snapshot of time Ts holds exactly the events of the cluster observed at or before Ts: when
// an event observed at or before the time of an existing snapshot arrives late, the snapshots
// from its time on are dropped. A cluster's snapshots are taken when at least
// Options.SnapshotEvery events, and at least twice as many events as it has live objects, have
// been applied since the last one.
var bLive, bSnapMeta, bSnap = []byte("live"), []byte("snapmeta"), []byte("snap")

func init() { registerBuckets(bLive, bSnapMeta, bSnap) }

// clusterState is what the fold keeps per cluster (in the meta bucket).
type clusterState struct {
	WM       time.Time // latest observed time
	Since    uint64    // events applied since the last snapshot
	Live     uint64    // live objects
	LastSnap time.Time // time of the newest snapshot kept; zero if none
}

func clusterStateKey(cluster string) []byte { return append([]byte("c\x00"), cluster...) }

func (cs *clusterState) encode() []byte {
	e := enc{}
	e.t(cs.WM)
	e.u(cs.Since)
	e.u(cs.Live)
	e.t(cs.LastSnap)
	return e.b
}

// LastObserved returns the latest observed time of the events applied for a cluster (any
// cluster for ""), zero when there are none. Unlike the time of the event at the views'
// position, it does not depend on whether that event changed anything (a re-sent version
// does not).
func (db *DB) LastObserved(ctx context.Context, cluster string) (time.Time, error) {
	var last time.Time
	err := db.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bMeta).Cursor()
		p := clusterStateKey(cluster)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if cluster != "" && len(k) != len(p) {
				continue
			}
			cs, err := decodeClusterState(v)
			if err != nil {
				return err
			}
			if cs.WM.After(last) {
				last = cs.WM
			}
		}
		return nil
	})
	return last, err
}

func (t *txn) cluster(name string) (*clusterState, error) {
	if cs, ok := t.clusters[name]; ok {
		return cs, nil
	}
	cs := &clusterState{}
	if raw := t.meta.Get(clusterStateKey(name)); raw != nil {
		var err error
		if *cs, err = decodeClusterState(raw); err != nil {
			return nil, err
		}
	}
	t.clusters[name] = cs
	return cs, nil
}

func decodeClusterState(raw []byte) (clusterState, error) {
	var cs clusterState
	d := dec{b: raw}
	cs.WM, cs.Since, cs.Live, cs.LastSnap = d.t(), d.u(), d.u(), d.t()
	return cs, d.err
}

func liveKey(h *objHead) []byte { return appendBE8(prefix(h.Cluster, h.Namespace), h.ID) }

func foldSnapshots(t *txn, ev *event) error {
	h := ev.head
	cs, err := t.cluster(h.Cluster)
	if err != nil {
		return err
	}
	live := t.bucket(bLive)
	switch {
	case ev.isNew && !ev.gone:
		if err := live.Put(liveKey(h), nil); err != nil {
			return err
		}
		cs.Live++
	case ev.gone && !ev.isNew:
		if err := live.Delete(liveKey(h)); err != nil {
			return err
		}
		cs.Live--
	}
	obs := ev.env.Observed
	if !cs.LastSnap.IsZero() && !obs.After(cs.LastSnap) {
		if err := dropSnapshots(t, h.Cluster, obs, cs); err != nil {
			return err
		}
	}
	if obs.After(cs.WM) {
		cs.WM = obs
	}
	cs.Since++
	if cs.Since >= max(uint64(t.db.snapshotEvery), 2*cs.Live) {
		cs.Since = 0
		return takeSnapshot(t, h.Cluster, cs)
	}
	return nil
}

// dropSnapshots deletes the cluster's snapshots of time from on.
func dropSnapshots(t *txn, cluster string, from time.Time, cs *clusterState) error {
	p := prefix(cluster)
	meta, snap := t.bucket(bSnapMeta), t.bucket(bSnap)
	var drop [][]byte
	c := meta.Cursor()
	for k, _ := c.Seek(appendBE8(slices.Clone(p), timeKey(from))); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		drop = append(drop, slices.Clone(k))
	}
	for _, k := range drop {
		if err := meta.Delete(k); err != nil {
			return err
		}
		var chunks [][]byte
		sc := snap.Cursor()
		for sk, _ := sc.Seek(k); sk != nil && bytes.HasPrefix(sk, k); sk, _ = sc.Next() {
			chunks = append(chunks, slices.Clone(sk))
		}
		for _, sk := range chunks {
			if err := snap.Delete(sk); err != nil {
				return err
			}
		}
	}
	cs.LastSnap = time.Time{}
	c = meta.Cursor()
	k, _ := c.Seek(appendBE8(appendBE8(slices.Clone(p), math.MaxUint64), math.MaxUint64))
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if k != nil && bytes.HasPrefix(k, p) {
		cs.LastSnap = keyTime(readBE8(k[len(p):]))
	}
	return nil
}

// takeSnapshot records the live objects of a cluster and their latest versions, one chunk per
// namespace and kind.
func takeSnapshot(t *txn, cluster string, cs *clusterState) error {
	p := prefix(cluster)
	id := appendBE8(be8(timeKey(cs.WM)), t.seq)
	live := t.bucket(bLive).Cursor()
	var ns string
	byKind := map[string][]uint64{} // kind -> (id, seq) pairs of the namespace ns
	var count uint64
	flush := func() error {
		for _, kind := range slices.Sorted(maps.Keys(byKind)) {
			pairs := byKind[kind]
			e := enc{}
			e.u(uint64(len(pairs) / 2))
			var last uint64
			for i := 0; i < len(pairs); i += 2 {
				e.u(pairs[i] - last)
				e.u(pairs[i+1])
				last = pairs[i]
			}
			k := append(append(append(append(slices.Clone(p), id...), ns...), 0), kind...)
			if err := t.bucket(bSnap).Put(k, compress(nil, e.b)); err != nil {
				return err
			}
		}
		clear(byKind)
		return nil
	}
	for k, _ := live.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = live.Next() {
		rest := k[len(p):]
		kns := string(rest[:len(rest)-9])
		if kns != ns {
			if err := flush(); err != nil {
				return err
			}
			ns = kns
		}
		h, err := t.headID(readBE8(k[len(k)-8:]))
		if err != nil {
			return err
		}
		if h == nil {
			return fmt.Errorf("%w: live object %d has no head", ErrCorrupt, readBE8(k[len(k)-8:]))
		}
		byKind[h.Kind] = append(byKind[h.Kind], h.ID, h.LastSeq)
		count++
	}
	if err := flush(); err != nil {
		return err
	}
	var n [binary.MaxVarintLen64]byte
	cs.LastSnap = cs.WM
	return t.bucket(bSnapMeta).Put(append(slices.Clone(p), id...), n[:binary.PutUvarint(n[:], count)])
}

func decodeSnapChunk(b []byte, into map[uint64]uint64) error {
	raw, err := decompress(nil, b)
	if err != nil {
		return err
	}
	d := dec{b: raw}
	n := d.u()
	var id uint64
	for i := uint64(0); i < n && d.err == nil; i++ {
		id += d.u()
		into[id] = d.u()
	}
	return d.err
}

// StateFilter selects the objects of StateAt.
type StateFilter struct {
	Cluster     string    // "" for every cluster
	Namespaces  []string  // nil for every namespace; "" names the cluster-scoped objects
	Kinds       []string  // nil for every kind
	At          time.Time // the time of the state
	WithObjects bool      // rebuild each object's JSON
}

// StateAt returns the objects that existed at time f.At, each at its version current then
// (the last version in log order observed at or before f.At), sorted by cluster, namespace,
// kind and name. It starts from the latest snapshot at or before f.At and folds the time index
// from there.
func (db *DB) StateAt(ctx context.Context, f StateFilter) ([]Version, error) {
	var out []Version
	err := db.view(func(tx *bolt.Tx) error {
		clusters := []string{f.Cluster}
		if f.Cluster == "" {
			var err error
			if clusters, err = clustersOf(tx); err != nil {
				return err
			}
		}
		ver := versOf(tx)
		hc := headCache{tx: tx}
		keep := func(h *objHead) bool { return len(f.Kinds) == 0 || slices.Contains(f.Kinds, h.Kind) }
		for _, cl := range clusters {
			state, err := stateAt(ctx, tx, cl, f.Namespaces, f.At, f.Kinds, &hc, keep)
			if err != nil {
				return err
			}
			for id, seq := range state {
				h, err := hc.get(id)
				if err != nil {
					return err
				}
				if !keep(h) {
					continue
				}
				// A version that is still the object's latest is read whole from its latest
				// copy; an older one is rebuilt from its chain.
				var r verRec
				ok := false
				if seq == h.LastSeq {
					if r, ok, err = latestOf(tx, id, seq); err != nil {
						return err
					}
				}
				if !ok {
					if r, err = decodeVer(ver.get(seq), seq); err != nil {
						return err
					}
				}
				v := versionOf(seq, &r, h)
				if f.WithObjects {
					if ok {
						v.Object = r.Payload
					} else if v.Object, _, err = loadVersion(ver, seq); err != nil {
						return err
					}
				}
				out = append(out, v)
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b Version) int {
		return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.Group, b.Group), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Seq, b.Seq))
	})
	return out, err
}

// stateAt returns object id -> sequence of its version current at time at, for the objects of
// a cluster (in the given namespaces, nil for all) that existed then. Objects that keep
// rejects, or whose kind is not one of kinds (none: any), may be left out or not. It reads
// heads (through hc), not version records: the version of an object's last entry in the time
// index is a deletion only if it is the one that ended the object (a deleted object has no
// later version).
func stateAt(ctx context.Context, tx *bolt.Tx, cluster string, namespaces []string, at time.Time, kinds []string, hc *headCache, keep func(h *objHead) bool) (map[uint64]uint64, error) {
	p := prefix(cluster)
	state := map[uint64]uint64{}
	var from time.Time
	c := tx.Bucket(bSnapMeta).Cursor()
	k, _ := c.Seek(appendBE8(slices.Clone(p), timeKey(at)+1))
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if k != nil && bytes.HasPrefix(k, p) && len(k) == len(p)+16 {
		from = keyTime(readBE8(k[len(p):]) + 1)
		// The chunks of the namespaces asked for (all: every chunk of the snapshot), of the
		// kinds asked for.
		var scans [][]byte
		if namespaces == nil {
			scans = append(scans, k)
		}
		for _, ns := range namespaces {
			scans = append(scans, append(append(slices.Clone(k), ns...), 0))
		}
		sc := tx.Bucket(bSnap).Cursor()
		for _, sp := range scans {
			for sk, sv := sc.Seek(sp); sk != nil && bytes.HasPrefix(sk, sp); sk, sv = sc.Next() {
				rest := sk[len(k):]
				i := indexByte(rest, 0)
				if i < 0 {
					return nil, fmt.Errorf("%w: snapshot chunk %x has no kind", ErrCorrupt, sk)
				}
				if len(kinds) > 0 && !slices.Contains(kinds, string(rest[i+1:])) {
					continue
				}
				if err := decodeSnapChunk(sv, state); err != nil {
					return nil, err
				}
			}
		}
	}
	var tail []timeEntry
	to := at.Add(time.Nanosecond)
	add := func(e timeEntry) bool { tail = append(tail, e); return true }
	nss := namespaces
	if nss == nil {
		nss = namespacesOf(tx, cluster)
	}
	for _, ns := range nss {
		if sc := scopeOf(tx, cluster, ns); sc != nil {
			if err := scanTime(tx.Bucket(bTimeNS), sc, from, to, add); err != nil {
				return nil, err
			}
		}
	}
	// Folded in log order, an object's last entry decides: its version then, or gone. Only
	// that entry's record is read.
	latest := make(map[uint64]uint64, len(tail)) // object id -> its last entry's seq
	for _, e := range tail {
		latest[e.ID] = max(latest[e.ID], e.Seq)
	}
	last := tail[:0]
	for _, e := range tail {
		if latest[e.ID] == e.Seq {
			last = append(last, e)
		}
	}
	slices.SortFunc(last, func(a, b timeEntry) int { return cmp.Compare(a.Seq, b.Seq) })
	for i, e := range last {
		if i&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if len(kinds) > 0 {
			// Most objects changed since the snapshot are of kinds not asked for (Events):
			// their kind is read without decoding their heads.
			if ok, err := headOfKind(tx, e.ID, kinds); err != nil {
				return nil, err
			} else if !ok {
				delete(state, e.ID)
				continue
			}
		}
		h, err := hc.get(e.ID)
		if err != nil {
			return nil, err
		}
		if !keep(h) || h.Gone && h.GoneSeq == e.Seq {
			delete(state, e.ID)
		} else {
			state[e.ID] = e.Seq
		}
	}
	return state, nil
}
