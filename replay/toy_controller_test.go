package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// This file is a seventh controller, whole: the toy ReplicaPool (example.com/v1) keeps
// spec.replicas pods of its template and replaces them all at once when the template
// changes: it deletes every pod of an older template, and once they are gone creates the new
// ones. Adding it to replay is this file and one registerKind call (TestToyController makes
// it; registerBuiltinKinds does it for the built-in kinds).

const kindToyPool = "ReplicaPool"

const ctrlToyPool controllerID = "ReplicaPool"

type toyPoolKind struct{}

func (toyPoolKind) kind() string { return kindToyPool }
func (toyPoolKind) names() []string {
	return []string{"replicapools", "rpool", "replicapool.example.com"}
}
func (toyPoolKind) controller() controllerID { return ctrlToyPool }

func (toyPoolKind) parse(obj []byte, w *workloadObj) error {
	var p struct {
		Spec struct {
			Replicas *int32                 `json:"replicas"`
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(obj, &p); err != nil {
		return err
	}
	w.spec.Replicas = deref32(p.Spec.Replicas, 1)
	w.spec.Strategy = strategyRecreate
	w.tmpl = &p.Spec.Template
	return nil
}

func (toyPoolKind) start(s *simulation) map[controllerID]controller {
	return map[controllerID]controller{ctrlToyPool: controllerFunc(func(string) { toyPoolSync(s) })}
}

// toyPoolSync is the toy controller's whole algorithm.
func toyPoolSync(s *simulation) {
	w := s.st.w
	if w == nil {
		return
	}
	var old, cur []*simPod
	terminatingOld := false
	for _, p := range s.st.pods {
		switch {
		case p.revKey != w.spec.Template && p.deleting:
			terminatingOld = true
		case p.revKey != w.spec.Template:
			old = append(old, p)
		case !p.deleting:
			cur = append(cur, p)
		}
	}
	if len(old) > 0 {
		s.newBatch()
		for _, p := range old {
			s.deletePod(p, true)
		}
		s.endBatch()
		return
	}
	if terminatingOld {
		return // the new pods wait until the old ones are gone
	}
	s.newBatch()
	defer s.endBatch()
	for i := len(cur); i < int(w.spec.Replicas); i++ {
		s.createPod(podSpec{revKey: w.spec.Template, revName: s.revisionName(w.spec.Template), ordinal: -1})
	}
	for i := int(w.spec.Replicas); i < len(cur); i++ {
		s.deletePod(cur[i], true)
	}
}

func (toyPoolKind) onChange(s *simulation, c change) { wakeOnEveryChange(s, ctrlToyPool, c) }

func (toyPoolKind) wants(sp *spec, _ *corev1.PodTemplateSpec, _ func() []*node) int {
	return int(sp.Replicas)
}
func (toyPoolKind) keepsOld(*spec) int     { return 0 }
func (toyPoolKind) runsToCompletion() bool { return false }
func (toyPoolKind) readsNodes() bool       { return false }
func (toyPoolKind) describe(s *simulation) []string {
	return append([]string{fmt.Sprintf("replicapool %s: replicas %d", s.st.w.name, s.st.w.spec.Replicas)}, describePods(s)...)
}

// A pool's pods are interchangeable: they stand for the recorded ones in creation order.
func (toyPoolKind) counterpart(e *environment, _ []*PodRecord, ps podSpec) *PodRecord {
	return e.claimNext(ps.revKey)
}

func (toyPoolKind) stepJSON(s Step) any {
	return struct {
		Pod      string `json:"pod"`
		Action   string `json:"action"`
		Revision string `json:"revision"`
	}{s.Pod, s.Action, s.Revision}
}
func (toyPoolKind) sameStep(a, b Step) bool {
	return a.Action == b.Action && a.Revision == b.Revision
}
func (toyPoolKind) stepString(s Step) string         { return s.Action + " " + s.Pod + " (" + s.Revision + ")" }
func (toyPoolKind) stepSortKey(s Step) string        { return s.Action + "/" + s.Pod }
func (toyPoolKind) overrides() []string              { return []string{"spec.replicas"} }
func (toyPoolKind) validate(*overrides, *spec) error { return nil }
func (toyPoolKind) resize(*simulation, int)          {}

// toyHistory is a recorded ReplicaPool of 2 pods whose image changes from v1 to v2 at 10s:
// the controller deletes both v1 pods at once (gone 2s later) and creates two v2 pods, Ready
// 3s after their creation.
func toyHistory(t *testing.T) []Version {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var h []Version
	add := func(at time.Duration, typ, kind, name, uid string, obj map[string]any) {
		b, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		h = append(h, Version{Seq: uint64(len(h) + 1), Type: typ, Observed: t0.Add(at), Kind: kind, Namespace: "toy", Name: name,
			UID: uid, ResourceVersion: fmt.Sprint(len(h) + 100), Object: b})
	}
	pool := func(gen int, image string) map[string]any {
		return map[string]any{
			"apiVersion": "example.com/v1", "kind": kindToyPool,
			"metadata": map[string]any{"name": "pool", "namespace": "toy", "uid": "uid-pool", "generation": gen},
			"spec": map[string]any{"replicas": 2, "template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": "pool"}},
				"spec":     map[string]any{"containers": []any{map[string]any{"name": "c", "image": image}}}}},
		}
	}
	pod := func(at time.Duration, name, hash string, ready bool, deleting time.Duration) map[string]any {
		meta := map[string]any{"name": name, "namespace": "toy", "uid": "uid-" + name,
			"creationTimestamp": t0.Add(at).Format(time.RFC3339),
			"labels":            map[string]any{"app": "pool", labelCtrlRevision: hash},
			"ownerReferences": []any{map[string]any{"apiVersion": "example.com/v1", "kind": kindToyPool, "name": "pool",
				"uid": "uid-pool", "controller": true}}}
		if deleting > 0 {
			meta["deletionTimestamp"] = t0.Add(deleting).Format(time.RFC3339)
		}
		status := map[string]any{"phase": "Pending"}
		if ready {
			status = map[string]any{"phase": "Running", "conditions": []any{map[string]any{"type": "Ready", "status": "True",
				"lastTransitionTime": t0.Add(at + 3*time.Second).Format(time.RFC3339)}}}
		}
		return map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": map[string]any{"nodeName": "n1"}, "status": status}
	}
	add(0, Added, kindToyPool, "pool", "uid-pool", pool(1, "v1"))
	for _, n := range []string{"pool-a", "pool-b"} {
		add(0, Added, "Pod", n, "uid-"+n, pod(0, n, "h1", false, 0))
	}
	for _, n := range []string{"pool-a", "pool-b"} {
		add(3*time.Second, Modified, "Pod", n, "uid-"+n, pod(0, n, "h1", true, 0))
	}
	add(10*time.Second, Modified, kindToyPool, "pool", "uid-pool", pool(2, "v2"))
	for _, n := range []string{"pool-a", "pool-b"} {
		add(10*time.Second, Modified, "Pod", n, "uid-"+n, pod(0, n, "h1", true, 10*time.Second))
	}
	for _, n := range []string{"pool-a", "pool-b"} {
		add(12*time.Second, Deleted, "Pod", n, "uid-"+n, pod(0, n, "h1", true, 10*time.Second))
	}
	for _, n := range []string{"pool-c", "pool-d"} {
		add(12*time.Second, Added, "Pod", n, "uid-"+n, pod(12*time.Second, n, "h2", false, 0))
	}
	for _, n := range []string{"pool-c", "pool-d"} {
		add(15*time.Second, Modified, "Pod", n, "uid-"+n, pod(12*time.Second, n, "h2", true, 0))
	}
	return h
}

// TestToyController registers a seventh controller defined in this file alone and replays a
// recorded history with it: compare reproduces the recorded steps, and a what-if with three
// replicas replaces three pods.
func TestToyController(t *testing.T) {
	unregister := registerKind(toyPoolKind{})
	t.Cleanup(func() {
		if unregister != nil {
			unregister()
		}
	})
	h := toyHistory(t)

	res, err := Compare(h, "rpool", "toy", "pool", CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rollouts) != 2 {
		t.Fatalf("%d rollouts, want the creation and the v2 update", len(res.Rollouts))
	}
	for _, r := range res.Rollouts {
		if !r.Match || r.FreeRun == nil || !r.FreeRun.Match {
			t.Errorf("%s: recorded and replayed steps differ: %+v", r.ID, r)
		}
	}
	scn, err := ExtractScenario("ReplicaPool", "toy", "pool", h)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := Simulate(scn, SimOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range sim.Steps {
		got = append(got, s.Action+" "+s.Revision)
	}
	want := []string{"delete h1", "delete h1", "create h2", "create h2"}
	if !slices.Equal(got, want) {
		t.Errorf("simulated steps %v, want %v", got, want)
	}

	wi, err := WhatIf(h, "replicapool.example.com", "toy", "pool", WhatIfOptions{Set: []string{"spec.replicas=3"}})
	if err != nil {
		t.Fatal(err)
	}
	creates := 0
	for _, s := range wi.Steps {
		if s.Action == ActionCreate {
			creates++
		}
	}
	if creates != 3 {
		t.Errorf("what-if replicas=3: %d pods created, want 3: %v", creates, wi.Steps)
	}
	if _, err := Compare(h, "deploy", "toy", "pool", CompareOptions{}); err == nil {
		t.Error("the pool replayed as a Deployment")
	}

	// Once unregistered, the kind is unknown again.
	unregister()
	unregister = nil
	if _, err := Compare(h, "rpool", "toy", "pool", CompareOptions{}); !errors.Is(err, ErrUnsupportedKind) {
		t.Errorf("after unregistering: %v, want ErrUnsupportedKind", err)
	}
}
