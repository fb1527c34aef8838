package projector

// Who made a change: the writer of a version, from its managedFields.

import "hash/fnv"

// writer tells who made a change from the managedFields of the new version and what the
// previous version's said (prev, from the head; nil for a first version): the manager whose
// entry is new or whose time moved. The log's actor comes from one version alone (the entry
// with the latest time), and entries have whole seconds: a controller's write in the same
// second as a person's edit reads as the person's. When no entry moved (a manager wrote again
// within the second), the writer is taken among the entries with the latest time: one that is
// not for the status subresource if the generation changed (a spec change), else one for the
// status subresource. The log's actor stands when it is not a manager of the object (an audit
// log's user), for a first version, and when nothing tells. It returns the actor and what to
// remember of mf.
func writer(actor string, mf []ManagedField, prev []uint32, genChanged bool) (string, []uint32) {
	if len(mf) == 0 {
		return actor, nil
	}
	sig := make([]uint32, 0, 2*len(mf))
	for _, f := range mf {
		sig = append(sig, hash32(f.Manager, f.Operation, f.Subresource), hash32(f.Time))
	}
	if prev == nil {
		return actor, sig
	}
	known := false
	latest := ""
	for _, f := range mf {
		known = known || f.Manager == actor
		latest = max(latest, f.Time)
	}
	if !known {
		return actor, sig
	}
	best := -1
	for i, f := range mf {
		changed := true
		for j := 0; j+1 < len(prev); j += 2 {
			if prev[j] == sig[2*i] {
				changed = prev[j+1] != sig[2*i+1]
				break
			}
		}
		if changed && (best < 0 || f.Time > mf[best].Time || f.Time == mf[best].Time && f.Manager == actor) {
			best = i
		}
	}
	if best >= 0 {
		return mf[best].Manager, sig
	}
	for i, f := range mf {
		if f.Time == latest && (f.Subresource == "status") != genChanged {
			best = i
		}
	}
	if best >= 0 {
		return mf[best].Manager, sig
	}
	return actor, sig
}

func hash32(parts ...string) uint32 {
	h := fnv.New32a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum32()
}

// knownActors are the field managers that write most versions, stored as their index (plus
// one) in version records instead of by name; others are stored by name, after a zero. The
// list is part of the views' format: it may only grow at its end.
var knownActors = []string{
	"kube-controller-manager", "kubelet", "kube-scheduler", "kube-apiserver",
	"kubectl-client-side-apply", "kubectl", "kubectl-edit", "kubectl-set", "kubectl-rollout",
	"kubectl-scale", "kubectl-patch", "kubectl-create", "kubectl-label", "kubectl-annotate",
	"kubectl-replace", "kubectl-expose", "kubectl-run", "kubectl-autoscale",
	"helm", "kustomize-controller", "argocd-controller", "kwok", "khist",
}
