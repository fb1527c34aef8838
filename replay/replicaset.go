package replay

import (
	"math"
	"math/bits"
	"slices"
	"time"
)

// The ReplicaSet controller, re-implemented from upstream pkg/controller/replicaset
// (replica_set.go syncReplicaSet, manageReplicas, getPodsToDelete; replica_set_utils.go
// calculateStatus). Creations happen at once (slow-start batches only pace API calls). The
// status a sync writes is computed from the pods listed before it created or deleted any, as
// upstream does, so a ReplicaSet's status lags its own actions by one sync.

// burstReplicas is the most pods one sync creates or deletes (kube-controller-manager default).
const burstReplicas = 500

type replicaSetController struct {
	s *simulation
	// scratch buffers, reused across syncs
	active []*simPod
	ranked []rankedPod
	taken  []bool
}

func (rsc *replicaSetController) sync(name string) {
	s := rsc.s
	rs := s.st.rsByName(name)
	if rs == nil || rs.deleted {
		return
	}
	// The status is computed from the pods as listed before acting.
	st := rsStatus{Replicas: rs.active, Ready: rs.ready, Available: rs.ready, ObservedGeneration: rs.generation}
	if rs.minReadySeconds > 0 {
		st.Available = 0
		for _, p := range rs.pods {
			if !p.deleting && p.available(rs.minReadySeconds, s.now) {
				st.Available++
			}
		}
	}
	diff := int(rs.active) - int(rs.replicas)
	switch {
	case diff < 0:
		n := min(-diff, burstReplicas)
		for i := 0; i < n; i++ {
			s.createPod(podSpec{owner: rs, revKey: rs.revKey, revName: rs.name, ordinal: -1})
		}
	case diff > 0:
		n := min(diff, burstReplicas)
		active := rsc.active[:0]
		for _, p := range rs.pods {
			if p.active() {
				active = append(active, p)
			}
		}
		rsc.active = active
		for _, p := range rsc.podsToDelete(active, s.st.activeOn, n, s.now) {
			s.deletePod(p, true)
		}
	}
	rsc.writeStatus(rs, st)
	if rs.minReadySeconds > 0 && rs.status.Ready == rs.replicas && rs.status.Available != rs.replicas {
		s.resyncAfterWrite(ctrlReplicaSet, rs.name, time.Duration(rs.minReadySeconds)*time.Second)
	}
}

// writeStatus writes a ReplicaSet's status. On a busy control plane (see latencyModel) the
// write lands after the ReplicaSet controller's recorded status latency, queued behind its
// other API calls; syncs in between fold their newer status into that one write, which is how
// one status write comes to report many readiness changes at once.
func (rsc *replicaSetController) writeStatus(rs *simRS, st rsStatus) {
	s := rsc.s
	if rs.landing {
		rs.pending, rs.pendingAt = st, s.now
		return
	}
	if st == rs.status {
		return
	}
	d := s.lat.delay(ctrlReplicaSetStatus)
	var seen uint64
	var wrote rsStatus
	if s.lat != nil && s.env.followsRecording() {
		// On a busy control plane, as recorded (and in a what-if as long as it takes the
		// recorded steps, as pods keep their recorded instants): the write lands when the
		// recorded ReplicaSet's next status write did, reporting what that write had seen of
		// the pods (see seenStatus). The ReplicaSet controller is the environment of the
		// Deployment controller under test.
		if t, seq, rec, ok := s.scn.x.nextStatusWrite(rs.name, s.now, rs.statusSeq); ok {
			d, seen, wrote = max(t.Sub(s.now), writeLatency), seq, rec
			rs.statusSeq = seq
		}
	}
	if d == 0 {
		rs.status = st
		s.st.replicaSetStatusChanged(rs)
		return
	}
	rs.landing, rs.pending, rs.pendingAt = true, st, s.now
	s.at(s.now.Add(d), func() {
		rs.landing = false
		if seen != 0 && rs.minReadySeconds == 0 {
			computed := rs.pending
			rs.pending = rsc.seenStatus(rs, seen, wrote)
			if rs.pending != computed {
				// The recorded write had not seen everything the simulated syncs had: a
				// later one reports the rest, as the recorded controller's next sync did.
				defer s.enqueueIn(ctrlReplicaSet, rs.name, 0)
			}
		}
		if !rs.deleted && rs.pending != rs.status {
			rs.status = rs.pending
			s.st.replicaSetStatusChanged(rs)
		}
	})
}

// seenStatus is a ReplicaSet's status as its controller wrote it in the recorded write wrote,
// at the log position seq. When every simulated pod stands for a recorded one, it is what the
// recorded write reported. Otherwise it is computed from the pods the sync that computed the
// status had listed, before it acted (pods deleted before that sync do not count, the ones it
// deleted still do, the ones it created not yet), a simulated pod's readiness counting once its
// recorded counterpart's did, before seq (informers deliver in log order), and a pod without a
// counterpart counting as it is.
func (rsc *replicaSetController) seenStatus(rs *simRS, seq uint64, wrote rsStatus) rsStatus {
	st := rsStatus{ObservedGeneration: rs.generation}
	if rsc.allCounterparts(rs) {
		// Every pod stands for a recorded one: the write reports what the recorded one did.
		st.Replicas, st.Ready, st.Available = wrote.Replicas, wrote.Ready, wrote.Available
		return st
	}
	for _, p := range rs.pods {
		if p.deleting && p.deletedAt.Before(rs.pendingAt) || !p.created.Before(rs.pendingAt) {
			// The sync listed the pods before it created or deleted any.
			continue
		}
		ready := p.ready
		if r := p.rec; r != nil {
			ready = r.readySeq != 0 && r.readySeq < seq
		}
		st.Replicas++
		if ready {
			st.Ready++
		}
	}
	st.Available = st.Ready
	return st
}

// allCounterparts reports whether every pod of the ReplicaSet stands for a recorded one.
func (rsc *replicaSetController) allCounterparts(rs *simRS) bool {
	for _, p := range rs.pods {
		if p.rec == nil {
			return false
		}
	}
	return true
}

// podsToDelete is upstream's getPodsToDelete: the first n of the active pods ranked by
// ActivePodsWithRanks, the rank of a pod being the number of active pods of the workload
// (getIndirectlyRelatedPods: of all its ReplicaSets) on its node, given by onNode. Ties keep the
// listing order. For a few pods out of many it selects instead of sorting, with the same result.
func (rsc *replicaSetController) podsToDelete(active []*simPod, onNode map[string]int, n int, now time.Time) []*simPod {
	if n >= len(active) {
		return append([]*simPod(nil), active...)
	}
	ranked := rsc.ranked[:0]
	for _, p := range active {
		ranked = append(ranked, newRanked(p, onNode[p.nodeName()], now))
	}
	rsc.ranked = ranked
	out := make([]*simPod, 0, n)
	if n <= 16 {
		taken := rsc.taken[:0]
		for range ranked {
			taken = append(taken, false)
		}
		rsc.taken = taken
		for len(out) < n {
			best := -1
			for i := range ranked {
				if !taken[i] && (best < 0 || deleteBefore(&ranked[i], &ranked[best], now)) {
					best = i
				}
			}
			taken[best] = true
			out = append(out, ranked[best].pod)
		}
		return out
	}
	slices.SortStableFunc(ranked, func(a, b rankedPod) int {
		switch {
		case deleteBefore(&a, &b, now):
			return -1
		case deleteBefore(&b, &a, now):
			return 1
		}
		return 0
	})
	for i := 0; i < n; i++ {
		out = append(out, ranked[i].pod)
	}
	return out
}

// rankedPod is a pod with its rank; the logarithmic ages are computed when first needed.
type rankedPod struct {
	pod                  *simPod
	rank                 int
	readyLog, createdLog int64 // base-2 logarithm of the age in nanoseconds; -2 until computed
}

func newRanked(p *simPod, rank int, _ time.Time) rankedPod {
	return rankedPod{pod: p, rank: rank, readyLog: -2, createdLog: -2}
}

func (r *rankedPod) readyAge(now time.Time) int64 {
	if r.readyLog == -2 {
		r.readyLog = logAge(r.pod.readyLTT, now)
	}
	return r.readyLog
}

func (r *rankedPod) createdAge(now time.Time) int64 {
	if r.createdLog == -2 {
		r.createdLog = logAge(r.pod.creationTS, now)
	}
	return r.createdLog
}

// nodeName is spec.nodeName: empty until the pod is scheduled.
func (p *simPod) nodeName() string {
	if !p.scheduled {
		return ""
	}
	return p.node
}

func phaseOrdinal(p *simPod) int {
	if p.phase == "Running" {
		return 2
	}
	return 0 // Pending
}

// deleteBefore is upstream's ActivePodsWithRanks.Less (LogarithmicScaleDown, GA since 1.31):
// unassigned before assigned, pending before running, not ready before ready, more pods of the
// workload on the same node first, then the more recently ready, then the more recently
// created, comparing ages on a logarithmic scale and breaking ties by UID.
func deleteBefore(a, b *rankedPod, now time.Time) bool {
	pa, pb := a.pod, b.pod
	if aa, ab := pa.nodeName() != "", pb.nodeName() != ""; aa != ab {
		return !aa
	}
	if oa, ob := phaseOrdinal(pa), phaseOrdinal(pb); oa != ob {
		return oa < ob
	}
	if pa.ready != pb.ready {
		return !pa.ready
	}
	if a.rank != b.rank {
		return a.rank > b.rank
	}
	if pa.ready && pb.ready && !pa.readyLTT.Equal(pb.readyLTT) {
		if ra, rb := a.readyAge(now), b.readyAge(now); ra != rb {
			return ra < rb
		}
		return pa.uid < pb.uid
	}
	if !pa.creationTS.Equal(pb.creationTS) {
		if ca, cb := a.createdAge(now), b.createdAge(now); ca != cb {
			return ca < cb
		}
		return pa.uid < pb.uid
	}
	return false
}

// logAge is the base-2 logarithm of t's age at now in nanoseconds, truncated, as upstream's
// logarithmicRankDiff computes it with math.Log2 (-1 when not positive).
func logAge(t, now time.Time) int64 {
	d := now.Sub(t)
	if d <= 0 {
		return -1
	}
	u := uint64(d)
	k := bits.Len64(u) - 1 // exact floor(log2)
	if next := uint64(1) << (k + 1); next-u <= next>>40 {
		// just below a power of two, where math.Log2 may round up: ask it
		return int64(math.Log2(float64(d)))
	}
	return int64(k)
}

// The ReplicaSet controller's workqueues: its syncs, and (in the latency model only, never
// synced) its status writes (see latencyModel).
const (
	ctrlReplicaSet       controllerID = "ReplicaSet"
	ctrlReplicaSetStatus controllerID = "ReplicaSet/status"
)
