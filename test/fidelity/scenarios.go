package fidelity

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/khist/khist/test/load"
)

// Scenario is one rollout story: a workload created, then changed by a person (kubectl), with
// kwok readiness delays and jitter so that intermediate states are observable.
type Scenario struct {
	Name     string // also the namespace it runs in
	Kind     string // Deployment, StatefulSet or DaemonSet
	Workload string // the workload's name
	// Workloads, when set, names every workload of the scenario (all of kind Kind) instead of
	// Workload: wait steps wait for each, and the fixture checks expect each.
	Workloads []string
	// Rollouts is the number of rollouts each workload goes through (its creation included),
	// which the offline checks of the fixtures expect. 0: not checked.
	Rollouts int
	// WaitTimeout bounds each wait step (per workload). Default 180s.
	WaitTimeout time.Duration
	// Steps run in order; each is a kubectl call, a manifest applied, a wait or a pause.
	Steps []Step
	// ClusterScoped lists cluster-scoped resources the scenario touches (e.g. nodes, pvs),
	// recorded along with the namespace.
	ClusterScoped []string
}

// Step is one thing a person does to the cluster.
type Step struct {
	Apply   string        // a manifest for kubectl apply -f -
	Kubectl []string      // kubectl arguments (the namespace is added)
	Sleep   time.Duration // wait this long
	// WaitRollout waits for `kubectl rollout status` of the workload to succeed, or, when
	// ExpectFail, to fail (progress deadline exceeded).
	WaitRollout bool
	ExpectFail  bool
	// WaitReady waits until the named pods (in the scenario's namespace) are Ready.
	WaitReady []string
	// Signal marks a point of the scenario that other scenarios of the same session can Await
	// (e.g. "busy-20x100/rollout-2"); Await waits until some scenario has passed it.
	Signal, Await string
	// AtSecond, when positive, waits until the wall clock is that far past a minute (for
	// CronJob scenarios, whose schedules fall on minutes).
	AtSecond time.Duration
}

// Signals are the points scenarios played together have passed (see Step.Signal and
// Step.Await). The zero value is ready to use; a nil *Signals ignores Signal steps and fails
// Await steps.
type Signals struct {
	mu sync.Mutex
	m  map[string]chan struct{}
}

func (s *Signals) ch(name string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]chan struct{}{}
	}
	c, ok := s.m[name]
	if !ok {
		c = make(chan struct{})
		s.m[name] = c
	}
	return c
}

// Fire marks name as passed; firing it again is a no-op.
func (s *Signals) Fire(name string) {
	c := s.ch(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-c:
	default:
		close(c)
	}
}

// Wait blocks until name has been fired or ctx ends.
func (s *Signals) Wait(ctx context.Context, name string) error {
	select {
	case <-s.ch(name):
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for %q: %w", name, ctx.Err())
	}
}

// Runner is what a scenario needs from a cluster.
type Runner interface {
	Kubectl(ctx context.Context, args ...string) ([]byte, error)
	KubectlStdin(ctx context.Context, stdin string, args ...string) ([]byte, error)
}

// WorkloadNames returns Workloads, or Workload alone.
func (s *Scenario) WorkloadNames() []string {
	if len(s.Workloads) > 0 {
		return s.Workloads
	}
	return []string{s.Workload}
}

// Run plays the scenario's steps on r.
func (s *Scenario) Run(ctx context.Context, r Runner) error {
	return s.Play(ctx, r, nil)
}

// Play plays the scenario's steps on r, passing and awaiting the points of sig (see
// Step.Signal), so that scenarios played concurrently can be sequenced.
func (s *Scenario) Play(ctx context.Context, r Runner, sig *Signals) error {
	ns := s.Name
	if _, err := r.Kubectl(ctx, "create", "namespace", ns); err != nil {
		return fmt.Errorf("%s: create namespace: %w", s.Name, err)
	}
	timeout := s.WaitTimeout
	if timeout <= 0 {
		timeout = 180 * time.Second
	}
	for i, st := range s.Steps {
		var err error
		switch {
		case st.Apply != "":
			_, err = r.KubectlStdin(ctx, st.Apply, "apply", "-n", ns, "-f", "-")
		case len(st.Kubectl) > 0:
			_, err = r.Kubectl(ctx, append([]string{"-n", ns}, st.Kubectl...)...)
		case st.Sleep > 0 || st.AtSecond > 0:
			d := st.Sleep
			if st.AtSecond > 0 {
				now := time.Now()
				d = (st.AtSecond - now.Sub(now.Truncate(time.Minute)) + time.Minute) % time.Minute
			}
			select {
			case <-time.After(d):
			case <-ctx.Done():
				err = ctx.Err()
			}
		case st.WaitRollout:
			for _, w := range s.WorkloadNames() {
				target := strings.ToLower(s.Kind) + "/" + w
				var out []byte
				out, err = r.Kubectl(ctx, "-n", ns, "rollout", "status", target, "--timeout="+timeout.String())
				if st.ExpectFail {
					if err == nil {
						err = fmt.Errorf("rollout succeeded, expected it to fail: %s", out)
					} else if strings.Contains(err.Error()+string(out), "exceeded its progress deadline") {
						err = nil
					}
				}
				if err != nil {
					break
				}
			}
		case len(st.WaitReady) > 0:
			args := append([]string{"-n", ns, "wait", "--for=condition=Ready", "--timeout=120s"}, prefixAll("pod/", st.WaitReady)...)
			_, err = r.Kubectl(ctx, args...)
		case st.Signal != "":
			if sig != nil {
				sig.Fire(st.Signal)
			}
		case st.Await != "":
			if sig == nil {
				err = fmt.Errorf("await %q: the scenario is played alone", st.Await)
			} else {
				err = sig.Wait(ctx, st.Await)
			}
		}
		if err != nil {
			return fmt.Errorf("%s: step %d: %w", s.Name, i+1, err)
		}
	}
	return nil
}

func prefixAll(p string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = p + s
	}
	return out
}

func setImage(kind, name, image string) Step {
	return Step{Kubectl: []string{"set", "image", strings.ToLower(kind) + "/" + name, "app=" + image}}
}

var wait = Step{WaitRollout: true}

func sleep(d time.Duration) Step { return Step{Sleep: d} }

const sec = time.Second

// Scenarios is the fidelity suite, in the order it runs.
var Scenarios = []Scenario{
	{
		Name: "seed-rolling", Kind: "Deployment", Workload: "nginx-deployment",
		Steps: []Step{
			{Apply: load.Deployment("nginx-deployment", 3, load.Rolling("1", "1"), "nginx:1.7.9", "", sec, sec)},
			wait,
			setImage("deployment", "nginx-deployment", "nginx:1.9.1"),
			wait,
		},
	},
	{
		Name: "max-surge-0", Kind: "Deployment", Workload: "web",
		Steps: []Step{
			{Apply: load.Deployment("web", 4, load.Rolling("0", "1"), "web:v1", "", sec, sec)},
			wait, setImage("deployment", "web", "web:v2"), wait,
		},
	},
	{
		Name: "max-surge-100", Kind: "Deployment", Workload: "web",
		Steps: []Step{
			{Apply: load.Deployment("web", 4, load.Rolling("100%", "0"), "web:v1", "", sec, sec)},
			wait, setImage("deployment", "web", "web:v2"), wait,
		},
	},
	{
		Name: "default-25", Kind: "Deployment", Workload: "web",
		Steps: []Step{
			{Apply: load.Deployment("web", 12, load.Rolling("25%", "25%"), "web:v1", "", sec, sec)},
			wait, setImage("deployment", "web", "web:v2"), wait,
		},
	},
	{
		Name: "recreate", Kind: "Deployment", Workload: "web",
		Steps: []Step{
			{Apply: load.Deployment("web", 4, "type: Recreate\n", "web:v1", "", sec, sec)},
			wait, setImage("deployment", "web", "web:v2"), wait,
		},
	},
	{
		Name: "min-ready", Kind: "Deployment", Workload: "web",
		Steps: []Step{
			{Apply: load.Deployment("web", 3, load.Rolling("1", "0"), "web:v1", "  minReadySeconds: 3\n", sec, sec)},
			wait, setImage("deployment", "web", "web:v2"), wait,
		},
	},
	{
		Name: "never-ready-undo", Kind: "Deployment", Workload: "web",
		Steps: []Step{
			{Apply: load.Deployment("web", 3, load.Rolling("1", "0"), "web:v1", "  progressDeadlineSeconds: 8\n", sec, sec)},
			wait,
			// The new revision's pods never become Ready.
			{Kubectl: []string{"patch", "deployment/web", "--type=merge", "-p",
				`{"spec":{"template":{"metadata":{"annotations":{"pod-ready.stage.kwok.x-k8s.io/delay":"1h","pod-ready.stage.kwok.x-k8s.io/jitter-delay":"1h"}},"spec":{"containers":[{"name":"app","image":"web:broken"}]}}}}`}},
			{WaitRollout: true, ExpectFail: true},
			{Kubectl: []string{"rollout", "undo", "deployment/web"}},
			wait,
		},
	},
	{
		Name: "mid-rollout-update", Kind: "Deployment", Workload: "web",
		Steps: []Step{
			{Apply: load.Deployment("web", 6, load.Rolling("1", "0"), "web:v1", "", 2*sec, sec)},
			wait, setImage("deployment", "web", "web:v2"), sleep(4 * sec),
			setImage("deployment", "web", "web:v3"), wait,
		},
	},
	{
		Name: "pause-resume", Kind: "Deployment", Workload: "web",
		Steps: []Step{
			{Apply: load.Deployment("web", 4, load.Rolling("1", "1"), "web:v1", "", sec, sec)},
			wait,
			{Kubectl: []string{"rollout", "pause", "deployment/web"}},
			setImage("deployment", "web", "web:v2"),
			{Kubectl: []string{"set", "env", "deployment/web", "MODE=fast"}},
			sleep(2 * sec),
			{Kubectl: []string{"rollout", "resume", "deployment/web"}},
			wait,
		},
	},
	{
		Name: "scale-during-rollout", Kind: "Deployment", Workload: "web",
		Steps: []Step{
			{Apply: load.Deployment("web", 6, load.Rolling("2", "0"), "web:v1", "", 2*sec, sec)},
			wait, setImage("deployment", "web", "web:v2"), sleep(3 * sec),
			{Kubectl: []string{"scale", "deployment/web", "--replicas=10"}},
			wait,
		},
	},
	{
		Name: "undo-to-revision", Kind: "Deployment", Workload: "web",
		Steps: []Step{
			{Apply: load.Deployment("web", 3, load.Rolling("1", "0"), "web:v1", "", sec, sec)},
			wait, setImage("deployment", "web", "web:v2"), wait,
			setImage("deployment", "web", "web:v3"), wait,
			{Kubectl: []string{"rollout", "undo", "deployment/web", "--to-revision=1"}},
			wait,
		},
	},
	{
		Name: "sts-ordered", Kind: "StatefulSet", Workload: "web", ClusterScoped: []string{"persistentvolumes"},
		Steps: []Step{
			{Apply: load.Volumes("sts-ordered", 3)},
			{Apply: load.StatefulSet("web", 3, "OrderedReady", "type: RollingUpdate\n", "redis:7.0", "manual-sts-ordered", sec, sec)},
			wait, setImage("statefulset", "web", "redis:7.2"), wait,
		},
	},
	{
		Name: "sts-partition", Kind: "StatefulSet", Workload: "web", ClusterScoped: []string{"persistentvolumes"},
		Steps: []Step{
			{Apply: load.Volumes("sts-partition", 4)},
			{Apply: load.StatefulSet("web", 4, "OrderedReady", "type: RollingUpdate\nrollingUpdate: {partition: 2}\n", "redis:7.0", "manual-sts-partition", sec, sec)},
			wait, setImage("statefulset", "web", "redis:7.2"), wait,
			{Kubectl: []string{"patch", "statefulset/web", "--type=merge", "-p", `{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}`}},
			wait,
		},
	},
	{
		Name: "sts-parallel", Kind: "StatefulSet", Workload: "web", ClusterScoped: []string{"persistentvolumes"},
		Steps: []Step{
			{Apply: load.Volumes("sts-parallel", 4)},
			{Apply: load.StatefulSet("web", 4, "Parallel", "type: RollingUpdate\n", "redis:7.0", "manual-sts-parallel", sec, sec)},
			wait, setImage("statefulset", "web", "redis:7.2"), wait,
		},
	},
	{
		Name: "sts-pod-recreate", Kind: "StatefulSet", Workload: "web", ClusterScoped: []string{"persistentvolumes"},
		Steps: []Step{
			{Apply: load.Volumes("sts-pod-recreate", 3)},
			{Apply: load.StatefulSet("web", 3, "OrderedReady", "type: RollingUpdate\n", "redis:7.0", "manual-sts-pod-recreate", sec, sec)},
			wait,
			{Kubectl: []string{"delete", "pod", "web-1", "--wait=false"}},
			sleep(3 * sec),
			{WaitReady: []string{"web-1"}},
			wait,
		},
	},
	{
		Name: "ds-node-added", Kind: "DaemonSet", Workload: "agent", ClusterScoped: []string{"nodes"},
		Steps: []Step{
			{Apply: load.DaemonSet("agent", "agent:v1", sec, sec)},
			wait,
			{Apply: load.Node("kwok-node-extra")},
			sleep(4 * sec),
			wait,
			setImage("daemonset", "agent", "agent:v2"),
			wait,
		},
	},
}

// ByName returns the scenario of that name.
func ByName(name string) (*Scenario, bool) {
	for i := range Scenarios {
		if Scenarios[i].Name == name {
			return &Scenarios[i], true
		}
	}
	return nil, false
}
