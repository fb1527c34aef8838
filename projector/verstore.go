package projector

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	bolt "go.etcd.io/bbolt"
)

// The version records of the versions view (verRec, one per stream sequence) are stored in
// two buckets. The most recent ones are loose, one per key: bucket "ver", be8(seq) -> record.
// Once there are segRecords of them (or segBytes), they are packed, in the transaction that
// reaches that count, into a segment: bucket "verseg", be8(sequence of its last record) ->
// segFormat, then zstd of uvarint(count) and, per record, uvarint(seq - previous seq; the
// first one's from 0) and its fields (see encodeSegment). Records of successive sequences
// are alike (pod status deltas, Events of one reason, metadata of the same shape), so
// compressing a few hundred together takes less than half of what compressing each one
// alone does, and the bucket holds one key per segment instead of one per version. Loose records always follow
// every segment in sequence order, and a segment, once written, never changes.
//
// A segment's boundaries depend on the transactions that folded the log (a rebuild packs
// other ranges than a live fold); the records, and so what any read returns, do not.
var bVerSeg = []byte("verseg")

func init() { registerBuckets(bVerSeg) }

const (
	segRecords = 256
	segBytes   = 256 << 10
	segFormat  = 1 // zstd of the records
)

var (
	zstdEnc = sync.OnceValue(func() *zstd.Encoder {
		e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault),
			// A segment is about segBytes: a window of the default 8 MB kept 16 MB of history
			// buffers alive for nothing (the soak's heap profile, issue 13).
			zstd.WithWindowSize(2*segBytes), zstd.WithLowerEncoderMem(true))
		if err != nil {
			panic(err) // only for invalid options
		}
		return e
	})
	zstdDec = sync.OnceValue(func() *zstd.Decoder {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(64<<20))
		if err != nil {
			panic(err)
		}
		return d
	})
)

// segment is a decoded segment: its sequences, ascending, and their records, each written
// back in its own encoding when first asked for (most reads want one record of a segment).
type segment struct {
	seqs []uint64
	size int

	raw  []byte   // the records in segment form
	offs []int    // where each one starts in raw
	rvs  []uint64 // the resourceVersion before each one, that its own is a difference from
	ts   []int64  // the same for observed times

	mu   sync.Mutex
	recs [][]byte
}

func (s *segment) get(seq uint64) []byte {
	i, ok := slices.BinarySearch(s.seqs, seq)
	if !ok {
		return nil
	}
	rec, _ := s.rec(i)
	return rec
}

// rec returns record i in its own encoding.
func (s *segment) rec(i int) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recs[i] != nil {
		return s.recs[i], nil
	}
	d := dec{b: s.raw[s.offs[i]:]}
	rv, t := s.rvs[i], s.ts[i]
	r := readSegRec(&d, &rv, &t, false)
	if d.err != nil {
		return nil, fmt.Errorf("version %d: %w", s.seqs[i], d.err)
	}
	s.recs[i] = r.encode(nil, s.seqs[i])
	return s.recs[i], nil
}

// readSegRec reads one record in segment form after its sequence, advancing the
// resourceVersion and time it is relative to; with skip, it only advances.
func readSegRec(d *dec, prevRV *uint64, prevT *int64, skip bool) verRec {
	r := verRec{ID: d.u()}
	r.Prev = d.sd(0)
	if c := d.byte(); int(c) < len(typeCodes) {
		r.Type = typeCodes[c]
	} else {
		d.fail("type")
	}
	if x := d.u(); x&1 == 1 {
		*prevRV += uint64(unzigzag(x >> 1))
		if !skip {
			r.RV = strconv.FormatUint(*prevRV, 10)
		}
	} else if l := x >> 1; l <= uint64(len(d.b)) {
		if !skip {
			r.RV = string(d.b[:l])
		}
		d.b = d.b[l:]
	} else {
		d.fail("resourceVersion")
	}
	r.Generation = d.i()
	if *prevT += unzigzag(d.u()); *prevT != 0 && !skip {
		r.Observed = time.Unix(0, *prevT).UTC()
	}
	r.Actor = d.actor()
	r.Body = d.byte()
	r.Base = d.u()
	r.Payload = d.bs()
	return r
}

func encodeSegment(seqs []uint64, recs [][]byte) ([]byte, error) {
	e := enc{}
	e.u(uint64(len(seqs)))
	var prevSeq, prevRV uint64
	var prevT int64
	for i, seq := range seqs {
		r, err := decodeVer(recs[i], seq)
		if err != nil {
			return nil, err
		}
		e.u(seq - prevSeq)
		prevSeq = seq
		e.u(r.ID)
		e.sd(r.Prev, 0)
		e.byte(typeCode(r.Type))
		if n, ok := decimalRV(r.RV); ok {
			e.u(zigzag(int64(n-prevRV))<<1 | 1)
			prevRV = n
		} else {
			e.u(uint64(len(r.RV)) << 1)
			e.b = append(e.b, r.RV...)
		}
		e.i(r.Generation)
		var t int64
		if !r.Observed.IsZero() {
			t = r.Observed.UnixNano()
		}
		e.u(zigzag(t - prevT))
		prevT = t
		e.actor(r.Actor)
		e.byte(r.Body)
		e.u(r.Base)
		e.bs(r.Payload)
	}
	return zstdEnc().EncodeAll(e.b, []byte{segFormat}), nil
}

func zigzag(v int64) uint64 { return uint64(v<<1 ^ v>>63) }

func unzigzag(v uint64) int64 { return int64(v>>1) ^ -int64(v&1) }

func decodeSegment(last uint64, v []byte) (*segment, error) {
	if len(v) == 0 || v[0] != segFormat {
		return nil, fmt.Errorf("%w: version segment %d: unknown format", ErrCorrupt, last)
	}
	raw, err := zstdDec().DecodeAll(v[1:], nil)
	if err != nil {
		return nil, fmt.Errorf("%w: version segment %d: %v", ErrCorrupt, last, err)
	}
	d := dec{b: raw}
	n := d.u()
	if d.err != nil || n == 0 || n > uint64(len(raw)) {
		return nil, fmt.Errorf("%w: version segment %d: bad count", ErrCorrupt, last)
	}
	s := &segment{seqs: make([]uint64, n), recs: make([][]byte, n), raw: raw,
		offs: make([]int, n), rvs: make([]uint64, n), ts: make([]int64, n)}
	var seq, rv uint64
	var t int64
	for i := range s.seqs {
		delta := d.u()
		if i > 0 && delta == 0 {
			d.fail("sequence")
		}
		seq += delta
		s.seqs[i], s.offs[i], s.rvs[i], s.ts[i] = seq, len(raw)-len(d.b), rv, t
		readSegRec(&d, &rv, &t, true)
		if d.err != nil {
			return nil, fmt.Errorf("version segment %d: record %d: %w", last, i, d.err)
		}
	}
	if seq != last || len(d.b) != 0 {
		return nil, fmt.Errorf("%w: version segment %d: ends at %d", ErrCorrupt, last, seq)
	}
	s.size = 2*len(raw) + 40*int(n)
	return s, nil
}

// segCache holds decoded segments by the sequence of their last record. Segments never
// change once written, but a rolled back fold or another process's rebuild may leave the
// file without one that was read, so the cache is dropped when the object cache is.
type segCache struct{ syncCache[uint64, *segment] }

func (c *segCache) init(limit int) { c.g.init(limit, func(s *segment) int { return s.size }) }

// syncCache is a genCache safe for concurrent use (read transactions share the DB's caches).
type syncCache[K comparable, V any] struct {
	mu sync.Mutex
	g  genCache[K, V]
}

func (c *syncCache[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.g.get(k)
}

func (c *syncCache[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.g.put(k, v)
}

func (c *syncCache[K, V]) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.g.reset()
}

// verStore reads (and, in a fold, writes) version records by sequence.
type verStore struct {
	loose, segs *bolt.Bucket
	cache       *segCache // nil: no cache
	// A fold's records of this transaction, ascending, put in the buckets by flush.
	pend    []uint64
	pendRec [][]byte
}

// txStores holds the stores of each transaction that DB.view and DB.update run (with the
// DB's caches, and a fold's records not yet written); versOf and headsOf find them.
var txStores sync.Map // *bolt.Tx -> *stores

type stores struct {
	vers  *verStore
	heads *headStore
}

// track registers the stores of tx until the returned func is called.
func (db *DB) track(tx *bolt.Tx) func() {
	txStores.Store(tx, &stores{vers: newVerStore(tx, &db.segs), heads: newHeadStore(tx, &db.blocks)})
	return func() { txStores.Delete(tx) }
}

// versOf returns the version records of tx.
func versOf(tx *bolt.Tx) *verStore {
	if v, ok := txStores.Load(tx); ok {
		return v.(*stores).vers
	}
	return newVerStore(tx, nil)
}

// headsOf returns the object heads of tx.
func headsOf(tx *bolt.Tx) *headStore {
	if v, ok := txStores.Load(tx); ok {
		return v.(*stores).heads
	}
	return newHeadStore(tx, nil)
}

func newVerStore(tx *bolt.Tx, cache *segCache) *verStore {
	return &verStore{loose: tx.Bucket(bVer), segs: tx.Bucket(bVerSeg), cache: cache}
}

// get returns the record stored for seq, nil if there is none. It stays valid for the
// transaction.
func (v *verStore) get(seq uint64) []byte {
	if n := len(v.pend); n > 0 && seq >= v.pend[0] {
		if i, ok := slices.BinarySearch(v.pend, seq); ok {
			return v.pendRec[i]
		}
		return nil
	}
	if r := v.loose.Get(be8(seq)); r != nil {
		return r
	}
	s, err := v.segmentOf(seq)
	if err != nil || s == nil {
		return nil
	}
	return s.get(seq)
}

// segmentOf returns the segment that would hold seq (nil if seq is after every segment).
func (v *verStore) segmentOf(seq uint64) (*segment, error) {
	k, val := v.segs.Cursor().Seek(be8(seq))
	if k == nil {
		return nil, nil
	}
	last := readBE8(k)
	if v.cache != nil {
		if s, ok := v.cache.get(last); ok {
			return s, nil
		}
	}
	s, err := decodeSegment(last, val)
	if err != nil {
		return nil, err
	}
	if v.cache != nil {
		v.cache.put(last, s)
	}
	return s, nil
}

// put records rec (which must stay valid until the transaction ends) for seq, after every
// sequence stored so far.
func (v *verStore) put(seq uint64, rec []byte) {
	v.pend = append(v.pend, seq)
	v.pendRec = append(v.pendRec, rec)
}

// each calls fn for every record in sequence order; rec is valid during the call.
func (v *verStore) each(fn func(seq uint64, rec []byte) error) error {
	c := v.segs.Cursor()
	for k, val := c.First(); k != nil; k, val = c.Next() {
		s, err := decodeSegment(readBE8(k), val)
		if err != nil {
			return err
		}
		for i, seq := range s.seqs {
			rec, err := s.rec(i)
			if err != nil {
				return err
			}
			if err := fn(seq, rec); err != nil {
				return err
			}
		}
	}
	c = v.loose.Cursor()
	for k, val := c.First(); k != nil; k, val = c.Next() {
		if err := fn(readBE8(k), val); err != nil {
			return err
		}
	}
	for i, seq := range v.pend {
		if err := fn(seq, v.pendRec[i]); err != nil {
			return err
		}
	}
	return nil
}

// flush writes the records of the transaction: with the loose ones before them, into
// segments of segRecords records (or segBytes) while there are enough, the rest loose.
func (v *verStore) flush() error {
	if len(v.pend) == 0 {
		return nil
	}
	seqs, recs := v.pend, v.pendRec
	// The loose records (fewer than segRecords), then this transaction's.
	var all []uint64
	var allRec [][]byte
	c := v.loose.Cursor()
	for k, val := c.First(); k != nil; k, val = c.Next() {
		all, allRec = append(all, readBE8(k)), append(allRec, val)
	}
	looseN := len(all)
	all, allRec = append(all, seqs...), append(allRec, recs...)
	size := 0
	for _, r := range allRec {
		size += len(r)
	}
	keep := 0 // seqs[keep:] are put loose
	if len(all) >= segRecords || size >= segBytes {
		packed, start, n := 0, 0, 0
		for i := range all {
			n += len(allRec[i])
			if i+1-start < segRecords && n < segBytes {
				continue
			}
			seg, err := encodeSegment(all[start:i+1], allRec[start:i+1])
			if err != nil {
				return err
			}
			if err := v.segs.Put(be8(all[i]), seg); err != nil {
				return err
			}
			packed, start, n = i+1, i+1, 0
		}
		for i := 0; i < min(packed, looseN); i++ {
			if err := v.loose.Delete(be8(all[i])); err != nil {
				return err
			}
		}
		keep = max(0, packed-looseN)
	}
	for i := keep; i < len(seqs); i++ {
		if err := v.loose.Put(be8(seqs[i]), recs[i]); err != nil {
			return err
		}
	}
	v.pend, v.pendRec = v.pend[:0], v.pendRec[:0]
	return nil
}
