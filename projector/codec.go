package projector

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"time"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/klauspost/compress/s2"
)

// This file holds the encodings of records: a compact binary one for the records written for
// every event (object heads, versions, index entries) and deterministic JSON for the records of
// the views that are written on transitions only (rollouts, revisions, steps, pods, endpoints).

// enc appends a record field by field.
type enc struct{ b []byte }

func (e *enc) u(v uint64)  { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) i(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) byte(v byte) { e.b = append(e.b, v) }
func (e *enc) s(v string)  { e.u(uint64(len(v))); e.b = append(e.b, v...) }
func (e *enc) bs(v []byte) { e.u(uint64(len(v))); e.b = append(e.b, v...) }
func (e *enc) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// t encodes a time as nanoseconds since the epoch; the zero time encodes as 0.
func (e *enc) t(v time.Time) {
	if v.IsZero() {
		e.i(0)
		return
	}
	e.i(v.UnixNano())
}

// rv writes a resourceVersion: a decimal one (what etcd gives) as its number.
func (e *enc) rv(s string) {
	if n, ok := decimalRV(s); ok {
		e.u(n<<1 | 1)
		return
	}
	e.u(uint64(len(s)) << 1)
	e.b = append(e.b, s...)
}

// actor writes a field manager or user: a common one as its index in knownActors.
func (e *enc) actor(s string) {
	if i := slices.Index(knownActors, s); i >= 0 {
		e.u(uint64(i) + 1)
		return
	}
	e.u(0)
	e.s(s)
}

// uid writes an object uid: the 16 bytes of a canonical UUID (what the API server assigns),
// any other string as it is.
func (e *enc) uid(s string) {
	if b, ok := uuidBytes(s); ok {
		e.u(0)
		e.b = append(e.b, b[:]...)
		return
	}
	e.u(uint64(len(s)) + 1)
	e.b = append(e.b, s...)
}

// td writes a time relative to base (the zero time as 0).
func (e *enc) td(v, base time.Time) {
	if v.IsZero() {
		e.u(0)
		return
	}
	d := v.UnixNano() - base.UnixNano()
	e.u(uint64(d<<1^d>>63) + 1)
}

// sd writes a sequence, short when it is at or after base (0 as 0).
func (e *enc) sd(v, base uint64) {
	switch {
	case v == 0:
		e.u(0)
	case v >= base:
		e.u((v-base)<<1 | 1)
	default:
		e.u(v << 1)
	}
}

// uuidBytes parses a canonical lowercase UUID (8-4-4-4-12 hex digits).
func uuidBytes(s string) (b [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return b, false
	}
	j := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i--
			continue
		}
		hi, lo := unhex(s[i]), unhex(s[i+1])
		if hi < 0 || lo < 0 {
			return b, false
		}
		b[j] = byte(hi<<4 | lo)
		j++
	}
	return b, j == 16
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	}
	return -1
}

func uuidString(b []byte) string {
	const hexd = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hexd[x>>4], hexd[x&15])
	}
	return string(out)
}

// dec reads what enc wrote. The first error sticks; reads after it return zero values.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated record (%s)", ErrCorrupt, what)
	}
}

func (d *dec) u() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) i() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("byte")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) bool() bool { return d.byte() != 0 }

// bs returns the next byte string, aliasing the record.
func (d *dec) bs() []byte {
	n := d.u()
	if d.err != nil {
		return nil
	}
	if uint64(len(d.b)) < n {
		d.fail("bytes")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) s() string { return string(d.bs()) }

func (d *dec) rv() string {
	x := d.u()
	if x&1 == 1 {
		return strconv.FormatUint(x>>1, 10)
	}
	n := x >> 1
	if n > uint64(len(d.b)) {
		d.fail("resourceVersion")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *dec) actor() string {
	a := d.u()
	switch {
	case a == 0:
		return d.s()
	case a <= uint64(len(knownActors)):
		return knownActors[a-1]
	}
	d.fail("actor")
	return ""
}

func (d *dec) uid() string {
	n := d.u()
	switch {
	case d.err != nil:
		return ""
	case n == 0:
		if len(d.b) < 16 {
			d.fail("uid")
			return ""
		}
		s := uuidString(d.b[:16])
		d.b = d.b[16:]
		return s
	case n-1 > uint64(len(d.b)):
		d.fail("uid")
		return ""
	}
	s := string(d.b[:n-1])
	d.b = d.b[n-1:]
	return s
}

func (d *dec) td(base time.Time) time.Time {
	v := d.u()
	if v == 0 {
		return time.Time{}
	}
	v--
	return time.Unix(0, base.UnixNano()+(int64(v>>1)^-int64(v&1))).UTC()
}

func (d *dec) sd(base uint64) uint64 {
	v := d.u()
	if v&1 == 1 {
		return base + v>>1
	}
	return v >> 1
}

func (d *dec) t() time.Time {
	v := d.i()
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}

// be8 is v as 8 big-endian bytes: keys that sort numerically.
func be8(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func appendBE8(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func readBE8(b []byte) uint64 {
	if len(b) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// timeKey is t as a sortable 8-byte value (times before 1970 sort as 1970).
func timeKey(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	n := t.UnixNano()
	if n < 0 {
		return 0
	}
	return uint64(n)
}

func keyTime(v uint64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(v)).UTC()
}

// key joins parts with NUL bytes: names, namespaces and kinds contain none, so the parts of a
// key are never ambiguous and a key is a prefix of the keys that extend it.
func key(parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n+16)
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return b
}

// prefix is key(parts...) followed by a separator: the prefix of every key extending it.
func prefix(parts ...string) []byte { return append(key(parts...), 0) }

// filterPrefix is the key prefix a filter selects: the prefix of its leading non-empty parts
// (cluster, namespace, ...), or nil (everything) when the first is empty.
func filterPrefix(parts ...string) []byte {
	n := 0
	for n < len(parts) && parts[n] != "" {
		n++
	}
	if n == 0 {
		return nil
	}
	return prefix(parts[:n]...)
}

// splitKey splits a key made by key into n string parts; a longer remainder (e.g. a binary
// suffix) is left in the last part.
func splitKey(k []byte, n int) []string {
	out := make([]string, 0, n)
	for len(out) < n-1 {
		i := indexByte(k, 0)
		if i < 0 {
			break
		}
		out = append(out, string(k[:i]))
		k = k[i+1:]
	}
	return append(out, string(k))
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// Records of the views written on transitions are JSON, encoded deterministically.
var (
	marshalOpts   = json.JoinOptions(json.Deterministic(true), json.OmitZeroStructFields(true))
	unmarshalOpts = json.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
)

// A record is stored as its JSON, or, when that is shorter, as a zero byte followed by the
// JSON with its uids packed (packUIDs) and compressed with S2 and a dictionary of typical
// records (recdict.json: one or two of each kind, from folds of recordings made on a real
// control plane), which takes out the field names and the words that every record repeats:
// about 40% of a record's size. JSON never starts with a zero byte. The dictionary is part of
// the views' format.
//
//go:embed recdict.json
var recdict []byte

var recS2dict = s2.MakeDictManual(recdict, 0)

func marshalRecord(v any) ([]byte, error) {
	b, err := json.Marshal(v, marshalOpts)
	if err != nil || len(b) < 64 {
		return b, err
	}
	p := packUIDs(make([]byte, 0, len(b)), b)
	z := make([]byte, 1+s2.MaxEncodedLen(len(p)))
	z = z[:1+len(recS2dict.Encode(z[1:], p))]
	if len(z) >= len(b) {
		return b, nil
	}
	return z, nil
}

// recordJSON returns the JSON of a stored record.
func recordJSON(b []byte) ([]byte, error) {
	if len(b) == 0 || b[0] != 0 {
		return b, nil
	}
	n, err := s2.DecodedLen(b[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	p, err := recS2dict.Decode(make([]byte, n), b[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return unpackUIDs(make([]byte, 0, len(p)+len(p)/2), p)
}

// uidMark starts a packed uid: JSON holds no raw control bytes (encoders escape them).
const uidMark = 0x01

// packUIDs appends to dst the JSON src with each string that is a canonical UUID ("uid"
// values, owner references) replaced by uidMark and the UUID's 16 bytes: 17 bytes instead of
// 38, and hex digits compress poorly.
func packUIDs(dst, src []byte) []byte {
	for i := 0; i < len(src); {
		if src[i] == '"' && i+37 < len(src) && src[i+37] == '"' {
			if u, ok := uuidBytes(string(src[i+1 : i+37])); ok {
				dst = append(append(dst, uidMark), u[:]...)
				i += 38
				continue
			}
		}
		dst = append(dst, src[i])
		i++
	}
	return dst
}

// unpackUIDs reverses packUIDs.
func unpackUIDs(dst, src []byte) ([]byte, error) {
	for i := 0; i < len(src); {
		j := bytes.IndexByte(src[i:], uidMark)
		if j < 0 {
			return append(dst, src[i:]...), nil
		}
		dst = append(dst, src[i:i+j]...)
		i += j
		if i+17 > len(src) {
			return nil, fmt.Errorf("%w: truncated uid in a record", ErrCorrupt)
		}
		dst = append(append(append(dst, '"'), uuidString(src[i+1:i+17])...), '"')
		i += 17
	}
	return dst, nil
}

func unmarshalRecord(b []byte, v any) error {
	b, err := recordJSON(b)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v, unmarshalOpts); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return nil
}
