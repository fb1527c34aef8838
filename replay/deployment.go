package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The Deployment controller, re-implemented from upstream pkg/controller/deployment
// (deployment_controller.go syncDeployment, sync.go, rolling.go, recreate.go, progress.go and
// util/deployment_util.go). One sync takes at most one scaling decision (scale up the new
// ReplicaSet, or clean up unhealthy old ones and scale old ones down), as upstream does; the
// write triggers the next sync.

const (
	strategyRollingUpdate = "RollingUpdate"
	strategyRecreate      = "Recreate"
	strategyOnDelete      = "OnDelete"

	reasonNewRSAvailable   = "NewReplicaSetAvailable"
	reasonRSUpdated        = "ReplicaSetUpdated"
	reasonTimedOut         = "ProgressDeadlineExceeded"
	reasonNewRS            = "NewReplicaSetCreated"
	reasonFoundNewRS       = "FoundNewReplicaSet"
	reasonPaused           = "DeploymentPaused"
	reasonResumed          = "DeploymentResumed"
	conditionTrue          = "True"
	conditionFalse         = "False"
	conditionUnknown       = "Unknown"
	rateLimitedRequeueWait = 5 * time.Millisecond // client-go's item rate limiter, first retry
)

// ErrInvalidStrategy is returned when a rolling update could never progress.
var ErrInvalidStrategy = errors.New("replay: invalid rolling update strategy")

// scaledValue is apimachinery's GetScaledValueFromIntOrPercent.
func scaledValue(v *intstr.IntOrString, total int32, roundUp bool) (int32, error) {
	if v == nil {
		return 0, nil
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(v, int(total), roundUp)
	return int32(n), err
}

// ResolveFenceposts turns maxSurge and maxUnavailable (numbers or percentages of replicas)
// into numbers as upstream does: surge rounds up, unavailable rounds down. When both resolve to
// zero, upstream lets one pod be unavailable; the API server refuses specs where both are
// given as zero, which is reported as ErrInvalidStrategy.
func ResolveFenceposts(maxSurge, maxUnavailable *intstr.IntOrString, replicas int32) (surge, unavailable int32, err error) {
	if maxSurge != nil && maxUnavailable != nil && isZero(maxSurge) && isZero(maxUnavailable) {
		return 0, 0, fmt.Errorf("%w: maxSurge and maxUnavailable are both 0, the rollout could never progress: set one of them above 0", ErrInvalidStrategy)
	}
	if surge, err = scaledValue(maxSurge, replicas, true); err != nil {
		return 0, 0, fmt.Errorf("%w: maxSurge: %v", ErrInvalidStrategy, err)
	}
	if unavailable, err = scaledValue(maxUnavailable, replicas, false); err != nil {
		return 0, 0, fmt.Errorf("%w: maxUnavailable: %v", ErrInvalidStrategy, err)
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable, nil
}

func isZero(v *intstr.IntOrString) bool {
	if v.Type == intstr.Int {
		return v.IntVal == 0
	}
	return v.StrVal == "0" || v.StrVal == "0%"
}

func fenceposts(s *spec) (surge, unavailable int32) {
	su, un, err := ResolveFenceposts(s.MaxSurge, s.MaxUnavailable, s.Replicas)
	if err != nil {
		// Specs the API server accepted resolve; a zero/zero pair behaves as upstream does.
		su, _ = scaledValue(s.MaxSurge, s.Replicas, true)
		un, _ = scaledValue(s.MaxUnavailable, s.Replicas, false)
		if su == 0 && un == 0 {
			un = 1
		}
	}
	return su, un
}

// maxUnavailable is upstream's MaxUnavailable.
func maxUnavailable(s *spec) int32 {
	if s.Strategy != strategyRollingUpdate || s.Replicas == 0 {
		return 0
	}
	_, u := fenceposts(s)
	return min(u, s.Replicas)
}

// maxSurge is upstream's MaxSurge.
func maxSurge(s *spec) int32 {
	if s.Strategy != strategyRollingUpdate {
		return 0
	}
	su, _ := fenceposts(s)
	return su
}

type deploymentController struct{ s *simulation }

func (dc *deploymentController) sync() {
	s := dc.s
	d := s.st.w
	if d == nil || !d.spec.HasSelector {
		return
	}
	rsList := s.st.rss
	dc.checkPausedConditions(d)
	if d.spec.Paused {
		dc.syncScale(d, rsList)
		return
	}
	if dc.isScalingEvent(d, rsList) {
		dc.syncScale(d, rsList)
		return
	}
	if d.spec.Strategy == strategyRecreate {
		dc.rolloutRecreate(d, rsList)
		return
	}
	dc.rolloutRolling(d, rsList)
}

func hasProgressDeadline(d *simWorkload) bool { return d.spec.ProgressDeadlineSeconds != noLimit }

func (dc *deploymentController) checkPausedConditions(d *simWorkload) {
	if !hasProgressDeadline(d) {
		return
	}
	cond := d.status.Progressing
	if cond != nil && cond.Reason == reasonTimedOut {
		return
	}
	pausedCondExists := cond != nil && cond.Reason == reasonPaused
	switch {
	case d.spec.Paused && !pausedCondExists:
		dc.setProgressing(&d.status, conditionUnknown, reasonPaused)
	case !d.spec.Paused && pausedCondExists:
		dc.setProgressing(&d.status, conditionUnknown, reasonResumed)
	default:
		return
	}
	dc.writeStatus(d)
}

// setProgressing is upstream's SetDeploymentCondition for the Progressing condition.
func (dc *deploymentController) setProgressing(st *workloadStatus, status, reason string) {
	cur := st.Progressing
	if cur != nil && cur.Status == status && cur.Reason == reason {
		return
	}
	now := dc.s.now
	c := &condition{Status: status, Reason: reason, LastUpdate: now, LastTransition: now}
	if cur != nil && cur.Status == status {
		c.LastTransition = cur.LastTransition
	}
	st.Progressing = c
}

func (dc *deploymentController) writeStatus(d *simWorkload) {
	if c := d.status.Progressing; c != nil {
		c.LastUpdate, c.LastTransition = metaTime(c.LastUpdate), metaTime(c.LastTransition)
		if c.Reason == reasonTimedOut && dc.s.deadlineAt.IsZero() {
			dc.s.deadlineAt = dc.s.now
		}
	}
	dc.s.st.workloadChanged()
}

// byCreation is upstream's ReplicaSetsByCreationTimestamp.
func byCreation(rss []*simRS) {
	slices.SortStableFunc(rss, func(a, b *simRS) int {
		switch {
		case rsOlder(a, b):
			return -1
		case rsOlder(b, a):
			return 1
		}
		return 0
	})
}

func rsOlder(a, b *simRS) bool {
	if a.creationTS.Equal(b.creationTS) {
		return a.name < b.name
	}
	return a.creationTS.Before(b.creationTS)
}

func activeRS(rss []*simRS) []*simRS {
	var out []*simRS
	for _, rs := range rss {
		if rs != nil && rs.replicas > 0 {
			out = append(out, rs)
		}
	}
	return out
}

func sumReplicas(rss []*simRS) (spec, actual, ready, available int32) {
	for _, rs := range rss {
		if rs == nil {
			continue
		}
		spec += rs.replicas
		actual += rs.status.Replicas
		ready += rs.status.Ready
		available += rs.status.Available
	}
	return
}

// getAllReplicaSetsAndSyncRevision finds the new ReplicaSet (the oldest whose template is the
// Deployment's), syncs revision numbers, and creates the new ReplicaSet when asked.
func (dc *deploymentController) getAllReplicaSetsAndSyncRevision(d *simWorkload, rsList []*simRS, create bool) (*simRS, []*simRS) {
	sorted := append([]*simRS(nil), rsList...)
	byCreation(sorted)
	var newRS *simRS
	var old []*simRS
	for _, rs := range sorted {
		if newRS == nil && rs.revKey == d.spec.Template {
			newRS = rs
			continue
		}
		old = append(old, rs)
	}
	var maxOld int64
	for _, rs := range old {
		maxOld = max(maxOld, rs.revision)
	}
	newRevision := maxOld + 1
	if newRS != nil {
		updated := false
		if newRS.revision < newRevision {
			newRS.revision = newRevision
			updated = true
		}
		if updated || newRS.minReadySeconds != d.spec.MinReadySeconds {
			if newRS.minReadySeconds != d.spec.MinReadySeconds {
				newRS.minReadySeconds = d.spec.MinReadySeconds
				newRS.generation++
			}
			dc.s.st.replicaSetChanged(newRS)
			return newRS, old
		}
		needsUpdate := false
		if d.revision != newRS.revision {
			d.revision = newRS.revision
			needsUpdate = true
		}
		if hasProgressDeadline(d) && d.status.Progressing == nil {
			dc.setProgressing(&d.status, conditionTrue, reasonFoundNewRS)
			needsUpdate = true
		}
		if needsUpdate {
			dc.writeStatus(d)
		}
		return newRS, old
	}
	if !create {
		return nil, old
	}
	s := dc.s
	rs := &simRS{name: s.revisionName(d.spec.Template), uid: "", revKey: d.spec.Template, creationTS: metaTime(s.now),
		minReadySeconds: d.spec.MinReadySeconds, revision: newRevision, generation: 1}
	rs.uid = "sim-rs-" + rs.name
	rs.replicas = newRSNewReplicas(d, append(old, rs), rs)
	rs.desired, rs.hasDesired = d.spec.Replicas, true
	rs.max, rs.hasMax = d.spec.Replicas+maxSurge(&d.spec), true
	s.step(Step{Kind: KindDeployment, ReplicaSet: rs.name, From: 0, To: rs.replicas})
	s.st.addReplicaSet(rs)
	needsUpdate := false
	if d.revision != newRevision {
		d.revision = newRevision
		needsUpdate = true
	}
	if hasProgressDeadline(d) {
		dc.setProgressing(&d.status, conditionTrue, reasonNewRS)
		needsUpdate = true
	}
	if needsUpdate {
		dc.writeStatus(d)
	}
	return rs, old
}

// newRSNewReplicas is upstream's NewRSNewReplicas.
func newRSNewReplicas(d *simWorkload, all []*simRS, newRS *simRS) int32 {
	if d.spec.Strategy == strategyRecreate {
		return d.spec.Replicas
	}
	surge, _ := scaledValue(d.spec.MaxSurge, d.spec.Replicas, true)
	current, _, _, _ := sumReplicas(all)
	maxTotal := d.spec.Replicas + surge
	if current >= maxTotal {
		return newRS.replicas
	}
	up := min(maxTotal-current, d.spec.Replicas-newRS.replicas)
	return newRS.replicas + up
}

func (dc *deploymentController) isScalingEvent(d *simWorkload, rsList []*simRS) bool {
	newRS, old := dc.getAllReplicaSetsAndSyncRevision(d, rsList, false)
	for _, rs := range activeRS(append(old, newRS)) {
		if rs.hasDesired && rs.desired != d.spec.Replicas {
			return true
		}
	}
	return false
}

// syncScale is upstream's sync(): scale proportionally, clean up when paused, update status.
func (dc *deploymentController) syncScale(d *simWorkload, rsList []*simRS) {
	newRS, old := dc.getAllReplicaSetsAndSyncRevision(d, rsList, false)
	dc.scale(d, newRS, old)
	if d.spec.Paused {
		dc.cleanupDeployment(old, d)
	}
	dc.syncDeploymentStatus(append(old, newRS), newRS, d)
}

// scale is upstream's proportional scaling.
func (dc *deploymentController) scale(d *simWorkload, newRS *simRS, oldRSs []*simRS) {
	if aol := findActiveOrLatest(newRS, oldRSs); aol != nil {
		if aol.replicas != d.spec.Replicas {
			dc.scaleRS(aol, d.spec.Replicas, d)
		}
		return
	}
	if isSaturated(d, newRS) {
		for _, old := range activeRS(oldRSs) {
			dc.scaleRS(old, 0, d)
		}
		return
	}
	if d.spec.Strategy != strategyRollingUpdate {
		return
	}
	all := activeRS(append(append([]*simRS(nil), oldRSs...), newRS))
	allReplicas, _, _, _ := sumReplicas(all)
	allowed := int32(0)
	if d.spec.Replicas > 0 {
		allowed = d.spec.Replicas + maxSurge(&d.spec)
	}
	toAdd := allowed - allReplicas
	switch {
	case toAdd > 0: // ReplicaSetsBySizeNewer
		sort.SliceStable(all, func(i, j int) bool {
			if all[i].replicas == all[j].replicas {
				return rsOlder(all[j], all[i])
			}
			return all[i].replicas > all[j].replicas
		})
	case toAdd < 0: // ReplicaSetsBySizeOlder
		sort.SliceStable(all, func(i, j int) bool {
			if all[i].replicas == all[j].replicas {
				return rsOlder(all[i], all[j])
			}
			return all[i].replicas > all[j].replicas
		})
	}
	added := int32(0)
	size := make([]int32, len(all))
	for i, rs := range all {
		if toAdd != 0 {
			p := proportion(rs, d, toAdd, added)
			size[i] = rs.replicas + p
			added += p
		} else {
			size[i] = rs.replicas
		}
	}
	for i, rs := range all {
		if i == 0 && toAdd != 0 {
			size[i] += toAdd - added
			if size[i] < 0 {
				size[i] = 0
			}
		}
		dc.scaleRSUnconditional(rs, size[i], d)
	}
}

// proportion is upstream's GetReplicaSetProportion.
func proportion(rs *simRS, d *simWorkload, toAdd, added int32) int32 {
	if rs == nil || rs.replicas == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	frac := fraction(rs, d)
	allowed := toAdd - added
	if toAdd > 0 {
		return min(frac, allowed)
	}
	return max(frac, allowed)
}

func fraction(rs *simRS, d *simWorkload) int32 {
	if d.spec.Replicas == 0 {
		return -rs.replicas
	}
	maxReplicas := d.spec.Replicas + maxSurge(&d.spec)
	before := rs.max
	if !rs.hasMax || before == 0 {
		before = d.status.Replicas
		if before == 0 {
			return 0
		}
	}
	newSize := float64(rs.replicas*maxReplicas) / float64(before)
	return int32(math.Round(newSize)) - rs.replicas
}

func findActiveOrLatest(newRS *simRS, oldRSs []*simRS) *simRS {
	if newRS == nil && len(oldRSs) == 0 {
		return nil
	}
	sorted := append([]*simRS(nil), oldRSs...)
	sort.SliceStable(sorted, func(i, j int) bool { return rsOlder(sorted[j], sorted[i]) })
	all := activeRS(append(sorted, newRS))
	switch len(all) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return sorted[0]
	case 1:
		return all[0]
	}
	return nil
}

func isSaturated(d *simWorkload, rs *simRS) bool {
	if rs == nil || !rs.hasDesired {
		return false
	}
	return rs.replicas == d.spec.Replicas && rs.desired == d.spec.Replicas && rs.status.Available == d.spec.Replicas
}

// scaleRS is scaleReplicaSetAndRecordEvent: it writes only when the size changes.
func (dc *deploymentController) scaleRS(rs *simRS, to int32, d *simWorkload) bool {
	if rs.replicas == to {
		return false
	}
	return dc.scaleRSUnconditional(rs, to, d)
}

// scaleRSUnconditional is scaleReplicaSet: it also writes when only the desired-replicas and
// max-replicas annotations are stale. It reports whether the size changed.
func (dc *deploymentController) scaleRSUnconditional(rs *simRS, to int32, d *simWorkload) bool {
	desired, mx := d.spec.Replicas, d.spec.Replicas+maxSurge(&d.spec)
	sizeChange := rs.replicas != to
	annChange := !rs.hasDesired || rs.desired != desired || !rs.hasMax || rs.max != mx
	if !sizeChange && !annChange {
		return false
	}
	from := rs.replicas
	rs.replicas = to
	rs.desired, rs.hasDesired, rs.max, rs.hasMax = desired, true, mx, true
	if sizeChange {
		rs.generation++
	}
	if sizeChange {
		dc.s.step(Step{Kind: KindDeployment, ReplicaSet: rs.name, From: from, To: to})
	}
	dc.s.st.replicaSetChanged(rs)
	return sizeChange
}

func (dc *deploymentController) rolloutRolling(d *simWorkload, rsList []*simRS) {
	newRS, old := dc.getAllReplicaSetsAndSyncRevision(d, rsList, true)
	all := append(append([]*simRS(nil), old...), newRS)
	if dc.reconcileNewReplicaSet(all, newRS, d) {
		dc.syncRolloutStatus(all, newRS, d)
		return
	}
	if dc.reconcileOldReplicaSets(all, activeRS(old), newRS, d) {
		dc.syncRolloutStatus(all, newRS, d)
		return
	}
	if deploymentComplete(d, &d.status) {
		dc.cleanupDeployment(old, d)
	}
	dc.syncRolloutStatus(all, newRS, d)
}

func (dc *deploymentController) reconcileNewReplicaSet(all []*simRS, newRS *simRS, d *simWorkload) bool {
	if newRS.replicas == d.spec.Replicas {
		return false
	}
	if newRS.replicas > d.spec.Replicas {
		return dc.scaleRS(newRS, d.spec.Replicas, d)
	}
	return dc.scaleRS(newRS, newRSNewReplicas(d, all, newRS), d)
}

func (dc *deploymentController) reconcileOldReplicaSets(all, oldRSs []*simRS, newRS *simRS, d *simWorkload) bool {
	oldPods, _, _, _ := sumReplicas(oldRSs)
	if oldPods == 0 {
		return false
	}
	allPods, _, _, _ := sumReplicas(all)
	minAvailable := d.spec.Replicas - maxUnavailable(&d.spec)
	newUnavailable := newRS.replicas - newRS.status.Available
	maxScaledDown := allPods - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false
	}
	oldRSs, cleaned, ok := dc.cleanupUnhealthyReplicas(oldRSs, maxScaledDown, d)
	if !ok {
		// Upstream's reconcileOldReplicaSets gives up for this sync (false, nil) when the
		// clean-up refuses a scale "down" that would grow a ReplicaSet: no scale-down at all,
		// and the status is synced as if nothing had been scaled.
		return false
	}
	all = append(append([]*simRS(nil), oldRSs...), newRS)
	scaledDown := dc.scaleDownOldReplicaSetsForRollingUpdate(all, oldRSs, d)
	return cleaned+scaledDown > 0
}

// cleanupUnhealthyReplicas is upstream's: it scales old ReplicaSets down by their unavailable
// pods, oldest first. A status that reports more available pods than the ReplicaSet now asks
// for (its scale-down not yet reflected in the status, which the ReplicaSet controller writes
// after acting) makes the count negative: upstream then returns an error ("got invalid request
// to scale down"), reported here as ok == false, after the scale-downs it already made.
func (dc *deploymentController) cleanupUnhealthyReplicas(oldRSs []*simRS, maxCleanup int32, d *simWorkload) ([]*simRS, int32, bool) {
	byCreation(oldRSs)
	total := int32(0)
	for _, rs := range oldRSs {
		if total >= maxCleanup {
			break
		}
		if rs.replicas == 0 || rs.replicas == rs.status.Available {
			continue
		}
		n := min(maxCleanup-total, rs.replicas-rs.status.Available)
		if rs.replicas-n > rs.replicas {
			return nil, total, false
		}
		dc.scaleRS(rs, rs.replicas-n, d)
		total += n
	}
	return oldRSs, total, true
}

func (dc *deploymentController) scaleDownOldReplicaSetsForRollingUpdate(all, oldRSs []*simRS, d *simWorkload) int32 {
	minAvailable := d.spec.Replicas - maxUnavailable(&d.spec)
	_, _, _, available := sumReplicas(all)
	if available <= minAvailable {
		return 0
	}
	byCreation(oldRSs)
	total := int32(0)
	toScale := available - minAvailable
	for _, rs := range oldRSs {
		if total >= toScale {
			break
		}
		if rs.replicas == 0 {
			continue
		}
		n := min(rs.replicas, toScale-total)
		dc.scaleRS(rs, rs.replicas-n, d)
		total += n
	}
	return total
}

func (dc *deploymentController) rolloutRecreate(d *simWorkload, rsList []*simRS) {
	newRS, old := dc.getAllReplicaSetsAndSyncRevision(d, rsList, false)
	all := append(append([]*simRS(nil), old...), newRS)
	scaled := false
	for _, rs := range activeRS(old) {
		if dc.scaleRS(rs, 0, d) {
			scaled = true
		}
	}
	if scaled {
		dc.syncRolloutStatus(all, newRS, d)
		return
	}
	if dc.oldPodsRunning(newRS, old) {
		dc.syncRolloutStatus(all, newRS, d)
		return
	}
	if newRS == nil {
		newRS, old = dc.getAllReplicaSetsAndSyncRevision(d, rsList, true)
		all = append(append([]*simRS(nil), old...), newRS)
	}
	dc.scaleRS(newRS, d.spec.Replicas, d)
	if deploymentComplete(d, &d.status) {
		dc.cleanupDeployment(old, d)
	}
	dc.syncRolloutStatus(all, newRS, d)
}

func (dc *deploymentController) oldPodsRunning(newRS *simRS, old []*simRS) bool {
	_, actual, _, _ := sumReplicas(old)
	if actual > 0 {
		return true
	}
	for _, p := range dc.s.st.pods {
		if p.owner != nil && p.owner != newRS {
			return true
		}
	}
	return false
}

// cleanupDeployment deletes the oldest old ReplicaSets beyond revisionHistoryLimit.
func (dc *deploymentController) cleanupDeployment(old []*simRS, d *simWorkload) {
	if d.spec.RevisionHistoryLimit == noLimit {
		return
	}
	var cleanable []*simRS
	for _, rs := range old {
		if rs != nil && !rs.deleted {
			cleanable = append(cleanable, rs)
		}
	}
	diff := int32(len(cleanable)) - d.spec.RevisionHistoryLimit
	if diff <= 0 {
		return
	}
	sort.SliceStable(cleanable, func(i, j int) bool {
		if cleanable[i].revision == cleanable[j].revision {
			return rsOlder(cleanable[i], cleanable[j])
		}
		return cleanable[i].revision < cleanable[j].revision
	})
	for i := int32(0); i < diff; i++ {
		rs := cleanable[i]
		if rs.status.Replicas != 0 || rs.replicas != 0 || rs.generation > rs.status.ObservedGeneration {
			continue
		}
		dc.s.st.deleteReplicaSet(rs)
	}
}

// calculateStatus is upstream's calculateStatus.
func (dc *deploymentController) calculateStatus(all []*simRS, newRS *simRS, d *simWorkload) workloadStatus {
	_, actual, ready, available := sumReplicas(all)
	st := workloadStatus{ObservedGeneration: d.generation, Replicas: actual, ReadyReplicas: ready, AvailableReplicas: available,
		CollisionCount: d.status.CollisionCount}
	if newRS != nil {
		st.UpdatedReplicas = newRS.status.Replicas
	}
	if d.status.Progressing != nil {
		c := *d.status.Progressing
		st.Progressing = &c
	}
	return st
}

func (dc *deploymentController) availableCondition(d *simWorkload, available int32) *condition {
	status, reason := conditionFalse, "MinimumReplicasUnavailable"
	if available >= d.spec.Replicas-maxUnavailable(&d.spec) {
		status, reason = conditionTrue, "MinimumReplicasAvailable"
	}
	if c := d.available; c != nil && c.Status == status {
		return c
	}
	return &condition{Status: status, Reason: reason, LastUpdate: metaTime(dc.s.now), LastTransition: metaTime(dc.s.now)}
}

func (dc *deploymentController) syncDeploymentStatus(all []*simRS, newRS *simRS, d *simWorkload) {
	st := dc.calculateStatus(all, newRS, d)
	av := dc.availableCondition(d, st.AvailableReplicas)
	if statusEqual(&d.status, &st) && av == d.available {
		return
	}
	d.status, d.available = st, av
	dc.writeStatus(d)
}

func deploymentComplete(d *simWorkload, st *workloadStatus) bool {
	return st.UpdatedReplicas == d.spec.Replicas && st.Replicas == d.spec.Replicas &&
		st.AvailableReplicas == d.spec.Replicas && st.ObservedGeneration >= d.generation
}

func deploymentProgressing(d *simWorkload, st *workloadStatus) bool {
	old := d.status
	return st.UpdatedReplicas > old.UpdatedReplicas ||
		st.Replicas-st.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		st.ReadyReplicas > old.ReadyReplicas ||
		st.AvailableReplicas > old.AvailableReplicas
}

func statusEqual(a, b *workloadStatus) bool {
	if a.ObservedGeneration != b.ObservedGeneration || a.Replicas != b.Replicas || a.UpdatedReplicas != b.UpdatedReplicas ||
		a.ReadyReplicas != b.ReadyReplicas || a.AvailableReplicas != b.AvailableReplicas {
		return false
	}
	if (a.Progressing == nil) != (b.Progressing == nil) {
		return false
	}
	return a.Progressing == nil || *a.Progressing == *b.Progressing
}

// syncRolloutStatus is upstream's syncRolloutStatus from progress.go.
func (dc *deploymentController) syncRolloutStatus(all []*simRS, newRS *simRS, d *simWorkload) {
	st := dc.calculateStatus(all, newRS, d)
	if !hasProgressDeadline(d) {
		st.Progressing = nil
	}
	cur := d.status.Progressing
	isComplete := st.Replicas == st.UpdatedReplicas && cur != nil && cur.Reason == reasonNewRSAvailable
	if hasProgressDeadline(d) && !isComplete {
		switch {
		case deploymentComplete(d, &st):
			dc.setProgressing(&st, conditionTrue, reasonNewRSAvailable)
		case deploymentProgressing(d, &st):
			now := dc.s.now
			c := &condition{Status: conditionTrue, Reason: reasonRSUpdated, LastUpdate: now, LastTransition: now}
			if cur != nil && cur.Status == conditionTrue {
				c.LastTransition = cur.LastTransition
			}
			st.Progressing = c
		case dc.timedOut(d, &st):
			dc.setProgressing(&st, conditionFalse, reasonTimedOut)
		}
	}
	av := dc.availableCondition(d, st.AvailableReplicas)
	if statusEqual(&d.status, &st) && av == d.available {
		dc.requeueStuckDeployment(d, &st)
		return
	}
	d.status, d.available = st, av
	dc.writeStatus(d)
}

func (dc *deploymentController) timedOut(d *simWorkload, st *workloadStatus) bool {
	c := st.Progressing
	if !hasProgressDeadline(d) || c == nil || c.Reason == reasonNewRSAvailable {
		return false
	}
	if c.Reason == reasonTimedOut {
		return true
	}
	deadline := time.Duration(d.spec.ProgressDeadlineSeconds) * time.Second
	return c.LastUpdate.Add(deadline).Before(dc.s.now)
}

func (dc *deploymentController) requeueStuckDeployment(d *simWorkload, st *workloadStatus) {
	cur := d.status.Progressing
	if !hasProgressDeadline(d) || cur == nil {
		return
	}
	if deploymentComplete(d, st) || cur.Reason == reasonTimedOut {
		return
	}
	after := cur.LastUpdate.Add(time.Duration(d.spec.ProgressDeadlineSeconds) * time.Second).Sub(dc.s.now)
	if after < time.Second {
		dc.s.enqueueAfter(ctrlDeployment, "", rateLimitedRequeueWait)
		return
	}
	dc.s.enqueueAfter(ctrlDeployment, "", after+time.Second)
}

// ctrlDeployment is the Deployment controller's workqueue.
const ctrlDeployment controllerID = "Deployment"

// deploymentKind declares Deployments to replay: the Deployment controller, with the
// ReplicaSet controller working for it.
type deploymentKind struct{}

func (deploymentKind) kind() string                 { return KindDeployment }
func (deploymentKind) podsViaReplicaSets()          {}
func (deploymentKind) revisionsNamedAfterWorkload() {}
func (deploymentKind) names() []string              { return kubectlNames("apps", KindDeployment) }
func (deploymentKind) controller() controllerID     { return ctrlDeployment }

func (deploymentKind) parse(obj []byte, w *workloadObj) error {
	var d appsv1.Deployment
	if err := json.Unmarshal(obj, &d); err != nil {
		return err
	}
	s := &w.spec
	s.Replicas = deref32(d.Spec.Replicas, 1)
	s.MinReadySeconds = d.Spec.MinReadySeconds
	s.Paused = d.Spec.Paused
	s.ProgressDeadlineSeconds = deref32(d.Spec.ProgressDeadlineSeconds, noLimit)
	s.RevisionHistoryLimit = deref32(d.Spec.RevisionHistoryLimit, noLimit)
	s.Strategy = string(d.Spec.Strategy.Type)
	if s.Strategy == "" {
		s.Strategy = string(appsv1.RollingUpdateDeploymentStrategyType)
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		s.MaxSurge, s.MaxUnavailable = ru.MaxSurge, ru.MaxUnavailable
	} else if s.Strategy == string(appsv1.RollingUpdateDeploymentStrategyType) {
		s.MaxSurge, s.MaxUnavailable = ptrIS(intstr.FromString("25%")), ptrIS(intstr.FromString("25%"))
	}
	s.HasSelector = d.Spec.Selector != nil && (len(d.Spec.Selector.MatchLabels) > 0 || len(d.Spec.Selector.MatchExpressions) > 0)
	w.tmpl = &d.Spec.Template
	st := d.Status
	w.status = workloadStatus{ObservedGeneration: st.ObservedGeneration, Replicas: st.Replicas, UpdatedReplicas: st.UpdatedReplicas,
		ReadyReplicas: st.ReadyReplicas, AvailableReplicas: st.AvailableReplicas, CollisionCount: deref32(st.CollisionCount, 0)}
	for _, c := range st.Conditions {
		if c.Type == appsv1.DeploymentProgressing {
			w.status.Progressing = &condition{Status: string(c.Status), Reason: c.Reason, LastUpdate: c.LastUpdateTime.UTC(), LastTransition: c.LastTransitionTime.UTC()}
		}
	}
	return nil
}

func (deploymentKind) start(s *simulation) map[controllerID]controller {
	dc := &deploymentController{s: s}
	rsc := &replicaSetController{s: s}
	return map[controllerID]controller{
		ctrlDeployment: controllerFunc(func(string) {
			dc.sync()
			for len(s.afterDeploymentSync) > 0 {
				s.applyDeferred(s.afterDeploymentSync[0])
			}
		}),
		ctrlReplicaSet: controllerFunc(rsc.sync),
	}
}

func (deploymentKind) onChange(s *simulation, c change) {
	w := s.st.w
	switch c.kind {
	case chPodAdded, chPodUpdated, chPodRemoved:
		if rs := c.pod.owner; rs != nil && !rs.deleted {
			// What the ReplicaSet controller makes of its pods' changes is its status,
			// whose writes carry the busy control plane's latency (see writeStatus).
			s.enqueueIn(ctrlReplicaSet, rs.name, 0)
			if c.becameReady && rs.minReadySeconds > 0 {
				s.enqueueAfter(ctrlReplicaSet, rs.name, time.Duration(rs.minReadySeconds)*time.Second+time.Second)
			}
		}
		if c.kind == chPodRemoved && w != nil && w.spec.Strategy == strategyRecreate && len(s.st.pods) == 0 {
			s.enqueue(ctrlDeployment, "")
		}
	case chReplicaSet:
		if !c.rs.deleted {
			d := time.Duration(0)
			if c.rsSpec {
				d = s.replicaSetReaction(c.rs)
			}
			s.enqueueIn(ctrlReplicaSet, c.rs.name, d)
		}
		s.enqueue(ctrlDeployment, "")
	case chWorkload:
		s.enqueue(ctrlDeployment, "")
	}
}

func (deploymentKind) wants(sp *spec, _ *corev1.PodTemplateSpec, _ func() []*node) int {
	return int(sp.Replicas)
}

func (deploymentKind) keepsOld(*spec) int     { return 0 }
func (deploymentKind) runsToCompletion() bool { return false }
func (deploymentKind) readsNodes() bool       { return false }

func (deploymentKind) describe(s *simulation) []string {
	w := s.st.w
	line := fmt.Sprintf("deployment %s: generation %d, replicas %d, strategy %s", w.name, w.generation, w.spec.Replicas, w.spec.Strategy)
	if w.spec.Strategy == strategyRollingUpdate {
		su, un := fenceposts(&w.spec)
		line += fmt.Sprintf(" (maxSurge %d, maxUnavailable %d)", su, un)
	}
	if w.spec.Paused {
		line += ", paused"
	}
	out := []string{line}
	rss := append([]*simRS(nil), s.st.rss...)
	byCreation(rss)
	for _, rs := range rss {
		role := "old"
		if rs.revKey == w.spec.Template {
			role = "new"
		}
		out = append(out, fmt.Sprintf("replicaset %s (%s, revision %d): replicas %d; status replicas %d, ready %d, available %d",
			rs.name, role, rs.revision, rs.replicas, rs.status.Replicas, rs.status.Ready, rs.status.Available))
	}
	return out
}

// A Deployment's pods stand for the recorded pods of their ReplicaSet, in creation order.
func (deploymentKind) counterpart(e *environment, _ []*PodRecord, ps podSpec) *PodRecord {
	return e.claimNext(ps.revKey)
}

func (deploymentKind) stepJSON(s Step) any {
	return struct {
		ReplicaSet string `json:"replicaSet"`
		From       int32  `json:"from"`
		To         int32  `json:"to"`
		Time       string `json:"time"`
	}{s.ReplicaSet, s.From, s.To, s.Time.UTC().Format(stepTimeFormat)}
}

func (deploymentKind) sameStep(a, b Step) bool {
	return a.ReplicaSet == b.ReplicaSet && a.From == b.From && a.To == b.To
}

func (deploymentKind) stepString(s Step) string {
	return fmt.Sprintf("%s %d->%d", s.ReplicaSet, s.From, s.To)
}

func (deploymentKind) stepSortKey(s Step) string { return s.ReplicaSet }

func (deploymentKind) overrides() []string {
	return []string{"spec.replicas", "spec.minReadySeconds", "spec.progressDeadlineSeconds", "spec.revisionHistoryLimit",
		"spec.paused", "spec.strategy.type", "spec.strategy.rollingUpdate.maxSurge", "spec.strategy.rollingUpdate.maxUnavailable"}
}

func (deploymentKind) validate(ov *overrides, s *spec) error {
	if err := ov.refuseStuckRollingUpdate(s); err != nil {
		return err
	}
	if s.ProgressDeadlineSeconds != noLimit && s.ProgressDeadlineSeconds <= s.MinReadySeconds &&
		ov.touches("minReadySeconds", "progressDeadlineSeconds") {
		return overrideErr("--set: progressDeadlineSeconds (%d) must be greater than minReadySeconds (%d)", s.ProgressDeadlineSeconds, s.MinReadySeconds)
	}
	return nil
}

// resize makes a steady Deployment (one active ReplicaSet, all its pods available) want
// pods.
func (deploymentKind) resize(s *simulation, want int) {
	w := s.st.w
	active := activeRS(s.st.rss)
	if len(active) != 1 {
		return
	}
	rs := active[0]
	if !steady(rs.pods, int(rs.replicas)) {
		return
	}
	rs.replicas = int32(want)
	rs.desired, rs.hasDesired = int32(want), true
	rs.max, rs.hasMax = int32(want)+maxSurge(&w.spec), true
	resizePods(s, append([]*simPod(nil), rs.pods...), want, rs)
	rs.status = rsStatus{Replicas: rs.active, Ready: rs.ready, Available: rs.ready, ObservedGeneration: rs.generation}
	w.status.Replicas, w.status.UpdatedReplicas = int32(want), int32(want)
	w.status.ReadyReplicas, w.status.AvailableReplicas = int32(want), int32(want)
}

// hadReason: the ReplicaSet of p was deleted, or had more pods than replicas.
func (deploymentKind) hadReason(scn *Scenario, p *PodRecord) bool {
	x := scn.x
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
}

// recordedSteps are the scales of the Deployment's ReplicaSets (a creation scales from 0); a
// scale by someone other than the controller manager is marked external.
func (deploymentKind) recordedSteps(scn *Scenario) []loggedStep {
	var steps []loggedStep
	for _, rs := range scn.x.rs {
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
	return steps
}
