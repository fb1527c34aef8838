package replay

import (
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// generatedCases are the shapes of the fidelity suite, played by the history generator.
func generatedCases() []struct {
	name  string
	kind  string
	world genWorld
	// rollouts is the number of rollouts extraction must find.
	rollouts int
} {
	s := time.Second
	lat := randomLatency(7, s, 4*s)
	surge := func(su, un intstr.IntOrString) func(*appsv1.Deployment) {
		return func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &su, MaxUnavailable: &un}
		}
	}
	dep := func(replicas int32, mut ...func(*appsv1.Deployment)) *appsv1.Deployment {
		d := genDeployment("web", replicas, "web:v1")
		for _, m := range mut {
			m(d)
		}
		return d
	}
	nodes := []string{"node-a", "node-b", "node-c"}
	v2 := genEdit{at: 30 * s, actor: "kubectl-set", fn: setImage("web:v2")}
	return []struct {
		name     string
		kind     string
		world    genWorld
		rollouts int
	}{
		{"maxSurge 0", KindDeployment, genWorld{obj: dep(6, surge(intstr.FromInt32(0), intstr.FromInt32(1))), nodes: nodes, latency: lat,
			termination: s, edits: []genEdit{v2}}, 2},
		{"maxSurge 100%", KindDeployment, genWorld{obj: dep(6, surge(intstr.FromString("100%"), intstr.FromInt32(0))), nodes: nodes, latency: lat,
			termination: s, edits: []genEdit{v2}}, 2},
		{"25%/25% with 12 replicas", KindDeployment, genWorld{obj: dep(12), nodes: nodes, latency: lat, termination: s, edits: []genEdit{v2}}, 2},
		{"Recreate", KindDeployment, genWorld{obj: dep(5, func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		}), nodes: nodes, latency: lat, termination: 2 * s, edits: []genEdit{v2}}, 2},
		{"minReadySeconds", KindDeployment, genWorld{obj: dep(4, func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = 5 }),
			nodes: nodes, latency: lat, termination: s, edits: []genEdit{v2}}, 2},
		{"never ready, progress deadline, undo", KindDeployment, genWorld{obj: dep(4, func(d *appsv1.Deployment) {
			pd := int32(20)
			d.Spec.ProgressDeadlineSeconds = &pd
		}), nodes: nodes, latency: randomLatency(3, s, 3*s, "web:bad"), termination: s,
			edits: []genEdit{{at: 30 * s, fn: setImage("web:bad")}, {at: 90 * s, actor: "kubectl-rollout", fn: setImage("web:v1")}}}, 3},
		{"update mid-rollout", KindDeployment, genWorld{obj: dep(10), nodes: nodes, latency: lat, termination: s,
			edits: []genEdit{v2, {at: 31 * s, fn: setImage("web:v3")}}}, 3},
		{"pause, edit, resume", KindDeployment, genWorld{obj: dep(6), nodes: nodes, latency: lat, termination: s,
			edits: []genEdit{{at: 30 * s, actor: "kubectl-rollout", fn: setPaused(true)}, {at: 31 * s, fn: setImage("web:v2")},
				{at: 32 * s, fn: setReplicas(8)}, {at: 33 * s, fn: setImage("web:v3")}, {at: 40 * s, actor: "kubectl-rollout", fn: setPaused(false)}}}, 2},
		{"scaling during a rollout", KindDeployment, genWorld{obj: dep(10), nodes: nodes, latency: lat, termination: s,
			edits: []genEdit{v2, {at: 31 * s, actor: "kubectl-scale", fn: setReplicas(20)}, {at: 34 * s, actor: "kubectl-scale", fn: setReplicas(5)}}}, 2},
		{"undo --to-revision", KindDeployment, genWorld{obj: dep(4, func(d *appsv1.Deployment) {
			rh := int32(2)
			d.Spec.RevisionHistoryLimit = &rh
		}), nodes: nodes, latency: lat, termination: s,
			edits: []genEdit{v2, {at: 60 * s, fn: setImage("web:v3")}, {at: 90 * s, fn: setImage("web:v4")},
				{at: 120 * s, actor: "kubectl-rollout", fn: setImage("web:v2")}}}, 5},
		{"StatefulSet OrderedReady", KindStatefulSet, genWorld{obj: genStatefulSet("db", 4, "web:v1"), nodes: nodes, latency: lat, termination: s,
			edits: []genEdit{v2}}, 2},
		{"StatefulSet partition", KindStatefulSet, genWorld{obj: genStatefulSet("db", 5, "web:v1"), nodes: nodes, latency: lat, termination: s,
			edits: []genEdit{{at: 30 * s, fn: func(o any) {
				st := o.(*appsv1.StatefulSet)
				p := int32(3)
				st.Spec.UpdateStrategy.RollingUpdate.Partition = &p
				st.Spec.Template.Spec.Containers[0].Image = "web:v2"
			}}, {at: 60 * s, fn: func(o any) {
				p := int32(0)
				o.(*appsv1.StatefulSet).Spec.UpdateStrategy.RollingUpdate.Partition = &p
			}}}}, 2},
		{"StatefulSet Parallel", KindStatefulSet, genWorld{obj: func() *appsv1.StatefulSet {
			st := genStatefulSet("db", 7, "web:v1")
			st.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
			return st
		}(), nodes: nodes, latency: lat, termination: s, edits: []genEdit{v2, {at: 60 * s, fn: setReplicas(3)}}}, 2},
		{"StatefulSet pod deleted and re-created", KindStatefulSet, genWorld{obj: genStatefulSet("db", 3, "web:v1"), nodes: nodes,
			latency: lat, termination: s, edits: []genEdit{v2}, podDeletes: []genPodDelete{{at: 50 * s, name: "db-1"}}}, 2},
		{"StatefulSet OnDelete", KindStatefulSet, genWorld{obj: func() *appsv1.StatefulSet {
			st := genStatefulSet("db", 3, "web:v1")
			st.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
			return st
		}(), nodes: nodes, latency: lat, termination: s, edits: []genEdit{v2},
			podDeletes: []genPodDelete{{at: 40 * s, name: "db-2"}, {at: 50 * s, name: "db-0"}}}, 2},
		{"DaemonSet with a node added", KindDaemonSet, genWorld{obj: genDaemonSet("agent", "web:v1"), nodes: nodes, latency: lat, termination: s,
			edits:     []genEdit{v2},
			nodeEdits: []genNodeEdit{{at: 32 * s, name: "node-d"}, {at: 60 * s, name: "node-b", remove: true}}}, 2},
		{"DaemonSet maxSurge", KindDaemonSet, genWorld{obj: func() *appsv1.DaemonSet {
			ds := genDaemonSet("agent", "web:v1")
			ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptrIS(intstr.FromInt32(0)), MaxSurge: ptrIS(intstr.FromString("50%"))}
			return ds
		}(), nodes: []string{"n1", "n2", "n3", "n4", "n5"}, latency: lat, termination: s, edits: []genEdit{v2}}, 2},
	}
}

// TestCompareGeneratedHistories checks that extraction captures everything the simulation
// needs: a history written by the simulated controllers must be replayed step for step.
func TestCompareGeneratedHistories(t *testing.T) {
	for _, c := range generatedCases() {
		t.Run(c.name, func(t *testing.T) {
			h := generate(t, c.world)
			meta := objMetaOf(c.world.obj)
			res, err := Compare(h, c.kind, meta.Namespace, meta.Name, CompareOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Rollouts) != c.rollouts {
				t.Errorf("%d rollouts, want %d", len(res.Rollouts), c.rollouts)
			}
			if !res.Match || testing.Verbose() {
				res.WriteTable(os.Stdout)
			}
			if !res.Match {
				t.Fatal("generated history does not replay step for step")
			}
		})
	}
}
