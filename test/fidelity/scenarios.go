package fidelity

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
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

// kwok pod annotations: pods become Ready after ready..ready+jitter; deleted ones are asked to go
// after 1-2s (on a busy cluster kwok removes them 1-30 s after the request).
func kwokAnnotations(ready, jitter time.Duration) string {
	return fmt.Sprintf(`        pod-create.stage.kwok.x-k8s.io/delay: "200ms"
        pod-create.stage.kwok.x-k8s.io/jitter-delay: "400ms"
        pod-ready.stage.kwok.x-k8s.io/delay: %q
        pod-ready.stage.kwok.x-k8s.io/jitter-delay: %q
        pod-delete.stage.kwok.x-k8s.io/delay: "1s"
        pod-delete.stage.kwok.x-k8s.io/jitter-delay: "1s"
`, ready.String(), (ready + jitter).String())
}

// deployment is a Deployment manifest. strategy is the YAML under spec.strategy.
func deployment(name string, replicas int, strategy, image string, extraSpec string, ready, jitter time.Duration) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: %[2]d
  selector:
    matchLabels: {app: %[1]s}
  strategy:
%[3]s%[5]s
  template:
    metadata:
      labels: {app: %[1]s}
      annotations:
%[6]s    spec:
      containers:
      - name: app
        image: %[4]s
`, name, replicas, indent(strategy, "    "), image, extraSpec, kwokAnnotations(ready, jitter))
}

func rolling(surge, unavailable string) string {
	return fmt.Sprintf("type: RollingUpdate\nrollingUpdate:\n  maxSurge: %s\n  maxUnavailable: %s\n", surge, unavailable)
}

func indent(s, p string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = p + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// statefulSet is a headless Service and a StatefulSet with a volumeClaimTemplate bound to
// pre-created hostPath PersistentVolumes (the test cluster has no provisioner).
func statefulSet(name string, replicas int, policy, updateStrategy, image, storageClass string, ready, jitter time.Duration) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %[1]s
spec:
  clusterIP: None
  selector: {app: %[1]s}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: %[1]s
spec:
  serviceName: %[1]s
  replicas: %[2]d
  podManagementPolicy: %[3]s
  updateStrategy:
%[4]s  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
      annotations:
%[6]s    spec:
      containers:
      - name: app
        image: %[5]s
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: %[7]s
      resources: {requests: {storage: 1Gi}}
`, name, replicas, policy, indent(updateStrategy, "    "), image, kwokAnnotations(ready, jitter), storageClass)
}

// volumes are n hostPath PersistentVolumes of storage class manual-SCENARIO, which the
// scenario's StatefulSet claims.
func volumes(sts string, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: pv-%[1]s-%[2]d
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: manual-%[1]s
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: /tmp/khist-pv-%[1]s-%[2]d}
`, sts, i)
	}
	return b.String()
}

func daemonSet(name, image string, ready, jitter time.Duration) string {
	return daemonSetUnavailable(name, image, 1, ready, jitter)
}

// daemonSetUnavailable is a DaemonSet on every node (it tolerates every taint) whose rolling
// update replaces up to maxUnavailable pods at a time.
func daemonSetUnavailable(name, image string, maxUnavailable int, ready, jitter time.Duration) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: %[1]s
spec:
  selector:
    matchLabels: {app: %[1]s}
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: %[4]d}
  template:
    metadata:
      labels: {app: %[1]s}
      annotations:
%[3]s    spec:
      tolerations: [{operator: Exists}]
      containers:
      - name: app
        image: %[2]s
`, name, image, kwokAnnotations(ready, jitter), maxUnavailable)
}

func node(name string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Node
metadata:
  name: %[1]s
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
    kubernetes.io/hostname: %[1]s
    type: kwok
status:
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
`, name)
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
			{Apply: deployment("nginx-deployment", 3, rolling("1", "1"), "nginx:1.7.9", "", sec, sec)},
			wait,
			setImage("deployment", "nginx-deployment", "nginx:1.9.1"),
			wait,
		},
	},
	{
		Name: "max-surge-0", Kind: "Deployment", Workload: "web",
		Steps: []Step{
			{Apply: deployment("web", 4, rolling("0", "1"), "web:v1", "", sec, sec)},
			wait, setImage("deployment", "web", "web:v2"), wait,
		},
	},
	{
		Name: "max-surge-100", Kind: "Deployment", Workload: "web",
		Steps: []Step{
			{Apply: deployment("web", 4, rolling("100%", "0"), "web:v1", "", sec, sec)},
			wait, setImage("deployment", "web", "web:v2"), wait,
		},
	},
	{
		Name: "default-25", Kind: "Deployment", Workload: "web",
		Steps: []Step{
			{Apply: deployment("web", 12, rolling("25%", "25%"), "web:v1", "", sec, sec)},
			wait, setImage("deployment", "web", "web:v2"), wait,
		},
	},
	{
		Name: "recreate", Kind: "Deployment", Workload: "web",
		Steps: []Step{
			{Apply: deployment("web", 4, "type: Recreate\n", "web:v1", "", sec, sec)},
			wait, setImage("deployment", "web", "web:v2"), wait,
		},
	},
	{
		Name: "min-ready", Kind: "Deployment", Workload: "web",
		Steps: []Step{
			{Apply: deployment("web", 3, rolling("1", "0"), "web:v1", "  minReadySeconds: 3\n", sec, sec)},
			wait, setImage("deployment", "web", "web:v2"), wait,
		},
	},
	{
		Name: "never-ready-undo", Kind: "Deployment", Workload: "web",
		Steps: []Step{
			{Apply: deployment("web", 3, rolling("1", "0"), "web:v1", "  progressDeadlineSeconds: 8\n", sec, sec)},
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
			{Apply: deployment("web", 6, rolling("1", "0"), "web:v1", "", 2*sec, sec)},
			wait, setImage("deployment", "web", "web:v2"), sleep(4 * sec),
			setImage("deployment", "web", "web:v3"), wait,
		},
	},
	{
		Name: "pause-resume", Kind: "Deployment", Workload: "web",
		Steps: []Step{
			{Apply: deployment("web", 4, rolling("1", "1"), "web:v1", "", sec, sec)},
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
			{Apply: deployment("web", 6, rolling("2", "0"), "web:v1", "", 2*sec, sec)},
			wait, setImage("deployment", "web", "web:v2"), sleep(3 * sec),
			{Kubectl: []string{"scale", "deployment/web", "--replicas=10"}},
			wait,
		},
	},
	{
		Name: "undo-to-revision", Kind: "Deployment", Workload: "web",
		Steps: []Step{
			{Apply: deployment("web", 3, rolling("1", "0"), "web:v1", "", sec, sec)},
			wait, setImage("deployment", "web", "web:v2"), wait,
			setImage("deployment", "web", "web:v3"), wait,
			{Kubectl: []string{"rollout", "undo", "deployment/web", "--to-revision=1"}},
			wait,
		},
	},
	{
		Name: "sts-ordered", Kind: "StatefulSet", Workload: "web", ClusterScoped: []string{"persistentvolumes"},
		Steps: []Step{
			{Apply: volumes("sts-ordered", 3)},
			{Apply: statefulSet("web", 3, "OrderedReady", "type: RollingUpdate\n", "redis:7.0", "manual-sts-ordered", sec, sec)},
			wait, setImage("statefulset", "web", "redis:7.2"), wait,
		},
	},
	{
		Name: "sts-partition", Kind: "StatefulSet", Workload: "web", ClusterScoped: []string{"persistentvolumes"},
		Steps: []Step{
			{Apply: volumes("sts-partition", 4)},
			{Apply: statefulSet("web", 4, "OrderedReady", "type: RollingUpdate\nrollingUpdate: {partition: 2}\n", "redis:7.0", "manual-sts-partition", sec, sec)},
			wait, setImage("statefulset", "web", "redis:7.2"), wait,
			{Kubectl: []string{"patch", "statefulset/web", "--type=merge", "-p", `{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}`}},
			wait,
		},
	},
	{
		Name: "sts-parallel", Kind: "StatefulSet", Workload: "web", ClusterScoped: []string{"persistentvolumes"},
		Steps: []Step{
			{Apply: volumes("sts-parallel", 4)},
			{Apply: statefulSet("web", 4, "Parallel", "type: RollingUpdate\n", "redis:7.0", "manual-sts-parallel", sec, sec)},
			wait, setImage("statefulset", "web", "redis:7.2"), wait,
		},
	},
	{
		Name: "sts-pod-recreate", Kind: "StatefulSet", Workload: "web", ClusterScoped: []string{"persistentvolumes"},
		Steps: []Step{
			{Apply: volumes("sts-pod-recreate", 3)},
			{Apply: statefulSet("web", 3, "OrderedReady", "type: RollingUpdate\n", "redis:7.0", "manual-sts-pod-recreate", sec, sec)},
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
			{Apply: daemonSet("agent", "agent:v1", sec, sec)},
			wait,
			{Apply: node("kwok-node-extra")},
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
