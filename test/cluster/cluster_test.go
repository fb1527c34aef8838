package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/khist/khist/test/cluster"
)

// testCluster is the package's cluster; nil with -short.
var testCluster *cluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(cluster.RunMain(m, cluster.Options{Audit: true}, func(c *cluster.Cluster) error {
		testCluster = c
		return nil
	}))
}

// needCluster skips a test that needs the cluster under -short.
func needCluster(t *testing.T) (*cluster.Cluster, kubernetes.Interface) {
	t.Helper()
	if testCluster == nil {
		t.Skip("no test cluster with -short")
	}
	client, err := testCluster.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	return testCluster, client
}

func TestServerVersion(t *testing.T) {
	c, _ := needCluster(t)
	out, err := c.Kubectl(t.Context(), "version", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		ServerVersion struct{ GitVersion string } `json:"serverVersion"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("kubectl version: %v: %s", err, out)
	}
	if v.ServerVersion.GitVersion != cluster.KubernetesVersion {
		t.Errorf("server version %q, want %q", v.ServerVersion.GitVersion, cluster.KubernetesVersion)
	}
}

func TestNodesReady(t *testing.T) {
	c, client := needCluster(t)
	nodes, err := client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != cluster.DefaultNodes || len(c.Nodes) != cluster.DefaultNodes {
		t.Fatalf("%d nodes (Cluster.Nodes %v), want %d", len(nodes.Items), c.Nodes, cluster.DefaultNodes)
	}
}

// TestRollingUpdate records the upstream Deployment controller's rolling
// update of 3 replicas with maxSurge 1 and maxUnavailable 1.
func TestRollingUpdate(t *testing.T) {
	c, client := needCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	one := intstr.FromInt32(1)
	err := c.Apply(ctx, cluster.DeploymentManifest(cluster.DeploymentOptions{
		Name:           "web",
		Replicas:       3,
		Image:          "nginx:1.7.9",
		MaxSurge:       &one,
		MaxUnavailable: &one,
		PodAnnotations: cluster.KwokDelays(time.Second),
	}))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := c.Kubectl(ctx, "rollout", "status", "deployment/web", "--timeout=2m"); err != nil {
		t.Fatal(err)
	}
	t.Logf("3 replicas available after %s", time.Since(start).Round(time.Millisecond))
	if _, err := c.Kubectl(ctx, "set", "image", "deployment/web", "main=nginx:1.9.1"); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if _, err := c.Kubectl(ctx, "rollout", "status", "deployment/web", "--timeout=2m"); err != nil {
		t.Fatal(err)
	}
	t.Logf("rollout complete after %s", time.Since(start).Round(time.Millisecond))

	// Two ReplicaSets: the new one (nginx:1.9.1) at 3, the old one at 0.
	rsList, err := client.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rsList.Items) != 2 {
		t.Fatalf("%d ReplicaSets, want 2", len(rsList.Items))
	}
	var oldRS, newRS *appsv1.ReplicaSet
	for i := range rsList.Items {
		rs := &rsList.Items[i]
		switch img := rs.Spec.Template.Spec.Containers[0].Image; img {
		case "nginx:1.7.9":
			oldRS = rs
		case "nginx:1.9.1":
			newRS = rs
		default:
			t.Fatalf("ReplicaSet %s has image %s", rs.Name, img)
		}
	}
	if oldRS == nil || newRS == nil {
		t.Fatalf("want one ReplicaSet per image, got %v", rsList.Items)
	}
	if *newRS.Spec.Replicas != 3 || newRS.Status.ReadyReplicas != 3 || *oldRS.Spec.Replicas != 0 {
		t.Errorf("new %s: spec %d ready %d; old %s: spec %d; want 3, 3, 0",
			newRS.Name, *newRS.Spec.Replicas, newRS.Status.ReadyReplicas, oldRS.Name, *oldRS.Spec.Replicas)
	}

	// The ScalingReplicaSet events: the old ReplicaSet created at 3, then
	// the rolling update. Events are written asynchronously: wait for the
	// last ones.
	steps := scalingSteps(ctx, t, client, "web", map[string]int{oldRS.Name: 0, newRS.Name: 3})
	t.Logf("ScalingReplicaSet steps:\n%s", strings.Join(steps, "\n"))
	want := []string{
		"Scaled up replica set " + oldRS.Name + " from 0 to 3",
		// maxSurge 1: one new pod first; maxUnavailable 1: then one old
		// pod goes while the new one is not Ready yet.
		"Scaled up replica set " + newRS.Name + " from 0 to 1",
		"Scaled down replica set " + oldRS.Name + " from 3 to 2",
	}
	if len(steps) < len(want) {
		t.Fatalf("%d steps, want at least %d", len(steps), len(want))
	}
	for i, w := range want {
		if steps[i] != w {
			t.Errorf("step %d: %q, want %q", i, steps[i], w)
		}
	}
	// Afterwards the new ReplicaSet only grows and the old one only shrinks.
	re := regexp.MustCompile(`^Scaled (up|down) replica set (\S+) from (\d+) to (\d+)$`)
	last := map[string]int{oldRS.Name: 2, newRS.Name: 1}
	for _, s := range steps[len(want):] {
		m := re.FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("unexpected event message %q", s)
		}
		from, _ := strconv.Atoi(m[3])
		to, _ := strconv.Atoi(m[4])
		up := m[2] == newRS.Name
		if from != last[m[2]] || (up && (m[1] != "up" || to <= from)) || (!up && (m[1] != "down" || to >= from)) {
			t.Errorf("step %q does not follow from %s at %d", s, m[2], last[m[2]])
		}
		last[m[2]] = to
	}
	if last[oldRS.Name] != 0 || last[newRS.Name] != 3 {
		t.Errorf("steps end at old %d, new %d; want 0, 3", last[oldRS.Name], last[newRS.Name])
	}
}

// scalingSteps returns the messages of the ScalingReplicaSet events of a
// Deployment in the order they were written, once each ReplicaSet of final
// has been scaled to its final size.
func scalingSteps(ctx context.Context, t *testing.T, client kubernetes.Interface, deployment string, final map[string]int) []string {
	t.Helper()
	for {
		list, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{
			FieldSelector: "involvedObject.kind=Deployment,involvedObject.name=" + deployment + ",reason=ScalingReplicaSet",
		})
		if err != nil {
			t.Fatal(err)
		}
		// Timestamps have second resolution; resourceVersion (an etcd
		// revision on this cluster) orders the writes.
		sort.Slice(list.Items, func(i, j int) bool { return rv(list.Items[i]) < rv(list.Items[j]) })
		var steps []string
		for _, e := range list.Items {
			steps = append(steps, e.Message)
		}
		found := 0
		for rs, n := range final {
			for _, s := range steps {
				if strings.Contains(s, " replica set "+rs+" from ") && strings.HasSuffix(s, " to "+strconv.Itoa(n)) {
					found++
					break
				}
			}
		}
		if found == len(final) {
			return steps
		}
		select {
		case <-ctx.Done():
			t.Fatalf("events %q do not scale to %v", steps, final)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func rv(e corev1.Event) int64 {
	n, _ := strconv.ParseInt(e.ResourceVersion, 10, 64)
	return n
}

// TestStatefulSetOrderedReady checks that the StatefulSet controller creates
// pod N+1 only once pod N is Ready (OrderedReady, the default).
func TestStatefulSetOrderedReady(t *testing.T) {
	c, client := needCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	err := c.Apply(ctx, cluster.StatefulSetManifest(cluster.StatefulSetOptions{
		Name:           "sts",
		Replicas:       3,
		PodAnnotations: cluster.KwokDelays(time.Second),
	}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Kubectl(ctx, "rollout", "status", "statefulset/sts", "--timeout=90s"); err != nil {
		t.Fatal(err)
	}
	var ready []time.Time
	for i := range 3 {
		pod, err := client.CoreV1().Pods("default").Get(ctx, "sts-"+strconv.Itoa(i), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && pod.CreationTimestamp.Time.Before(ready[i-1]) {
			t.Errorf("pod %s created at %s, before sts-%d was Ready at %s", pod.Name, pod.CreationTimestamp, i-1, ready[i-1])
		}
		for _, cond := range pod.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				ready = append(ready, cond.LastTransitionTime.Time)
			}
		}
		if len(ready) != i+1 {
			t.Fatalf("pod %s is not Ready: %v", pod.Name, pod.Status.Conditions)
		}
	}
}

// TestEtcdCompact checks that EtcdCompact removes old versions: etcd no
// longer serves a key at a revision before the compaction.
func TestEtcdCompact(t *testing.T) {
	c, client := needCluster(t)
	ctx := t.Context()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "compact-me"}, Data: map[string]string{"v": "1"}}
	cm, err := client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before, err := c.EtcdRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["v"] = "2"
	if _, err := client.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	key := "/registry/configmaps/default/compact-me"
	if _, err := c.Etcdctl(ctx, "get", key, "--rev="+strconv.FormatInt(before, 10)); err != nil {
		t.Fatalf("before compaction: %v", err)
	}
	if err := c.EtcdCompact(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = c.Etcdctl(ctx, "get", key, "--rev="+strconv.FormatInt(before, 10))
	if err == nil || !strings.Contains(err.Error(), "compacted") {
		t.Fatalf("get at revision %d after compaction: %v, want a compacted error", before, err)
	}
	after, err := c.EtcdRevision(ctx)
	if err != nil || after <= before {
		t.Fatalf("revision after compaction %d (%v), want > %d", after, err, before)
	}
}

// TestSideBySide starts a second cluster beside the package's, stops it,
// and checks that the first one is untouched.
func TestSideBySide(t *testing.T) {
	first, client := needCluster(t)
	second, err := cluster.Start(t.Context(), cluster.Options{Nodes: 1, Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	if second.APIServerURL == first.APIServerURL || second.EtcdEndpoint == first.EtcdEndpoint {
		t.Errorf("second cluster shares an address: %s %s", second.APIServerURL, second.EtcdEndpoint)
	}
	out, err := second.Kubectl(t.Context(), "get", "nodes", "-o", "name")
	if err != nil || strings.TrimSpace(string(out)) != "node/kwok-node-0" {
		t.Errorf("second cluster nodes: %q, %v", out, err)
	}
	dir := second.Dir
	if err := second.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary state dir %s left after Stop: %v", dir, err)
	}
	if _, err := client.CoreV1().Namespaces().Get(t.Context(), "default", metav1.GetOptions{}); err != nil {
		t.Errorf("first cluster after stopping the second: %v", err)
	}
}

// TestAuditLog checks that the audit log names who wrote what: the admin
// creates a Deployment, the controller-manager its ReplicaSet, with bodies.
func TestAuditLog(t *testing.T) {
	c, _ := needCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if c.AuditLogPath == "" {
		t.Fatal("audit log not enabled")
	}
	if err := c.Apply(ctx, cluster.DeploymentManifest(cluster.DeploymentOptions{Name: "audited", Replicas: 1})); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"deployments": "kubernetes-admin", "replicasets": "system:kube-controller-manager"}
	for len(want) > 0 {
		data, err := os.ReadFile(c.AuditLogPath)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			var e struct {
				Level          string
				Verb           string
				User           struct{ Username string }
				ObjectRef      struct{ Resource, Name string }
				ResponseObject *json.RawMessage
			}
			if line == "" || json.Unmarshal([]byte(line), &e) != nil || e.Verb != "create" {
				continue
			}
			if user, ok := want[e.ObjectRef.Resource]; ok && strings.HasPrefix(e.ObjectRef.Name, "audited") {
				if e.User.Username != user || e.Level != "RequestResponse" || e.ResponseObject == nil {
					t.Errorf("create %s by %q at level %s (response body: %t), want by %q at RequestResponse with a body",
						e.ObjectRef.Resource, e.User.Username, e.Level, e.ResponseObject != nil, user)
				}
				delete(want, e.ObjectRef.Resource)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("audit log lacks the creation of %v", want)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestPodTimingAnnotations(t *testing.T) {
	got := cluster.PodTiming{Create: 0, Ready: 1500 * time.Millisecond, Jitter: time.Second}.Annotations()
	want := map[string]string{
		cluster.AnnotationPodCreateDelay:       "0s",
		cluster.AnnotationPodCreateJitterDelay: "1s",
		cluster.AnnotationPodReadyDelay:        "1.5s",
		cluster.AnnotationPodReadyJitterDelay:  "2.5s",
		cluster.AnnotationPodDeleteDelay:       "0s",
		cluster.AnnotationPodDeleteJitterDelay: "1s",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("annotations %v, want %v", got, want)
	}
	manifest := string(cluster.DeploymentManifest(cluster.DeploymentOptions{Name: "web", Replicas: 3, PodAnnotations: got}))
	for _, s := range []string{"kind: Deployment", "replicas: 3", "app: web", "pod-ready.stage.kwok.x-k8s.io/delay: 1.5s", "image: nginx:1.7.9"} {
		if !strings.Contains(manifest, s) {
			t.Errorf("manifest lacks %q:\n%s", s, manifest)
		}
	}
}

func TestJobPodTimingAnnotations(t *testing.T) {
	base := cluster.PodTiming{Ready: time.Second}
	ok := cluster.JobPodTiming{PodTiming: base, Run: 2 * time.Second}.Annotations()
	if ok[cluster.AnnotationPodCompleteDelay] != "2s" || ok[cluster.AnnotationPodFailWeight] != "" {
		t.Errorf("a succeeding pod: %v", ok)
	}
	fail := cluster.JobPodTiming{PodTiming: base, Run: 2 * time.Second, Fail: true, ExitCode: 3}.Annotations()
	for k, want := range map[string]string{cluster.AnnotationPodCompleteWeight: "0", cluster.AnnotationPodFailWeight: "1",
		cluster.AnnotationPodFailExitCode: "3", cluster.AnnotationPodFailDelay: "2s"} {
		if fail[k] != want {
			t.Errorf("a failing pod: %s = %q, want %q", k, fail[k], want)
		}
	}
	flaky := cluster.JobPodTiming{PodTiming: base, Flaky: true}.Annotations()
	if flaky[cluster.AnnotationPodCompleteWeight] != "1" || flaky[cluster.AnnotationPodFailWeight] != "1" || flaky[cluster.AnnotationPodFailExitCode] != "1" {
		t.Errorf("a flaky pod: %v", flaky)
	}
}
