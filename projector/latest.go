package projector

import (
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// The latest-copies view keeps, for each live object that has more than one version, its
// latest version whole: bucket "vlast", be8(object id) -> be8(sequence of that version), then
// S2 of its record (see verRec) with the JSON in full (bodyFull). A read of an object at a
// version that is still its latest (most objects of a point-in-time state: a ReplicaSet
// scaled to zero days ago has not changed since) takes it from here instead of rebuilding it
// from its delta chain, whose records each sit in another compressed segment of the versions
// view. Objects with one version (most Events) have no copy: their one record is a full copy
// already. A deleted object's copy is dropped. The bucket is written once per transaction for
// each object the transaction changed, so it holds exactly what the versions view says is
// latest.
var bLatest = []byte("vlast")

func init() { registerBuckets(bLatest) }

// latestCopy is what a fold transaction will write to bucket "vlast" for one object: its
// latest version (rec, with the full JSON as its payload), or nothing (drop).
type latestCopy struct {
	seq  uint64
	rec  verRec
	drop bool
}

// noteLatest records the version just folded as its object's latest copy, or its absence.
func (t *txn) noteLatest(h *objHead, seq uint64, rec *verRec, obj []byte) {
	if t.latest == nil {
		t.latest = map[uint64]latestCopy{}
	}
	switch {
	case h.Gone:
		t.latest[h.ID] = latestCopy{drop: true}
		return
	case h.Versions < 2:
		return // its one record is a full copy (or a delta against another object's)
	}
	c := latestCopy{seq: seq, rec: *rec}
	c.rec.Body, c.rec.Base, c.rec.Payload = bodyFull, 0, obj
	t.latest[h.ID] = c
}

// putLatest writes the latest copies of the objects this transaction changed.
func (t *txn) putLatest() error {
	if len(t.latest) == 0 {
		return nil
	}
	b := t.bucket(bLatest)
	ids := make([]uint64, 0, len(t.latest))
	for id := range t.latest {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		c := t.latest[id]
		if c.drop {
			if err := b.Delete(be8(id)); err != nil {
				return err
			}
			continue
		}
		t.rec = c.rec.encode(t.rec[:0], c.seq)
		t.zscratch = compress(appendBE8(t.zscratch[:0], c.seq), t.rec)
		if err := b.Put(t.keep(be8(id)), t.keep(t.zscratch)); err != nil {
			return err
		}
	}
	clear(t.latest)
	return nil
}

// latestOf returns the record of the object id's version seq from its latest copy, with the
// JSON in full as its payload; ok is false when the object has no copy of that version.
func latestOf(tx *bolt.Tx, id, seq uint64) (r verRec, ok bool, err error) {
	v := tx.Bucket(bLatest).Get(be8(id))
	if len(v) < 8 || readBE8(v) != seq {
		return verRec{}, false, nil
	}
	raw, err := decompress(nil, v[8:])
	if err != nil {
		return verRec{}, false, fmt.Errorf("latest copy of object %d: %w", id, err)
	}
	if r, err = decodeVer(raw, seq); err != nil {
		return verRec{}, false, err
	}
	if r.ID != id || r.Body != bodyFull {
		return verRec{}, false, fmt.Errorf("%w: latest copy of object %d is not a full copy of it", ErrCorrupt, id)
	}
	return r, true, nil
}
