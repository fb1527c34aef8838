package replay

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// The StatefulSet controller, re-implemented from upstream pkg/controller/statefulset
// (stateful_set_control.go UpdateStatefulSet, performUpdate, getStatefulSetRevisions,
// updateStatefulSet, processReplica, processCondemned; stateful_set_utils.go
// newVersionedStatefulSetPod, completeRollingUpdate). OrderedReady processes one ordinal per
// sync and waits for it to be Running and Ready (and available); Parallel processes all of them
// in slow-start batches, whose pods are created concurrently. Rolling updates delete one pod per
// sync from the highest ordinal down to the partition, and wait for it to come back healthy.
// MaxUnavailable for StatefulSets is an alpha feature, off by default, and not simulated.

const podManagementParallel = "Parallel"

type statefulSetController struct{ s *simulation }

func (ssc *statefulSetController) sync() {
	s := ssc.s
	set := s.st.w
	if set == nil {
		return
	}
	current, update := ssc.revisions(set)
	st := ssc.updateStatefulSet(set, current, update)
	// completeRollingUpdate
	if set.spec.Strategy == strategyRollingUpdate && st.UpdatedReplicas == set.spec.Replicas &&
		st.ReadyReplicas == set.spec.Replicas && st.Replicas == set.spec.Replicas {
		st.CurrentReplicas = st.UpdatedReplicas
		st.CurrentRevision = st.UpdateRevision
	}
	if st != set.status {
		set.status = st
		s.st.workloadChanged()
	}
	if set.spec.MinReadySeconds > 0 && st.AvailableReplicas != set.spec.Replicas {
		s.resyncAfterWrite(ctrlStatefulSet, "", time.Duration(set.spec.MinReadySeconds)*time.Second)
	}
}

// revisions is getStatefulSetRevisions: the revision of the current template becomes the update
// revision (an equal older revision is renumbered, as on rollback); the current revision is the
// one the status names.
func (ssc *statefulSetController) revisions(set *simWorkload) (current, update *ctrlRevision) {
	s := ssc.s
	revs := s.st.revisions
	slices.SortStableFunc(revs, func(a, b *ctrlRevision) int { return cmp.Compare(a.revision, b.revision) })
	next := int64(1)
	if n := len(revs); n > 0 {
		next = revs[n-1].revision + 1
	}
	var equal []*ctrlRevision
	for _, r := range revs {
		if r.key == set.spec.Template {
			equal = append(equal, r)
		}
	}
	switch {
	case len(equal) > 0 && equal[len(equal)-1] == revs[len(revs)-1]:
		update = revs[len(revs)-1]
	case len(equal) > 0:
		update = equal[len(equal)-1]
		update.revision = next
		slices.SortStableFunc(revs, func(a, b *ctrlRevision) int { return cmp.Compare(a.revision, b.revision) })
	default:
		update = &ctrlRevision{name: s.revisionName(set.spec.Template), key: set.spec.Template, revision: next}
		s.st.revisions = append(revs, update)
	}
	for _, r := range s.st.revisions {
		if r.name == set.status.CurrentRevision {
			current = r
			break
		}
	}
	if current == nil {
		current = update
	}
	return current, update
}

func (ssc *statefulSetController) updateStatefulSet(set *simWorkload, current, update *ctrlRevision) workloadStatus {
	s := ssc.s
	st := workloadStatus{ObservedGeneration: set.generation, CurrentRevision: current.name, UpdateRevision: update.name,
		CollisionCount: set.status.CollisionCount}
	n := int(set.spec.Replicas)
	replicas := make([]*simPod, n)
	var condemned []*simPod
	for _, p := range s.st.pods {
		switch {
		case p.ordinal >= 0 && p.ordinal < n:
			replicas[p.ordinal] = p
		case p.ordinal >= n:
			condemned = append(condemned, p)
		}
	}
	fresh := map[*simPod]bool{} // pods created in this sync: not yet "created" in the objects it holds
	missing := make([]bool, n)
	for i := range replicas {
		missing[i] = replicas[i] == nil
	}
	slices.SortFunc(condemned, func(a, b *simPod) int { return cmp.Compare(b.ordinal, a.ordinal) })
	// The first unhealthy pod, in ordinal order, replicas first; a pod not created yet is
	// unhealthy (upstream holds a placeholder for it, which is never condemned).
	var firstUnhealthy *simPod
	for i := range replicas {
		if firstUnhealthy != nil {
			break
		}
		if missing[i] {
			firstUnhealthy = &simPod{ordinal: i}
		} else if !replicas[i].healthy() {
			firstUnhealthy = replicas[i]
		}
	}
	for i := len(condemned) - 1; i >= 0 && firstUnhealthy == nil; i-- {
		if !condemned[i].healthy() {
			firstUnhealthy = condemned[i]
		}
	}
	monotonic := set.spec.PodManagementPolicy != podManagementParallel
	finish := func() workloadStatus {
		ssc.countStatus(&st, set, current, update, fresh)
		return st
	}

	processReplica := func(i int) bool {
		if missing[i] {
			rev := update
			if set.spec.Strategy == strategyRollingUpdate && int32(i) < set.spec.Partition {
				rev = current
			}
			p := s.createPod(podSpec{revKey: rev.key, revName: rev.name, ordinal: i, name: fmt.Sprintf("%s-%d", set.name, i)})
			ssc.ensureClaims(set, i)
			replicas[i], missing[i] = p, false
			fresh[p] = true
			return monotonic
		}
		p := replicas[i]
		if fresh[p] {
			return false
		}
		if p.deleting && monotonic {
			return true
		}
		if !p.runningAndReady() && monotonic {
			return true
		}
		if !p.available(set.spec.MinReadySeconds, s.now) && monotonic {
			return true
		}
		return false
	}
	if ssc.runForAll(n, processReplica, monotonic) {
		return finish()
	}
	processCondemned := func(i int) bool {
		p := condemned[i]
		if p.deleting {
			return monotonic
		}
		if !p.runningAndReady() && monotonic && p != firstUnhealthy {
			return true
		}
		if !p.available(set.spec.MinReadySeconds, s.now) && monotonic && p != firstUnhealthy {
			return true
		}
		s.deletePod(p, true)
		return true
	}
	if ssc.runForAll(len(condemned), processCondemned, monotonic) {
		return finish()
	}
	if set.spec.Strategy == strategyOnDelete {
		return finish()
	}
	st = finish()
	for target := n - 1; target >= int(set.spec.Partition); target-- {
		p := replicas[target]
		if p.revName != update.name && !p.deleting {
			s.deletePod(p, true)
			st.CurrentReplicas--
			return st
		}
		if fresh[p] || !p.healthy() {
			return st
		}
	}
	return st
}

// runForAll runs fn over 0..n-1: in order, stopping when fn asks to (monotonic), or in
// slow-start batches of 1, 2, 4, ... whose actions are concurrent (Parallel). It reports
// whether the sync must stop.
func (ssc *statefulSetController) runForAll(n int, fn func(int) bool, monotonic bool) bool {
	if monotonic {
		for i := 0; i < n; i++ {
			if fn(i) {
				return true
			}
		}
		return false
	}
	for i, size := 0, 1; i < n; i, size = i+size, min(2*size, maxBatchSize) {
		ssc.s.newBatch()
		for j := i; j < i+size && j < n; j++ {
			fn(j)
		}
	}
	ssc.s.endBatch()
	return false
}

// maxBatchSize is upstream's MaxBatchSize for StatefulSet slow-start batches.
const maxBatchSize = 500

// countStatus is updateStatus over the pods the sync saw: pods it created are not counted yet.
func (ssc *statefulSetController) countStatus(st *workloadStatus, set *simWorkload, current, update *ctrlRevision, fresh map[*simPod]bool) {
	st.Replicas, st.ReadyReplicas, st.AvailableReplicas, st.CurrentReplicas, st.UpdatedReplicas = 0, 0, 0, 0, 0
	for _, p := range ssc.s.st.pods {
		if fresh[p] || p.ordinal < 0 {
			continue
		}
		st.Replicas++
		if p.runningAndReady() {
			st.ReadyReplicas++
			if p.available(set.spec.MinReadySeconds, ssc.s.now) {
				st.AvailableReplicas++
			}
		}
		if !p.deleting {
			if p.revName == current.name {
				st.CurrentReplicas++
			}
			if p.revName == update.name {
				st.UpdatedReplicas++
			}
		}
	}
}

// ensureClaims creates the pod's PersistentVolumeClaims from volumeClaimTemplates when they
// do not exist; claims outlive pods, so a re-created pod finds its claims again.
func (ssc *statefulSetController) ensureClaims(set *simWorkload, ordinal int) {
	for _, c := range set.spec.Claims {
		name := fmt.Sprintf("%s-%s-%d", c, set.name, ordinal)
		if !ssc.s.st.pvcs[name] {
			ssc.s.st.pvcs[name] = true
			ssc.s.claimsCreated = append(ssc.s.claimsCreated, name)
		}
	}
}

// ctrlStatefulSet is the StatefulSet controller's workqueue.
const ctrlStatefulSet controllerID = "StatefulSet"

// statefulSetKind declares StatefulSets to replay.
type statefulSetKind struct{}

func (statefulSetKind) kind() string   { return KindStatefulSet }
func (statefulSetKind) podsByOrdinal() {}

// StatefulSet pods carry their revision's full name.
func (statefulSetKind) podRevision(_, cr, _ string) string { return cr }
func (statefulSetKind) revisionsNamedAfterWorkload()       {}

func (statefulSetKind) refuseOverride(path string) error {
	if path == "spec.updateStrategy.rollingUpdate.maxUnavailable" {
		return overrideErr("--set %s: StatefulSet maxUnavailable needs the alpha MaxUnavailableStatefulSet feature gate and is not simulated: use spec.podManagementPolicy=Parallel or spec.updateStrategy.rollingUpdate.partition", path)
	}
	return nil
}
func (statefulSetKind) names() []string          { return kubectlNames("apps", KindStatefulSet) }
func (statefulSetKind) controller() controllerID { return ctrlStatefulSet }

func (statefulSetKind) parse(obj []byte, w *workloadObj) error {
	var d appsv1.StatefulSet
	if err := json.Unmarshal(obj, &d); err != nil {
		return err
	}
	s := &w.spec
	s.Replicas = deref32(d.Spec.Replicas, 1)
	s.MinReadySeconds = d.Spec.MinReadySeconds
	s.RevisionHistoryLimit = deref32(d.Spec.RevisionHistoryLimit, 10)
	s.Strategy = string(d.Spec.UpdateStrategy.Type)
	if s.Strategy == "" {
		s.Strategy = string(appsv1.RollingUpdateStatefulSetStrategyType)
	}
	if ru := d.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		s.Partition = deref32(ru.Partition, 0)
		s.MaxUnavailable = ru.MaxUnavailable
	}
	s.PodManagementPolicy = string(d.Spec.PodManagementPolicy)
	if s.PodManagementPolicy == "" {
		s.PodManagementPolicy = string(appsv1.OrderedReadyPodManagement)
	}
	for _, c := range d.Spec.VolumeClaimTemplates {
		s.Claims = append(s.Claims, c.Name)
	}
	s.HasSelector = d.Spec.Selector != nil
	w.tmpl = &d.Spec.Template
	st := d.Status
	w.status = workloadStatus{ObservedGeneration: st.ObservedGeneration, Replicas: st.Replicas, UpdatedReplicas: st.UpdatedReplicas,
		ReadyReplicas: st.ReadyReplicas, AvailableReplicas: st.AvailableReplicas, CurrentReplicas: st.CurrentReplicas, CurrentRevision: st.CurrentRevision,
		UpdateRevision: st.UpdateRevision, CollisionCount: deref32(st.CollisionCount, 0)}
	return nil
}

func (statefulSetKind) start(s *simulation) map[controllerID]controller {
	ssc := &statefulSetController{s: s}
	return map[controllerID]controller{ctrlStatefulSet: controllerFunc(func(string) { ssc.sync() })}
}

func (statefulSetKind) onChange(s *simulation, c change) { wakeOnEveryChange(s, ctrlStatefulSet, c) }

func (statefulSetKind) wants(sp *spec, _ *corev1.PodTemplateSpec, _ func() []*node) int {
	return int(sp.Replicas)
}

// keepsOld is the partition of a rolling update.
func (statefulSetKind) keepsOld(sp *spec) int {
	if sp.Strategy != strategyRollingUpdate {
		return 0
	}
	return int(min(sp.Partition, sp.Replicas))
}

func (statefulSetKind) runsToCompletion() bool { return false }
func (statefulSetKind) readsNodes() bool       { return false }

func (statefulSetKind) describe(s *simulation) []string {
	w := s.st.w
	line := fmt.Sprintf("statefulset %s: generation %d, replicas %d, strategy %s, partition %d, %s", w.name, w.generation,
		w.spec.Replicas, w.spec.Strategy, w.spec.Partition, w.spec.PodManagementPolicy)
	return append([]string{line}, describePods(s)...)
}

// A StatefulSet pod stands for the pod of the same ordinal only.
func (statefulSetKind) counterpart(e *environment, list []*PodRecord, ps podSpec) *PodRecord {
	return e.claimFirst(list, func(r *PodRecord) bool { return r.Name == ps.name })
}

func (statefulSetKind) stepJSON(s Step) any {
	return struct {
		Pod      string `json:"pod"`
		Action   string `json:"action"`
		Revision string `json:"revision"`
	}{s.Pod, s.Action, s.Revision}
}

func (statefulSetKind) sameStep(a, b Step) bool {
	return a.Pod == b.Pod && a.Action == b.Action && a.Revision == b.Revision
}

func (statefulSetKind) stepString(s Step) string {
	return fmt.Sprintf("%s %s (%s)", s.Action, s.Pod, s.Revision)
}

func (statefulSetKind) stepSortKey(s Step) string { return s.Action + "/" + s.Pod }

// wakeOnEveryChange is the informers of a controller with a single key that watches its
// workload, pods and nodes: every change enqueues it, and a pod that became Ready enqueues it
// again once minReadySeconds have passed.
func wakeOnEveryChange(s *simulation, ctrl controllerID, c change) {
	s.enqueue(ctrl, "")
	if w := s.st.w; c.becameReady && w != nil && w.spec.MinReadySeconds > 0 {
		s.enqueueAfter(ctrl, "", time.Duration(w.spec.MinReadySeconds)*time.Second+time.Second)
	}
}

func (statefulSetKind) overrides() []string {
	return []string{"spec.replicas", "spec.minReadySeconds", "spec.podManagementPolicy", "spec.updateStrategy.type",
		"spec.updateStrategy.rollingUpdate.partition", "spec.revisionHistoryLimit"}
}

func (statefulSetKind) validate(*overrides, *spec) error { return nil }

// resize makes a steady StatefulSet (all pods of one revision and available) want pods.
func (statefulSetKind) resize(s *simulation, want int) {
	w := s.st.w
	pods := append([]*simPod(nil), s.st.pods...)
	if !steady(pods, len(pods)) {
		return
	}
	slices.SortFunc(pods, func(a, b *simPod) int { return cmp.Compare(a.ordinal, b.ordinal) })
	resizePods(s, pods, want, nil)
	w.status.Replicas, w.status.ReadyReplicas, w.status.AvailableReplicas = int32(want), int32(want), int32(want)
	w.status.CurrentReplicas, w.status.UpdatedReplicas = int32(want), int32(want)
}

// hadReason: p was outside the ordinals, or of another revision than the template's where a
// rolling update replaces pods.
func (statefulSetKind) hadReason(scn *Scenario, p *PodRecord) bool {
	w := workloadAt(scn.x, p.delSeq)
	if w == nil {
		return true
	}
	return int32(p.Ordinal) >= w.spec.Replicas ||
		w.spec.Strategy == strategyRollingUpdate && int32(p.Ordinal) >= w.spec.Partition && p.revKey != w.spec.Template
}
