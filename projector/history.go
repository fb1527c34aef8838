package projector

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// HistoryVersion is one version in the history of a workload, as the replay engine reads it.
// It has exactly the fields of replay.Version (a conversion between the two types is legal).
type HistoryVersion struct {
	Seq             uint64
	Type            string
	Observed        time.Time
	Kind            string
	Namespace       string
	Name            string
	UID             string
	ResourceVersion string
	Actor           string
	Object          []byte
}

// WorkloadHistory returns the history of a workload in log order: every version (full JSON)
// of the workload (of every object that held its name) and of the objects that relate to it:
// the objects it owns and theirs (ReplicaSets and their Pods, ControllerRevisions, a
// StatefulSet's or DaemonSet's Pods), the PersistentVolumeClaims its pods mount, the Nodes they
// ran on, and the Events about any of these. With a window [from, to) (zero times: open), the
// versions observed in it are returned, preceded, for each object that existed at from, by its
// version current then, so that the history starts from a complete state.
func (db *DB) WorkloadHistory(ctx context.Context, w WorkloadRef, from, to time.Time) ([]HistoryVersion, error) {
	var out []HistoryVersion
	err := db.view(func(tx *bolt.Tx) error {
		keep := func(lt Lifetime) bool {
			return (to.IsZero() || lt.FirstSeen.Before(to)) && (from.IsZero() || lt.Gone.IsZero() || !lt.Gone.Before(from))
		}
		seen, order, err := workloadObjects(tx, w, keep)
		if err != nil {
			return err
		}
		for _, uid := range order {
			if err := ctx.Err(); err != nil {
				return err
			}
			h := seen[uid]
			vs, err := objectVersions(ctx, tx, h, 0, 0, true)
			if err != nil {
				return err
			}
			var before *Version
			for i := range vs {
				v := &vs[i]
				if !from.IsZero() && v.Observed.Before(from) {
					before = v
					continue
				}
				if !to.IsZero() && !v.Observed.Before(to) {
					continue
				}
				if before != nil {
					if !eventTypeIsDelete(before.Type) {
						out = append(out, historyVersion(before))
					}
					before = nil
				}
				out = append(out, historyVersion(v))
			}
			if before != nil && !eventTypeIsDelete(before.Type) {
				out = append(out, historyVersion(before))
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b HistoryVersion) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, err
}

// WorkloadWindow returns the part of a workload's history (see WorkloadHistory, over the same
// objects) that the log sequences [fromSeq, toSeq) hold (0: open), preceded, for each object
// that existed at fromSeq, by its version current then: the history a replay of the rollouts in
// that window needs, read at a cost that grows with the window, not with the whole history.
// Events are the exception: an Event records an occurrence, not a state, and the window holds
// an Event's versions in it only (the replay reads an Event as the proof of a pod deletion
// made before it, which a version from before the window cannot be for a pod of the window).
// Objects whose lives end before the window, or begin after it, cost a head read; each other
// object's chain is read back from its last version before toSeq (found by the time index)
// only to its version current at fromSeq, and on to the full copy its body is built from.
func (db *DB) WorkloadWindow(ctx context.Context, w WorkloadRef, fromSeq, toSeq uint64) ([]HistoryVersion, error) {
	var out []HistoryVersion
	err := db.view(func(tx *bolt.Tx) error {
		seen, order, err := workloadObjects(tx, w, func(Lifetime) bool { return true })
		if err != nil {
			return err
		}
		for _, uid := range order {
			if err := ctx.Err(); err != nil {
				return err
			}
			if out, err = windowVersions(tx, seen[uid], fromSeq, toSeq, out); err != nil {
				return err
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b HistoryVersion) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, err
}

// windowVersions appends to out the versions of object h with sequences in [fromSeq, toSeq)
// (toSeq 0: open), preceded by its last version before fromSeq unless that one is a deletion.
func windowVersions(tx *bolt.Tx, h *objHead, fromSeq, toSeq uint64, out []HistoryVersion) ([]HistoryVersion, error) {
	event := h.Kind == "Event"
	if toSeq != 0 && h.FirstSeq >= toSeq || h.LastSeq < fromSeq && (event || h.Gone && h.GoneSeq == h.LastSeq) {
		return out, nil // born after the window, gone before it, or an Event of before it
	}
	ver := versOf(tx)
	start := h.LastSeq
	if toSeq != 0 && start >= toSeq {
		// The first time index entry at or after toSeq ends a block of timeIdxEvery versions
		// whose first is before toSeq (the object's first version is): walk back from it.
		c := tx.Bucket(bVerTime).Cursor()
		if k, _ := c.Seek(append(be8(h.ID), be8(toSeq)...)); k != nil && bytes.HasPrefix(k, be8(h.ID)) {
			if len(k) != 16 {
				return out, fmt.Errorf("%w: time index key %x", ErrCorrupt, k)
			}
			start = readBE8(k[8:])
		}
	}
	// Walk back to the last version before fromSeq, and on to a full copy to build the bodies
	// from; the newest n versions read are returned.
	var seqs []uint64
	var recs []verRec
	n, boundary := 0, false
	for s := start; s != 0; {
		raw := ver.get(s)
		if raw == nil {
			return out, fmt.Errorf("%w: version %d is missing", ErrCorrupt, s)
		}
		r, err := decodeVer(raw, s)
		if err != nil {
			return out, err
		}
		if toSeq == 0 || s < toSeq {
			if !boundary {
				if s < fromSeq {
					boundary = true
					if event || eventTypeIsDelete(string(r.Type)) {
						if n == 0 {
							return out, nil // gone before the window
						}
					} else {
						n++
					}
				} else {
					n++
				}
			}
			seqs, recs = append(seqs, s), append(recs, r)
			if boundary && r.isFull() {
				break
			}
		}
		s = r.Prev
	}
	slices.Reverse(seqs)
	slices.Reverse(recs)
	var cur []byte
	for i := range seqs {
		var err error
		if cur, err = body(ver, cur, &recs[i]); err != nil {
			return out, err
		}
		if i < len(seqs)-n {
			continue
		}
		v := versionOf(seqs[i], &recs[i], h)
		v.Object = cur
		out = append(out, historyVersion(&v))
	}
	return out, nil
}

// workloadObjects finds the objects of a workload's history (see WorkloadHistory), the
// workload's own lifetimes those keep allows: their heads by UID, and the UIDs in the order of
// their last versions (each chain is walked back from its last version, so objects read one
// after another touch the same version segments while they are cached).
func workloadObjects(tx *bolt.Tx, w WorkloadRef, keep func(Lifetime) bool) (map[string]*objHead, []string, error) {
	lts, err := lifetimes(tx, ObjectRef{Cluster: w.Cluster, Kind: w.Kind, Namespace: w.Namespace, Name: w.Name})
	if err != nil {
		return nil, nil, err
	}
	if len(lts) == 0 {
		return nil, nil, fmt.Errorf("%w: %s %s/%s", ErrNotFound, w.Kind, w.Namespace, w.Name)
	}
	seen := map[string]*objHead{}
	var order []string
	add := func(uid string) (*objHead, error) {
		if h, ok := seen[uid]; ok {
			return h, nil
		}
		h, err := headByKey(tx, objKey(w.Cluster, uid, "", "", ""))
		if err != nil || h == nil {
			return nil, err
		}
		seen[uid] = h
		order = append(order, uid)
		return h, nil
	}
	// The workload and what it owns, three levels down.
	level := []string{}
	for _, lt := range lts {
		if !keep(lt) {
			continue
		}
		if _, err := add(lt.UID); err != nil {
			return nil, nil, err
		}
		level = append(level, lt.UID)
	}
	for depth := 0; depth < 3 && len(level) > 0; depth++ {
		var next []string
		for _, uid := range level {
			for _, owned := range related(tx, bOwn, w.Cluster, uid) {
				if _, ok := seen[owned]; ok {
					continue
				}
				h, err := add(owned)
				if err != nil {
					return nil, nil, err
				}
				if h != nil {
					next = append(next, owned)
				}
			}
		}
		level = next
	}
	// Claims and nodes of the pods.
	claims, nodes := map[string]bool{}, map[string]bool{}
	for _, uid := range slices.Clone(order) {
		h := seen[uid]
		if h.Kind != "Pod" {
			continue
		}
		raw := tx.Bucket(bPods).Get(podKey(h))
		if raw == nil {
			continue
		}
		var pl PodLifecycle
		if err := unmarshalRecord(raw, &pl); err != nil {
			return nil, nil, err
		}
		for _, c := range pl.Claims {
			claims[c] = true
		}
		if pl.Node != "" {
			nodes[pl.Node] = true
		}
	}
	for _, ref := range sortedRefs(claims, ObjectRef{Cluster: w.Cluster, Kind: "PersistentVolumeClaim", Namespace: w.Namespace}) {
		if err := addLifetimes(tx, ref, add); err != nil {
			return nil, nil, err
		}
	}
	for _, ref := range sortedRefs(nodes, ObjectRef{Cluster: w.Cluster, Kind: "Node"}) {
		if err := addLifetimes(tx, ref, add); err != nil {
			return nil, nil, err
		}
	}
	// Events about any of them.
	for _, uid := range slices.Clone(order) {
		for _, e := range related(tx, bAbout, w.Cluster, uid) {
			if _, err := add(e); err != nil {
				return nil, nil, err
			}
		}
	}
	slices.SortStableFunc(order, func(a, b string) int { return cmp.Compare(seen[a].LastSeq, seen[b].LastSeq) })
	return seen, order, nil
}

func eventTypeIsDelete(t string) bool { return t == "DELETED" || t == "DELETED_UNOBSERVED" }

func historyVersion(v *Version) HistoryVersion {
	return HistoryVersion{Seq: v.Seq, Type: v.Type, Observed: v.Observed, Kind: v.Kind, Namespace: v.Namespace, Name: v.Name, UID: v.UID, ResourceVersion: v.ResourceVersion, Actor: v.Actor, Object: v.Object}
}

func sortedRefs(names map[string]bool, base ObjectRef) []ObjectRef {
	var out []ObjectRef
	for n := range names {
		r := base
		r.Name = n
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b ObjectRef) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func addLifetimes(tx *bolt.Tx, ref ObjectRef, add func(string) (*objHead, error)) error {
	lts, err := lifetimes(tx, ref)
	if err != nil {
		return err
	}
	for _, lt := range lts {
		if _, err := add(lt.UID); err != nil {
			return err
		}
	}
	return nil
}
