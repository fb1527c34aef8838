package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/khist/khist/test/cluster"
)

// The in-cluster manifests (deploy/) are valid for the API server, and their ServiceAccount's
// ClusterRole is enough for a collector: run as that ServiceAccount, it lists and watches
// every built-in resource without a single failure (a custom resource with no aggregated
// ClusterRole is skipped as forbidden), and can change nothing.
func TestDeployManifests(t *testing.T) {
	c, _ := needCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	dir, err := filepath.Abs("../../deploy")
	if err != nil {
		t.Fatal(err)
	}
	// The namespace and RBAC are applied for real (the test runs a collector under them); the
	// rest, whose image the test cluster cannot run, is checked by a server-side dry run.
	for _, f := range []string{"namespace.yaml", "rbac.yaml"} {
		if _, err := c.Kubectl(ctx, "apply", "-f", filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c.Kubectl(context.Background(), "delete", "-f", filepath.Join(dir, "rbac.yaml"), "--wait=false")
		c.Kubectl(context.Background(), "delete", "-f", filepath.Join(dir, "namespace.yaml"), "--wait=true")
	})
	if out, err := c.Kubectl(ctx, "apply", "--dry-run=server", "-k", dir); err != nil {
		t.Fatalf("server-side dry run of deploy/: %v\n%s", err, out)
	}
	dryRunFleet(ctx, t, c, dir)
	const sa = "system:serviceaccount:khist:khist-collector"
	for _, check := range []struct {
		verb, resource string
		want           string
	}{
		{"list", "pods", "yes"},
		{"watch", "secrets", "yes"},
		{"watch", "customresourcedefinitions.apiextensions.k8s.io", "yes"},
		{"create", "pods", "no"},
		{"delete", "configmaps", "no"},
		{"update", "nodes", "no"},
	} {
		out, _ := c.Kubectl(ctx, "auth", "can-i", check.verb, check.resource, "--all-namespaces", "--as="+sa)
		if got := strings.TrimSpace(string(out)); got != check.want {
			t.Errorf("can %s %s %s: %q, want %q", sa, check.verb, check.resource, got, check.want)
		}
	}

	r := StartRecorder(t, c, RecorderOptions{Impersonate: sa})
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	mfs, err := r.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	resources := 0.0
	for _, mf := range mfs {
		switch mf.GetName() {
		case "khist_collector_relists_total":
			for _, m := range mf.GetMetric() {
				switch g := label(m, "group"); {
				case label(m, "reason") == "error":
					t.Errorf("a list failed as %s: %s.%s", sa, label(m, "resource"), g)
				case label(m, "reason") == "forbidden" && (!strings.Contains(g, ".") || strings.HasSuffix(g, ".k8s.io")):
					// The role names every built-in resource; only custom ones (another
					// test's CRDs) may be skipped as forbidden.
					t.Errorf("built-in resource not granted by deploy/rbac.yaml: %s.%s", label(m, "resource"), g)
				}
			}
		case "khist_collector_watched_resources":
			resources = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	envs, err := ReadAll(ctx, r.Log)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, e := range envs {
		kinds[e.Kind] = true
	}
	for _, k := range []string{"Namespace", "Node", "ServiceAccount", "ClusterRole", "ConfigMap", "APIService", "PriorityClass", "Lease"} {
		if !kinds[k] {
			t.Errorf("no %s recorded as %s", k, sa)
		}
	}
	t.Logf("as %s: %v resources watched, %d kinds, %d envelopes", sa, resources, len(kinds), len(envs))
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// dryRunFleet validates deploy/ with the fleet component turned on (as deploy/kustomization.yaml
// says: uncomment it) and the stream's Job (deploy/fleet/stream) with server-side dry runs, and
// checks that the collector then records as its cluster's own NATS user and changes no stream
// setting.
func dryRunFleet(ctx context.Context, t *testing.T, c *cluster.Cluster, dir string) {
	t.Helper()
	k, err := cluster.DeployWith(dir, t.TempDir(), "fleet")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := c.Kubectl(ctx, "apply", "--dry-run=server", "-k", k); err != nil {
		t.Fatalf("server-side dry run of deploy/ with deploy/fleet: %v\n%s", err, out)
	}
	out, err := c.Kubectl(ctx, "kustomize", k)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"- --nats-user=khist-collector-$(KHIST_CLUSTER)", "- --nats-tls-ca=/etc/khist/nats/ca.crt", "- --leader-elect", "secretName: khist-nats-ca", "value: tls://"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("kubectl kustomize deploy/ with deploy/fleet lacks %q", want)
		}
	}
	if strings.Contains(string(out), "--stream-") {
		t.Error("with deploy/fleet the collector is given a --stream-* flag: it would change the stream, which only khist-admin may")
	}
	if out, err := c.Kubectl(ctx, "apply", "--dry-run=server", "-k", filepath.Join(dir, "fleet", "stream")); err != nil {
		t.Fatalf("server-side dry run of deploy/fleet/stream: %v\n%s", err, out)
	}
}
