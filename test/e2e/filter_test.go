package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/eventlog/importer"
	"github.com/khist/khist/test/cluster"
	appsv1 "k8s.io/api/apps/v1"
)

// --include-namespace with plain names lists and watches those namespaces one by one (as a
// collector whose credentials reach only them must); objects elsewhere are not recorded,
// cluster-scoped ones are, and Namespace objects are filtered by name. --exclude leaves out a
// resource.
func TestNamespaceFilter(t *testing.T) {
	c, _ := needCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	in, out := createNamespace(t, c, "filter-in"), createNamespace(t, c, "filter-out")
	r := StartRecorder(t, c, RecorderOptions{IncludeNamespaces: []string{in}, Exclude: []string{"events"}})
	for _, ns := range []string{in, out} {
		if _, err := c.Kubectl(ctx, "-n", ns, "create", "configmap", "cm", "--from-literal=k=v"); err != nil {
			t.Fatal(err)
		}
	}
	envs, err := r.Envelopes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, e := range envs {
		kinds[e.Kind]++
		switch {
		case e.Namespace != "" && e.Namespace != in:
			t.Errorf("recorded from another namespace: %s", e)
		case e.Kind == "Namespace" && e.Name != in:
			t.Errorf("Namespace %s recorded", e.Name)
		case e.Kind == "Event":
			t.Errorf("excluded resource recorded: %s", e)
		}
	}
	if kinds["ConfigMap"] < 2 || kinds["Node"] == 0 || kinds["Namespace"] != 1 {
		t.Errorf("recorded kinds %v: want the namespace's ConfigMaps, the Nodes and one Namespace", kinds)
	}
}

// An object near etcd's 1.5 MiB limit (a custom resource: ConfigMaps stop at 1 MiB) is recorded
// whole.
func TestLargeObject(t *testing.T) {
	c, _ := needCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	ns := createNamespace(t, c, "large")
	crd := strings.NewReplacer("widgets", "blobs", "widget", "blob", "Widget", "Blob").Replace(widgetCRD)
	if err := c.Apply(ctx, []byte(crd)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Kubectl(context.Background(), "delete", "crd", "blobs.khist.example.com", "--ignore-not-found", "--wait=true")
	})
	if _, err := c.Kubectl(ctx, "wait", "--for=condition=Established", "crd/blobs.khist.example.com", "--timeout=1m"); err != nil {
		t.Fatal(err)
	}
	r := StartRecorder(t, c, RecorderOptions{Include: []string{"*.khist.example.com"}})
	value := strings.Repeat("0123456789abcdef", 1400*1024/16) // 1.4 MiB
	file := filepath.Join(t.TempDir(), "big.json")
	obj := `{"apiVersion":"khist.example.com/v1","kind":"Blob","metadata":{"name":"big","namespace":"` + ns + `"},"data":"` + value + `"}`
	if err := os.WriteFile(file, []byte(obj), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Kubectl(ctx, "create", "-f", file); err != nil {
		t.Fatal(err)
	}
	envs, err := r.Envelopes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var big *eventlog.Envelope
	for _, e := range envs {
		if e.Namespace == ns && e.Name == "big" {
			big = e
		}
	}
	if big == nil || !strings.Contains(string(big.Object), value) {
		t.Fatalf("the 1.4 MiB object is not recorded whole")
	}
	t.Logf("%s: %d bytes", big, len(big.Object))
}

// Record, the helper that records scenarios for the replay fidelity suite, returns the log of a
// scenario once the collector has caught up, and its watch file imports back.
func TestRecordHelper(t *testing.T) {
	c, _ := needCluster(t)
	ns := uniqueName("record")
	envs := Record(t, c, RecorderOptions{IncludeNamespaces: []string{ns}}, func(ctx context.Context) error {
		if _, err := c.Kubectl(ctx, "create", "namespace", ns); err != nil {
			return err
		}
		if err := c.Apply(ctx, nginxDeployment(ns, cluster.PodTiming{Ready: time.Second})); err != nil {
			return err
		}
		_, err := c.Kubectl(ctx, "-n", ns, "rollout", "status", "deployment/nginx-deployment", "--timeout=2m")
		return err
	})
	ready := 0
	for _, e := range envs {
		if e.Kind == "Deployment" && e.Namespace == ns {
			var d appsv1.Deployment
			if err := json.Unmarshal(e.Object, &d); err != nil {
				t.Fatal(err)
			}
			ready = int(d.Status.ReadyReplicas)
		}
	}
	if ready != 3 {
		t.Errorf("the last Deployment version in the recording has %d ready replicas, want 3", ready)
	}
	path := filepath.Join(t.TempDir(), "record.json")
	if err := WriteWatchFile(path, envs); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := importer.ReadWatch("e2e", importer.Input{Name: path, R: f})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Envelopes) != len(envs) || res.RejectedTotal() != 0 {
		t.Errorf("%d envelopes recorded, %d imported back, rejected %v", len(envs), len(res.Envelopes), res.Rejected)
	}
}
