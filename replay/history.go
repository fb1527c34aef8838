package replay

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/khist/khist/eventlog"
)

// Event types of a Version, as the event log records them.
const (
	Added             = "ADDED"
	Modified          = "MODIFIED"
	Deleted           = "DELETED"
	Resync            = "RESYNC"             // seen again on a (re)list
	DeletedUnobserved = "DELETED_UNOBSERVED" // found missing on relist; Object is the last state seen
)

// Version is one observed version of one object, the unit of the history replay reads.
//
// A history is a slice of Versions in log order: Seq increases strictly. Replay orders
// changes causally by resourceVersion when every version has a numeric one (etcd revisions:
// the order in which the API server committed the changes), by Seq otherwise. Observed is the
// best known wall-clock time of the change; Kubernetes' own timestamps have a resolution of one
// second, so replay uses that order to order and Observed only to measure durations.
type Version struct {
	Seq             uint64    `json:"seq"`
	Type            string    `json:"type"` // ADDED MODIFIED DELETED RESYNC DELETED_UNOBSERVED
	Observed        time.Time `json:"observed"`
	Kind            string    `json:"kind"`
	Namespace       string    `json:"namespace,omitempty"`
	Name            string    `json:"name"`
	UID             string    `json:"uid"`
	ResourceVersion string    `json:"resourceVersion"`
	Actor           string    `json:"actor,omitempty"` // who made the change, "" when unknown
	Object          []byte    `json:"object"`          // the object's JSON
}

// ErrNoHistory is returned by LoadWatchFiles when the files hold no object version.
var ErrNoHistory = errors.New("replay: no object version in history")

// LoadWatchFiles reads the output of `kubectl get KIND --watch --output-watch-events -o json`
// (one {"type":...,"object":{...}} document after another; files ending in .gz are gunzipped)
// and merges the files into one history sorted numerically by resourceVersion, which on a
// single etcd is the order in which the API server committed the changes. A line may carry
// "observed" (RFC 3339), when a khist collector saw the change, beside "type" and "object"; the
// fixtures khist's tests record do. BOOKMARK and ERROR events are skipped; the same version seen
// twice (same uid, resourceVersion and type) is kept once.
//
// Seq is the position in the merged history (from 1). kubectl's watch output carries no
// observation time, so Observed is estimated: the latest timestamp the history proves had passed, i.e. the
// running maximum, in log order, of the lower bounds each version carries (its managedFields
// times, condition transition times, creation and deletion request times, and for Events the
// nanosecond clock encoded in their name). Actor is the field manager that made a spec change,
// when the version changed metadata.generation.
func LoadWatchFiles(paths ...string) ([]Version, error) {
	type rec struct {
		rv   uint64
		file int
		pos  int
		v    Version
	}
	var all []rec
	seen := map[string]bool{}
	for fi, p := range paths {
		evs, err := readWatchFile(p)
		if err != nil {
			return nil, err
		}
		for i, v := range evs {
			key := v.UID + "/" + v.ResourceVersion + "/" + v.Type
			if seen[key] {
				continue
			}
			seen[key] = true
			rv, err := strconv.ParseUint(v.ResourceVersion, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %s %s/%s: resourceVersion %q is not a number: watch output from an etcd-backed API server is required", p, v.Kind, v.Namespace, v.Name, v.ResourceVersion)
			}
			all = append(all, rec{rv: rv, file: fi, pos: i, v: v})
		}
	}
	if len(all) == 0 {
		return nil, ErrNoHistory
	}
	slices.SortStableFunc(all, func(a, b rec) int {
		return cmp.Or(cmp.Compare(a.rv, b.rv), cmp.Compare(a.file, b.file), cmp.Compare(a.pos, b.pos))
	})
	out := make([]Version, len(all))
	for i := range all {
		out[i] = all[i].v
		out[i].Seq = uint64(i + 1)
	}
	EstimateObserved(out)
	setSpecActors(out)
	return out, nil
}

func readWatchFile(path string) ([]Version, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReader(f)
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	dec := json.NewDecoder(r)
	var out []Version
	for n := 1; ; n++ {
		var ev struct {
			Type   string          `json:"type"`
			Object json.RawMessage `json:"object"`
			// Observed is khist's addition to the format: when its collector saw the change.
			Observed time.Time `json:"observed"`
		}
		if err := dec.Decode(&ev); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%s: event %d: %v: expected the output of kubectl get --watch --output-watch-events -o json", path, n, err)
		}
		switch ev.Type {
		case Added, Modified, Deleted, Resync, DeletedUnobserved:
		case "BOOKMARK", "ERROR":
			continue
		default:
			return nil, fmt.Errorf("%s: event %d: unknown event type %q: expected ADDED, MODIFIED or DELETED", path, n, ev.Type)
		}
		var m objMeta
		if err := json.Unmarshal(ev.Object, &m); err != nil {
			return nil, fmt.Errorf("%s: event %d: object: %v", path, n, err)
		}
		out = append(out, Version{
			Type:            ev.Type,
			Kind:            m.Kind,
			Namespace:       m.Metadata.Namespace,
			Name:            m.Metadata.Name,
			UID:             m.Metadata.UID,
			ResourceVersion: m.Metadata.ResourceVersion,
			Observed:        ev.Observed.UTC(),
			Object:          bytes.Clone(ev.Object),
		})
	}
	return out, nil
}

// objMeta is the part of any object's JSON that replay reads without knowing its kind.
type objMeta = eventlog.Meta

// timeClues is every timestamp an object carries that is a lower bound of the time it was
// written, plus, for Events, the clock encoded in the name. Only these fields are decoded.
type timeClues struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name                       string     `json:"name"`
		CreationTimestamp          *time.Time `json:"creationTimestamp"`
		DeletionTimestamp          *time.Time `json:"deletionTimestamp"`
		DeletionGracePeriodSeconds *int64     `json:"deletionGracePeriodSeconds"`
		ManagedFields              []struct {
			Time *time.Time `json:"time"`
		} `json:"managedFields"`
	} `json:"metadata"`
	Status struct {
		Conditions []struct {
			LastTransitionTime *time.Time `json:"lastTransitionTime"`
			LastUpdateTime     *time.Time `json:"lastUpdateTime"`
		} `json:"conditions"`
	} `json:"status"`
	// Event fields (core/v1 and events.k8s.io/v1 spellings).
	EventTime      *time.Time `json:"eventTime"`
	FirstTimestamp *time.Time `json:"firstTimestamp"`
	LastTimestamp  *time.Time `json:"lastTimestamp"`
	Series         *struct {
		LastObservedTime *time.Time `json:"lastObservedTime"`
	} `json:"series"`
}

// parseClues reads the time clues of an object (see decodeJSON).
func parseClues(obj []byte, c *timeClues) error { return decodeJSON(obj, c) }

// lowerBound returns the latest time the object proves had passed when it was written.
func lowerBound(v *Version) time.Time {
	var c timeClues
	if parseClues(v.Object, &c) != nil {
		return time.Time{}
	}
	return c.lowerBound()
}

// lowerBound is lowerBound of the parsed clues.
func (c *timeClues) lowerBound() time.Time {
	var lb time.Time
	see := func(t *time.Time) {
		if t != nil && t.After(lb) {
			lb = *t
		}
	}
	see(c.Metadata.CreationTimestamp) // every version is written after the creation
	for _, f := range c.Metadata.ManagedFields {
		see(f.Time)
	}
	if d := c.Metadata.DeletionTimestamp; d != nil {
		g := int64(0)
		if c.Metadata.DeletionGracePeriodSeconds != nil {
			g = *c.Metadata.DeletionGracePeriodSeconds
		}
		t := d.Add(-time.Duration(g) * time.Second)
		see(&t)
	}
	for _, cd := range c.Status.Conditions {
		see(cd.LastTransitionTime)
		see(cd.LastUpdateTime)
	}
	if c.Kind == "Event" {
		see(c.EventTime)
		see(c.FirstTimestamp)
		see(c.LastTimestamp)
		if c.Series != nil {
			see(c.Series.LastObservedTime)
		}
		// client-go's event recorder names events NAME.<UnixNano in hex>: a sub-second clock.
		if i := strings.LastIndexByte(c.Metadata.Name, '.'); i >= 0 {
			if ns, err := strconv.ParseUint(c.Metadata.Name[i+1:], 16, 64); err == nil {
				t := time.Unix(0, int64(ns)).UTC()
				// Only trust it when it agrees with the event's own second-resolution stamps.
				ref := c.FirstTimestamp
				if ref == nil {
					ref = c.EventTime
				}
				if ref == nil {
					ref = c.Metadata.CreationTimestamp
				}
				if ref != nil && absDur(t.Sub(*ref)) < 2*time.Second {
					see(&t)
				}
			}
		}
	}
	return lb.UTC()
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// EstimateObserved fills Observed, for versions that have none, with the running maximum in
// log order of the lower bounds the versions' own timestamps give (see LoadWatchFiles). The
// estimate never runs backwards and is never earlier than a time the history proves had passed;
// versions with Observed already set keep it and take part in the running maximum.
func EstimateObserved(h []Version) {
	var cur time.Time
	for i := range h {
		if !h[i].Observed.IsZero() {
			if h[i].Observed.After(cur) {
				cur = h[i].Observed
			}
			continue
		}
		if lb := lowerBound(&h[i]); lb.After(cur) {
			cur = lb
		}
		h[i].Observed = cur
	}
}

// boundObserved returns a copy of h in which every version's Observed is the running maximum,
// in log order, of the versions' Observed times and of the lower bounds their own timestamps
// give (see LoadWatchFiles): the latest time the history proves had passed when the version was
// written. Versions without Observed get the estimate LoadWatchFiles gives them; so do versions
// imported into the event log from watch files, whose observed times the importer estimates
// from each version's own timestamps only, so that both extract alike. Times a collector
// observed are later than these bounds and stay as they are, but for clock skew: a time with
// a fraction of a second is taken for an observation and its version is not parsed, since
// bounds from timestamps of one-second resolution cannot raise it.
func boundObserved(h []Version) []Version {
	out := make([]Version, len(h))
	var cur time.Time
	for i := range h {
		out[i] = h[i]
		o := h[i].Observed
		if h[i].Kind == "Node" {
			// Nodes are the cluster's, not the workload's: a data directory that imported
			// several recordings holds those of all of them, in the order they were imported,
			// and a node version of a later recording must not move the times of another's.
			out[i].Observed = maxTime(cur, o)
			continue
		}
		if o.After(cur) {
			cur = o
		}
		if o.IsZero() || o.Nanosecond() == 0 {
			if lb := lowerBound(&h[i]); lb.After(cur) {
				cur = lb
			}
		}
		out[i].Observed = cur
	}
	return out
}

// setSpecActors sets Actor on versions of workloads whose metadata.generation changed: the
// field manager, other than the controller manager, whose managedFields entry is new or moved
// since the object's previous version, else the one with the latest entry.
func setSpecActors(h []Version) {
	gen := map[string]int64{}
	prev := map[string]*objMeta{}
	for i := range h {
		v := &h[i]
		if !isWorkloadKind(v.Kind) || v.Actor != "" {
			continue
		}
		m := &objMeta{}
		if json.Unmarshal(v.Object, m) != nil {
			continue
		}
		if g, ok := gen[v.UID]; !ok || m.Metadata.Generation > g {
			v.Actor = movedManager(prev[v.UID], m, false)
			if v.Actor == "" {
				v.Actor = specActor(m)
			}
		}
		gen[v.UID], prev[v.UID] = m.Metadata.Generation, m
	}
}

// movedManager is the manager whose managedFields entry outside the status subresource is new
// or has a later time in cur than in prev; among several, one other than the controller
// manager; "" when none moved (or prev is nil and controllers is false).
func movedManager(prev, cur *objMeta, controllers bool) string {
	if prev == nil && !controllers {
		return ""
	}
	before := map[string]time.Time{}
	if prev != nil {
		for _, f := range prev.Metadata.ManagedFields {
			if f.Time != nil {
				before[f.Manager+"/"+f.Subresource] = *f.Time
			}
		}
	}
	writer := ""
	for _, f := range cur.Metadata.ManagedFields {
		if f.Subresource == "status" {
			continue
		}
		t, seen := before[f.Manager+"/"+f.Subresource]
		if prev != nil && seen && (f.Time == nil || !f.Time.After(t)) {
			continue
		}
		if writer == "" || isControllerManager(writer) {
			writer = f.Manager
		}
	}
	if writer != "" && isControllerManager(writer) && !controllers {
		return ""
	}
	return writer
}

// specActor picks the manager that most likely made the latest spec change of an object: the
// latest managedFields entry outside the status subresource and not written by a controller.
func specActor(m *objMeta) string {
	best, bestT := "", time.Time{}
	for _, f := range m.Metadata.ManagedFields {
		if f.Subresource != "" || isControllerManager(f.Manager) {
			continue
		}
		t := time.Time{}
		if f.Time != nil {
			t = *f.Time
		}
		if best == "" || !t.Before(bestT) {
			best, bestT = f.Manager, t
		}
	}
	return best
}

func isControllerManager(manager string) bool {
	return manager == "kube-controller-manager" || strings.HasPrefix(manager, "system:serviceaccount:kube-system:")
}
