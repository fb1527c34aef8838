package replay

// The environment of a scenario aligned with the recording: the times at which pods became
// Ready and were removed, as the controllers could tell them apart.

import (
	"slices"
	"strconv"
	"time"
)

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
	if viaReplicaSets(scn.Kind) {
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
				if viaReplicaSets(scn.Kind) {
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
		if viaReplicaSets(scn.Kind) {
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
