package replay

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
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
	Kind      string // KindDeployment, KindStatefulSet or KindDaemonSet
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
	// NeverReady is set for pods that lived longer than the slowest pod of the workload took
	// to become Ready without becoming Ready themselves.
	NeverReady bool

	revKey                                                         string
	creationTimestamp                                              time.Time // as stored
	createSeq, scheduledSeq, runningSeq, readySeq, delSeq, goneSeq uint64
	readyLTT                                                       time.Time
	readyEff, goneEff                                              time.Time // group-aligned (see alignEnvironment)
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
	// ErrUnsupportedKind is returned for kinds other than Deployment, StatefulSet, DaemonSet.
	ErrUnsupportedKind = errors.New("replay: unsupported workload kind")
	// ErrNotLogOrder is returned when the versions of a history are not in log order.
	ErrNotLogOrder = errors.New("replay: history not in log order")
	// ErrNoRollout is returned when the history holds no rollout of the workload, or none with
	// the id asked for.
	ErrNoRollout = errors.New("replay: no rollout")
)

// normalizeKind accepts kubectl spellings (deployment, deploy, sts, ds, ...).
func normalizeKind(k string) (string, error) {
	switch strings.ToLower(k) {
	case "deployment", "deployments", "deploy", "deployment.apps":
		return KindDeployment, nil
	case "statefulset", "statefulsets", "sts", "statefulset.apps":
		return KindStatefulSet, nil
	case "daemonset", "daemonsets", "ds", "daemonset.apps":
		return KindDaemonSet, nil
	}
	return "", fmt.Errorf("%w %q: use deployment, statefulset or daemonset", ErrUnsupportedKind, k)
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
		case v.Kind == "ReplicaSet" && v.Namespace == namespace && kind == KindDeployment:
			t := rsByUID[v.UID]
			o, err := parseReplicaSet(v.Object, t == nil)
			if err != nil {
				return scn, fmt.Errorf("replay: ReplicaSet %s seq %d: %v", v.Name, v.Seq, err)
			}
			if _, _, ouid := o.meta.controllerOf(); ouid != scn.UID {
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
		case v.Kind == "ControllerRevision" && v.Namespace == namespace && kind != KindDeployment:
			var m objMeta
			if decodeJSON(v.Object, &m) != nil {
				continue
			}
			if _, _, ouid := m.controllerOf(); ouid != scn.UID || v.Type != Added {
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
			hash := m.Metadata.Labels[labelCtrlRevision]
			if kind == KindStatefulSet || hash == "" {
				hash = v.Name // StatefulSet pods carry the revision's full name
				if kind == KindDaemonSet {
					hash = strings.TrimPrefix(v.Name, name+"-")
				}
			}
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
	if kind == KindStatefulSet {
		for _, wv := range x.workload {
			st := wv.w.status
			if st.UpdateRevision != "" && st.ObservedGeneration >= wv.w.meta.Metadata.Generation {
				setRevName(x, wv.w.spec.Template, st.UpdateRevision)
			}
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

// extractPods folds the versions of the workload's pods (and a StatefulSet's claims) into
// PodRecords.
func extractPods(scn *Scenario, history []Version, owners map[string]bool, rsByUID map[string]*rsTimeline) ([]PodRecord, error) {
	x := scn.x
	var pods []PodRecord
	byUID := map[string]int{}
	// the workload's template in effect at a seq, for revision votes (seqs only grow)
	wi, tmpl := 0, ""
	tmplAt := func(seq uint64) string {
		for ; wi < len(x.workload) && x.workload[wi].seq <= seq; wi++ {
			tmpl = x.workload[wi].w.spec.Template
		}
		return tmpl
	}
	votes := map[string]map[string]int{} // hash -> template -> count
	for i := range history {
		v := &history[i]
		if v.Namespace != scn.Namespace {
			continue
		}
		if v.Kind == "PersistentVolumeClaim" && scn.Kind == KindStatefulSet && v.Type == Added {
			// claims from volumeClaimTemplates are named CLAIM-SET-ORDINAL
			if i := strings.LastIndex(v.Name, "-"+scn.Name+"-"); i > 0 && ordinalOf(v.Name[i+1:], scn.Name) >= 0 {
				x.pvcs[v.Name] = v.Seq
			}
			continue
		}
		if v.Kind != "Pod" {
			continue
		}
		idx, known := byUID[v.UID]
		p, err := parsePod(v.Object)
		if err != nil {
			return nil, fmt.Errorf("replay: Pod %s seq %d: %v", v.Name, v.Seq, err)
		}
		if !known {
			_, _, ouid := p.meta.controllerOf()
			if !owners[ouid] {
				continue
			}
			r := PodRecord{Name: v.Name, UID: v.UID, Ordinal: -1, Created: v.Observed, createSeq: v.Seq}
			if ts := p.meta.Metadata.CreationTimestamp; ts != nil {
				r.creationTimestamp = ts.UTC()
			}
			switch scn.Kind {
			case KindDeployment:
				if rs := rsByUID[ouid]; rs != nil {
					r.revKey, r.Revision = rs.template, rs.name
				}
			default:
				r.Revision = p.meta.Metadata.Labels[labelCtrlRevision]
				if scn.Kind == KindStatefulSet {
					r.Ordinal = ordinalOf(v.Name, scn.Name)
				}
				if r.Revision != "" && v.Type == Added {
					if votes[r.Revision] == nil {
						votes[r.Revision] = map[string]int{}
					}
					votes[r.Revision][tmplAt(v.Seq)]++
				}
			}
			pods = append(pods, r)
			idx = len(pods) - 1
			byUID[v.UID] = idx
		}
		r := &pods[idx]
		if p.node != "" {
			r.Node = p.node
		}
		if r.scheduledSeq == 0 && p.scheduled {
			r.scheduledSeq, r.Scheduled = v.Seq, v.Observed
		}
		if r.runningSeq == 0 && p.phase == "Running" {
			r.runningSeq, r.Running = v.Seq, v.Observed
		}
		if r.readySeq == 0 && p.ready && !isDelete(v.Type) {
			r.readySeq, r.Ready, r.readyLTT = v.Seq, v.Observed, p.readyLTT
			if r.readyLTT.IsZero() {
				r.readyLTT = v.Observed.Truncate(time.Second)
			}
		}
		if r.delSeq == 0 && p.meta.Metadata.DeletionTimestamp != nil {
			r.delSeq, r.DeleteRequested = v.Seq, v.Observed
		}
		if isDelete(v.Type) {
			r.goneSeq, r.Gone = v.Seq, v.Observed
			if r.delSeq == 0 {
				r.delSeq, r.DeleteRequested = v.Seq, v.Observed
			}
		}
	}
	// Revision names of StatefulSet and DaemonSet pods by majority vote.
	for _, hash := range sortedKeys(votes) {
		best, bestN := "", 0
		for _, k := range sortedKeys(votes[hash]) {
			if votes[hash][k] > bestN {
				best, bestN = k, votes[hash][k]
			}
		}
		if _, ok := x.revKey[hash]; !ok {
			setRevName(x, best, hash)
		}
	}
	for i := range pods {
		if pods[i].revKey == "" {
			if k, ok := x.revKey[pods[i].Revision]; ok {
				pods[i].revKey = k
			} else {
				pods[i].revKey = "rev:" + pods[i].Revision
			}
		}
	}
	// Termination durations.
	var terms []time.Duration
	for i := range pods {
		if pods[i].goneSeq != 0 && pods[i].delSeq != pods[i].goneSeq {
			terms = append(terms, pods[i].Gone.Sub(pods[i].DeleteRequested))
		}
	}
	x.termMedian = percentile(terms, 50)
	return pods, nil
}

func ordinalOf(pod, set string) int {
	if !strings.HasPrefix(pod, set+"-") {
		return -1
	}
	n, err := strconv.Atoi(pod[len(set)+1:])
	if err != nil {
		return -1
	}
	return n
}

// extractChangesAndRollouts finds the user spec changes and the rollouts they started.
func extractChangesAndRollouts(scn *Scenario) {
	x := scn.x
	var prev *wlVer
	effective := ""
	type start struct {
		seq   uint64
		t     time.Time
		tmpl  string
		prev  string
		actor string
	}
	var starts []start
	for i := range x.workload {
		wv := &x.workload[i]
		if isDelete(wv.typ) {
			continue
		}
		gen := wv.w.meta.Metadata.Generation
		isChange := false
		if prev == nil {
			created := wv.w.status.ObservedGeneration == 0 && gen <= 1
			if created {
				isChange = true
			} else {
				effective = wv.w.spec.Template
			}
		} else if gen > prev.w.meta.Metadata.Generation {
			isChange = true
		}
		if isChange {
			actor := wv.actor
			if actor == "" {
				actor = specActor(&wv.w.meta)
			}
			c := SpecChange{Seq: wv.seq, Time: wv.t, Actor: actor, Generation: gen, Object: wv.raw, w: wv.w}
			if prev != nil {
				c.Fields = changedFields(prev.raw, wv.raw)
			}
			scn.Changes = append(scn.Changes, c)
			if !wv.w.spec.Paused && wv.w.spec.Template != effective {
				starts = append(starts, start{seq: wv.seq, t: wv.t, tmpl: wv.w.spec.Template, prev: effective, actor: actor})
				effective = wv.w.spec.Template
			}
		}
		prev = wv
	}
	kindLower := strings.ToLower(scn.Kind)
	for i, s := range starts {
		r := Rollout{Index: i + 1, ID: fmt.Sprintf("%s/%s#%d", kindLower, scn.Name, i+1), Seq: s.seq, LogSeq: x.toLogSeq(s.seq), Start: s.t,
			Revision: revisionName(scn, s.tmpl), Actor: s.actor, template: s.tmpl}
		if s.prev != "" {
			r.Previous = revisionName(scn, s.prev)
		}
		if i+1 < len(starts) {
			r.EndSeq, r.End = starts[i+1].seq, starts[i+1].t
		} else {
			r.EndSeq, r.End = x.endSeq+1, x.endTime
		}
		scn.Rollouts = append(scn.Rollouts, r)
	}
}

// revisionName is the recorded name of the revision with template key k, or a stable
// synthetic name when the history never named it.
func revisionName(scn *Scenario, k string) string {
	if n, ok := scn.x.revName[k]; ok {
		return n
	}
	h := k
	if len(h) > 10 {
		h = h[:10]
	}
	switch scn.Kind {
	case KindDeployment, KindStatefulSet:
		return scn.Name + "-sim" + h
	}
	return "sim" + h
}

// changedFields lists the top-level spec fields that differ between two object JSONs.
func changedFields(a, b []byte) []string {
	var x, y struct {
		Spec map[string]json.RawMessage `json:"spec"`
	}
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return nil
	}
	var out []string
	for _, k := range sortedKeys(y.Spec) {
		if !jsonEqual(x.Spec[k], y.Spec[k]) {
			out = append(out, k)
		}
	}
	for _, k := range sortedKeys(x.Spec) {
		if _, ok := y.Spec[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return string(a) == string(b)
	}
	return reflect.DeepEqual(x, y)
}

// eventOcc is one occurrence of a controller's "deleted pod" event.
type eventOcc struct {
	pod string
	seq uint64
	t   time.Time
}

// parseDeleteEvent recognizes the events controllers emit when they delete a pod
// (ReplicaSet and DaemonSet "Deleted pod: NAME", StatefulSet "delete Pod NAME in StatefulSet
// SET successful"). A MODIFIED event counts when its count grew.
func parseDeleteEvent(v *Version, counts map[string]int32) (eventOcc, bool) {
	var e struct {
		Reason  string `json:"reason"`
		Message string `json:"message"`
		Note    string `json:"note"`
		Count   int32  `json:"count"`
		Series  *struct {
			Count int32 `json:"count"`
		} `json:"series"`
	}
	if decodeJSON(v.Object, &e) != nil || e.Reason != "SuccessfulDelete" {
		return eventOcc{}, false
	}
	n := e.Count
	if e.Series != nil && e.Series.Count > n {
		n = e.Series.Count
	}
	if n == 0 {
		n = 1
	}
	if n <= counts[v.UID] {
		return eventOcc{}, false
	}
	counts[v.UID] = n
	msg := e.Message
	if msg == "" {
		msg = e.Note
	}
	var pod string
	switch {
	case strings.HasPrefix(msg, "Deleted pod: "):
		pod = strings.TrimPrefix(msg, "Deleted pod: ")
	case strings.HasPrefix(msg, "delete Pod "):
		pod, _, _ = strings.Cut(strings.TrimPrefix(msg, "delete Pod "), " ")
	default:
		return eventOcc{}, false
	}
	return eventOcc{pod: pod, seq: v.Seq, t: v.Observed}, true
}

func hasEvents(h []Version, ns string) bool {
	for i := range h {
		if h[i].Kind == "Event" && h[i].Namespace == ns {
			return true
		}
	}
	return false
}

// attributeDeletions decides for each deleted pod whether its controller deleted it. With
// Events in the history, the proof is a "deleted pod" event of the controller: each event is
// matched with the latest deletion of a pod of that name before it in log order (the controller
// reports a deletion after making it; StatefulSet pods reuse names), within seconds. Without
// Events, or without the event of a deletion (a busy controller's event recorder drops and
// aggregates them), a deletion the controller had a reason for (a ReplicaSet above its
// replicas, a StatefulSet pod outside its ordinals or of an old revision) is attributed to it.
func attributeDeletions(scn *Scenario, events []eventOcc, haveEvents bool) {
	if !haveEvents {
		for i := range scn.Pods {
			p := &scn.Pods[i]
			if p.delSeq == 0 {
				continue
			}
			p.DeletedBy = deletedByExternal
			if controllerHadReason(scn, p) {
				p.DeletedBy = deletedByController
			}
		}
		return
	}
	byName := map[string][]*PodRecord{}
	for i := range scn.Pods {
		p := &scn.Pods[i]
		if p.delSeq != 0 {
			p.DeletedBy = deletedByExternal
			byName[p.Name] = append(byName[p.Name], p)
		}
	}
	matched := map[*PodRecord]bool{}
	for _, e := range events {
		var best *PodRecord
		for _, p := range byName[e.pod] {
			if p.delSeq < e.seq && !matched[p] && (best == nil || p.delSeq > best.delSeq) {
				best = p
			}
		}
		if best == nil {
			continue
		}
		if d := e.t.Sub(best.DeleteRequested); d >= -time.Second && d <= 5*time.Second {
			matched[best] = true
			best.DeletedBy = deletedByController
		}
	}
	// A busy controller's events are rate-limited and aggregated by its event recorder, so a
	// deletion without its event is the controller's when it had a reason for it.
	for i := range scn.Pods {
		if p := &scn.Pods[i]; p.DeletedBy == deletedByExternal && !matched[p] && controllerHadReason(scn, p) {
			p.DeletedBy = deletedByController
		}
	}
}

func controllerHadReason(scn *Scenario, p *PodRecord) bool {
	x := scn.x
	w := workloadAt(x, p.delSeq)
	switch scn.Kind {
	case KindDeployment:
		for _, rs := range x.rs {
			if rs.name != p.Revision {
				continue
			}
			var replicas int32 = -1
			for _, v := range rs.vers {
				if v.seq >= p.delSeq {
					break
				}
				replicas = v.o.replicas
				if v.deleted {
					return true
				}
			}
			active := int32(0)
			for j := range scn.Pods {
				q := &scn.Pods[j]
				if q.Revision == rs.name && q.createSeq < p.delSeq && (q.delSeq == 0 || q.delSeq >= p.delSeq) {
					active++
				}
			}
			return active > replicas
		}
		return true
	case KindStatefulSet:
		if w == nil {
			return true
		}
		// outside the ordinals, or of another revision than the template's where a rolling
		// update replaces pods
		return int32(p.Ordinal) >= w.spec.Replicas ||
			w.spec.Strategy == strategyRollingUpdate && int32(p.Ordinal) >= w.spec.Partition && p.revKey != w.spec.Template
	default:
		if w == nil {
			return true
		}
		return p.revKey != w.spec.Template
	}
}

// workloadAt returns the workload's state just before seq.
func workloadAt(x *extraction, seq uint64) *workloadObj {
	var w *workloadObj
	for _, wv := range x.workload {
		if wv.seq >= seq {
			break
		}
		if !isDelete(wv.typ) {
			w = wv.w
		}
	}
	return w
}

// classifyReadiness marks the pods that never became Ready although they lived longer than
// the slowest pod of the workload took.
func classifyReadiness(scn *Scenario) {
	var longest time.Duration
	for i := range scn.Pods {
		if l := scn.Pods[i].Latency(); l > longest {
			longest = l
		}
	}
	for i := range scn.Pods {
		p := &scn.Pods[i]
		if p.readySeq != 0 {
			continue
		}
		end := scn.End
		if p.delSeq != 0 {
			end = p.DeleteRequested
		}
		if end.Sub(p.Created) >= longest {
			p.NeverReady = true
		}
	}
}

// alignEnvironment computes the times at which the as-recorded environment makes pods Ready
// and removes them. Readiness changes and removals that the controllers had no chance to react
// to one by one (no write of the workload, its ReplicaSets or revisions, no pod creation or
// deletion between them in log order) happened together as far as the controllers could tell:
// they share one instant, the latest of their observed times.
//
// Except where a controller's write proves it saw them one by one: a ReplicaSet status write
// whose readyReplicas counts fewer of the ReplicaSet's pods than the log shows Ready comes from a
// sync that listed the pods before the latest readiness changes reached it (informers deliver
// in order, so the ones it missed are the latest). Those changes stay pending and happen with
// the next group, after the write, as the controllers saw them. They are taken back from every
// group since the ReplicaSet's previous status write, not only from the current one: the sync
// writes its status after the pods it created or deleted, so a readiness change logged before
// such a pod write may still be one the sync had not seen (the Deployment controller learns of
// readiness only from these status writes).
//
// A spec change of a Deployment after which the controller's first write was still computed
// from the old spec (see syncedBefore) comes after the controller's sync on the group before
// it, even when their observed times are the same (SpecChange.afterSync).
func alignEnvironment(scn *Scenario, history []Version) {
	type member struct {
		pod  int
		gone bool
		t    time.Time
	}
	podIdx := map[string]int{}
	for i := range scn.Pods {
		podIdx[scn.Pods[i].UID] = i
	}
	rsUIDs := map[string]bool{}
	// ReplicaSet versions whose status differs from the version before: the ReplicaSet
	// controller's status writes, with the readyReplicas they report.
	type statusWrite struct {
		rs    string
		ready int32
	}
	statusWrites := map[uint64]statusWrite{}
	for _, rs := range scn.x.rs {
		rsUIDs[rs.uid] = true
		for i := 1; i < len(rs.vers); i++ {
			if v := rs.vers[i]; !v.deleted && !rs.vers[i-1].deleted && v.o.status != rs.vers[i-1].o.status {
				statusWrites[v.seq] = statusWrite{rs.name, v.o.status.Ready}
			}
		}
	}
	readyActive := map[string]int32{} // per ReplicaSet: its pods Ready and not terminating, in log order
	revisions := map[string]bool{}
	for _, cr := range scn.x.crs {
		revisions[cr.name] = true
	}
	var group, held []member
	var groupT, lastT time.Time
	changes := map[uint64]*SpecChange{}
	if scn.Kind == KindDeployment {
		for i := range scn.Changes {
			if c := &scn.Changes[i]; c.Fields != nil && c.w != nil {
				changes[c.Seq] = c
			}
		}
	}
	// Per ReplicaSet: its readiness changes flushed since its last status write. The
	// ReplicaSet controller writes the status it computed from the pods it listed when its
	// sync started, after the pods it created or deleted in that sync: a status reporting
	// fewer Ready pods than the history shows proves that the latest changes were still
	// unseen, even those that precede the sync's own pod writes in the log. The Deployment
	// controller learns of readiness only from these status writes.
	unconfirmed := map[string][]member{}
	flush := func() {
		if len(group) == 0 {
			return
		}
		// Groups the controllers saw one after the other stay apart, even when the
		// observation times cannot tell them apart (one-second estimates).
		if !groupT.After(lastT) {
			groupT = lastT.Add(time.Microsecond)
		}
		lastT = groupT
		for _, m := range group {
			if m.gone {
				scn.Pods[m.pod].goneEff = groupT
			} else {
				scn.Pods[m.pod].readyEff = groupT
				if scn.Kind == KindDeployment {
					rev := scn.Pods[m.pod].Revision
					unconfirmed[rev] = append(unconfirmed[rev], m)
				}
			}
		}
		group, groupT = group[:0], time.Time{}
	}
	join := func(m member) {
		group = append(group, m)
		groupT = maxTime(groupT, m.t)
	}
	// holdBack takes out of the group, then out of the groups flushed since the last status
	// write of ReplicaSet rs, the latest n readiness changes of rs.
	holdBack := func(rs string, n int32, seq uint64) {
		held = held[:0]
		for i := len(group) - 1; i >= 0 && n > 0; i-- {
			if m := group[i]; !m.gone && scn.Pods[m.pod].Revision == rs {
				held = append(held, m)
				group = append(group[:i], group[i+1:]...)
				n--
			}
		}
		// Pods asked to terminate since are not counted as Ready any more (readyActive).
		u := unconfirmed[rs]
		for j := len(u) - 1; j >= 0 && n > 0; j-- {
			if p := &scn.Pods[u[j].pod]; p.delSeq == 0 || p.delSeq > seq {
				held = append(held, u[j])
				u = append(u[:j], u[j+1:]...)
				n--
			}
		}
		unconfirmed[rs] = u
		slices.Reverse(held)
		groupT = time.Time{}
		for _, m := range group {
			groupT = maxTime(groupT, m.t)
		}
	}
	for i := range history {
		v := &history[i]
		if v.Type == Resync {
			continue // seen again on a relist: nobody wrote anything
		}
		if v.UID == scn.UID || rsUIDs[v.UID] {
			held = held[:0]
			w, isStatus := statusWrites[v.Seq]
			if isStatus && readyActive[w.rs] > w.ready {
				holdBack(w.rs, readyActive[w.rs]-w.ready, v.Seq)
			}
			flush()
			if isStatus {
				delete(unconfirmed, w.rs)
			}
			if c := changes[v.Seq]; c != nil && !lastT.IsZero() && !c.Time.After(lastT) && syncedBefore(scn, history, i, c) {
				// The Deployment controller synced on what it had seen before the change
				// and wrote from the old spec after it: it saw the two apart.
				c.afterSync = lastT
			}
			for _, m := range held {
				join(m)
			}
			continue
		}
		if v.Kind == "ControllerRevision" || v.Kind == "PersistentVolumeClaim" {
			if _, claim := scn.x.pvcs[v.Name]; claim && v.Kind == "PersistentVolumeClaim" || revisions[v.Name] && v.Kind == "ControllerRevision" {
				flush()
			}
			continue
		}
		if v.Kind != "Pod" {
			continue
		}
		idx, ok := podIdx[v.UID]
		if !ok {
			continue
		}
		p := &scn.Pods[idx]
		if scn.Kind == KindDeployment {
			if v.Seq == p.readySeq && (p.delSeq == 0 || p.delSeq > v.Seq) {
				readyActive[p.Revision]++
			}
			if v.Seq == p.delSeq && p.readySeq != 0 && p.readySeq < v.Seq {
				readyActive[p.Revision]--
			}
		}
		switch v.Seq {
		case p.createSeq, p.delSeq:
			if v.Seq == p.goneSeq && p.delSeq == p.goneSeq && v.Seq != p.createSeq {
				// removed without a graceful deletion: a removal, not a controller write
				join(member{pod: idx, gone: true, t: v.Observed})
				continue
			}
			flush()
		case p.readySeq:
			join(member{pod: idx, t: v.Observed})
		case p.goneSeq:
			join(member{pod: idx, gone: true, t: v.Observed})
		}
	}
	flush()
}

// syncedBefore reports whether the first write of the Deployment controller after the spec
// change c (at history[i]) was computed from the spec before it: a status write observing an
// older generation, or a ReplicaSet scaled with the replicas the change replaced in its
// desired-replicas annotation. The controller then ran a sync between what it had seen before
// the change and the change.
func syncedBefore(scn *Scenario, history []Version, i int, c *SpecChange) bool {
	prev := workloadAt(scn.x, c.Seq)
	if prev == nil {
		return false
	}
	type rsWrite struct{ o, prev *rsObj }
	rsAt := map[uint64]rsWrite{}
	for _, rs := range scn.x.rs {
		var p *rsObj
		for _, v := range rs.vers {
			if !v.deleted {
				rsAt[v.seq] = rsWrite{v.o, p}
				p = v.o
			}
		}
	}
	for _, v := range history[i+1:] {
		if v.Type == Resync {
			continue
		}
		if v.UID == scn.UID {
			if isDelete(v.Type) {
				return false
			}
			w := workloadAt(scn.x, v.Seq+1)
			if w == nil || w.meta.Metadata.Generation != c.Generation {
				return false // another change came first
			}
			return w.status.ObservedGeneration < c.Generation
		}
		rw, ok := rsAt[v.Seq]
		if !ok {
			continue
		}
		o, p := rw.o, rw.prev
		if p == nil {
			return false // a new ReplicaSet: the new spec's
		}
		a, pa := o.meta.Metadata.Annotations[annDesiredReplicas], p.meta.Metadata.Annotations[annDesiredReplicas]
		if o.replicas == p.replicas && a == pa {
			continue // the ReplicaSet controller's status write
		}
		old := strconv.Itoa(int(prev.spec.Replicas))
		return prev.spec.Replicas != c.w.spec.Replicas && a == old
	}
	return false
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// recordSteps lists the writes the controllers were recorded making (extraction.steps) and
// fills each rollout's recorded steps. A ReplicaSet scaled by someone other than the controller
// manager is kept as a step of the rollout but marked external: an input of the decision audit.
func recordSteps(scn *Scenario) {
	x := scn.x
	var steps []loggedStep
	switch scn.Kind {
	case KindDeployment:
		for _, rs := range x.rs {
			var prev int32
			var prevObj *rsObj
			for i, v := range rs.vers {
				var st *Step
				switch {
				case v.deleted:
				case i == 0:
					st = &Step{Kind: KindDeployment, ReplicaSet: rs.name, From: 0, To: v.o.replicas, Time: v.t}
				case v.o.replicas != prev:
					st = &Step{Kind: KindDeployment, ReplicaSet: rs.name, From: prev, To: v.o.replicas, Time: v.t}
				}
				if st != nil {
					actor := rsWriter(prevObj, v.o, v.actor)
					steps = append(steps, loggedStep{s: *st, seq: v.seq, actor: actor, external: actor != "" && !isControllerManager(actor)})
				}
				if !v.deleted {
					prev, prevObj = v.o.replicas, v.o
				}
			}
		}
	default:
		for i := range scn.Pods {
			p := &scn.Pods[i]
			steps = append(steps, loggedStep{s: Step{Kind: scn.Kind, Pod: p.Name, Action: ActionCreate, Revision: p.Revision, Node: p.Node, Time: p.Created}, seq: p.createSeq})
			if p.DeletedBy == deletedByController {
				steps = append(steps, loggedStep{s: Step{Kind: scn.Kind, Pod: p.Name, Action: ActionDelete, Revision: p.Revision, Node: p.Node, Time: p.DeleteRequested}, seq: p.delSeq})
			}
		}
	}
	slices.SortStableFunc(steps, func(a, b loggedStep) int { return cmp.Compare(a.seq, b.seq) })
	x.steps = steps
	for ri := range scn.Rollouts {
		r := &scn.Rollouts[ri]
		for _, s := range steps {
			if s.seq >= r.Seq && s.seq < r.EndSeq {
				r.Recorded = append(r.Recorded, s.s)
			}
		}
	}
}

// rsWriter is who changed a ReplicaSet's spec between two versions: the version's recorded
// writer when the history has one (the event log's), else the manager whose managedFields entry
// outside the status subresource is new or moved, another than the controller manager when
// there are several; "" when unknown.
func rsWriter(prev, cur *rsObj, actor string) string {
	if actor != "" || len(cur.meta.Metadata.ManagedFields) == 0 {
		return actor // the event log's writer (an audit log's user where one was imported)
	}
	var pm *objMeta
	if prev != nil {
		pm = &prev.meta
	}
	if w := movedManager(pm, &cur.meta, true); w != "" {
		return w
	}
	return "kube-controller-manager"
}

// rolloutOfChange finds the rollout of the template a spec change at LogSeq seq set, when the
// change did not start it at once (an edit of a paused Deployment rolls out on resume): the
// first rollout after the change, if it rolls out that template (not a later one's).
func (s *Scenario) rolloutOfChange(seq uint64) (*Rollout, bool) {
	for _, c := range s.Changes {
		if c.w == nil || s.x == nil || s.x.toLogSeq(c.Seq) != seq {
			continue
		}
		for i := range s.Rollouts {
			if r := &s.Rollouts[i]; r.Seq > c.Seq {
				return r, r.template == c.w.spec.Template
			}
		}
	}
	return nil, false
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
	if err == nil && k >= 1 && k <= len(s.Rollouts) {
		r := &s.Rollouts[k-1]
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
