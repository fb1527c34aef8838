package projector

import (
	_ "embed"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"

	"github.com/klauspost/compress/s2"
)

// A delta rebuilds one version of an object from the previous one: a sequence of operations,
// each either "copy N bytes from offset O of the previous version" or "insert these N bytes".
// It is computed on the bytes of the JSON, without decoding it (JSON decoding is the
// projector's bottleneck): successive versions of an object are the same document with a few
// values changed (resourceVersion, a status condition, a timestamp), so a delta is a few
// copies of long runs and a few short inserts.
//
// Encoding: uvarint(len(target)), then operations. An operation is uvarint(n<<1 | 1) followed
// by uvarint(offset) for a copy, or uvarint(n<<1) followed by n bytes for an insert.

const (
	deltaWindow   = 8  // bytes hashed to find a match
	deltaMinMatch = 12 // shorter matches are cheaper as inserts
	deltaStride   = 4  // src is indexed every deltaStride bytes
	deltaShift    = 4  // shifts of alignment tried before the index
	deltaMaxTable = 1 << 17
)

// deltaEncoder computes deltas, reusing its hash table. Not safe for concurrent use.
type deltaEncoder struct {
	table   []int32
	shift   uint
	indexed bool
}

func hash8(b []byte, shift uint) uint32 {
	return uint32((binary.LittleEndian.Uint64(b) * 0x9E3779B185EBCA87) >> shift)
}

// encode appends to out the delta that turns src into dst.
//
// It walks both documents in step: a run of equal bytes becomes a copy; after the first byte
// that differs, it looks for the next place where they agree again, first at the same
// alignment (a value changed for another of the same length), then anywhere in src through a
// hash index of src built on first need (a value of another length, bytes inserted, removed
// or moved).
func (e *deltaEncoder) encode(out, src, dst []byte) []byte {
	out = binary.AppendUvarint(out, uint64(len(dst)))
	e.indexed = false
	s, d, lit := 0, 0, 0
	for d < len(dst) {
		n := commonPrefix(src[s:], dst[d:])
		if n >= deltaMinMatch || n > 0 && d+n == len(dst) {
			// Extend backward into the pending insert.
			for d > lit && s > 0 && src[s-1] == dst[d-1] {
				s--
				d--
				n++
			}
			if d > lit {
				out = appendInsert(out, dst[lit:d])
			}
			out = binary.AppendUvarint(out, uint64(n)<<1|1)
			out = binary.AppendUvarint(out, uint64(s))
			s, d = s+n, d+n
			lit = d
			continue
		}
		ns, nd, ok := e.resync(src, dst, s+n+1, d+n+1)
		if !ok {
			break
		}
		s, d = ns, nd
	}
	if lit < len(dst) {
		out = appendInsert(out, dst[lit:])
	}
	return out
}

// commonPrefix is the length of the common prefix of a and b.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for i+8 <= n && binary.LittleEndian.Uint64(a[i:]) == binary.LittleEndian.Uint64(b[i:]) {
		i += 8
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

// resync finds the first position at or after d where dst matches src for at least
// deltaMinMatch bytes: at the alignment of s if it can, else wherever the index says.
func (e *deltaEncoder) resync(src, dst []byte, s, d int) (int, int, bool) {
	if len(src) < deltaWindow {
		return 0, 0, false
	}
	for i := d; i+deltaWindow <= len(dst); i++ {
		w := binary.LittleEndian.Uint64(dst[i:])
		// At the alignment of s, or near it for the first bytes: a value changed for one of
		// about the same length.
		lo, hi := 0, 0
		if i-d < 2*deltaShift {
			lo, hi = -deltaShift, deltaShift
		}
		for k := lo; k <= hi; k++ {
			exp := s + i - d + k
			if exp >= 0 && exp+deltaWindow <= len(src) && binary.LittleEndian.Uint64(src[exp:]) == w && commonPrefix(src[exp:], dst[i:]) >= deltaMinMatch {
				return exp, i, true
			}
		}
		if i-d < 2*deltaShift {
			continue
		}
		if !e.indexed {
			e.index(src)
		}
		c := int(e.table[uint32((w*0x9E3779B185EBCA87)>>e.shift)]) - 1
		if c < 0 || binary.LittleEndian.Uint64(src[c:]) != w {
			continue
		}
		if commonPrefix(src[c:], dst[i:]) >= deltaMinMatch {
			return c, i, true
		}
	}
	return 0, 0, false
}

// index builds the hash table of src's 8-byte windows, every deltaStride bytes (a common run
// of deltaMinMatch bytes always holds one of them; the match is extended backward).
func (e *deltaEncoder) index(src []byte) {
	size := 1 << bits.Len(uint(len(src)/deltaStride))
	stride := deltaStride
	for size > deltaMaxTable {
		size >>= 1
		stride <<= 1
	}
	size = max(size, 256)
	if cap(e.table) < size {
		e.table = make([]int32, size)
	}
	e.table = e.table[:size]
	clear(e.table)
	e.shift = uint(64 - bits.Len(uint(size-1)))
	for i := 0; i+deltaWindow <= len(src); i += stride {
		e.table[hash8(src[i:], e.shift)] = int32(i + 1)
	}
	e.indexed = true
}

func appendInsert(out, b []byte) []byte {
	out = binary.AppendUvarint(out, uint64(len(b))<<1)
	return append(out, b...)
}

// applyDelta returns the version that delta builds from src, appended to out.
func applyDelta(out, src, delta []byte) ([]byte, error) {
	n, k := binary.Uvarint(delta)
	if k <= 0 || n > 1<<31 {
		return nil, fmt.Errorf("%w: bad delta header", ErrCorrupt)
	}
	delta = delta[k:]
	start := len(out)
	out = append(out, make([]byte, 0, n)...)
	for len(delta) > 0 {
		h, k := binary.Uvarint(delta)
		if k <= 0 {
			return nil, fmt.Errorf("%w: bad delta operation", ErrCorrupt)
		}
		delta = delta[k:]
		l := h >> 1
		if h&1 == 0 {
			if uint64(len(delta)) < l {
				return nil, fmt.Errorf("%w: delta insert past its end", ErrCorrupt)
			}
			out = append(out, delta[:l]...)
			delta = delta[l:]
			continue
		}
		off, k := binary.Uvarint(delta)
		if k <= 0 || off+l > uint64(len(src)) {
			return nil, fmt.Errorf("%w: delta copy outside the base version", ErrCorrupt)
		}
		delta = delta[k:]
		out = append(out, src[off:off+l]...)
	}
	if uint64(len(out)-start) != n {
		return nil, fmt.Errorf("%w: delta built %d bytes, want %d", ErrCorrupt, len(out)-start, n)
	}
	return out, nil
}

// Compression of snapshot chunks: S2 (klauspost/compress) with a built-in dictionary.
// (Version records are compressed in segments, see verStore.)
//
// The dictionary (zdict.json: one object of each common kind, as recorded on a real control
// plane) holds the keys and values that every Kubernetes object repeats. It is part of the
// views' format: changing it needs a new schemaVersion.
//
//go:embed zdict.json
var zdict []byte

var s2dict = s2.MakeDictManual(zdict, 0)

func compress(out, b []byte) []byte {
	n := s2.MaxEncodedLen(len(b))
	start := len(out)
	out = slices.Grow(out, n)
	enc := s2dict.Encode(out[start:start+n], b)
	return out[:start+len(enc)]
}

func decompress(out, b []byte) ([]byte, error) {
	n, err := s2.DecodedLen(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	start := len(out)
	out = slices.Grow(out, n)
	dec, err := s2dict.Decode(out[start:start+n], b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return out[:start+len(dec)], nil
}
