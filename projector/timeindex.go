package projector

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The time index view maps observed time to versions, for timelines and point-in-time reads.
//
// Bucket "tn": scope (4 bytes) time (8 bytes, ns since the epoch) seq (8) -> object id. A scope
// is one namespace of one cluster (namespace "" holds the cluster-scoped objects), numbered in
// order of first sight in bucket "scopes": cluster NUL namespace NUL -> scope (4 bytes), so that
// an entry does not repeat the names. Reads across namespaces merge them. Observed times need
// not increase along the log (imports of older recordings); the index orders by (time, seq)
// whatever the order of arrival.
var bTimeNS, bScopes = []byte("tn"), []byte("scopes")

func init() { registerBuckets(bTimeNS, bScopes) }

func foldTimeIndex(t *txn, ev *event) error {
	h := ev.head
	sc, err := t.scope(h.Cluster, h.Namespace)
	if err != nil {
		return err
	}
	k := appendBE8(appendBE8(append(make([]byte, 0, 20), sc...), timeKey(ev.env.Observed)), ev.env.Seq)
	return t.putID(bTimeNS, k, h.ID)
}

// scope returns the scope of a namespace, numbering it when it is new.
func (t *txn) scope(cluster, namespace string) ([]byte, error) {
	k := prefix(cluster, namespace)
	if sc, ok := t.scopes[string(k)]; ok {
		return sc, nil
	}
	b := t.bucket(bScopes)
	sc := b.Get(k)
	if sc == nil {
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
	sc = slices.Clone(sc)
	if t.scopes == nil {
		t.scopes = map[string][]byte{}
	}
	t.scopes[string(k)] = sc
	return sc, nil
}

// scopeOf returns the time index prefix of a namespace: nil if it has no entries.
func scopeOf(tx *bolt.Tx, cluster, namespace string) []byte {
	return tx.Bucket(bScopes).Get(prefix(cluster, namespace))
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

// scanTime lists the entries under p (a scope) with from <= time < to (zero to:
// no end), in (time, seq) order, calling fn for each until it returns false.
func scanTime(b *bolt.Bucket, p []byte, from, to time.Time, fn func(timeEntry) bool) {
	c := b.Cursor()
	start := appendBE8(slices.Clone(p), timeKey(from))
	for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, p) && len(k) == len(p)+16; k, v = c.Next() {
		tk := readBE8(k[len(p):])
		if !to.IsZero() && tk >= timeKey(to) {
			return
		}
		id, _ := binary.Uvarint(v)
		if !fn(timeEntry{At: keyTime(tk), Seq: readBE8(k[len(p)+8:]), ID: id}) {
			return
		}
	}
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
		collect := func(b *bolt.Bucket, p []byte) {
			// Without a kind filter, the first Limit entries of each scan hold the first
			// Limit of their union.
			n := 0
			scanTime(b, p, f.From, f.To, func(e timeEntry) bool {
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
					collect(tx.Bucket(bTimeNS), sc)
				}
			}
		}
		slices.SortFunc(entries, func(a, b timeEntry) int {
			if c := a.At.Compare(b.At); c != 0 {
				return c
			}
			return cmpU64(a.Seq, b.Seq)
		})
		hc := headCache{tx: tx}
		ver := tx.Bucket(bVer)
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
			r, err := decodeVer(ver.Get(be8(e.Seq)), e.Seq)
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
