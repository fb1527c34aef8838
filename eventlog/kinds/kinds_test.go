package kinds

import (
	"slices"
	"testing"
)

// TestDeclarations: every kind a workload owns or keeps its revisions in is a built-in kind of
// the workload's group or the core group, and the kinds that roll out are the three replay
// re-runs, in the order commands list them.
func TestDeclarations(t *testing.T) {
	if got := RolloutKinds(); !slices.Equal(got, []string{Deployment, StatefulSet, DaemonSet}) {
		t.Errorf("RolloutKinds = %v", got)
	}
	for _, w := range Workloads() {
		if _, ok := Lookup(w.Group, w.Kind); !ok {
			t.Errorf("workload %s/%s is not a built-in kind", w.Group, w.Kind)
		}
		for _, o := range append(slices.Clone(w.Owns), w.Revisions) {
			if o == "" {
				continue
			}
			k, ok := Lookup("", o)
			if !ok || k.Group != w.Group && k.Group != "" || !k.Namespaced {
				t.Errorf("%s owns %s: not a namespaced built-in kind of its group", w.Kind, o)
			}
		}
		if w.Revisions != "" && !slices.Contains(w.Owns, w.Revisions) {
			t.Errorf("%s keeps its revisions in %s, which it does not own", w.Kind, w.Revisions)
		}
	}
	if !Owns(StatefulSet, PersistentVolumeClaim) || !Owns(CronJob, Job) || Owns(Deployment, Pod) {
		t.Error("Owns disagrees with the declarations")
	}
	if got := RevisionsOf(ControllerRevision); !slices.Equal(got, []string{StatefulSet, DaemonSet}) {
		t.Errorf("RevisionsOf(ControllerRevision) = %v", got)
	}
	d := BuiltinDiscovery()
	n := 0
	for _, g := range d.Groups {
		for _, v := range g.Versions {
			n += len(v.Resources)
		}
	}
	if n != len(Builtin()) {
		t.Errorf("BuiltinDiscovery has %d resources, want %d", n, len(Builtin()))
	}
}
