package projector

import (
	"encoding/binary"
	"math/bits"
	"sync"
	"time"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// This file decodes an object's JSON into an Object without reflection: a scanner over the
// bytes that fills the fields of Object and its nested types, and checks the syntax of (but
// does not otherwise look at) every other value. It replaces go-json-experiment's reflective
// Unmarshal, which was a fifth of the projector's CPU. The scanner's primitives are written
// here; the methods that read each type of Object member by member (readObject, readSpec ...)
// are generated from Object's declaration into object_decode_gen.go (go generate; see
// projector/internal/decodegen).
//
// The decoder must agree with the reflective decode (decodeObjectReflect, with
// decodeOpts) on every input: the same fields set to the same values, and an error exactly
// when the reflective decode reports one. It does so by construction for the inputs it does
// not handle itself: malformed JSON, a value of a type its field cannot hold, an integer that
// has a fraction or exponent or overflows its field, a time that is not RFC 3339, a label or
// annotation the views read whose value is an object or array. For those it stops and
// DecodeObject decodes the object again by reflection, so errors (and their messages) are the
// reflective decode's own. For the inputs it handles, it follows the rules of the reflective
// decode with these options:
//
//   - names match fields exactly (case-sensitively), after unescaping; other members are skipped;
//   - a repeated name is decoded again into the same field (last wins; a struct or a pointer's
//     target is merged into, a slice is replaced);
//   - null sets a string, number or bool to zero, a pointer or slice to nil, a struct to its
//     zero value, and a jsontext.Value to the bytes null; an empty array is an empty slice,
//     not nil;
//   - strings are unescaped, invalid UTF-8 (and lone surrogates) replaced by U+FFFD;
//   - a jsontext.Value holds a copy of the value's bytes, as written;
//   - times are time.Time.UnmarshalText's, with go-json-experiment's stricter RFC 3339 checks;
//   - Labels and Annotations are read as by their UnmarshalJSONFrom methods (readSomeStrings):
//     null leaves them as they are, a non-string value of a kept key is ignored;
//   - values nest at most 10000 deep, as jsontext allows.
//
// TestDecodeObjectMatchesReflect checks the agreement on every recording in the repository
// and on a generated history, TestDecodeObjectEveryField on an object that sets every field
// (so a field added to Object but not here fails it), TestDecodeObjectCases and
// TestDecodeObjectRandom on inputs that probe the rules above, and FuzzDecodeObject on
// arbitrary input.

// DecodeObject decodes an object's JSON into o (which it resets first). Fields of types the
// views do not know are skipped without allocation. Its results are those of
// decodeObjectReflect, faster.
func DecodeObject(data []byte, o *Object) error {
	if decodeObjectFast(data, o) {
		return nil
	}
	return decodeObjectReflect(data, o)
}

// decodeObjectReflect is DecodeObject by reflection: the definition that decodeObjectFast
// must agree with, and what DecodeObject falls back to for the inputs decodeObjectFast
// leaves to it.
func decodeObjectReflect(data []byte, o *Object) error {
	*o = Object{}
	return json.Unmarshal(data, o, decodeOpts)
}

// decodeObjectFast decodes data into o (which it resets first) and reports whether it could.
// If it could not (see above), o holds a partial result and the reflective decode must be
// used instead.
func decodeObjectFast(data []byte, o *Object) bool {
	*o = Object{}
	d := decoders.Get().(*objectDecoder)
	d.b, d.i, d.depth, d.failed = data, 0, 0, false
	d.readObject(o)
	if d.peek() != 0 || d.i != len(d.b) {
		d.fail() // not the end of the input: another value, or a NUL byte
	}
	ok := !d.failed
	d.b = nil
	if cap(d.scratch) > 64<<10 {
		d.scratch = nil
	}
	decoders.Put(d)
	return ok
}

var decoders = sync.Pool{New: func() any { return new(objectDecoder) }}

// maxDepth is how deep values may nest (the top-level object is at depth 1), as in jsontext.
const maxDepth = 10000

// objectDecoder reads one object's JSON. Its methods read one value each at the current
// position (after whitespace) into their destination. On input it does not handle it sets
// failed and moves to the end of the input, so that every later read fails too and the
// decode unwinds without further checks. Decoders are reused (decoders), for the buffers
// they keep from one object to the next.
type objectDecoder struct {
	b       []byte
	i       int // the position of the next byte to read
	depth   int // how many objects and arrays contain the position
	failed  bool
	scratch []byte      // the unescaped form of the last name or string that had escapes
	strings stringCache // recent strings, to share rather than allocate them again
	times   []time.Time // where the next times are allocated, a few at a time

	// The elements of an array being read, of each named type that arrays of Object have
	// (generated, with the methods that read each type: object_decode_gen.go).
	scratchOf objectScratch
}

func (d *objectDecoder) fail() {
	d.failed = true
	d.i = len(d.b)
}

// peek skips whitespace and returns the next byte, or 0 at the end of the input.
func (d *objectDecoder) peek() byte {
	if d.i < len(d.b) && d.b[d.i] > ' ' {
		return d.b[d.i]
	}
	return d.peekSpace()
}

func (d *objectDecoder) peekSpace() byte {
	for d.i < len(d.b) {
		switch c := d.b[d.i]; c {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return c
		}
	}
	return 0
}

// literal reads the literal s (null, true or false).
func (d *objectDecoder) literal(s string) {
	if len(d.b)-d.i >= len(s) && string(d.b[d.i:d.i+len(s)]) == s {
		d.i += len(s)
		return
	}
	d.fail()
}

// null reads a null if it is the next value, and reports whether it was.
func (d *objectDecoder) null() bool {
	if d.peek() != 'n' {
		return false
	}
	d.literal("null")
	return true
}

// members reads an object, calling member with each name (unescaped, valid until the next
// read); member must read the value.
func (d *objectDecoder) members(member func(name []byte)) {
	if d.peek() != '{' || d.depth == maxDepth {
		d.fail()
		return
	}
	d.i++
	d.depth++
	if d.peek() == '}' {
		d.i++
		d.depth--
		return
	}
	for {
		name := d.name()
		if d.peek() != ':' {
			d.fail()
			return
		}
		d.i++
		member(name)
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			d.depth--
			return
		default:
			d.fail()
			return
		}
	}
}

// elements reads an array, calling elem for each element; elem must read it.
func (d *objectDecoder) elements(elem func()) {
	if d.peek() != '[' || d.depth == maxDepth {
		d.fail()
		return
	}
	d.i++
	d.depth++
	if d.peek() == ']' {
		d.i++
		d.depth--
		return
	}
	for {
		elem()
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			d.depth--
			return
		default:
			d.fail()
			return
		}
	}
}

// skip reads a value of any kind, checking its syntax. It is a loop over the bytes rather
// than recursive, for speed, as long as values nest less than 64 deep within it.
func (d *objectDecoder) skip() {
	b, i := d.b, d.i
	var objects uint64 // bit k: the (k+1)th innermost open container is an object
	n := 0             // the number of open containers
	for {
		// At a value.
		i = space(b, i)
		if i >= len(b) {
			d.fail()
			return
		}
		switch c := b[i]; {
		case c == '"':
			if i, _ = scanString(b, i); i < 0 {
				d.fail()
				return
			}
		case c == '{' || c == '[':
			if n == 64 {
				// Deeper: recurse, with members and elements.
				d.i, d.depth = i, d.depth+n
				d.skipContainer()
				if d.failed {
					return
				}
				i, d.depth = d.i, d.depth-n
				break
			}
			if d.depth+n == maxDepth {
				d.fail()
				return
			}
			i = space(b, i+1)
			if i < len(b) && b[i] == c+2 { // {} or []
				i++
				break
			}
			objects <<= 1
			n++
			if c == '[' {
				continue
			}
			objects |= 1
			if i = d.skipName(b, i); i < 0 {
				return
			}
			continue
		case c == 'n' || c == 't' || c == 'f':
			lit := "null"
			if c == 't' {
				lit = "true"
			} else if c == 'f' {
				lit = "false"
			}
			if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
				d.fail()
				return
			}
			i += len(lit)
		case c == '-' || '0' <= c && c <= '9':
			d.i = i
			d.number()
			if d.failed {
				return
			}
			i = d.i
		default:
			d.fail()
			return
		}

		// After a value: close containers until one has a next member or element.
		for {
			if n == 0 {
				d.i = i
				return
			}
			i = space(b, i)
			if i >= len(b) {
				d.fail()
				return
			}
			inObject := objects&1 != 0
			if c := b[i]; c == ',' {
				if i++; inObject {
					if i = d.skipName(b, i); i < 0 {
						return
					}
				}
				break
			} else if inObject && c == '}' || !inObject && c == ']' {
				i++
				objects >>= 1
				n--
				continue
			}
			d.fail()
			return
		}
	}
}

// skipName reads a member's name and the colon after it, from b[i], and returns the
// position after them, or -1 if they are not there (having failed).
func (d *objectDecoder) skipName(b []byte, i int) int {
	i = space(b, i)
	if i >= len(b) || b[i] != '"' {
		d.fail()
		return -1
	}
	if i, _ = scanString(b, i); i < 0 {
		d.fail()
		return -1
	}
	i = space(b, i)
	if i >= len(b) || b[i] != ':' {
		d.fail()
		return -1
	}
	return i + 1
}

// skipContainer reads an object or array, recursively.
func (d *objectDecoder) skipContainer() {
	if d.peek() == '{' {
		d.members(func([]byte) { d.skip() })
	} else {
		d.elements(d.skip)
	}
}

// space returns the position of the first byte from b[i] that is not whitespace.
func space(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// plainByte says which bytes stand for themselves in a JSON string: printable ASCII other
// than " and \.
var plainByte = func() (t [256]bool) {
	for c := ' '; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// rawString reads a string and returns it as written, quotes included, and whether its
// contents stand for themselves (no escapes, ASCII only).
func (d *objectDecoder) rawString() (quoted []byte, plain bool) {
	if d.peek() != '"' {
		d.fail()
		return nil, false
	}
	start := d.i
	end, plain := scanString(d.b, start)
	if end < 0 {
		d.fail()
		return nil, false
	}
	d.i = end
	return d.b[start:end], plain
}

// scanString returns the position after the string that starts at b[i] (a quote), or -1 if
// it is not a valid one, and whether its contents stand for themselves (no escapes, ASCII
// only). Invalid UTF-8 is allowed.
func scanString(b []byte, i int) (end int, plain bool) {
	i++
	plain = true
	for {
		// Eight bytes at a time, then one by one, up to a byte that is not plain.
		for i+8 <= len(b) {
			const ones, highs = 0x0101010101010101, 0x8080808080808080
			x := binary.LittleEndian.Uint64(b[i:])
			q, bs := x^('"'*ones), x^('\\'*ones)
			// The lowest byte flagged is the first that is a control character, ", \ or
			// not ASCII (a flag can be wrong only above a right one).
			m := ((x-' '*ones)&^x | (q-ones)&^q | (bs-ones)&^bs | x) & highs
			if m != 0 {
				i += bits.TrailingZeros64(m) / 8
				goto special
			}
			i += 8
		}
		for i < len(b) && plainByte[b[i]] {
			i++
		}
		if i >= len(b) {
			return -1, false
		}
	special:
		switch c := b[i]; {
		case c == '"':
			return i + 1, plain
		case c == '\\':
			n := escapeLen(b[i:])
			if n == 0 {
				return -1, false
			}
			plain = false
			i += n
		case c >= 0x80:
			plain = false
			i++
		default: // a control character
			return -1, false
		}
	}
}

// escapeLen returns the length of the escape sequence at the start of b, or 0 if it is not
// one. Surrogates need not pair (they decode to U+FFFD).
func escapeLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		if len(b) < 6 {
			return 0
		}
		for _, c := range b[2:6] {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return 0
			}
		}
		return 6
	}
	return 0
}

// stringBytes reads a string and returns its contents, unescaped (valid until the next read).
func (d *objectDecoder) stringBytes() []byte {
	q, plain := d.rawString()
	if d.failed {
		return nil
	}
	if plain {
		return q[1 : len(q)-1]
	}
	// The string is valid: the only error left is invalid UTF-8, which is replaced.
	d.scratch, _ = jsontext.AppendUnquote(d.scratch[:0], q)
	return d.scratch
}

// name reads an object member's name.
func (d *objectDecoder) name() []byte {
	return d.stringBytes()
}

// number reads a number, checking its syntax.
func (d *objectDecoder) number() {
	b, i := d.b, d.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i+1)
	default:
		d.fail()
		return
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.fail()
			return
		}
		i = digits(b, i)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.fail()
			return
		}
		i = digits(b, i)
	}
	d.i = i
}

// digits returns the position after the decimal digits of b from i.
func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// integer reads an integer of the given size in bits: null is 0; a fraction, an exponent or
// a value out of range is left to the reflective decode (which reports it).
func (d *objectDecoder) integer(size uint) int64 {
	if d.null() {
		return 0
	}
	start := d.i
	d.number()
	if d.failed {
		return 0
	}
	num := d.b[start:d.i]
	neg := num[0] == '-'
	if neg {
		num = num[1:]
	}
	if len(num) > 19 { // at least 1e19, out of range of int64
		d.fail()
		return 0
	}
	var n uint64
	for _, c := range num {
		if c < '0' || c > '9' {
			d.fail()
			return 0
		}
		n = 10*n + uint64(c-'0')
	}
	limit := uint64(1) << (size - 1)
	if neg && n > limit || !neg && n >= limit {
		d.fail()
		return 0
	}
	if neg {
		return int64(-n)
	}
	return int64(n)
}

func (d *objectDecoder) int32(p *int32) { *p = int32(d.integer(32)) }
func (d *objectDecoder) int64(p *int64) { *p = d.integer(64) }

func (d *objectDecoder) bool(p *bool) {
	switch d.peek() {
	case 't':
		d.literal("true")
		*p = true
	case 'f':
		d.literal("false")
		*p = false
	case 'n':
		d.literal("null")
		*p = false
	default:
		d.fail()
	}
}

func (d *objectDecoder) string(p *string) {
	switch d.peek() {
	case '"':
		*p = d.strings.get(d.stringBytes())
	case 'n':
		d.literal("null")
		*p = ""
	default:
		d.fail()
	}
}

// value reads any value into v, as written.
func (d *objectDecoder) value(v *jsontext.Value) {
	d.peek()
	start := d.i
	d.skip()
	if !d.failed {
		*v = append((*v)[:0], d.b[start:d.i]...)
	}
}

// time reads an RFC 3339 time into *p, allocating it, or sets *p to nil for null.
func (d *objectDecoder) time(p **time.Time) {
	if d.null() {
		*p = nil
		return
	}
	if d.peek() != '"' {
		d.fail()
		return
	}
	s := d.stringBytes()
	if d.failed {
		return
	}
	var t time.Time
	if t.UnmarshalText(s) != nil || !strictRFC3339(s) {
		d.fail()
		return
	}
	if *p == nil {
		if len(d.times) == cap(d.times) {
			d.times = make([]time.Time, 0, 8)
		}
		d.times = d.times[:len(d.times)+1]
		*p = &d.times[len(d.times)-1]
	}
	**p = t
}

// strictRFC3339 reports whether a time that time.Time.UnmarshalText accepted passes the
// further checks of go-json-experiment (its timeArshaler.unmarshal), which rejects what
// the time package is too lenient about (https://go.dev/issue/57912).
func strictRFC3339(b []byte) bool {
	dec2 := func(b []byte) byte { return 10*(b[0]-'0') + (b[1] - '0') }
	switch {
	case b[len("2006-01-02T")+1] == ':': // hour must be two digits
		return false
	case b[len("2006-01-02T15:04:05")] == ',': // sub-second separator must be a period
		return false
	case b[len(b)-1] != 'Z':
		switch {
		case dec2(b[len(b)-len("07:00"):]) >= 24: // timezone hour must be in range
			return false
		case dec2(b[len(b)-len("00"):]) >= 60: // timezone minute must be in range
			return false
		}
	}
	return true
}

// ptr returns the value *p points to for the next value to be read into, allocating it if *p
// is nil; for null it sets *p to nil and returns nil.
func ptr[T any](d *objectDecoder, p **T) *T {
	if d.null() {
		*p = nil
		return nil
	}
	if *p == nil {
		*p = new(T)
	}
	return *p
}

// structure reads an object into the struct *p by member (merging into it), or sets *p to its
// zero value for null.
func structure[T any](d *objectDecoder, p *T, member func(name []byte)) {
	if d.null() {
		var zero T
		*p = zero
		return
	}
	d.members(member)
}

// slice reads an array into *s: nil for null, an empty slice (not nil) for []. elem reads
// each element into the zero element it is given. The elements are gathered in *scratch and
// then copied to a slice of their number: one allocation per array.
func slice[T any](d *objectDecoder, s *[]T, scratch *[]T, elem func(*T)) {
	if d.null() {
		*s = nil
		return
	}
	buf := (*scratch)[:0]
	d.elements(func() {
		var zero T
		buf = append(buf, zero)
		elem(&buf[len(buf)-1])
	})
	*s = make([]T, len(buf))
	copy(*s, buf)
	clear(buf)
	if cap(buf) <= 1024 {
		*scratch = buf[:0]
	}
}

// sliceOf is slice for the element types of unnamed (and rarely used) types: elem reads
// element i into (*s)[i]. It allocates as append does.
func sliceOf[T any](d *objectDecoder, s *[]T, elem func(i int)) {
	if d.null() {
		*s = nil
		return
	}
	*s = []T{}
	d.elements(func() {
		var zero T
		*s = append(*s, zero)
		elem(len(*s) - 1)
	})
}

// someStrings reads labels or annotations as readSomeStrings does: an object of which it
// keeps the string values of the names for which dst returns a destination; null changes
// nothing.
func (d *objectDecoder) someStrings(dst func(name []byte) *string) {
	if d.null() {
		return
	}
	d.members(func(name []byte) {
		p := dst(name)
		if p == nil {
			d.skip()
			return
		}
		switch d.peek() {
		case '"':
			*p = d.strings.get(d.stringBytes())
		case '{', '[':
			// readSomeStrings reads only the first token of the value, and the token stream
			// goes astray: left to the reflective decode.
			d.fail()
		default:
			d.skip() // a number, bool or null: ignored
		}
	})
}

// stringCache holds recent strings by a hash of their bytes, so that the values objects
// repeat (kinds, namespaces, images, condition types, times) are allocated once.
type stringCache [1024]string

// get returns b as a string, the cached one if it has the same bytes.
func (c *stringCache) get(b []byte) string {
	if len(b) < 2 || len(b) > 256 {
		return string(b)
	}
	var h uint64
	if len(b) >= 8 {
		h = binary.LittleEndian.Uint64(b) ^ binary.LittleEndian.Uint64(b[len(b)-8:])*0xff51afd7ed558ccd
	} else {
		for _, x := range b {
			h = h<<8 | uint64(x)
		}
	}
	h = (h ^ uint64(len(b))) * 0x9e3779b97f4a7c15
	e := &c[h>>54]
	if *e != string(b) {
		*e = string(b)
	}
	return *e
}
