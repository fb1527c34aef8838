package projector

import (
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
		lts, err := lifetimes(tx, ObjectRef{Cluster: w.Cluster, Kind: w.Kind, Namespace: w.Namespace, Name: w.Name})
		if err != nil {
			return err
		}
		if len(lts) == 0 {
			return fmt.Errorf("%w: %s %s/%s", ErrNotFound, w.Kind, w.Namespace, w.Name)
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
			if (!to.IsZero() && !lt.FirstSeen.Before(to)) || (!from.IsZero() && !lt.Gone.IsZero() && lt.Gone.Before(from)) {
				continue
			}
			if _, err := add(lt.UID); err != nil {
				return err
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
						return err
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
				return err
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
				return err
			}
		}
		for _, ref := range sortedRefs(nodes, ObjectRef{Cluster: w.Cluster, Kind: "Node"}) {
			if err := addLifetimes(tx, ref, add); err != nil {
				return err
			}
		}
		// Events about any of them.
		for _, uid := range slices.Clone(order) {
			for _, e := range related(tx, bAbout, w.Cluster, uid) {
				if _, err := add(e); err != nil {
					return err
				}
			}
		}
		// Read the objects in the order of their last versions: each chain is walked back from
		// its last version, so objects read one after another touch the same version segments
		// while they are cached. The answer is sorted by sequence below, whatever this order.
		slices.SortStableFunc(order, func(a, b string) int { return cmp.Compare(seen[a].LastSeq, seen[b].LastSeq) })
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
