package fidelity

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/khist/khist/test/load"
)

// The busy suite: scenarios played together on one cluster of BusyNodes kwok nodes, so that
// the controllers work under load (thousands of pods, kube-controller-manager at its default
// client QPS) and fold many pod readiness changes into each ReplicaSet status write. Its
// recordings are kept under testdata/busy, one file per scenario and run
// (BusyFixturePath); `make fidelity-busy` records one more run.

// BusyNodes is the number of kwok nodes of the busy suite's cluster: 40 nodes of 110 pods
// each hold the ~3400 pods the busy scenarios run at their peak.
const BusyNodes = 40

// Pod timing of the busy workloads: pods become Ready busyReady to busyReady+busyJitter after
// they are scheduled, so that thousands of readiness changes spread over half a minute.
const (
	busyReady  = 3 * time.Second
	busyJitter = 25 * time.Second
	// busyWait bounds each wait for one busy workload's rollout.
	busyWait = 25 * time.Minute
	// loadedWait bounds each wait of a quiet scenario played under load: ds-node-added's
	// DaemonSet replaces one pod at a time on 42 nodes, and kwok deletes each old pod 1 to 30 s
	// (its grace period) after the request, about 12 minutes in all.
	loadedWait = 20 * time.Minute
)

// Points of busy-20x100 that the loaded scenarios wait for.
const (
	busyRollout2 = "busy-20x100/rollout-2"
	busyRollout3 = "busy-20x100/rollout-3"
)

// busyDeployments are the names of busy-20x100's Deployments.
var busyDeployments = func() []string {
	var names []string
	for i := 0; i < 20; i++ {
		names = append(names, fmt.Sprintf("web-%02d", i))
	}
	return names
}()

// manyDeployments is one manifest of Deployments of the same shape, one per name.
func manyDeployments(names []string, replicas int, image string) string {
	var docs []string
	for _, n := range names {
		docs = append(docs, load.Deployment(n, replicas, load.Rolling("25%", "25%"), image, "", busyReady, busyJitter))
	}
	return strings.Join(docs, "---\n")
}

// setImageAll sets the image of every Deployment of the namespace, one request each, in one
// kubectl call.
func setImageAll(image string) Step {
	return Step{Kubectl: []string{"set", "image", "deployment", "--all", "app=" + image}}
}

// BusyScenarios are the busy suite, all played at once on one cluster (see TestLiveBusy):
// busy-* scenarios start together; the loaded-* ones, quiet scenarios of Scenarios in their own
// namespaces, start when busy-20x100 starts its second (five of them) or third (three)
// rollout.
var BusyScenarios = append([]Scenario{
	{
		// 20 Deployments x 100 replicas, 25%/25%: created at once, then two image updates of
		// all 20 at once, each once the previous rollouts are complete (60 rollouts).
		Name: "busy-20x100", Kind: "Deployment", Workloads: busyDeployments, Rollouts: 3, WaitTimeout: busyWait,
		Steps: []Step{
			{Apply: manyDeployments(busyDeployments, 100, "web:v1")},
			wait,
			{Signal: busyRollout2},
			setImageAll("web:v2"),
			wait,
			{Signal: busyRollout3},
			setImageAll("web:v3"),
			wait,
		},
	},
	{
		Name: "busy-500", Kind: "Deployment", Workload: "web", Rollouts: 2, WaitTimeout: busyWait,
		Steps: []Step{
			{Apply: load.Deployment("web", 500, load.Rolling("25%", "25%"), "web:v1", "", busyReady, busyJitter)},
			wait, setImage("deployment", "web", "web:v2"), wait,
		},
	},
	{
		Name: "busy-24", Kind: "Deployment", Workload: "web", Rollouts: 3, WaitTimeout: busyWait,
		Steps: []Step{
			{Apply: load.Deployment("web", 24, load.Rolling("25%", "25%"), "web:v1", "", busyReady, busyJitter)},
			wait, setImage("deployment", "web", "web:v2"), wait,
			setImage("deployment", "web", "web:v3"), wait,
		},
	},
	{
		// A DaemonSet over every node, 3 pods replaced at a time; a node joins 40 s into the
		// image update, while it rolls.
		Name: "busy-ds", Kind: "DaemonSet", Workload: "agent", Rollouts: 2, WaitTimeout: busyWait,
		ClusterScoped: []string{"nodes"},
		Steps: []Step{
			{Apply: load.DaemonSetUnavailable("agent", "agent:v1", 3, busyReady, 12*time.Second)},
			wait,
			setImage("daemonset", "agent", "agent:v2"),
			sleep(40 * sec),
			{Apply: load.Node("kwok-node-busy-ds")},
			wait,
		},
	},
	{
		// A StatefulSet of 30 (OrderedReady, one pod at a time: short delays keep it within the
		// session), updated above partition 15, then all of it.
		Name: "busy-sts", Kind: "StatefulSet", Workload: "web", Rollouts: 2, WaitTimeout: busyWait,
		ClusterScoped: []string{"persistentvolumes"},
		Steps: []Step{
			{Apply: load.Volumes("busy-sts", 30)},
			{Apply: load.StatefulSet("web", 30, "OrderedReady", "type: RollingUpdate\nrollingUpdate: {partition: 15}\n", "redis:7.0", "manual-busy-sts", 2*sec, 3*sec)},
			wait, setImage("statefulset", "web", "redis:7.2"), wait,
			{Kubectl: []string{"patch", "statefulset/web", "--type=merge", "-p", `{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}`}},
			wait,
		},
	},
},
	loaded(busyRollout2, "seed-rolling", 2),
	loaded(busyRollout2, "default-25", 2),
	loaded(busyRollout2, "max-surge-0", 2),
	loaded(busyRollout2, "mid-rollout-update", 3),
	loaded(busyRollout2, "ds-node-added", 2), // the longest: it starts early
	loaded(busyRollout3, "scale-during-rollout", 2),
	loaded(busyRollout3, "pause-resume", 2),
	loaded(busyRollout3, "sts-ordered", 2),
)

// loaded is the quiet scenario of that name played in namespace loaded-NAME once point is
// passed, with rollouts rollouts.
func loaded(point, name string, rollouts int) Scenario {
	s, ok := ByName(name)
	if !ok {
		panic("fidelity: no scenario " + name)
	}
	c := *s
	c.Name = "loaded-" + name
	c.Rollouts = rollouts
	c.WaitTimeout = loadedWait
	c.Steps = append([]Step{{Await: point}}, s.Steps...)
	return c
}

// BusyByName returns the busy scenario of that name.
func BusyByName(name string) (*Scenario, bool) {
	for i := range BusyScenarios {
		if BusyScenarios[i].Name == name {
			return &BusyScenarios[i], true
		}
	}
	return nil, false
}

// BusyFixturePath is where run n of a busy scenario is kept, relative to this package:
// DIR/busy/SCENARIO-rN.json.gz.
func BusyFixturePath(dir, scenario string, run int) string {
	return filepath.Join(dir, "busy", fmt.Sprintf("%s-r%d.json.gz", scenario, run))
}
