package replay

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Scenario is what the world did around one workload, extracted from a history: the spec
// changes people and tools made, the rollouts they started with the steps the controller was
// recorded taking, and the environment (how each pod behaved, which nodes came and went).
// A Scenario is immutable once extracted; Simulate replays one of its rollouts.
type Scenario struct {
	Kind      string // a registered kind: KindDeployment, KindStatefulSet, KindDaemonSet, KindJob
	Namespace string // "" for cluster-scoped histories
	Name      string
	UID       string

	// Changes are the spec changes made by people and tools other than controllers (a change
	// of metadata.generation), in log order. The creation of the workload is the first change
	// when the history saw it.
	Changes []SpecChange
	// Rollouts are the transitions from one pod template to the next, in log order.
	Rollouts []Rollout
	// Pods is every pod the workload owned in the history, in creation order.
	Pods []PodRecord
	// Nodes are the nodes seen in the history, by name.
	Nodes []NodeRecord
	// End is the time of the last version of the history.
	End time.Time

	x *extraction
}

// SpecChange is one change of the workload's spec by a person or a tool.
type SpecChange struct {
	Seq        uint64
	Time       time.Time
	Actor      string   // field manager, e.g. "kubectl-set"; "" when unknown
	Generation int64    // metadata.generation after the change
	Fields     []string // top-level spec fields that changed, e.g. ["template"]; nil for the creation
	Object     []byte   // the workload's JSON after the change

	w *workloadObj
	// afterSync, when set, is the instant of the readiness changes the Deployment controller
	// synced on before it saw the change (see alignEnvironment): the change takes effect
	// after the first Deployment sync at that instant.
	afterSync time.Time
}

// Rollout is the transition of a workload from one pod template to the next: the creation of
// the workload, an update of its template, a rollback, or the resumption of a paused
// Deployment whose template was edited. It lasts until the next rollout starts or the history
// ends.
type Rollout struct {
	// ID is "<kind>/<name>#<n>" with n the rollout's number in the history, from 1. When the
	// history starts with the creation of the workload, n is the revision number the controller
	// gives the rollout (deployment.kubernetes.io/revision, ControllerRevision.revision): upstream
	// gives every rollout, rollbacks included, the next number.
	ID    string
	Index int    // n
	Seq   uint64 // the change that started the rollout
	// LogSeq is Seq in the history as given: the stream sequence of the change when the
	// history comes from the event log (khist rollouts shows it as the rollout's ID). It equals
	// Seq unless the versions had to be reordered (see ExtractScenario).
	LogSeq   uint64
	Start    time.Time // its time
	EndSeq   uint64    // exclusive: the next rollout's Seq, or one past the end of the history
	End      time.Time // the next rollout's start, or the end of the history
	Revision string    // name of the revision rolled out: ReplicaSet name or controller-revision-hash
	Previous string    // the revision it replaced; "" for the creation
	Actor    string
	// Recorded is the steps the controller was recorded taking during the rollout.
	Recorded []Step

	template string // key of the pod template rolled out
}

// PodRecord is the observed life of one pod: the environment the simulation replays.
type PodRecord struct {
	Name     string
	UID      string
	Revision string // ReplicaSet name (Deployment) or controller-revision-hash
	Ordinal  int    // StatefulSet ordinal; -1 for other kinds
	Node     string
	// Times of the first observation of each phase; zero when never observed.
	Created, Scheduled, Running, Ready time.Time
	DeleteRequested, Gone              time.Time
	// DeletedBy is "controller" when the workload's controller deleted the pod, "external"
	// when someone else did (kubectl delete pod, eviction), "" when it was not deleted.
	DeletedBy string
	// Index is a Job pod's completion index (Indexed Jobs), "" otherwise.
	Index string
	// Phase is Succeeded or Failed once the pod ended (Job pods), "" while it runs; Finished
	// is when that was observed, ExitCode the first non-zero exit code of its containers.
	Phase    string
	Finished time.Time
	ExitCode int32
	// NeverReady is set for pods that lived longer than the slowest pod of the workload took
	// to become Ready without becoming Ready themselves.
	NeverReady bool

	revKey                                                         string
	creationTimestamp                                              time.Time // as stored
	createSeq, scheduledSeq, runningSeq, readySeq, delSeq, goneSeq uint64
	readyLTT                                                       time.Time
	readyEff, goneEff                                              time.Time // group-aligned (see alignEnvironment)
	finishSeq                                                      uint64
	finishedAt                                                     time.Time // as its containers report it
}

// Latency is the pod's creation -> Ready time, or -1 when it was never observed Ready.
func (p *PodRecord) Latency() time.Duration {
	if p.Ready.IsZero() {
		return -1
	}
	return p.Ready.Sub(p.Created)
}

// NodeRecord is one node of the history.
type NodeRecord struct {
	Name    string
	Added   time.Time // zero when present before the history starts
	Removed time.Time // zero when present at the end
}

const (
	deletedByController = "controller"
	deletedByExternal   = "external"
)

// extraction holds the parsed history of one workload, shared by the simulations of its
// rollouts.
type extraction struct {
	workload  []wlVer
	rs        []*rsTimeline // Deployment, by creation
	nodes     map[string][]nodeVer
	nodeOrder []string
	crs       []crRecord
	pvcs      map[string]uint64 // name -> seq of creation
	revName   map[string]string // template key -> revision name
	revKey    map[string]string // revision name -> template key
	endSeq    uint64
	endTime   time.Time
	// termination: how long a pod took from its deletion request to its removal (median).
	termMedian time.Duration
	// logSeq maps a Seq of the scenario to the Seq the version had in the history as given.
	logSeq func(uint64) uint64
	// steps are the writes the controllers were recorded making, in log order.
	steps []loggedStep
	// audit is the decision audit, computed on first use (see auditScenario), and points the
	// positions of the changes it rebuilds states at (see viewPoints).
	audit  *audit
	points []viewPoint
	// lat is the controllers' recorded reaction latencies; nil when the history's times are
	// too coarse to tell (see latencyModel).
	lat *latencyModel
}

type wlVer struct {
	seq   uint64
	t     time.Time
	typ   string
	w     *workloadObj
	actor string
	raw   []byte
}

type rsTimeline struct {
	name, uid, template string
	created             time.Time // creationTimestamp
	createSeq           uint64
	vers                []rsVer
}

type rsVer struct {
	seq     uint64
	t       time.Time
	deleted bool
	o       *rsObj
	actor   string
}

type nodeVer struct {
	seq     uint64
	t       time.Time
	deleted bool
	n       *node
}

type crRecord struct {
	name, hash, template string
	revision             int64
	seq                  uint64
}

// Errors of ExtractScenario.
var (
	// ErrWorkloadNotFound is returned when the history holds no version of the workload.
	ErrWorkloadNotFound = errors.New("replay: workload not found in history")
	// ErrUnsupportedKind is returned for kinds replay has no controller of (see Kinds).
	ErrUnsupportedKind = errors.New("replay: unsupported workload kind")
	// ErrNotLogOrder is returned when the versions of a history are not in log order.
	ErrNotLogOrder = errors.New("replay: history not in log order")
	// ErrNoRollout is returned when the history holds no rollout of the workload, or none with
	// the id asked for.
	ErrNoRollout = errors.New("replay: no rollout")
)

// normalizeKind accepts kubectl spellings (deployment, deploy, sts, ds, ...) of the kinds the
// pod simulation replays; a standaloneKind (CronJob) is refused with the entry point to use.
func normalizeKind(k string) (string, error) {
	rk := kindByName(k)
	if rk == nil || kindOf(rk.kind()) == nil {
		return "", fmt.Errorf("%w %q: use %s (CompareReport and WhatIfReport take every kind of Kinds)", ErrUnsupportedKind, k, kindChoices())
	}
	return rk.kind(), nil
}

// ExtractScenario extracts from a history (versions in log order, see Version) the scenario
// of one workload: its spec changes, rollouts with their recorded steps, and the environment.
// It is a pure function of its arguments. When the name was reused, the last object of that
// name is taken. Observed times are never earlier than the history proves: versions without
// one, and versions whose time was estimated from their own timestamps only (histories imported
// into the event log), get the estimate LoadWatchFiles makes (see EstimateObserved). When
// resourceVersions show that the log order differs from the order the API server committed the
// changes, the latter is used (see causalOrder), and the Seq of the scenario are positions in
// that order.
func ExtractScenario(workloadKind, namespace, name string, history []Version) (Scenario, error) {
	kind, err := normalizeKind(workloadKind)
	if err != nil {
		return Scenario{}, err
	}
	scn := Scenario{Kind: kind, Namespace: namespace, Name: name}
	x := &extraction{nodes: map[string][]nodeVer{}, pvcs: map[string]uint64{}, revName: map[string]string{}, revKey: map[string]string{}}
	scn.x = x
	for i := range history {
		if i > 0 && history[i].Seq <= history[i-1].Seq {
			return scn, fmt.Errorf("%w: seq %d follows seq %d: sort the versions by Seq", ErrNotLogOrder, history[i].Seq, history[i-1].Seq)
		}
	}
	// On a copy: the caller's history is not modified.
	history = boundObserved(history)
	history, x.logSeq = causalOrder(history)
	if len(history) > 0 {
		last := history[len(history)-1]
		x.endSeq, x.endTime = last.Seq, last.Observed
		scn.End = maxTime(last.Observed, history[0].Observed)
		for i := range history {
			scn.End = maxTime(scn.End, history[i].Observed)
		}
		x.endTime = scn.End
	}

	// The workload: its last lifetime.
	for i := range history {
		v := &history[i]
		if v.Kind == kind && v.Namespace == namespace && v.Name == name && v.Type == Added {
			scn.UID = v.UID
		}
	}
	if scn.UID == "" {
		for i := range history {
			v := &history[i]
			if v.Kind == kind && v.Namespace == namespace && v.Name == name {
				scn.UID = v.UID
			}
		}
	}
	if scn.UID == "" {
		return scn, fmt.Errorf("%w: no %s %s in the history: check the namespace and the name", ErrWorkloadNotFound, kind, qualified(namespace, name))
	}

	// First pass: the workload, its ReplicaSets and ControllerRevisions, nodes, events.
	rsByUID := map[string]*rsTimeline{}
	owners := map[string]bool{scn.UID: true} // uids whose pods belong to the workload
	var events []eventOcc
	eventCount := map[string]int32{}
	for i := range history {
		v := &history[i]
		switch {
		case v.UID == scn.UID:
			// Most versions are status updates: the spec is parsed again only when the
			// generation changed.
			var w *workloadObj
			var err error
			if n := len(x.workload); n > 0 {
				prev := x.workload[n-1].w
				w, err = parseWorkloadStatus(kind, v.Object, prev)
				if err == nil && w.meta.Metadata.Generation != prev.meta.Metadata.Generation {
					w, err = parseWorkload(kind, v.Object)
				}
			} else {
				w, err = parseWorkload(kind, v.Object)
			}
			if err != nil {
				return scn, fmt.Errorf("replay: %s %s seq %d: %v", kind, qualified(namespace, name), v.Seq, err)
			}
			x.workload = append(x.workload, wlVer{seq: v.Seq, t: v.Observed, typ: v.Type, w: w, actor: v.Actor, raw: v.Object})
		case v.Kind == "ReplicaSet" && v.Namespace == namespace && viaReplicaSets(kind):
			t := rsByUID[v.UID]
			o, err := parseReplicaSet(v.Object, t == nil)
			if err != nil {
				return scn, fmt.Errorf("replay: ReplicaSet %s seq %d: %v", v.Name, v.Seq, err)
			}
			if _, _, ouid := o.meta.ControllerOf(); ouid != scn.UID {
				continue
			}
			if t != nil {
				o.template = t.template
			} else {
				t = &rsTimeline{name: v.Name, uid: v.UID, template: o.template, createSeq: v.Seq}
				if o.meta.Metadata.CreationTimestamp != nil {
					t.created = o.meta.Metadata.CreationTimestamp.UTC()
				}
				rsByUID[v.UID] = t
				x.rs = append(x.rs, t)
				owners[v.UID] = true
				if _, ok := x.revName[o.template]; !ok {
					x.revName[o.template] = v.Name
				}
			}
			t.vers = append(t.vers, rsVer{seq: v.Seq, t: v.Observed, deleted: isDelete(v.Type), o: o, actor: v.Actor})
		case v.Kind == "ControllerRevision" && v.Namespace == namespace && !viaReplicaSets(kind):
			var m objMeta
			if decodeJSON(v.Object, &m) != nil {
				continue
			}
			if _, _, ouid := m.ControllerOf(); ouid != scn.UID || v.Type != Added {
				continue
			}
			var cr struct {
				Revision int64 `json:"revision"`
			}
			_ = json.Unmarshal(v.Object, &cr)
			key, err := templateKey(v.Object)
			if err != nil || key == "" {
				continue
			}
			hash := podRevision(kind, name, v.Name, m.Metadata.Labels[labelCtrlRevision])
			x.crs = append(x.crs, crRecord{name: v.Name, hash: hash, template: key, revision: cr.Revision, seq: v.Seq})
		case v.Kind == "Node":
			n, err := parseNode(v.Object)
			if err != nil {
				return scn, fmt.Errorf("replay: Node %s seq %d: %v", v.Name, v.Seq, err)
			}
			if _, ok := x.nodes[n.Name]; !ok {
				x.nodeOrder = append(x.nodeOrder, n.Name)
			}
			x.nodes[n.Name] = append(x.nodes[n.Name], nodeVer{seq: v.Seq, t: v.Observed, deleted: isDelete(v.Type), n: n})
		case v.Kind == "Event" && v.Namespace == namespace:
			if occ, ok := parseDeleteEvent(v, eventCount); ok {
				events = append(events, occ)
			}
		}
	}
	if len(x.workload) == 0 {
		return scn, fmt.Errorf("%w: no %s %s in the history", ErrWorkloadNotFound, kind, qualified(namespace, name))
	}

	// Revision names: ControllerRevisions first, then StatefulSet status.
	for _, cr := range x.crs {
		setRevName(x, cr.template, cr.hash)
	}
	// A status.updateRevision (of the kinds that have one: StatefulSets) names the revision of
	// the template its generation observed.
	for _, wv := range x.workload {
		st := wv.w.status
		if st.UpdateRevision != "" && st.ObservedGeneration >= wv.w.meta.Metadata.Generation {
			setRevName(x, wv.w.spec.Template, st.UpdateRevision)
		}
	}

	// Pods and PVCs.
	pods, err := extractPods(&scn, history, owners, rsByUID)
	if err != nil {
		return scn, err
	}
	scn.Pods = pods

	extractChangesAndRollouts(&scn)
	attributeDeletions(&scn, events, len(events) > 0 || hasEvents(history, namespace))
	classifyReadiness(&scn)
	alignEnvironment(&scn, history)
	recordSteps(&scn)
	x.lat = calibrateLatency(&scn, preciseTimes(history))

	// Nodes: recorded Node objects, else the nodes pods ran on.
	if len(x.nodeOrder) == 0 {
		seen := map[string]bool{}
		for _, p := range scn.Pods {
			if p.Node != "" && !seen[p.Node] {
				seen[p.Node] = true
				x.nodeOrder = append(x.nodeOrder, p.Node)
				x.nodes[p.Node] = []nodeVer{{n: &node{Name: p.Node}}}
			}
		}
	}
	sort.Strings(x.nodeOrder)
	firstSeq := history[0].Seq
	for _, n := range x.nodeOrder {
		r := NodeRecord{Name: n}
		vs := x.nodes[n]
		if vs[0].seq > firstSeq {
			r.Added = vs[0].t
		}
		if last := vs[len(vs)-1]; last.deleted {
			r.Removed = last.t
		}
		scn.Nodes = append(scn.Nodes, r)
	}
	return scn, nil
}

// causalOrder returns the history in the order the API server committed the changes: by
// resourceVersion when every version has a numeric one (etcd revisions; a collector watching
// each kind separately may log versions of different kinds slightly out of that order), the
// versions seen on a relist (RESYNC, DELETED_UNOBSERVED) staying where they were seen. When
// the order changes, the result is a copy whose Seq are the new positions (from 1); otherwise
// it is the history itself. logSeq gives, for a Seq of the result, the Seq the version had in h.
func causalOrder(h []Version) (out []Version, logSeq func(uint64) uint64) {
	same := func(seq uint64) uint64 { return seq }
	keys := make([]uint64, len(h))
	var top uint64
	inOrder := true
	for i := range h {
		rv, err := strconv.ParseUint(h[i].ResourceVersion, 10, 64)
		if err != nil {
			return h, same
		}
		if h[i].Type == Resync || h[i].Type == DeletedUnobserved {
			rv = top
		}
		top = max(top, rv)
		keys[i] = rv
		if i > 0 && rv < keys[i-1] {
			inOrder = false
		}
	}
	if inOrder {
		return h, same
	}
	idx := make([]int, len(h))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(keys[a], keys[b]) })
	out = make([]Version, len(h))
	orig := make([]uint64, len(h))
	for j, i := range idx {
		out[j] = h[i]
		orig[j] = h[i].Seq
		out[j].Seq = uint64(j + 1)
	}
	return out, func(seq uint64) uint64 {
		if seq >= 1 && seq <= uint64(len(orig)) {
			return orig[seq-1]
		}
		return seq
	}
}

// toLogSeq maps a Seq of the scenario to the Seq the version had in the history as given.
func (x *extraction) toLogSeq(seq uint64) uint64 {
	if x.logSeq == nil {
		return seq
	}
	return x.logSeq(seq)
}

func setRevName(x *extraction, key, name string) {
	if key == "" || name == "" {
		return
	}
	if _, ok := x.revName[key]; !ok {
		x.revName[key] = name
	}
	if _, ok := x.revKey[name]; !ok {
		x.revKey[name] = key
	}
}

func isDelete(t string) bool { return t == Deleted || t == DeletedUnobserved }

func qualified(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// rolloutOfChange finds the rollout of the template a spec change at LogSeq seq set, when the
// change did not start it at once (an edit of a paused Deployment rolls out on resume): the
// first rollout after the change, if it rolls out that template, or if the change edited the
// template while paused (the edits made while paused roll out together on resume, as the last
// one left the template: the views count them as one rollout from the first).
func (s *Scenario) rolloutOfChange(seq uint64) (*Rollout, bool) {
	for _, c := range s.Changes {
		if c.w == nil || s.x == nil || s.x.toLogSeq(c.Seq) != seq {
			continue
		}
		for i := range s.Rollouts {
			if r := &s.Rollouts[i]; r.Seq > c.Seq {
				return r, r.template == c.w.spec.Template || c.w.spec.Paused && slices.Contains(c.Fields, "template")
			}
		}
	}
	return nil, false
}

// NumberFrom numbers the scenario's rollouts from before+1 (their Index and ID): the numbers
// they have in the workload's whole history when the history the scenario was extracted from
// is a window of it, after before rollouts. Call it before any other method.
func (s *Scenario) NumberFrom(before int) {
	if before <= 0 {
		return
	}
	kindLower := strings.ToLower(s.Kind)
	for i := range s.Rollouts {
		r := &s.Rollouts[i]
		r.Index = before + i + 1
		r.ID = fmt.Sprintf("%s/%s#%d", kindLower, s.Name, r.Index)
	}
}

// Rollout returns the rollout with the given id: "deployment/checkout#2", "#2" or "2" (the
// rollout's number in the history), or "@SEQ", the rollout that the change at LogSeq SEQ started
// (the ID khist rollouts shows), or, for the edit of a paused Deployment, that rolled out the
// template it set; "" and "latest" mean the last rollout.
func (s *Scenario) Rollout(id string) (*Rollout, error) {
	if len(s.Rollouts) == 0 {
		return nil, fmt.Errorf("%w in the history of %s %s: a rollout starts when the pod template changes", ErrNoRollout, s.Kind, qualified(s.Namespace, s.Name))
	}
	if id == "" || id == "latest" {
		return &s.Rollouts[len(s.Rollouts)-1], nil
	}
	if seq, ok := strings.CutPrefix(id, "@"); ok {
		n, err := strconv.ParseUint(seq, 10, 64)
		if err == nil {
			for i := range s.Rollouts {
				if s.Rollouts[i].LogSeq == n {
					return &s.Rollouts[i], nil
				}
			}
			if r, ok := s.rolloutOfChange(n); ok {
				return r, nil
			}
		}
		var ids []string
		for _, r := range s.Rollouts {
			ids = append(ids, fmt.Sprintf("%d (%s)", r.LogSeq, r.ID))
		}
		return nil, fmt.Errorf("%w of %s %s started at sequence %s: use one of %s", ErrNoRollout, s.Kind, qualified(s.Namespace, s.Name), seq, strings.Join(ids, ", "))
	}
	n := id
	if i := strings.LastIndexByte(id, '#'); i >= 0 {
		n = id[i+1:]
	}
	k, err := strconv.Atoi(n)
	if first := s.Rollouts[0].Index; err == nil && k >= first && k < first+len(s.Rollouts) {
		r := &s.Rollouts[k-first]
		if !strings.Contains(id, "/") || strings.EqualFold(id, r.ID) {
			return r, nil
		}
	}
	var ids []string
	for _, r := range s.Rollouts {
		ids = append(ids, r.ID)
	}
	return nil, fmt.Errorf("%w %q: use one of %s", ErrNoRollout, id, strings.Join(ids, ", "))
}
