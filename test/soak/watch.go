package soak

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"

	"github.com/khist/khist/eventlog"
)

// Key is one version of one object: what both sides must agree on. The resource is the plural
// name without its group (events of the core and events.k8s.io APIs are the same objects, with
// the same uid and resourceVersion).
type Key struct {
	Resource, UID, ResourceVersion string
}

// Seen is one watch event of a kubectl watch: its key and what a person needs to find it.
type Seen struct {
	Key
	Type            string // ADDED, MODIFIED or DELETED
	Namespace, Name string
}

func (s Seen) String() string {
	name := s.Name
	if s.Namespace != "" {
		name = s.Namespace + "/" + s.Name
	}
	return fmt.Sprintf("%s %s %s uid=%s rv=%s", s.Type, s.Resource, name, s.UID, s.ResourceVersion)
}

// ReadWatch reads the output of `kubectl get RESOURCE -w --output-watch-events -o json` (a
// stream of {"type": ..., "object": ...} documents, pretty-printed) and calls fn with each
// event. What counts as an event: every ADDED, MODIFIED and DELETED, the initial list included
// (kubectl prints the objects it lists as ADDED); BOOKMARK and ERROR documents are not object
// versions and are skipped (kubectl does not ask for bookmarks; an ERROR ends its watch). It
// returns nil at the end of the stream.
//
// When the initial list has more than one page (kubectl's --chunk-size, 500 objects by
// default), kubectl prints each page as one ADDED document whose object is the list (kind
// PodList, ..., with items and no uid): each item is an event, the page itself is not.
func ReadWatch(r io.Reader, resource string, fn func(Seen)) error {
	dec := json.NewDecoder(r)
	type meta struct {
		Metadata struct {
			Namespace       string `json:"namespace"`
			Name            string `json:"name"`
			UID             string `json:"uid"`
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	for {
		var ev struct {
			Type   string `json:"type"`
			Object struct {
				meta
				Items []meta `json:"items"`
			} `json:"object"`
		}
		err := dec.Decode(&ev)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("kubectl watch of %s: %w", resource, err)
		}
		switch ev.Type {
		case "ADDED", "MODIFIED", "DELETED":
		default:
			continue
		}
		objs := []meta{ev.Object.meta}
		if ev.Object.Items != nil {
			objs = ev.Object.Items // a page of the initial list
		}
		for _, o := range objs {
			m := o.Metadata
			fn(Seen{Key: Key{resource, m.UID, m.ResourceVersion}, Type: ev.Type, Namespace: m.Namespace, Name: m.Name})
		}
	}
}

// LogKey is the key of an envelope of khist's log. Every envelope type counts: a version
// recorded as RESYNC (found on a list) is as recorded as one a watch delivered.
func LogKey(e *eventlog.Envelope) Key {
	return Key{e.Resource, e.UID, e.ResourceVersion}
}

// Missed returns the versions of seen that are not in logged, in resourceVersion order (then
// resource, uid), each once.
func Missed(seen map[Key]Seen, logged map[Key]bool) []Seen {
	var out []Seen
	for k, s := range seen {
		if !logged[k] {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		ra, _ := strconv.ParseUint(a.ResourceVersion, 10, 64)
		rb, _ := strconv.ParseUint(b.ResourceVersion, 10, 64)
		if ra != rb {
			return ra < rb
		}
		if a.Resource != b.Resource {
			return a.Resource < b.Resource
		}
		return a.UID < b.UID
	})
	return out
}
