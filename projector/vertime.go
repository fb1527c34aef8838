package projector

import (
	"bytes"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The per-object time index finds the version of an object current at a time without walking
// back through all its versions (each in another segment: see verStore). Every timeIdxEvery
// versions of an object, the fold writes an entry: bucket "vtime", id(8) seq(8) -> the least
// observed time of the versions in the block that ends at seq (the timeIdxEvery versions since
// the previous entry), as a difference from the object's first version's (see enc.td). The
// versions since the last entry are not indexed yet: the head keeps their least time
// (objHead.IdxMin). Observed times need not grow along the log: the index holds the least
// time of each block, so a read finds the last version observed at or before a time exactly as
// a walk back through every version would.
//
// A read walks back the versions after the last entry only if their least time is not after
// the time asked for, then reads entries (about 20 bytes each) back to the first block whose
// least time is not after it, and walks back within that block: at most 2*timeIdxEvery-1
// version records, whatever the length of the history, and for a time before the last
// entry's, at most timeIdxEvery. Objects with fewer versions (most pods, Events) have no
// entry.
var bVerTime = []byte("vtime")

func init() { registerBuckets(bVerTime) }

const timeIdxEvery = 8

// indexTime records the version (seq, observed) just added to head h in the time index.
func (t *txn) indexTime(h *objHead, seq uint64, observed time.Time) error {
	if (h.Versions-1)%timeIdxEvery == 0 || observed.Before(h.IdxMin) {
		h.IdxMin = observed
	}
	if h.Versions%timeIdxEvery != 0 {
		return nil
	}
	t.keyBuf = append(append(t.keyBuf[:0], be8(h.ID)...), be8(seq)...)
	k := t.keep(t.keyBuf)
	e := enc{b: t.hbuf[:0]}
	e.td(h.IdxMin, h.FirstSeen)
	t.hbuf = e.b
	v := t.keep(e.b)
	h.IdxMin = time.Time{}
	return t.bucket(bVerTime).Put(k, v)
}

// lastAtOrBefore returns the last version of object h, in log order, observed at or before at
// (seq 0 if none), with its record.
func lastAtOrBefore(tx *bolt.Tx, ver *verStore, h *objHead, at time.Time) (uint64, verRec, error) {
	pfx := be8(h.ID)
	c := tx.Bucket(bVerTime).Cursor()
	k, v := c.Seek(append(be8(h.ID), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if k != nil && !bytes.HasPrefix(k, pfx) {
		k = nil
	}
	var indexed uint64 // versions up to this sequence are in the index
	if k != nil {
		indexed = readBE8(k[8:])
	}
	if h.Versions%timeIdxEvery != 0 && !h.IdxMin.After(at) {
		// A version after the last entry was observed at or before at.
		if s, r, err := walkBackTo(ver, h.LastSeq, indexed, at); s != 0 || err != nil {
			return s, r, err
		}
	}
	for ; k != nil && bytes.HasPrefix(k, pfx); k, v = c.Prev() {
		if len(k) != 16 {
			return 0, verRec{}, fmt.Errorf("%w: time index key %x", ErrCorrupt, k)
		}
		d := dec{b: v}
		least := d.td(h.FirstSeen)
		if d.err != nil {
			return 0, verRec{}, fmt.Errorf("%w: time index entry %x: %v", ErrCorrupt, k, d.err)
		}
		if least.After(at) {
			continue
		}
		s, r, err := walkBackTo(ver, readBE8(k[8:]), 0, at)
		if s == 0 && err == nil {
			err = fmt.Errorf("%w: time index entry %x: no version at its time", ErrCorrupt, k)
		}
		return s, r, err
	}
	return 0, verRec{}, nil
}

// walkBackTo walks an object's versions back from seq while their sequences are after stop,
// and returns the first one observed at or before at (seq 0 if none).
func walkBackTo(ver *verStore, seq, stop uint64, at time.Time) (uint64, verRec, error) {
	for s := seq; s != 0 && s > stop; {
		raw := ver.get(s)
		if raw == nil {
			return 0, verRec{}, fmt.Errorf("%w: version %d is missing", ErrCorrupt, s)
		}
		r, err := decodeVer(raw, s)
		if err != nil {
			return 0, verRec{}, err
		}
		if !r.Observed.After(at) {
			return s, r, nil
		}
		s = r.Prev
	}
	return 0, verRec{}, nil
}
