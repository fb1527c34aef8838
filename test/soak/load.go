package soak

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/khist/khist/test/load"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Load is the soak's live load, in one namespace: Deployments rolled continuously (image
// update, scale up, image update, scale back, ...), Concurrent of them at any time, plus
// StatefulSets and DaemonSets whose images are updated in a loop, and Services in front of
// some Deployments. Pods take Ready..Ready+Jitter to become Ready (kwok stage annotations).
type Load struct {
	Namespace string
	// Deployments of Replicas pods each, scaled between Replicas and Scaled; Concurrent of them
	// roll at once.
	Deployments, Replicas, Scaled, Concurrent int
	// StatefulSets (OrderedReady, with hostPath volumes) of StatefulSetReplicas pods.
	StatefulSets, StatefulSetReplicas int
	// DaemonSets over every node, replacing 3 pods at a time.
	DaemonSets int
	// Services in front of the first Services Deployments (StatefulSets have their own
	// headless Service).
	Services int
	// Ready and Jitter are the kwok readiness delay of the pods.
	Ready, Jitter time.Duration
	// Log receives one line per action.
	Log func(format string, args ...any)

	// Actions counts the changes made (creations excluded).
	Actions atomic.Int64
}

// Apply is what Load needs to create its objects: kubectl apply -n NAMESPACE -f - of a
// manifest.
type Apply func(ctx context.Context, manifest string) error

func (l *Load) deployment(i int) string  { return fmt.Sprintf("web-%02d", i) }
func (l *Load) statefulSet(i int) string { return fmt.Sprintf("db-%d", i) }
func (l *Load) daemonSet(i int) string   { return fmt.Sprintf("agent-%d", i) }

// Create creates every object of the load at once (the Deployments at Replicas, image v1).
func (l *Load) Create(ctx context.Context, apply Apply) error {
	var docs []string
	for i := 0; i < l.Deployments; i++ {
		docs = append(docs, load.Deployment(l.deployment(i), l.Replicas, load.Rolling("25%", "25%"), "web:v1", "", l.Ready, l.Jitter))
	}
	for i := 0; i < l.Services && i < l.Deployments; i++ {
		docs = append(docs, load.Service(l.deployment(i), l.deployment(i)))
	}
	for i := 0; i < l.DaemonSets; i++ {
		docs = append(docs, load.DaemonSetUnavailable(l.daemonSet(i), "agent:v1", 3, l.Ready, l.Jitter/2))
	}
	for i := 0; i < l.StatefulSets; i++ {
		name := l.statefulSet(i)
		docs = append(docs, strings.TrimPrefix(load.Volumes(l.Namespace+"-"+name, l.StatefulSetReplicas), "---\n"))
		docs = append(docs, load.StatefulSet(name, l.StatefulSetReplicas, "OrderedReady", "type: RollingUpdate\n", "redis:v1", "manual-"+l.Namespace+"-"+name, 2*time.Second, 3*time.Second))
	}
	return apply(ctx, strings.Join(docs, "---\n"))
}

// Run changes the workloads until ctx ends: Concurrent workers take the Deployments in turn,
// each waits for its Deployment's last change to be rolled out, makes the next change (image
// v(n+1), scale to Scaled, image v(n+2), scale to Replicas, ...) and waits for it; the
// StatefulSets and DaemonSets get a new image each once the last one is rolled out. It
// returns when ctx ends, without waiting for the last changes.
func (l *Load) Run(ctx context.Context, cs kubernetes.Interface) {
	var wg sync.WaitGroup
	queue := make(chan int, l.Deployments)
	for i := 0; i < l.Deployments; i++ {
		queue <- i
	}
	step := make([]int, l.Deployments) // each Deployment's next change
	for w := 0; w < l.Concurrent; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var i int
				select {
				case i = <-queue:
				case <-ctx.Done():
					return
				}
				name := l.deployment(i)
				if err := l.waitDeployment(ctx, cs, name); err != nil {
					return
				}
				s := step[i]
				step[i]++
				var patch string
				switch s % 4 {
				case 0, 2:
					patch = fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"web:v%d"}]}}}}`, s/2+2)
				case 1:
					patch = fmt.Sprintf(`{"spec":{"replicas":%d}}`, l.Scaled)
				case 3:
					patch = fmt.Sprintf(`{"spec":{"replicas":%d}}`, l.Replicas)
				}
				if l.patch(ctx, cs, "deployment", name, patch) != nil {
					return
				}
				if l.waitDeployment(ctx, cs, name) != nil {
					return
				}
				queue <- i
			}
		}()
	}
	for i := 0; i < l.StatefulSets; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.loopImage(ctx, cs, "statefulset", l.statefulSet(i), "redis")
		}()
	}
	for i := 0; i < l.DaemonSets; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.loopImage(ctx, cs, "daemonset", l.daemonSet(i), "agent")
		}()
	}
	wg.Wait()
}

// loopImage updates the image of a StatefulSet or DaemonSet, waits for the rollout, pauses
// 10 s, and again, until ctx ends.
func (l *Load) loopImage(ctx context.Context, cs kubernetes.Interface, kind, name, image string) {
	for v := 2; ; v++ {
		if l.waitRolled(ctx, cs, kind, name) != nil {
			return
		}
		select {
		case <-time.After(10 * time.Second):
		case <-ctx.Done():
			return
		}
		patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"%s:v%d"}]}}}}`, image, v)
		if l.patch(ctx, cs, kind, name, patch) != nil {
			return
		}
	}
}

func (l *Load) patch(ctx context.Context, cs kubernetes.Interface, kind, name, patch string) error {
	var err error
	pt := types.StrategicMergePatchType
	opts := metav1.PatchOptions{}
	switch kind {
	case "deployment":
		_, err = cs.AppsV1().Deployments(l.Namespace).Patch(ctx, name, pt, []byte(patch), opts)
	case "statefulset":
		_, err = cs.AppsV1().StatefulSets(l.Namespace).Patch(ctx, name, pt, []byte(patch), opts)
	case "daemonset":
		_, err = cs.AppsV1().DaemonSets(l.Namespace).Patch(ctx, name, pt, []byte(patch), opts)
	}
	if err != nil {
		if ctx.Err() == nil && l.Log != nil {
			l.Log("soak load: patch %s/%s: %v", kind, name, err)
		}
		return err
	}
	l.Actions.Add(1)
	if l.Log != nil {
		l.Log("soak load: %s/%s %s", kind, name, patch)
	}
	return nil
}

func (l *Load) waitDeployment(ctx context.Context, cs kubernetes.Interface, name string) error {
	return l.waitRolled(ctx, cs, "deployment", name)
}

// WaitAll waits until every workload of the load is rolled out.
func (l *Load) WaitAll(ctx context.Context, cs kubernetes.Interface) error {
	for i := 0; i < l.Deployments; i++ {
		if err := l.waitRolled(ctx, cs, "deployment", l.deployment(i)); err != nil {
			return err
		}
	}
	for i := 0; i < l.StatefulSets; i++ {
		if err := l.waitRolled(ctx, cs, "statefulset", l.statefulSet(i)); err != nil {
			return err
		}
	}
	for i := 0; i < l.DaemonSets; i++ {
		if err := l.waitRolled(ctx, cs, "daemonset", l.daemonSet(i)); err != nil {
			return err
		}
	}
	return nil
}

// waitRolled polls a workload every 2 s until its controller has seen its last change and
// every pod is updated and available.
func (l *Load) waitRolled(ctx context.Context, cs kubernetes.Interface, kind, name string) error {
	for {
		done, err := l.rolled(ctx, cs, kind, name)
		if err == nil && done {
			return nil
		}
		select {
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
			return fmt.Errorf("%s/%s not rolled out: %w", kind, name, ctx.Err())
		}
	}
}

func (l *Load) rolled(ctx context.Context, cs kubernetes.Interface, kind, name string) (bool, error) {
	switch kind {
	case "deployment":
		d, err := cs.AppsV1().Deployments(l.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return deploymentRolled(d), nil
	case "statefulset":
		s, err := cs.AppsV1().StatefulSets(l.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		want := *s.Spec.Replicas
		st := s.Status
		return st.ObservedGeneration >= s.Generation && st.UpdatedReplicas == want && st.ReadyReplicas == want &&
			st.Replicas == want && st.CurrentRevision == st.UpdateRevision, nil
	case "daemonset":
		d, err := cs.AppsV1().DaemonSets(l.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		st := d.Status
		return st.ObservedGeneration >= d.Generation && st.DesiredNumberScheduled > 0 &&
			st.UpdatedNumberScheduled == st.DesiredNumberScheduled && st.NumberAvailable == st.DesiredNumberScheduled &&
			st.CurrentNumberScheduled == st.DesiredNumberScheduled, nil
	}
	return false, fmt.Errorf("soak load: unknown kind %s", kind)
}

func deploymentRolled(d *appsv1.Deployment) bool {
	want := *d.Spec.Replicas
	st := d.Status
	return st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == want && st.Replicas == want &&
		st.AvailableReplicas == want
}
