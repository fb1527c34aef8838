package projector

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/klauspost/compress/s2"
	bolt "go.etcd.io/bbolt"
)

// Object heads (objHead, one per object, rewritten with each of its versions) are stored in
// blocks of headsPerBlock consecutive object ids: bucket "obj", be8(id / headsPerBlock) ->
// blockFormat, then S2 of, for each id of the block in order, uvarint(len) and the head's
// encoding (length 0: no object has that id yet). Heads of objects of one namespace and kind,
// created around the same time, sit in the same block and share most of their strings, so a
// block takes about half of its heads stored one per key. A fold rewrites each block it
// changed once, at the end of its transaction: S2 rather than zstd, which compresses blocks
// a few percent smaller at three times the CPU. Blocks of 64 heads (about 5 KiB compressed)
// fill bbolt's pages better than small ones, which bbolt cannot split across pages evenly.
const (
	headsPerBlock = 64
	blockFormat   = 1
)

// headBlock is a decoded block: the encoding of each head, nil where there is none.
type headBlock struct {
	z     []byte // the stored value it was decoded from
	slots [headsPerBlock][]byte
	size  int
}

func decodeBlock(bn uint64, v []byte) (*headBlock, error) {
	if len(v) == 0 || v[0] != blockFormat {
		return nil, fmt.Errorf("%w: head block %d: unknown format", ErrCorrupt, bn)
	}
	raw, err := s2.Decode(nil, v[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: head block %d: %v", ErrCorrupt, bn, err)
	}
	b := &headBlock{z: slices.Clone(v), size: len(raw) + len(v) + 64}
	d := dec{b: raw}
	for i := range b.slots {
		n := d.u()
		if d.err != nil || n > uint64(len(d.b)) {
			return nil, fmt.Errorf("%w: head block %d: bad slot %d", ErrCorrupt, bn, i)
		}
		if n > 0 {
			b.slots[i], d.b = d.b[:n:n], d.b[n:]
		}
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: head block %d: %d bytes after the last slot", ErrCorrupt, bn, len(d.b))
	}
	return b, nil
}

// encode returns the block's stored value, in one allocation of its own with the slots,
// which it copies there and counts in size (raw and zs are scratch buffers, returned for the
// next block). The slots of a block being written point into a fold's transaction arena
// (txn.keep, chunks of up to 1 MiB) and into the blocks they replace: a cached block that
// kept them would keep every arena it ever took a slot from, a leak of about one chunk per
// small transaction that the cache's byte count does not see.
func (b *headBlock) encode(raw, zs []byte) (z, raw2, zs2 []byte) {
	n := 0
	for _, sl := range b.slots {
		n += len(sl)
	}
	if m := n + headsPerBlock*binary.MaxVarintLen32; cap(raw) < m {
		raw = make([]byte, 0, m)
	}
	raw = raw[:0]
	for _, sl := range b.slots {
		raw = binary.AppendUvarint(raw, uint64(len(sl)))
		raw = append(raw, sl...)
	}
	if m := s2.MaxEncodedLen(len(raw)); cap(zs) < m {
		zs = make([]byte, m)
	}
	enc := s2.Encode(zs[:cap(zs)], raw)
	buf := make([]byte, 0, 1+len(enc)+n)
	buf = append(append(buf, blockFormat), enc...)
	z = buf[:len(buf):len(buf)]
	for i, sl := range b.slots {
		if len(sl) > 0 {
			start := len(buf)
			buf = append(buf, sl...)
			b.slots[i] = buf[start:len(buf):len(buf)]
		}
	}
	b.size += n
	return z, raw, zs
}

// blockCache holds decoded head blocks by block number, each with the stored value it was
// decoded from: a reader uses an entry only when the file still holds that value, so the
// cache is never stale (blocks change with every fold, in this process or another).
type blockCache struct{ syncCache[uint64, *headBlock] }

func (c *blockCache) init(limit int) { c.g.init(limit, func(b *headBlock) int { return b.size }) }

// valid returns the cached block bn if it was decoded from v.
func (c *blockCache) valid(bn uint64, v []byte) *headBlock {
	if b, ok := c.get(bn); ok && bytes.Equal(b.z, v) {
		return b
	}
	return nil
}

// headStore reads (and, in a fold, writes) object heads by id.
type headStore struct {
	obj   *bolt.Bucket
	cache *blockCache           // nil: no cache
	mine  map[uint64]*headBlock // blocks decoded in this transaction
}

func newHeadStore(tx *bolt.Tx, cache *blockCache) *headStore {
	return &headStore{obj: tx.Bucket(bObj), cache: cache, mine: map[uint64]*headBlock{}}
}

func (s *headStore) block(bn uint64) (*headBlock, error) {
	if b, ok := s.mine[bn]; ok {
		return b, nil
	}
	v := s.obj.Get(be8(bn))
	if v == nil {
		return nil, nil
	}
	var b *headBlock
	if s.cache != nil {
		b = s.cache.valid(bn, v)
	}
	if b == nil {
		var err error
		if b, err = decodeBlock(bn, v); err != nil {
			return nil, err
		}
		if s.cache != nil {
			s.cache.put(bn, b)
		}
	}
	s.mine[bn] = b
	return b, nil
}

// raw returns the encoding of the head of object id, nil if there is none.
func (s *headStore) raw(id uint64) ([]byte, error) {
	b, err := s.block(id / headsPerBlock)
	if b == nil || err != nil {
		return nil, err
	}
	return b.slots[id%headsPerBlock], nil
}

// get returns the head of object id, nil if there is none.
func (s *headStore) get(id uint64) (*objHead, error) {
	raw, err := s.raw(id)
	if raw == nil || err != nil {
		return nil, err
	}
	return decodeHead(raw)
}

// write stores the encodings of heads by id (which must stay valid until the transaction
// ends), rewriting each block they fall in once.
func (s *headStore) write(heads map[uint64][]byte) error {
	bns := make([]uint64, 0, len(heads))
	for id := range heads {
		bns = append(bns, id/headsPerBlock)
	}
	slices.Sort(bns)
	bns = slices.Compact(bns)
	var raw, zs []byte
	for _, bn := range bns {
		old, err := s.block(bn)
		if err != nil {
			return err
		}
		nb := &headBlock{}
		if old != nil {
			nb.slots = old.slots
		}
		for i := range nb.slots {
			if h, ok := heads[bn*headsPerBlock+uint64(i)]; ok {
				nb.slots[i] = h
			}
		}
		var z []byte
		z, raw, zs = nb.encode(raw, zs)
		if err := s.obj.Put(be8(bn), z); err != nil {
			return err
		}
		nb.z = z
		nb.size += 2*len(z) + 64
		s.mine[bn] = nb
		if s.cache != nil {
			s.cache.put(bn, nb)
		}
	}
	return nil
}

// each calls fn for every head, by id.
func (s *headStore) each(fn func(id uint64, raw []byte) error) error {
	c := s.obj.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		bn := readBE8(k)
		b, err := decodeBlock(bn, v)
		if err != nil {
			return err
		}
		for i, sl := range b.slots {
			if sl != nil {
				if err := fn(bn*headsPerBlock+uint64(i), sl); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// headOfKind says whether the object id is of one of kinds, reading only the start of its
// head's encoding (its id, cluster, group, apiVersion and kind; see objHead.encode).
func headOfKind(tx *bolt.Tx, id uint64, kinds []string) (bool, error) {
	raw, err := headsOf(tx).raw(id)
	if err != nil {
		return false, err
	}
	if raw == nil {
		return false, fmt.Errorf("%w: object id %d has no head", ErrCorrupt, id)
	}
	d := dec{b: raw}
	d.u()
	d.bs()
	d.bs()
	d.bs()
	kind := d.bs()
	if d.err != nil {
		return false, fmt.Errorf("%w: head of object %d: %v", ErrCorrupt, id, d.err)
	}
	for _, k := range kinds {
		if string(kind) == k {
			return true, nil
		}
	}
	return false, nil
}
