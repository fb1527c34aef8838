package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/khist/khist/eventlog"
)

// Result is what reading some files produced.
type Result struct {
	Envelopes []*eventlog.Envelope // in resourceVersion order
	Bookmarks int                  // BOOKMARK events, which carry no object change
	Rejected  map[string]int       // events left out, by reason
}

// RejectedTotal is the number of events left out.
func (r *Result) RejectedTotal() int {
	n := 0
	for _, c := range r.Rejected {
		n += c
	}
	return n
}

func (r *Result) reject(reason string) {
	if r.Rejected == nil {
		r.Rejected = map[string]int{}
	}
	r.Rejected[reason]++
}

// Input is one file to import.
type Input struct {
	Name string    // as the user named it; "-" for standard input
	R    io.Reader // its content, gzip-compressed or not
	Size int64     // of R in bytes, for progress reports; 0 when unknown
}

// SyntaxError is a file that is not what the importer reads. Its message is
// "import: FILE:LINE: what was expected".
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("import: %s:%d: %s", e.File, e.Line, e.Msg)
}

// ReadWatch reads kubectl watch-event streams and Lists and returns their envelopes merged in
// resourceVersion order (numeric; the sort is stable, and an envelope whose resourceVersion is
// not an integer stays after the one before it in its file, so that files of such versions keep
// their own order, one after the other). Objects are sanitized (eventlog.Sanitize): no Secret
// value is kept. The observed time of an envelope is the latest timestamp the object carries
// (managedFields, creation, deletion request): the import cannot know better. ReadWatch holds
// every envelope in memory; Scan and Import stream them.
func ReadWatch(cluster string, inputs ...Input) (*Result, error) {
	return readAll(FormatWatch, cluster, inputs)
}

func readAll(format Format, cluster string, inputs []Input) (*Result, error) {
	var envs []*eventlog.Envelope
	res, err := Scan(context.Background(), format, cluster, Options{}, func(e *eventlog.Envelope) error {
		envs = append(envs, e)
		return nil
	}, inputs...)
	if err != nil {
		return nil, err
	}
	res.Envelopes = envs
	return res, nil
}

// watchEvent is one value of `kubectl get --watch --output-watch-events -o json`; a List or a
// single object decodes into the same struct (Type empty).
type watchEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
	Kind   string          `json:"kind"`
	Items  json.RawMessage `json:"items"`
	// Observed is khist's addition to the format (its recorded fixtures carry it): when the
	// collector saw the change.
	Observed time.Time `json:"observed"`
}

func parseWatchValue(p *parser, val []byte) error {
	var ev watchEvent
	if err := json.Unmarshal(val, &ev); err != nil {
		return p.errorf("invalid JSON: %v", err)
	}
	switch {
	case ev.Type != "":
		if len(ev.Object) == 0 || ev.Object[0] != '{' {
			return p.errorf("%s event without an object: expected {\"type\":%q,\"object\":{...}}", ev.Type, ev.Type)
		}
		var t eventlog.EventType
		switch ev.Type {
		case "ADDED":
			t = eventlog.Added
		case "MODIFIED":
			t = eventlog.Modified
		case "DELETED":
			t = eventlog.Deleted
		case "BOOKMARK":
			p.res.Bookmarks++
			return nil
		case "ERROR":
			p.res.reject("watch ERROR event (the watch was interrupted; a later relist covers it)")
			return nil
		default:
			return p.errorf("unknown event type %q: expected ADDED, MODIFIED, DELETED, BOOKMARK or ERROR", ev.Type)
		}
		return p.objectAt(t, ev.Object, "", ev.Observed)
	case strings.HasSuffix(ev.Kind, "List") && len(ev.Items) > 0 && string(ev.Items) != "null":
		// Items one at a time: a List can be large.
		dec := json.NewDecoder(bytes.NewReader(ev.Items))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
			return p.errorf("List items is not an array of objects")
		}
		for dec.More() {
			var it json.RawMessage
			if err := dec.Decode(&it); err != nil {
				return p.errorf("List items is not an array of objects")
			}
			if err := p.object(eventlog.Resync, it, "List item: "); err != nil {
				return err
			}
		}
		return nil
	case strings.HasSuffix(ev.Kind, "List"):
		return nil // an empty List: nothing to import
	case ev.Kind != "":
		// A single object, as `kubectl get KIND NAME -o json` prints it.
		return p.object(eventlog.Resync, val, "")
	default:
		return p.errorf("expected a watch event {\"type\":\"ADDED|MODIFIED|DELETED|BOOKMARK\",\"object\":{...}} or a kubectl List, found a JSON value with neither type nor kind")
	}
}

// object passes on the envelope of one object, or counts why it cannot be recorded.
func (p *parser) object(t eventlog.EventType, obj []byte, what string) error {
	return p.objectAt(t, obj, what, time.Time{})
}

// objectAt is object for a change observed at a known time (zero: unknown, estimated from
// the object's own timestamps); never earlier than those timestamps prove.
func (p *parser) objectAt(t eventlog.EventType, obj []byte, what string, observed time.Time) error {
	e, reason, err := envelope(p.cluster, p.source, t, obj)
	if err != nil {
		return p.errorf("%s%v", what, err)
	}
	if e != nil && observed.After(e.Observed) {
		e.Observed = observed.UTC()
	}
	if e == nil {
		p.res.reject(reason)
		return nil
	}
	return p.emit(e)
}

// envelope builds the envelope of one object. It returns (nil, reason, nil) for an object that
// is well-formed JSON but cannot be recorded, and an error for one that is not an object.
func envelope(cluster, source string, t eventlog.EventType, obj []byte) (*eventlog.Envelope, string, error) {
	m, err := eventlog.ParseMeta(obj)
	if err != nil {
		return nil, "", fmt.Errorf("object is not a Kubernetes object: %v", err)
	}
	if m.Kind == "" || m.APIVersion == "" {
		return nil, "", fmt.Errorf("object has no apiVersion and kind: expected a Kubernetes object")
	}
	if m.Metadata.Name == "" {
		return nil, "object without metadata.name", nil
	}
	if m.Metadata.ResourceVersion == "" {
		return nil, "object without metadata.resourceVersion", nil
	}
	clean, err := eventlog.Sanitize(m.Kind, obj)
	if err != nil {
		return nil, "", err
	}
	e := m.Envelope(t, cluster, append([]byte(nil), clean...))
	e.Source = source
	e.Observed = latestTime(&m)
	// Every event is checked before any is published: a bad one fails the import at its
	// FILE:LINE with nothing stored.
	if err := e.Validate(); err != nil {
		return nil, "", err
	}
	return e, "", nil
}

func latestTime(m *eventlog.Meta) time.Time {
	var t time.Time
	if c := m.Metadata.CreationTimestamp; c != nil {
		t = *c
	}
	if d := m.DeletionRequested(); d.After(t) {
		t = d
	}
	for _, f := range m.Metadata.ManagedFields {
		if f.Time != nil && f.Time.After(t) {
			t = *f.Time
		}
	}
	return t.UTC()
}
