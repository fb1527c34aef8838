package collector

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
)

// The collector reads each object's JSON once, with a streaming tokenizer, and in that one pass
// learns its identity, the field manager of its latest change, where the managedFields field
// sets are (so that they can be cut out by copying the bytes around them, without re-encoding),
// and, for kinds with heartbeats, a hash of everything but the heartbeat fields.

// heartbeat names the fields of a kind that only say that its owner is alive.
type heartbeat uint8

const (
	hbNone  heartbeat = iota
	hbNode            // Node status.conditions[].lastHeartbeatTime
	hbLease           // Lease spec.renewTime
)

// heartbeatOf returns the heartbeat fields of a group/kind.
func heartbeatOf(group, kind string) heartbeat {
	switch {
	case group == "" && kind == "Node":
		return hbNode
	case group == "coordination.k8s.io" && kind == "Lease":
		return hbLease
	}
	return hbNone
}

// span is a byte range [start, end) of an input.
type span struct{ start, end int }

// scanned is what one pass over an object yields. Byte slices point into the scanned input and
// are valid as long as it is.
type scanned struct {
	start, end int    // the object's span in the input
	members    int    // top-level members
	apiVersion []byte // unquoted; nil when absent (List items)
	kind       []byte
	namespace  []byte
	name       []byte
	uid        []byte
	rv         []byte
	actor      []byte // manager of the managedFields entry with the latest time (the last of equals)
	hash       uint64 // heartbeat-insensitive hash; 0 unless the kind has heartbeats
	cuts       []span // managedFields[].fieldsV1 and fieldsType members, with their commas
}

func (o *scanned) reset() {
	cuts := o.cuts[:0]
	*o = scanned{cuts: cuts}
}

// hashSeed is fixed for the life of the process: hashes are only compared within it.
var hashSeed = maphash.MakeSeed()

// errNotObject is returned when a value expected to be a JSON object is not one.
var errNotObject = errors.New("not a JSON object")

// scanner walks JSON values held in memory. It is not safe for concurrent use.
type scanner struct {
	dec  *jsontext.Decoder
	data []byte
	h    maphash.Hash
	tmp  []byte
}

func newScanner() *scanner {
	s := &scanner{dec: jsontext.NewDecoder(bytes.NewReader(nil), decodeOpts...)}
	s.h.SetSeed(hashSeed)
	return s
}

// decodeOpts skip the checks the API server's output does not need: it never repeats a name,
// and a stray invalid byte is better recorded than lost.
var decodeOpts = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

func (s *scanner) reset(data []byte) {
	s.data = data
	// A *bytes.Buffer is read in place, without copying.
	s.dec.Reset(bytes.NewBuffer(data), decodeOpts...)
}

// object scans data, which must hold exactly one JSON object.
func (s *scanner) object(data []byte, hb heartbeat, o *scanned) error {
	s.reset(data)
	o.reset()
	if err := s.walkObject(hb, o); err != nil {
		return err
	}
	if _, err := s.dec.ReadToken(); err != io.EOF {
		return fmt.Errorf("trailing data after the object")
	}
	return nil
}

// event scans one watch event, {"type":"...","object":{...}}, and returns its type.
func (s *scanner) event(data []byte, hb heartbeat, o *scanned) (typ []byte, err error) {
	s.reset(data)
	o.reset()
	d := s.dec
	if err := s.begin('{'); err != nil {
		return nil, err
	}
	seenObject := false
	for d.PeekKind() == '"' {
		name, err := s.value()
		if err != nil {
			return nil, err
		}
		switch string(name) {
		case `"type"`:
			v, err := s.value()
			if err != nil {
				return nil, err
			}
			typ = s.unquote(v)
		case `"object"`:
			if err := s.walkObject(hb, o); err != nil {
				return nil, fmt.Errorf("object: %w", err)
			}
			seenObject = true
		default:
			if err := d.SkipValue(); err != nil {
				return nil, err
			}
		}
	}
	if err := s.end('}'); err != nil {
		return nil, err
	}
	if typ == nil || !seenObject {
		return nil, fmt.Errorf("watch event without type or object")
	}
	return typ, nil
}

func (s *scanner) begin(k jsontext.Kind) error {
	if s.dec.PeekKind() != k {
		if _, err := s.dec.ReadToken(); err != nil {
			return err
		}
		return errNotObject
	}
	_, err := s.dec.ReadToken()
	return err
}

func (s *scanner) end(k jsontext.Kind) error {
	t, err := s.dec.ReadToken()
	if err != nil {
		return err
	}
	if t.Kind() != k {
		return fmt.Errorf("expected %v, found %v", k, t.Kind())
	}
	return nil
}

// value reads the next value and returns it as a slice of the input (stable while the input is).
func (s *scanner) value() ([]byte, error) {
	v, err := s.dec.ReadValue()
	if err != nil {
		return nil, err
	}
	end := int(s.dec.InputOffset())
	return s.data[end-len(v) : end : end], nil
}

// unquote returns the content of a JSON string value: a slice of the input when it has no
// escapes (the usual case), a new slice otherwise; nil for a value that is not a string.
func (s *scanner) unquote(v []byte) []byte {
	if len(v) < 2 || v[0] != '"' {
		return nil
	}
	in := v[1 : len(v)-1]
	if bytes.IndexByte(in, '\\') < 0 {
		return in
	}
	out, err := jsontext.AppendUnquote(nil, v)
	if err != nil {
		return in
	}
	return out
}

// walkObject reads an object at the decoder's position.
func (s *scanner) walkObject(hb heartbeat, o *scanned) error {
	d := s.dec
	if err := s.begin('{'); err != nil {
		return err
	}
	o.start = int(d.InputOffset()) - 1
	hashing := hb != hbNone
	if hashing {
		s.h.Reset()
	}
	for d.PeekKind() == '"' {
		name, err := s.value()
		if err != nil {
			return err
		}
		o.members++
		switch string(name) {
		case `"apiVersion"`:
			v, err := s.value()
			if err != nil {
				return err
			}
			o.apiVersion = s.unquote(v)
		case `"kind"`:
			v, err := s.value()
			if err != nil {
				return err
			}
			o.kind = s.unquote(v)
		case `"metadata"`:
			if hashing {
				s.h.Write(name)
			}
			if err := s.walkMetadata(hashing, o); err != nil {
				return fmt.Errorf("metadata: %w", err)
			}
		case `"status"`:
			if hb == hbNode {
				s.h.Write(name)
				if err := s.walkExcept(`"conditions"`, `"lastHeartbeatTime"`); err != nil {
					return fmt.Errorf("status: %w", err)
				}
				continue
			}
			if err := s.other(name, hashing); err != nil {
				return err
			}
		case `"spec"`:
			if hb == hbLease {
				s.h.Write(name)
				if err := s.walkExcept(`"renewTime"`, ""); err != nil {
					return fmt.Errorf("spec: %w", err)
				}
				continue
			}
			if err := s.other(name, hashing); err != nil {
				return err
			}
		default:
			if err := s.other(name, hashing); err != nil {
				return err
			}
		}
	}
	if err := s.end('}'); err != nil {
		return err
	}
	o.end = int(d.InputOffset())
	if hashing {
		o.hash = s.h.Sum64() | 1 // never 0, which means unknown
	}
	return nil
}

// other skips a member's value, hashing name and value when asked.
func (s *scanner) other(name []byte, hashing bool) error {
	if !hashing {
		return s.dec.SkipValue()
	}
	v, err := s.value()
	if err != nil {
		return err
	}
	s.h.Write(name)
	s.h.Write(v)
	return nil
}

func (s *scanner) walkMetadata(hashing bool, o *scanned) error {
	d := s.dec
	if err := s.begin('{'); err != nil {
		return err
	}
	for d.PeekKind() == '"' {
		name, err := s.value()
		if err != nil {
			return err
		}
		var dst *[]byte
		switch string(name) {
		case `"namespace"`:
			dst = &o.namespace
		case `"name"`:
			dst = &o.name
		case `"uid"`:
			dst = &o.uid
		case `"resourceVersion"`:
			v, err := s.value()
			if err != nil {
				return err
			}
			o.rv = s.unquote(v)
			continue // not hashed: it changes with every write
		case `"managedFields"`:
			if err := s.walkManagedFields(o); err != nil {
				return fmt.Errorf("managedFields: %w", err)
			}
			continue // not hashed: its times change with every write
		}
		v, err := s.value()
		if err != nil {
			return err
		}
		if dst != nil {
			*dst = s.unquote(v)
		}
		if hashing {
			s.h.Write(name)
			s.h.Write(v)
		}
	}
	return s.end('}')
}

func (s *scanner) walkManagedFields(o *scanned) error {
	d := s.dec
	if d.PeekKind() != '[' {
		return d.SkipValue() // null
	}
	d.ReadToken()
	var bestTime []byte
	for d.PeekKind() == '{' {
		d.ReadToken()
		var manager, t []byte
		kept := 0
		for d.PeekKind() == '"' {
			pre := int(d.InputOffset())
			name, err := s.value()
			if err != nil {
				return err
			}
			switch string(name) {
			case `"manager"`:
				v, err := s.value()
				if err != nil {
					return err
				}
				manager = s.unquote(v)
				kept++
			case `"time"`:
				v, err := s.value()
				if err != nil {
					return err
				}
				t = s.unquote(v)
				kept++
			case `"fieldsV1"`, `"fieldsType"`:
				if err := d.SkipValue(); err != nil {
					return err
				}
				post := int(d.InputOffset())
				if kept == 0 {
					// The first member kept nothing before it: take the comma after it.
					post = skipComma(s.data, post)
				}
				o.addCut(pre, post)
			default:
				if err := d.SkipValue(); err != nil {
					return err
				}
				kept++
			}
		}
		if err := s.end('}'); err != nil {
			return err
		}
		// RFC 3339 times in UTC, as the API server writes them, order as strings.
		if manager != nil && (bestTime == nil || bytes.Compare(t, bestTime) >= 0) {
			o.actor, bestTime = manager, t
			if bestTime == nil {
				bestTime = []byte{}
			}
		}
	}
	return s.end(']')
}

// skipComma returns the offset after the whitespace and comma that follow off, if a comma does.
func skipComma(data []byte, off int) int {
	i := off
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	if i < len(data) && data[i] == ',' {
		return i + 1
	}
	return off
}

func (o *scanned) addCut(start, end int) {
	if n := len(o.cuts); n > 0 && start <= o.cuts[n-1].end {
		o.cuts[n-1].end = max(o.cuts[n-1].end, end)
		return
	}
	o.cuts = append(o.cuts, span{start, end})
}

// walkExcept hashes an object value, leaving out the member named skip; when skip names an
// array of objects and inner is set, it leaves out the member inner of each element instead.
func (s *scanner) walkExcept(skip, inner string) error {
	d := s.dec
	if d.PeekKind() != '{' {
		v, err := s.value()
		s.h.Write(v)
		return err
	}
	d.ReadToken()
	for d.PeekKind() == '"' {
		name, err := s.value()
		if err != nil {
			return err
		}
		if string(name) != skip {
			if err := s.other(name, true); err != nil {
				return err
			}
			continue
		}
		if inner == "" {
			if err := d.SkipValue(); err != nil {
				return err
			}
			continue
		}
		s.h.Write(name)
		if d.PeekKind() != '[' {
			if err := s.other(nil, true); err != nil {
				return err
			}
			continue
		}
		d.ReadToken()
		for d.PeekKind() != ']' {
			if err := s.walkExcept(inner, ""); err != nil {
				return err
			}
		}
		d.ReadToken()
	}
	return s.end('}')
}

// assemble returns a copy of the object o spans in data, without its cuts, and with prefix
// (members such as "kind":"Pod","apiVersion":"v1") inserted first when it is not empty.
func assemble(data []byte, o *scanned, prefix []byte) []byte {
	n := o.end - o.start
	for _, c := range o.cuts {
		n -= c.end - c.start
	}
	if len(prefix) > 0 {
		n += len(prefix) + 1
	}
	out := make([]byte, 0, n)
	pos := o.start
	if len(prefix) > 0 {
		out = append(out, '{')
		out = append(out, prefix...)
		if o.members > 0 {
			out = append(out, ',')
		}
		pos++
	}
	for _, c := range o.cuts {
		out = append(out, data[pos:c.start]...)
		pos = c.end
	}
	return append(out, data[pos:o.end]...)
}

// typePrefix returns the members "kind":KIND,"apiVersion":APIVERSION.
func typePrefix(apiVersion, kind string) []byte {
	b := []byte(`"kind":`)
	b = strconv.AppendQuote(b, kind)
	b = append(b, `,"apiVersion":`...)
	return strconv.AppendQuote(b, apiVersion)
}
