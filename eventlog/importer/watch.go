package importer

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
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
	R    io.Reader // its content
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
// resourceVersion order (numeric when every resourceVersion is an integer, as on etcd;
// otherwise files keep their own order, one after the other). Objects are sanitized
// (eventlog.Sanitize): no Secret value is kept. The observed time of an envelope is the latest
// timestamp the object carries (managedFields, creation, deletion request), never earlier than the one
// before it in the merged order: the import cannot know better.
func ReadWatch(cluster string, inputs ...Input) (*Result, error) {
	res := &Result{}
	for _, in := range inputs {
		data, err := readInput(in)
		if err != nil {
			return nil, err
		}
		envs, err := readWatchFile(cluster, in.Name, data, res)
		if err != nil {
			return nil, err
		}
		res.Envelopes = append(res.Envelopes, envs...)
	}
	sortByResourceVersion(res.Envelopes)
	return res, nil
}

// readInput reads a whole input, gunzipping it when it is gzip-compressed.
func readInput(in Input) ([]byte, error) {
	data, err := io.ReadAll(in.R)
	if err != nil {
		return nil, fmt.Errorf("import: %s: %w", in.Name, err)
	}
	if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err == nil {
			data, err = io.ReadAll(zr)
		}
		if err != nil {
			return nil, fmt.Errorf("import: %s: gzip: %w", in.Name, err)
		}
	}
	return data, nil
}

// watchEvent is one line of `kubectl get --watch --output-watch-events -o json`; a List or a
// single object decodes into the same struct (Type empty).
type watchEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
	Kind   string          `json:"kind"`
	Items  json.RawMessage `json:"items"`
}

func readWatchFile(cluster, name string, data []byte, res *Result) ([]*eventlog.Envelope, error) {
	lineAt := func(off int64) int { return 1 + bytes.Count(data[:min(int(off), len(data))], []byte{'\n'}) }
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &SyntaxError{name, 1, "empty file: expected kubectl watch events ({\"type\":...,\"object\":{...}}) or a List"}
	}
	source := "import:" + name
	dec := json.NewDecoder(bytes.NewReader(data))
	var out []*eventlog.Envelope
	for {
		start := skipSpace(data, dec.InputOffset())
		var ev watchEvent
		err := dec.Decode(&ev)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &SyntaxError{name, lineAt(start), describeJSONError(data, start, err)}
		}
		line := lineAt(start)
		switch {
		case ev.Type != "":
			if len(ev.Object) == 0 || ev.Object[0] != '{' {
				return nil, &SyntaxError{name, line, fmt.Sprintf("%s event without an object: expected {\"type\":%q,\"object\":{...}}", ev.Type, ev.Type)}
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
				res.Bookmarks++
				continue
			case "ERROR":
				res.reject("watch ERROR event (the watch was interrupted; a later relist covers it)")
				continue
			default:
				return nil, &SyntaxError{name, line, fmt.Sprintf("unknown event type %q: expected ADDED, MODIFIED, DELETED, BOOKMARK or ERROR", ev.Type)}
			}
			e, reason, err := envelope(cluster, source, t, ev.Object)
			if err != nil {
				return nil, &SyntaxError{name, line, err.Error()}
			}
			if e == nil {
				res.reject(reason)
				continue
			}
			out = append(out, e)
		case strings.HasSuffix(ev.Kind, "List") && len(ev.Items) > 0:
			var items []json.RawMessage
			if err := json.Unmarshal(ev.Items, &items); err != nil {
				return nil, &SyntaxError{name, line, "List items is not an array of objects"}
			}
			for _, it := range items {
				e, reason, err := envelope(cluster, source, eventlog.Resync, it)
				if err != nil {
					return nil, &SyntaxError{name, line, "List item: " + err.Error()}
				}
				if e == nil {
					res.reject(reason)
					continue
				}
				out = append(out, e)
			}
		case strings.HasSuffix(ev.Kind, "List"):
			// An empty List: nothing to import.
		case ev.Kind != "":
			// A single object, as `kubectl get KIND NAME -o json` prints it.
			e, reason, err := envelope(cluster, source, eventlog.Resync, data[start:dec.InputOffset()])
			if err != nil {
				return nil, &SyntaxError{name, line, err.Error()}
			}
			if e == nil {
				res.reject(reason)
				continue
			}
			out = append(out, e)
		default:
			return nil, &SyntaxError{name, line, "expected a watch event {\"type\":\"ADDED|MODIFIED|DELETED|BOOKMARK\",\"object\":{...}} or a kubectl List, found a JSON value with neither type nor kind"}
		}
	}
	return out, nil
}

func skipSpace(data []byte, off int64) int64 {
	for int(off) < len(data) {
		switch data[off] {
		case ' ', '\t', '\r', '\n':
			off++
		default:
			return off
		}
	}
	return off
}

func describeJSONError(data []byte, start int64, err error) string {
	if int(start) < len(data) && data[start] != '{' && data[start] != '[' {
		snippet := data[start:min(int(start)+20, len(data))]
		if i := bytes.IndexByte(snippet, '\n'); i >= 0 {
			snippet = snippet[:i]
		}
		return fmt.Sprintf("expected a JSON object (kubectl ... -o json), found %q: is this YAML or text? Export with -o json", snippet)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "truncated JSON: the file ends inside an object (was the watch cut off? remove the last partial line)"
	}
	return "invalid JSON: " + err.Error()
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

// sortByResourceVersion orders envelopes by numeric resourceVersion when every one is an
// integer; the sort is stable, so equal versions keep their input order.
func sortByResourceVersion(envs []*eventlog.Envelope) {
	keys := make([]uint64, len(envs))
	for i, e := range envs {
		n, err := strconv.ParseUint(e.ResourceVersion, 10, 64)
		if err != nil {
			return
		}
		keys[i] = n
	}
	idx := make([]int, len(envs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return keys[idx[a]] < keys[idx[b]] })
	sorted := make([]*eventlog.Envelope, len(envs))
	for i, j := range idx {
		sorted[i] = envs[j]
	}
	copy(envs, sorted)
}
