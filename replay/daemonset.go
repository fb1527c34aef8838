package replay

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The DaemonSet controller, re-implemented from upstream pkg/controller/daemon
// (daemon_controller.go syncDaemonSet, manage, podsShouldBeOnNode, syncNodes; update.go
// rollingUpdate, constructHistory, findUpdatedPodsOnNode). A rolling update only runs in a sync
// where manage had nothing to create or delete, as upstream's expectations make it.
//
// Upstream walks nodes in Go map order, that is at random, when it picks which pods to replace
// next; the simulation walks them in a fixed order: first the nodes in the order in which the
// recorded rollout touched them (a choice upstream leaves free follows the recording), then the
// others by name.

type daemonSetController struct{ s *simulation }

func (dsc *daemonSetController) sync() {
	s := dsc.s
	ds := s.st.w
	if ds == nil {
		return
	}
	rev := dsc.currentRevision(ds)
	if !dsc.manage(ds, rev) && ds.spec.Strategy == strategyRollingUpdate {
		dsc.rollingUpdate(ds, rev)
	}
	dsc.updateStatus(ds, rev)
}

// currentRevision is constructHistory: the revision of the current template, renumbered to
// come last when an older revision has the same template.
func (dsc *daemonSetController) currentRevision(ds *simWorkload) *ctrlRevision {
	s := dsc.s
	var cur *ctrlRevision
	maxOld := int64(0)
	for _, r := range s.st.revisions {
		if r.key == ds.spec.Template {
			cur = r
		} else if r.revision > maxOld {
			maxOld = r.revision
		}
	}
	if cur == nil {
		cur = &ctrlRevision{name: s.revisionName(ds.spec.Template), key: ds.spec.Template, revision: maxOld + 1}
		s.st.revisions = append(s.st.revisions, cur)
	} else if cur.revision < maxOld+1 {
		cur.revision = maxOld + 1
	}
	return cur
}

// nodePods maps node names to the workload's pods there, terminating ones included.
func (dsc *daemonSetController) nodePods() map[string][]*simPod {
	m := map[string][]*simPod{}
	for _, p := range dsc.s.st.pods {
		m[p.node] = append(m[p.node], p)
	}
	return m
}

// dsPodOrder is podByCreationTimestampAndPhase: scheduled first, then oldest, then by name.
func dsPodOrder(pods []*simPod) {
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if (a.nodeName() != "") != (b.nodeName() != "") {
			return a.nodeName() != ""
		}
		if a.creationTS.Equal(b.creationTS) {
			return a.name < b.name
		}
		return a.creationTS.Before(b.creationTS)
	})
}

func allowsSurge(ds *simWorkload) bool {
	if ds.spec.Strategy != strategyRollingUpdate {
		return false
	}
	n, err := scaledValue(ds.spec.MaxSurge, 1, true)
	return err == nil && n > 0
}

// manage creates and deletes daemon pods so that each eligible node runs one; it reports
// whether it did anything.
func (dsc *daemonSetController) manage(ds *simWorkload, rev *ctrlRevision) bool {
	s := dsc.s
	byNode := dsc.nodePods()
	var needing []string
	var toDelete []*simPod
	known := map[string]bool{}
	for _, n := range s.st.nodes {
		known[n.Name] = true
		shouldRun, shouldContinue := shouldRunDaemonPod(n, ds.tmpl)
		pods, exists := byNode[n.Name]
		switch {
		case shouldRun && !exists:
			needing = append(needing, n.Name)
		case shouldContinue:
			var running []*simPod
			for _, p := range pods {
				if !p.deleting {
					running = append(running, p)
				}
			}
			if !allowsSurge(ds) {
				if len(running) <= 1 {
					break
				}
				dsPodOrder(running)
				toDelete = append(toDelete, running[1:]...)
				break
			}
			if len(running) <= 1 {
				if len(running) == 0 && shouldRun {
					needing = append(needing, n.Name)
				}
				break
			}
			dsPodOrder(running)
			var oldestNew, oldestOld *simPod
			for _, p := range running {
				if p.revName == rev.name {
					if oldestNew == nil {
						oldestNew = p
						continue
					}
				} else if oldestOld == nil {
					oldestOld = p
					continue
				}
				toDelete = append(toDelete, p)
			}
			if oldestNew != nil && oldestOld != nil {
				switch {
				case !oldestOld.ready:
					toDelete = append(toDelete, oldestOld)
				case oldestNew.available(ds.spec.MinReadySeconds, s.now):
					toDelete = append(toDelete, oldestOld)
				}
			}
		case !shouldContinue && exists:
			for _, p := range pods {
				if !p.deleting {
					toDelete = append(toDelete, p)
				}
			}
		}
	}
	// Upstream lists nodes in random order: the slow-start batches take them as the recording
	// created pods on them.
	needing = preferred(needing, dsc.s.nodeCreated)
	// pods bound to nodes that no longer exist
	for _, name := range sortedKeys(byNode) {
		if known[name] {
			continue
		}
		for _, p := range byNode[name] {
			if !p.deleting && !p.scheduled {
				toDelete = append(toDelete, p)
			}
		}
	}
	return dsc.syncNodes(ds, rev, toDelete, needing)
}

// syncNodes creates pods on nodes in slow-start batches, then deletes pods, all concurrently.
func (dsc *daemonSetController) syncNodes(ds *simWorkload, rev *ctrlRevision, toDelete []*simPod, needing []string) bool {
	s := dsc.s
	create := min(len(needing), burstReplicas)
	for pos, size := 0, min(create, 1); pos < create; pos, size = pos+size, min(2*size, create-(pos+size)) {
		s.newBatch()
		for i := pos; i < pos+size; i++ {
			s.createPod(podSpec{revKey: rev.key, revName: rev.name, ordinal: -1, node: needing[i]})
		}
	}
	del := min(len(toDelete), burstReplicas)
	if del > 0 {
		s.newBatch()
		for _, p := range toDelete[:del] {
			s.deletePod(p, true)
		}
	}
	s.endBatch()
	return create+del > 0
}

func (dsc *daemonSetController) desiredCounts(ds *simWorkload, byNode map[string][]*simPod) (surge, unavailable, desired int) {
	for _, n := range dsc.s.st.nodes {
		if run, _ := shouldRunDaemonPod(n, ds.tmpl); run {
			desired++
			if _, ok := byNode[n.Name]; !ok {
				byNode[n.Name] = nil
			}
		}
	}
	if ds.spec.Strategy == strategyRollingUpdate {
		u, _ := scaledValue(ds.spec.MaxUnavailable, int32(desired), true)
		su, _ := scaledValue(ds.spec.MaxSurge, int32(desired), true)
		surge, unavailable = int(su), int(u)
	}
	if desired > 0 && unavailable == 0 && surge == 0 {
		unavailable = 1
	}
	return
}

// findUpdated is findUpdatedPodsOnNode.
func findUpdated(pods []*simPod, rev *ctrlRevision) (newPod, oldPod *simPod, ok bool) {
	for _, p := range pods {
		if p.deleting {
			continue
		}
		if p.revName == rev.name {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = p
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = p
		}
	}
	return newPod, oldPod, true
}

// nodeOrder is the order in which the rolling update walks nodes (see the package comment).
func (dsc *daemonSetController) nodeOrder(byNode map[string][]*simPod) []string {
	return preferred(sortedKeys(byNode), dsc.s.nodePref)
}

// nodeOrders ranks nodes by the first of n steps on them (step(i) is the i-th; see
// preferred), and by the first pod created on them. The steps are read in place: a sync on a
// recorded state passes every step after it (see snapshot), and copying them for each sync
// cost the decision audit more than the syncs themselves.
func nodeOrders(n int, step func(i int) *Step) (touched, created map[string]int) {
	touched, created = map[string]int{}, map[string]int{}
	for i := range n {
		st := step(i)
		if st.Node == "" {
			continue
		}
		if _, ok := touched[st.Node]; !ok {
			touched[st.Node] = i
		}
		if _, ok := created[st.Node]; !ok && st.Action == ActionCreate {
			created[st.Node] = i
		}
	}
	return touched, created
}

// preferred orders node names as the recording chose among them, where upstream walks nodes in
// random order: the nodes the recorded controller touched first (pref: see nodeOrders), then the
// others as given.
func preferred(names []string, pref map[string]int) []string {
	sort.SliceStable(names, func(i, j int) bool {
		pi, oki := pref[names[i]]
		pj, okj := pref[names[j]]
		switch {
		case oki && okj:
			return pi < pj
		case oki != okj:
			return oki
		}
		return false
	})
	return names
}

func (dsc *daemonSetController) rollingUpdate(ds *simWorkload, rev *ctrlRevision) {
	s := dsc.s
	byNode := dsc.nodePods()
	maxSurge, maxUnavail, desired := dsc.desiredCounts(ds, byNode)
	now := s.now
	mrs := ds.spec.MinReadySeconds
	if maxSurge == 0 {
		numUnavailable := 0
		var allowed, candidates []*simPod
		for _, name := range dsc.nodeOrder(byNode) {
			newPod, oldPod, ok := findUpdated(byNode[name], rev)
			if !ok {
				numUnavailable++
				continue
			}
			switch {
			case oldPod == nil && newPod == nil, oldPod != nil && newPod != nil:
				numUnavailable++
			case newPod != nil:
				if !newPod.available(mrs, now) {
					numUnavailable++
				}
			default:
				switch {
				case !oldPod.available(mrs, now):
					allowed = append(allowed, oldPod)
					numUnavailable++
				case numUnavailable >= maxUnavail:
				default:
					candidates = append(candidates, oldPod)
				}
			}
		}
		remaining := max(maxUnavail-numUnavailable, 0)
		remaining = min(remaining, len(candidates))
		dsc.syncNodes(ds, rev, append(allowed, candidates[:remaining]...), nil)
		return
	}
	var oldToDelete, shouldNotRun []*simPod
	var candidateNew, allowedNew []string
	numSurge, numAvailable := 0, 0
	for _, name := range dsc.nodeOrder(byNode) {
		newPod, oldPod, ok := findUpdated(byNode[name], rev)
		if !ok {
			numSurge++
			continue
		}
		if oldPod != nil {
			if oldPod.available(mrs, now) {
				numAvailable++
			}
		} else if newPod != nil && newPod.available(mrs, now) {
			numAvailable++
		}
		n := s.st.nodeByName(name)
		switch {
		case oldPod == nil:
		case newPod == nil:
			run := n != nil
			if n != nil {
				run, _ = shouldRunDaemonPod(n, ds.tmpl)
			}
			switch {
			case !oldPod.available(mrs, now):
				if !run {
					oldToDelete = append(oldToDelete, oldPod)
					continue
				}
				allowedNew = append(allowedNew, name)
			default:
				if !run {
					shouldNotRun = append(shouldNotRun, oldPod)
					continue
				}
				if numSurge >= maxSurge {
					continue
				}
				candidateNew = append(candidateNew, name)
			}
		default:
			if !newPod.available(mrs, now) {
				numSurge++
				continue
			}
			oldToDelete = append(oldToDelete, oldPod)
		}
	}
	remainingSurge := maxSurge - numSurge
	if deletable := numAvailable - desired; deletable > 0 {
		deletable = min(deletable, len(shouldNotRun))
		oldToDelete = append(oldToDelete, shouldNotRun[:deletable]...)
	}
	remainingSurge = min(max(remainingSurge, 0), len(candidateNew))
	dsc.syncNodes(ds, rev, oldToDelete, append(allowedNew, candidateNew[:remainingSurge]...))
}

// updateStatus keeps the DaemonSet's counters; with minReadySeconds it requeues until ready
// pods are available, as upstream does.
func (dsc *daemonSetController) updateStatus(ds *simWorkload, rev *ctrlRevision) {
	s := dsc.s
	st := ds.status
	st.ObservedGeneration = ds.generation
	st.Replicas, st.ReadyReplicas, st.AvailableReplicas, st.UpdatedReplicas = 0, 0, 0, 0
	for _, p := range s.st.pods {
		if p.deleting {
			continue
		}
		st.Replicas++
		if p.ready {
			st.ReadyReplicas++
			if p.available(ds.spec.MinReadySeconds, s.now) {
				st.AvailableReplicas++
			}
		}
		if p.revName == rev.name {
			st.UpdatedReplicas++
		}
	}
	if st != ds.status {
		ds.status = st
		s.st.workloadChanged()
	}
	if ds.spec.MinReadySeconds > 0 && st.ReadyReplicas != st.AvailableReplicas {
		s.resyncAfterWrite(ctrlDaemonSet, "", time.Duration(ds.spec.MinReadySeconds)*time.Second)
	}
}

// ctrlDaemonSet is the DaemonSet controller's workqueue.
const ctrlDaemonSet controllerID = "DaemonSet"

// daemonSetKind declares DaemonSets to replay.
type daemonSetKind struct{}

// The API server's defaults of a DaemonSet's rolling update: maxSurge 0, maxUnavailable 1.
func (daemonSetKind) rollingUpdateDefaults() (maxSurge, maxUnavailable *intstr.IntOrString) {
	return ptrIS(intstr.FromInt32(0)), ptrIS(intstr.FromInt32(1))
}

// DaemonSet pods carry the hash; without the label, the revision's name less "NAME-".
func (daemonSetKind) podRevision(name, cr, hash string) string {
	if hash == "" {
		return strings.TrimPrefix(cr, name+"-")
	}
	return hash
}

func (daemonSetKind) kind() string             { return KindDaemonSet }
func (daemonSetKind) names() []string          { return kubectlNames("apps", KindDaemonSet) }
func (daemonSetKind) controller() controllerID { return ctrlDaemonSet }

func (daemonSetKind) parse(obj []byte, w *workloadObj) error {
	var d appsv1.DaemonSet
	if err := json.Unmarshal(obj, &d); err != nil {
		return err
	}
	s := &w.spec
	s.MinReadySeconds = d.Spec.MinReadySeconds
	s.RevisionHistoryLimit = deref32(d.Spec.RevisionHistoryLimit, 10)
	s.Strategy = string(d.Spec.UpdateStrategy.Type)
	if s.Strategy == "" {
		s.Strategy = string(appsv1.RollingUpdateDaemonSetStrategyType)
	}
	if ru := d.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		s.MaxSurge, s.MaxUnavailable = ru.MaxSurge, ru.MaxUnavailable
	}
	s.HasSelector = d.Spec.Selector != nil
	w.tmpl = &d.Spec.Template
	st := d.Status
	w.status = workloadStatus{ObservedGeneration: st.ObservedGeneration, Replicas: st.CurrentNumberScheduled,
		UpdatedReplicas: st.UpdatedNumberScheduled, ReadyReplicas: st.NumberReady, AvailableReplicas: st.NumberAvailable,
		CollisionCount: deref32(st.CollisionCount, 0)}
	return nil
}

func (daemonSetKind) start(s *simulation) map[controllerID]controller {
	dsc := &daemonSetController{s: s}
	return map[controllerID]controller{ctrlDaemonSet: controllerFunc(func(string) { dsc.sync() })}
}

func (daemonSetKind) onChange(s *simulation, c change) {
	if c.kind == chNode {
		s.recordDesired()
	}
	wakeOnEveryChange(s, ctrlDaemonSet, c)
}

// wants is the number of nodes that should run a daemon pod.
func (daemonSetKind) wants(_ *spec, tmpl *corev1.PodTemplateSpec, nodes func() []*node) int {
	n := 0
	for _, nd := range nodes() {
		if run, _ := shouldRunDaemonPod(nd, tmpl); run {
			n++
		}
	}
	return n
}

func (daemonSetKind) keepsOld(*spec) int     { return 0 }
func (daemonSetKind) runsToCompletion() bool { return false }
func (daemonSetKind) readsNodes() bool       { return true }

func (daemonSetKind) describe(s *simulation) []string {
	w := s.st.w
	line := fmt.Sprintf("daemonset %s: generation %d, %d nodes, strategy %s", w.name, w.generation, len(s.st.nodes), w.spec.Strategy)
	return append([]string{line}, describePods(s)...)
}

// A DaemonSet pod stands for a recorded pod of its node, else for the next one.
func (daemonSetKind) counterpart(e *environment, list []*PodRecord, ps podSpec) *PodRecord {
	if r := e.claimFirst(list, func(r *PodRecord) bool { return r.Node == ps.node }); r != nil {
		return r
	}
	return e.claimNext(ps.revKey)
}

func (daemonSetKind) stepJSON(s Step) any {
	return struct {
		Pod    string `json:"pod"`
		Node   string `json:"node"`
		Action string `json:"action"`
	}{s.Pod, s.Node, s.Action}
}

// Upstream names DaemonSet pods randomly: their names are not compared.
func (daemonSetKind) sameStep(a, b Step) bool {
	return a.Node == b.Node && a.Action == b.Action && a.Revision == b.Revision
}

func (daemonSetKind) stepString(s Step) string {
	return fmt.Sprintf("%s %s on %s", s.Action, s.Pod, s.Node)
}

func (daemonSetKind) stepSortKey(s Step) string { return s.Action + "/" + s.Node }

func (daemonSetKind) overrides() []string {
	return []string{"spec.minReadySeconds", "spec.updateStrategy.type", "spec.updateStrategy.rollingUpdate.maxSurge",
		"spec.updateStrategy.rollingUpdate.maxUnavailable", "spec.revisionHistoryLimit"}
}

func (daemonSetKind) validate(ov *overrides, s *spec) error { return ov.refuseStuckRollingUpdate(s) }

// A DaemonSet has no replica count to change.
func (daemonSetKind) resize(*simulation, int) {}
