package query

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
)

// Timeline is every change in a window, in order, grouped by workload: a Deployment with its
// ReplicaSets and their Pods, a StatefulSet with its Pods and their PVCs, a Service with its
// Endpoints and EndpointSlices. Events appear on the lane of the object they are about.
type Timeline struct {
	Cluster string           `json:"cluster"`
	Scope   string           `json:"scope"` // "namespace shop" or "all namespaces"
	Since   time.Time        `json:"since"`
	Until   time.Time        `json:"until"`
	Groups  []*TimelineGroup `json:"groups"`
	// DiffURL, when set, is where the HTML page fetches a change's diff (see TimelineArgs).
	DiffURL string `json:"-"`
}

// TimelineGroup is one workload (or a standalone object) and everything it owns.
type TimelineGroup struct {
	// Cluster is the recorded cluster of the group when the timeline shows several.
	Cluster  string          `json:"cluster,omitempty"`
	Workload ObjectKey       `json:"workload"`
	Lanes    []*TimelineLane `json:"lanes"`
}

// TimelineLane is one object (by name: a re-created pod stays on its lane) and its changes.
type TimelineLane struct {
	Object  ObjectKey       `json:"object"`
	Depth   int             `json:"depth"`            // 0 for the workload, 1 for what it owns, ...
	Parent  string          `json:"parent,omitempty"` // Ref of the owner lane
	Entries []TimelineEntry `json:"entries"`
}

// TimelineEntry is one change of one object.
type TimelineEntry struct {
	Seq     uint64        `json:"seq"`
	Time    time.Time     `json:"time"`
	Object  ObjectKey     `json:"object"` // the lane's object (for an Event: the object it is about)
	UID     string        `json:"uid,omitempty"`
	Type    string        `json:"type"` // the log's event type
	Class   Class         `json:"class"`
	Marked  bool          `json:"marked"` // spec change, scaling, readiness, warning
	Summary string        `json:"summary"`
	Actor   string        `json:"actor,omitempty"`
	Who     *Who          `json:"who,omitempty"` // the audit record of Actor's request, when the log holds it
	Fields  []FieldChange `json:"fields,omitempty"`
	// Event is the Event object's name when the entry is a Kubernetes Event.
	Event string `json:"event,omitempty"`
	// Diff is the unified YAML diff against the previous version (the HTML timeline shows it on
	// a click); filled only when TimelineOptions.Diffs.
	Diff string `json:"diff,omitempty"`
}

// TimelineOptions select and shape a timeline.
type TimelineOptions struct {
	Cluster  string
	Scope    Scope
	Since    time.Time
	Until    time.Time
	Kinds    []Kind          // only lanes of these kinds (their groups still by workload); nil: all
	Selector labels.Selector // only groups with an object whose labels match; nil: all
	Diffs    bool            // fill TimelineEntry.Diff
	All      bool            // keep versions that changed only Noise fields
	// Workload, when set, keeps only its tree: the object, what it owns (ReplicaSets, Jobs,
	// their pods, ...) and the Events about them, as one group. Default nil: every group.
	Workload *ObjectKey
	// After, when not 0, keeps only the changes of sequence above it: what a live page lacks.
	// The versions before it in the window are still read, as the earlier state of the later ones.
	After uint64
}

// TimelineSource is what BuildTimeline reads: the versions in the window and, for the objects
// they mention, what came before.
type TimelineSource interface {
	// VersionsBetween calls fn for every version observed in [since, until) in scope, in stream
	// order.
	VersionsBetween(scope Scope, since, until time.Time, fn func(*Version) error) error
	// Before returns the newest version of v's object (the same uid) observed before t, or nil.
	Before(v *Version, t time.Time) (*Version, error)
	// Latest returns the newest version of the named object observed before t, or nil; the
	// timeline uses it to find the owners of objects whose owners did not change in the window.
	Latest(key ObjectKey, t time.Time) (*Version, error)
}

// whoSource is a TimelineSource that also knows who made each version (Views: the audit
// records of the log).
type whoSource interface {
	whoOf(v *Version) (string, *Who)
}

type laneInfo struct {
	lane    *TimelineLane
	parent  ObjectKey
	first   uint64
	labels  map[string]string
	matched bool
}

// BuildTimeline reads a window from src and groups its changes by workload.
func BuildTimeline(src TimelineSource, o TimelineOptions) (*Timeline, error) {
	tl := &Timeline{Cluster: o.Cluster, Since: o.Since, Until: o.Until}
	switch {
	case o.Scope.AllNamespaces:
		tl.Scope = "all namespaces"
	case len(o.Scope.Others) > 0:
		tl.Scope = "namespaces " + strings.Join(append([]string{o.Scope.Namespace}, o.Scope.Others...), ", ")
	default:
		tl.Scope = "namespace " + o.Scope.Namespace
	}
	if o.Workload != nil {
		tl.Scope = o.Workload.Ref() + " in " + tl.Scope
	}
	lanes := map[ObjectKey]*laneInfo{}
	prevObj := map[string]map[string]any{} // uid -> last decoded version (nil: not decoded yet)
	prevRaw := map[string][]byte{}
	laneOf := func(k ObjectKey, seq uint64) *laneInfo {
		li := lanes[k]
		if li == nil {
			li = &laneInfo{lane: &TimelineLane{Object: k}, first: seq}
			lanes[k] = li
		}
		return li
	}
	err := src.VersionsBetween(o.Scope, o.Since, o.Until, func(v *Version) error {
		if v.Seq <= o.After {
			// Not shown: kept, undecoded, as the earlier state of what follows.
			if !v.IsDelete() {
				prevObj[v.UID], prevRaw[v.UID] = nil, v.Object
			}
			return nil
		}
		cur, err := decodeObject(v.Object)
		if err != nil {
			return fmt.Errorf("%s %s/%s seq %d: %w", v.Kind, v.Namespace, v.Name, v.Seq, err)
		}
		prev, seen := prevObj[v.UID]
		var prevBytes []byte
		if seen {
			prevBytes = prevRaw[v.UID]
			if prev == nil {
				prev, _ = decodeObject(prevBytes)
			}
		} else if v.Type != "ADDED" {
			pv, err := src.Before(v, o.Since)
			if err != nil {
				return err
			}
			if pv != nil {
				prevBytes = pv.Object
				prev, _ = decodeObject(pv.Object)
			}
		}
		ch := Describe(v.Kind, v.Type, prev, cur)
		if prev == nil && v.Type == "MODIFIED" {
			ch = Change{Class: ClassStatus, Summary: "modified (no earlier version recorded)"}
		}
		if !v.IsDelete() {
			prevObj[v.UID], prevRaw[v.UID] = cur, v.Object
		}
		if ch.Class == ClassNone {
			if !o.All {
				return nil
			}
			ch = Change{Class: ClassStatus, Summary: "only noise changed (resourceVersion, managedFields, timestamps)"}
			if v.Kind == "Event" {
				ch = Change{Class: ClassEvent, Summary: "event " + strings.ToLower(v.Type) + " (repeated or expired)"}
			}
		}
		key := v.ObjectKey
		e := TimelineEntry{Seq: v.Seq, Time: v.Time, Object: key, UID: v.UID, Type: v.Type,
			Class: ch.Class, Marked: ch.Class.Marked(), Summary: ch.Summary, Actor: v.Actor, Fields: ch.Fields}
		if ws, ok := src.(whoSource); ok {
			e.Actor, e.Who = ws.whoOf(v)
		}
		if v.Kind == "Event" {
			subj := EventSubject(cur)
			if subj.Name != "" {
				key = subj
				e.Object, e.UID, e.Event = subj, "", v.Name
				e.Fields = nil
			}
		}
		li := laneOf(key, v.Seq)
		if v.Kind != "Event" || li.parent == (ObjectKey{}) {
			if p := parentOf(key, cur, v.Kind == "Event"); p != (ObjectKey{}) {
				li.parent = p
			}
			if v.Kind != "Event" {
				li.labels = labelsOf(cur)
			}
		}
		if o.Diffs {
			var d string
			if v.Kind == "Event" {
				d, _ = DiffObjects(prevBytes, v.Object, DiffOptions{FromName: "(before)", ToName: "event/" + v.Name})
			} else {
				from, to := prevBytes, v.Object
				if v.IsDelete() {
					to = nil
				}
				d, _ = DiffObjects(from, to, DiffOptions{FromName: versionName(key, "before"), ToName: versionName(key, v.Type+" rv "+v.ResourceVersion)})
			}
			e.Diff = d
		}
		li.lane.Entries = append(li.lane.Entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Resolve owners not seen in the window, and the StatefulSet PVC convention.
	for k, li := range lanes {
		if li.parent == (ObjectKey{}) && k.Kind == "PersistentVolumeClaim" {
			li.parent = pvcPod(k, lanes, src, o.Until)
		}
	}
	resolved := map[ObjectKey]bool{}
	var resolve func(k ObjectKey, depth int) error
	resolve = func(k ObjectKey, depth int) error {
		li := lanes[k]
		if li == nil || resolved[k] || depth > 8 {
			return nil
		}
		resolved[k] = true
		p := li.parent
		if p == (ObjectKey{}) {
			return nil
		}
		if _, ok := lanes[p]; !ok {
			pv, err := src.Latest(p, o.Until)
			if err != nil {
				return err
			}
			pl := laneOf(p, li.first)
			if pv != nil {
				if m, err := decodeObject(pv.Object); err == nil {
					pl.parent = parentOf(p, m, false)
					pl.labels = labelsOf(m)
				}
			}
		}
		return resolve(p, depth+1)
	}
	keys := make([]ObjectKey, 0, len(lanes))
	for k := range lanes {
		keys = append(keys, k)
	}
	for _, k := range keys {
		if err := resolve(k, 0); err != nil {
			return nil, err
		}
	}
	// Build the trees.
	children := map[ObjectKey][]ObjectKey{}
	var roots []ObjectKey
	for k, li := range lanes {
		if p := li.parent; p != (ObjectKey{}) && lanes[p] != nil && p != k {
			children[p] = append(children[p], k)
		} else {
			roots = append(roots, k)
		}
	}
	order := func(ks []ObjectKey) {
		sort.Slice(ks, func(i, j int) bool {
			a, b := lanes[ks[i]], lanes[ks[j]]
			if kindRank(ks[i].Kind) != kindRank(ks[j].Kind) {
				return kindRank(ks[i].Kind) < kindRank(ks[j].Kind)
			}
			if a.first != b.first {
				return a.first < b.first
			}
			return ks[i].Ref() < ks[j].Ref()
		})
	}
	order(roots)
	if w := o.Workload; w != nil {
		// The workload's tree, whether or not it is a root (a ReplicaSet of a Deployment).
		roots = nil
		if lanes[*w] != nil {
			roots = []ObjectKey{*w}
		}
	}
	keepKind := func(k ObjectKey) bool {
		if len(o.Kinds) == 0 {
			return true
		}
		for _, kk := range o.Kinds {
			if kk.Kind == k.Kind {
				return true
			}
		}
		return false
	}
	for _, r := range roots {
		g := &TimelineGroup{Workload: r}
		matched := o.Selector == nil || o.Selector.Empty()
		visited := map[ObjectKey]bool{}
		var walk func(k ObjectKey, depth int, parent string)
		walk = func(k ObjectKey, depth int, parent string) {
			if visited[k] {
				return
			}
			visited[k] = true
			li := lanes[k]
			if !matched && li.labels != nil && o.Selector.Matches(labels.Set(li.labels)) {
				matched = true
			}
			if keepKind(k) && len(li.lane.Entries) > 0 {
				li.lane.Depth, li.lane.Parent = depth, parent
				g.Lanes = append(g.Lanes, li.lane)
			}
			cs := children[k]
			order(cs)
			for _, c := range cs {
				walk(c, depth+1, k.Ref())
			}
		}
		walk(r, 0, "")
		if matched && len(g.Lanes) > 0 {
			tl.Groups = append(tl.Groups, g)
		}
	}
	return tl, nil
}

// versionName labels one side of an entry's diff.
func versionName(k ObjectKey, what string) string { return k.Short() + " (" + what + ")" }

// kindRank orders the roots and children of a timeline: workloads first, then what serves them.
func kindRank(kind string) int {
	switch kind {
	case "Deployment":
		return 0
	case "StatefulSet":
		return 1
	case "DaemonSet":
		return 2
	case "ReplicaSet", "ControllerRevision":
		return 3
	case "Job", "CronJob":
		return 4
	case "Pod":
		return 5
	case "PersistentVolumeClaim":
		return 6
	case "Service":
		return 7
	case "Endpoints", "EndpointSlice":
		return 8
	}
	return 10
}

func labelsOf(m map[string]any) map[string]string {
	l := getMap(m, "metadata", "labels")
	out := make(map[string]string, len(l))
	for k, v := range l {
		out[k], _ = v.(string)
	}
	return out
}

// parentOf returns the object that owns k in the timeline's tree: the controller owner
// reference, the Service of an Endpoints or EndpointSlice; nothing for others. For an Event
// (isEvent) m is the Event and the parent is unknown.
func parentOf(k ObjectKey, m map[string]any, isEvent bool) ObjectKey {
	if isEvent {
		return ObjectKey{}
	}
	var best map[string]any
	for _, r := range getList(m, "metadata", "ownerReferences") {
		rm, _ := r.(map[string]any)
		if c, _ := rm["controller"].(bool); c || best == nil {
			best = rm
		}
	}
	if best != nil {
		av, _ := best["apiVersion"].(string)
		g, _, ok := strings.Cut(av, "/")
		if !ok {
			g = ""
		}
		return ObjectKey{Group: g, Kind: getString(best, "kind"), Namespace: k.Namespace, Name: getString(best, "name")}
	}
	switch k.Kind {
	case "Endpoints":
		return ObjectKey{Kind: "Service", Namespace: k.Namespace, Name: k.Name}
	case "EndpointSlice":
		if s := getString(m, "metadata", "labels", "kubernetes.io/service-name"); s != "" {
			return ObjectKey{Kind: "Service", Namespace: k.Namespace, Name: s}
		}
	}
	return ObjectKey{}
}

// pvcPod finds the pod a StatefulSet PVC (CLAIM-STS-N) belongs to: STS-N, when STS is a known
// StatefulSet.
func pvcPod(k ObjectKey, lanes map[ObjectKey]*laneInfo, src TimelineSource, until time.Time) ObjectKey {
	i := strings.LastIndexByte(k.Name, '-')
	if i < 0 {
		return ObjectKey{}
	}
	if _, err := strconv.Atoi(k.Name[i+1:]); err != nil {
		return ObjectKey{}
	}
	ord := k.Name[i+1:]
	rest := k.Name[:i]
	// Try every split CLAIM-STS of rest, longest StatefulSet name first.
	for j := 0; j < len(rest); j++ {
		if rest[j] != '-' {
			continue
		}
		sts := rest[j+1:]
		sk := ObjectKey{Group: "apps", Kind: "StatefulSet", Namespace: k.Namespace, Name: sts}
		pod := ObjectKey{Kind: "Pod", Namespace: k.Namespace, Name: sts + "-" + ord}
		if lanes[sk] != nil || lanes[pod] != nil {
			return pod
		}
		if v, err := src.Latest(sk, until); err == nil && v != nil {
			return pod
		}
	}
	return ObjectKey{}
}

// Entries returns the group's entries from all its lanes in stream order.
func (g *TimelineGroup) Entries() []TimelineEntry {
	var out []TimelineEntry
	for _, l := range g.Lanes {
		out = append(out, l.Entries...)
	}
	slices.SortStableFunc(out, func(a, b TimelineEntry) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// depthOf returns the depth of the lane of k in g.
func (g *TimelineGroup) depthOf(k ObjectKey) int {
	for _, l := range g.Lanes {
		if l.Object == k {
			return l.Depth
		}
	}
	return 0
}

// Count returns the number of entries in the timeline.
func (t *Timeline) Count() int {
	n := 0
	for _, g := range t.Groups {
		for _, l := range g.Lanes {
			n += len(l.Entries)
		}
	}
	return n
}

// MarshalJSON keeps timestamps in UTC so that exports do not depend on the reader's zone.
func (e TimelineEntry) MarshalJSON() ([]byte, error) {
	type plain TimelineEntry
	p := plain(e)
	p.Time = p.Time.UTC()
	return json.Marshal(p)
}
