package replay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Property tests run the simulation over random specs and readiness latencies with fixed
// seeds, a bounded number of times.
const propertyRounds = 40

// randomIntOrPercent draws a maxSurge or maxUnavailable.
func randomIntOrPercent(r *rand.Rand) intstr.IntOrString {
	if r.Intn(2) == 0 {
		return intstr.FromInt32(int32(r.Intn(5)))
	}
	return intstr.FromString([]string{"0%", "10%", "25%", "50%", "100%"}[r.Intn(5)])
}

type randomRollout struct {
	world            genWorld
	replicas         int32
	surge, unavail   int32
	minReady         time.Duration
	brokenNewVersion bool
}

// randomDeploymentRollout is a Deployment that becomes fully available, then is updated (and
// sometimes updated again in the middle of the rollout).
func randomDeploymentRollout(seed int64) randomRollout {
	r := rand.New(rand.NewSource(seed))
	replicas := int32(1 + r.Intn(25))
	var su, un intstr.IntOrString
	for {
		su, un = randomIntOrPercent(r), randomIntOrPercent(r)
		if !(isZero(&su) && isZero(&un)) {
			break
		}
	}
	d := genDeployment("web", replicas, "web:v1")
	d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &su, MaxUnavailable: &un}
	d.Spec.MinReadySeconds = int32(r.Intn(3)) * int32(r.Intn(2))
	broken := r.Intn(5) == 0
	var never []string
	if broken {
		never = append(never, "web:v2")
	}
	edits := []genEdit{{at: 60 * time.Second, fn: setImage("web:v2")}}
	if r.Intn(3) == 0 {
		edits = append(edits, genEdit{at: 60*time.Second + time.Duration(r.Intn(4000))*time.Millisecond, fn: setImage("web:v3")})
	}
	spec := spec{Replicas: replicas, Strategy: strategyRollingUpdate, MaxSurge: &su, MaxUnavailable: &un}
	nodes := []string{"n1", "n2", "n3", "n4"}[:1+r.Intn(4)]
	return randomRollout{
		world: genWorld{obj: d, nodes: nodes, edits: edits, termination: time.Duration(r.Intn(3000)) * time.Millisecond,
			latency: randomLatency(seed, 200*time.Millisecond, time.Duration(1+r.Intn(6))*time.Second, never...)},
		replicas: replicas, surge: maxSurge(&spec), unavail: maxUnavailable(&spec),
		minReady: time.Duration(d.Spec.MinReadySeconds) * time.Second, brokenNewVersion: broken,
	}
}

// TestPropertyDeploymentBounds: a rolling update that starts from a fully available
// Deployment never runs more than replicas+maxSurge pods (terminating ones aside) and never
// has fewer than replicas-maxUnavailable available.
func TestPropertyDeploymentBounds(t *testing.T) {
	for seed := int64(1); seed <= propertyRounds; seed++ {
		rr := randomDeploymentRollout(seed)
		h := generate(t, rr.world)
		scn, err := ExtractScenario(KindDeployment, "gen", "web", h)
		if err != nil {
			t.Fatal(err)
		}
		for _, env := range []Environment{EnvAsRecorded, EnvLatency} {
			res, err := Simulate(scn, SimOptions{RolloutID: "#2", Environment: env})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range res.Availability {
				if active := p.Pods - p.Terminating; active > int(rr.replicas+rr.surge) {
					t.Fatalf("seed %d env %d: %d pods at %s, more than %d replicas + %d surge", seed, env, active, p.Time, rr.replicas, rr.surge)
				}
				if p.Available < int(rr.replicas-rr.unavail) {
					t.Fatalf("seed %d env %d: %d available at %s, fewer than %d replicas - %d unavailable", seed, env, p.Available, p.Time, rr.replicas, rr.unavail)
				}
			}
			if !rr.brokenNewVersion && env == EnvLatency && !res.Completed {
				t.Fatalf("seed %d: rollout did not complete: %+v", seed, res.Summary)
			}
		}
	}
}

// TestPropertyStatefulSetOrderedReady: with OrderedReady, ordinal N+1 is only created once
// ordinals 0..N are Running and Ready, during creation, rolling updates (with partitions),
// scaling and re-creation of deleted pods.
func TestPropertyStatefulSetOrderedReady(t *testing.T) {
	for seed := int64(1); seed <= propertyRounds; seed++ {
		r := rand.New(rand.NewSource(seed))
		replicas := int32(1 + r.Intn(8))
		st := genStatefulSet("db", replicas, "web:v1")
		st.Spec.MinReadySeconds = int32(r.Intn(2) * r.Intn(3))
		s := time.Second
		edits := []genEdit{{at: 60 * s, fn: func(o any) {
			st := o.(*appsv1.StatefulSet)
			p := int32(r.Intn(int(replicas) + 1))
			st.Spec.UpdateStrategy.RollingUpdate.Partition = &p
			st.Spec.Template.Spec.Containers[0].Image = "web:v2"
		}}, {at: 90 * s, fn: func(o any) {
			p := int32(0)
			o.(*appsv1.StatefulSet).Spec.UpdateStrategy.RollingUpdate.Partition = &p
		}}, {at: 120 * s, fn: setReplicas(int32(1 + r.Intn(8)))}}
		w := genWorld{obj: st, nodes: []string{"a", "b"}, edits: edits, termination: time.Duration(r.Intn(2000)) * time.Millisecond,
			latency:    randomLatency(seed, 100*time.Millisecond, 3*s),
			podDeletes: []genPodDelete{{at: time.Duration(30+r.Intn(120)) * s, name: "db-" + strconv.Itoa(r.Intn(int(replicas)))}}}
		h := generate(t, w)
		checkOrderedReady(t, seed, h)
		// and the replays of each rollout take the same steps
		res, err := Compare(h, "statefulset", "gen", "db", CompareOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Match {
			var b bytes.Buffer
			res.WriteTable(&b)
			t.Fatalf("seed %d: replay differs:\n%s", seed, b.String())
		}
	}
}

func checkOrderedReady(t *testing.T, seed int64, h []Version) {
	t.Helper()
	type state struct{ ready, terminating bool }
	pods := map[int]*state{}
	for _, v := range h {
		if v.Kind != "Pod" {
			continue
		}
		p, err := parsePod(v.Object)
		if err != nil {
			t.Fatal(err)
		}
		ord := ordinalOf(v.Name, "db")
		switch {
		case v.Type == Deleted:
			delete(pods, ord)
		case v.Type == Added:
			for j := 0; j < ord; j++ {
				if s := pods[j]; s == nil || !s.ready || s.terminating {
					t.Fatalf("seed %d seq %d: %s created while db-%d is %+v", seed, v.Seq, v.Name, j, s)
				}
			}
			pods[ord] = &state{}
		default:
			pods[ord] = &state{ready: p.ready && p.phase == "Running", terminating: p.meta.Metadata.DeletionTimestamp != nil}
		}
	}
}

// randomWorld draws a world of any of the three kinds.
func randomWorld(seed int64) (genWorld, string, string) {
	r := rand.New(rand.NewSource(seed))
	s := time.Second
	lat := randomLatency(seed, 100*time.Millisecond, 4*s)
	switch seed % 3 {
	case 0:
		rr := randomDeploymentRollout(seed)
		return rr.world, KindDeployment, "web"
	case 1:
		st := genStatefulSet("db", int32(1+r.Intn(6)), "web:v1")
		if r.Intn(2) == 0 {
			st.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
		}
		return genWorld{obj: st, nodes: []string{"a", "b"}, latency: lat, termination: s,
			edits: []genEdit{{at: 60 * s, fn: setImage("web:v2")}}}, KindStatefulSet, "db"
	default:
		ds := genDaemonSet("agent", "web:v1")
		ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptrIS(intstr.FromInt32(int32(1 + r.Intn(2)))),
			MaxSurge: ptrIS(intstr.FromInt32(0))}
		if r.Intn(2) == 0 {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge = ptrIS(intstr.FromString("50%"))
			ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptrIS(intstr.FromInt32(0))
		}
		var nodes []string
		for i := 0; i <= r.Intn(6); i++ {
			nodes = append(nodes, fmt.Sprintf("node-%d", i))
		}
		return genWorld{obj: ds, nodes: nodes, latency: lat, termination: s, edits: []genEdit{{at: 60 * s, fn: setImage("web:v2")}},
			nodeEdits: []genNodeEdit{{at: 61 * s, name: "node-new"}}}, KindDaemonSet, "agent"
	}
}

// TestPropertyWhatIfWithoutOverrides: a what-if without overrides, or whose overrides repeat
// the recorded settings, is the replay with the recorded settings.
func TestPropertyWhatIfWithoutOverrides(t *testing.T) {
	for seed := int64(1); seed <= propertyRounds; seed++ {
		w, kind, name := randomWorld(seed)
		h := generate(t, w)
		scn, err := ExtractScenario(kind, "gen", name, h)
		if err != nil {
			t.Fatal(err)
		}
		sp := scn.Changes[len(scn.Changes)-1].w.spec
		same := []string{fmt.Sprintf("spec.minReadySeconds=%d", sp.MinReadySeconds)}
		switch kind {
		case KindDeployment:
			same = append(same, fmt.Sprintf("spec.replicas=%d", sp.Replicas),
				"spec.strategy.rollingUpdate.maxSurge="+sp.MaxSurge.String(), "spec.strategy.rollingUpdate.maxUnavailable="+sp.MaxUnavailable.String())
		case KindStatefulSet:
			same = append(same, fmt.Sprintf("spec.replicas=%d", sp.Replicas), "spec.podManagementPolicy="+sp.PodManagementPolicy)
		}
		for _, latency := range []string{"recorded", "p90"} {
			replay, err := Simulate(scn, SimOptions{Environment: EnvLatency, ReadyLatency: latency})
			if err != nil {
				t.Fatal(err)
			}
			for _, set := range [][]string{nil, same} {
				wi, err := WhatIf(h, kind, "gen", name, WhatIfOptions{Set: set, ReadyLatency: latency})
				if err != nil {
					t.Fatalf("seed %d %v: %v", seed, set, err)
				}
				if wi.WhatIf != wi.Replay || wi.Replay != replay.Summary || !sameSteps(wi.Steps, replay.Steps) {
					t.Fatalf("seed %d %s %v: what-if %+v, replay %+v, simulation %+v", seed, latency, set, wi.WhatIf, wi.Replay, replay.Summary)
				}
			}
		}
	}
}

func sameSteps(a, b []Step) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].sameAction(b[i]) || !a[i].Time.Equal(b[i].Time) {
			return false
		}
	}
	return true
}

// TestPropertyDeterminism: the same input gives the same output, every time.
func TestPropertyDeterminism(t *testing.T) {
	for seed := int64(1); seed <= propertyRounds/2; seed++ {
		w, kind, name := randomWorld(seed)
		h1, h2 := generate(t, w), generate(t, w)
		if !reflect.DeepEqual(h1, h2) {
			t.Fatalf("seed %d: the generator is not deterministic", seed)
		}
		var outs [][]byte
		for i := 0; i < 2; i++ {
			c, err := Compare(h1, kind, "gen", name, CompareOptions{})
			if err != nil {
				t.Fatal(err)
			}
			scn, err := ExtractScenario(kind, "gen", name, h1)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Simulate(scn, SimOptions{Environment: EnvLatency, ReadyLatency: "p50"})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal([]any{c, s})
			outs = append(outs, b)
		}
		if !bytes.Equal(outs[0], outs[1]) {
			t.Fatalf("seed %d: two runs differ", seed)
		}
	}
}
