package kinds

import "slices"

// Workload is a kind whose controller creates objects of other kinds, in its namespace.
type Workload struct {
	Group string
	Kind  string
	// Owns are the kinds its controller creates (their owner reference names it), in the
	// workload's group or the core group.
	Owns []string
	// Revisions is the kind that holds its revisions (ReplicaSet, ControllerRevision); "" when
	// it has none.
	Revisions string
	// RollsOut: the workload rolls out revisions of a pod template, which the views follow as
	// rollouts and replay re-runs.
	RollsOut bool
}

// workloads, those that roll out first, in the order commands list them.
var workloads = []Workload{
	{"apps", Deployment, []string{ReplicaSet}, ReplicaSet, true},
	{"apps", StatefulSet, []string{Pod, PersistentVolumeClaim, ControllerRevision}, ControllerRevision, true},
	{"apps", DaemonSet, []string{Pod, ControllerRevision}, ControllerRevision, true},
	{"apps", ReplicaSet, []string{Pod}, "", false},
	{"batch", Job, []string{Pod}, "", false},
	{"batch", CronJob, []string{Job}, "", false},
}

// Workloads returns every workload kind, those that roll out first. The caller must not modify
// them.
func Workloads() []Workload { return workloads }

// LookupWorkload returns the workload of that group and kind.
func LookupWorkload(group, kind string) (Workload, bool) {
	for _, w := range workloads {
		if w.Group == group && w.Kind == kind {
			return w, true
		}
	}
	return Workload{}, false
}

// RollsOut reports whether group/kind rolls out revisions: Deployment, StatefulSet, DaemonSet.
func RollsOut(group, kind string) bool {
	w, ok := LookupWorkload(group, kind)
	return ok && w.RollsOut
}

// RolloutKinds returns the kinds that roll out revisions: Deployment, StatefulSet, DaemonSet.
func RolloutKinds() []string {
	var out []string
	for _, w := range workloads {
		if w.RollsOut {
			out = append(out, w.Kind)
		}
	}
	return out
}

// Owns reports whether the controller of the workload kind owner creates objects of kind.
func Owns(owner, kind string) bool {
	for _, w := range workloads {
		if w.Kind == owner {
			return slices.Contains(w.Owns, kind)
		}
	}
	return false
}

// RevisionsOf returns the kinds whose revisions are held by objects of kind revisions
// (ControllerRevision: StatefulSet, DaemonSet).
func RevisionsOf(revisions string) []string {
	var out []string
	for _, w := range workloads {
		if w.Revisions == revisions {
			out = append(out, w.Kind)
		}
	}
	return out
}
