package projector

// A version record of the versions view and its encoding.

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/khist/khist/eventlog"
)

// Event type codes in version records.
var typeCodes = []eventlog.EventType{"", eventlog.Added, eventlog.Modified, eventlog.Deleted, eventlog.Resync, eventlog.DeletedUnobserved}

func typeCode(t eventlog.EventType) byte {
	for i, c := range typeCodes {
		if c == t {
			return byte(i)
		}
	}
	return 0
}

// Body encodings of a version record. Records are not compressed one by one: segments of
// them are (see verStore).
const (
	bodyFull  byte = 0 // the JSON as it is
	bodyDelta byte = 2 // a delta against the previous version
	// A full copy stored as a delta against another object's full copy, whose sequence
	// (uvarint of the difference) starts the payload; see crossDelta.
	bodyXDelta byte = 4
)

// verRec is a version record.
type verRec struct {
	ID         uint64
	Prev       uint64 // sequence of the object's previous version, 0 for the first
	Type       eventlog.EventType
	RV         string
	Generation int64
	Observed   time.Time
	Actor      string
	Body       byte
	Payload    []byte
	Base       uint64 // bodyXDelta: the full copy the delta applies to
}

func (r *verRec) encode(b []byte, seq uint64) []byte {
	e := enc{b: b}
	e.u(r.ID)
	if r.Prev == 0 {
		e.u(0)
	} else {
		e.u(seq - r.Prev)
	}
	e.byte(typeCode(r.Type))
	e.rv(r.RV)
	e.i(r.Generation)
	e.t(r.Observed)
	e.actor(r.Actor)
	e.byte(r.Body)
	if r.Body == bodyXDelta {
		e.u(seq - r.Base)
	}
	e.b = append(e.b, r.Payload...)
	return e.b
}

func decodeVer(b []byte, seq uint64) (verRec, error) {
	d := dec{b: b}
	r := verRec{ID: d.u()}
	if p := d.u(); p != 0 {
		r.Prev = seq - p
	}
	if c := d.byte(); int(c) < len(typeCodes) {
		r.Type = typeCodes[c]
	}
	r.RV = d.rv()
	r.Generation = d.i()
	r.Observed = d.t()
	r.Actor = d.actor()
	r.Body = d.byte()
	if r.Body == bodyXDelta {
		if b := d.u(); b == 0 || b >= seq {
			d.fail("base")
		} else {
			r.Base = seq - b
		}
	}
	r.Payload = d.b
	if d.err != nil {
		return r, fmt.Errorf("version %d: %w", seq, d.err)
	}
	return r, nil
}

// decimalRV returns a resourceVersion written in canonical decimal (etcd's) as a number.
func decimalRV(rv string) (uint64, bool) {
	if rv == "" || len(rv) > 19 || rv[0] == '0' && len(rv) > 1 || !isDigits(rv) {
		return 0, false
	}
	n, err := strconv.ParseUint(rv, 10, 64)
	return n, err == nil
}

// isFull says whether the version is built without the object's previous version: a full
// copy, or a first version stored against another object's copy.
func (r *verRec) isFull() bool { return r.Body != bodyDelta }

// compareRV orders two resourceVersions: numerically when both are decimal (etcd revisions),
// otherwise equal strings are equal and different ones count as newer.
func compareRV(a, b string) int {
	if a == b {
		return 0
	}
	if isDigits(a) && isDigits(b) {
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			return cmp.Compare(len(a), len(b))
		}
		return strings.Compare(a, b)
	}
	return 1
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
