// Package deploy holds the in-cluster manifests (kubectl apply -k deploy/); its test checks
// what a security reviewer would (issue 14, item 14).
package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// doc is one YAML document of a manifest file.
type doc struct {
	file string
	kind string
	raw  []byte
}

func readDocs(t *testing.T) []doc {
	t.Helper()
	files, _ := filepath.Glob("*.yaml")
	var docs []doc
	for _, f := range files {
		if f == "kustomization.yaml" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, part := range strings.Split(string(b), "\n---\n") {
			var meta struct{ Kind string }
			if err := yaml.Unmarshal([]byte(part), &meta); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if meta.Kind != "" {
				docs = append(docs, doc{f, meta.Kind, []byte(part)})
			}
		}
	}
	return docs
}

func decode[T any](t *testing.T, d doc) *T {
	t.Helper()
	v := new(T)
	if err := yaml.UnmarshalStrict(d.raw, v); err != nil {
		t.Fatalf("%s: %s: %v", d.file, d.kind, err)
	}
	return v
}

// TestRBACListsResources: the collector's roles name each resource: no wildcard group,
// resource or verb, no subresource (pods/log, nodes/proxy ...), only get, list and watch, and
// Secrets in a role of their own (deleting it makes khist skip Secrets).
func TestRBACListsResources(t *testing.T) {
	var roles []*rbacv1.ClusterRole
	for _, d := range readDocs(t) {
		switch d.kind {
		case "RoleBinding":
			if rb := decode[rbacv1.RoleBinding](t, d); rb.Name != leaderElectionRole || rb.RoleRef.Name != leaderElectionRole {
				t.Errorf("%s: RoleBinding %s: the collector needs cluster-wide read access, and its Lease only", d.file, rb.Name)
			}
		case "Role":
			checkLeaderElectionRole(t, decode[rbacv1.Role](t, d))
		case "ClusterRole":
			roles = append(roles, decode[rbacv1.ClusterRole](t, d))
		}
	}
	granted := map[string]string{} // group/resource -> role
	aggregated := 0
	for _, r := range roles {
		if r.AggregationRule != nil {
			aggregated++
			if len(r.Rules) != 0 {
				t.Errorf("%s: aggregated role with its own rules", r.Name)
			}
			continue
		}
		if r.Labels["khist.io/aggregate-to-collector"] != "true" {
			t.Errorf("%s: not aggregated into khist-collector", r.Name)
		}
		for _, rule := range r.Rules {
			for _, v := range rule.Verbs {
				if v != "get" && v != "list" && v != "watch" {
					t.Errorf("%s: verb %q: the collector only reads", r.Name, v)
				}
			}
			if len(rule.NonResourceURLs) > 0 {
				if len(rule.Resources) > 0 || !slices.Equal(rule.Verbs, []string{"get"}) {
					t.Errorf("%s: non-resource rule %v grants more than get", r.Name, rule)
				}
				continue
			}
			for _, g := range rule.APIGroups {
				if strings.Contains(g, "*") {
					t.Errorf("%s: wildcard API group %q", r.Name, g)
				}
				for _, res := range rule.Resources {
					switch {
					case strings.Contains(res, "*"):
						t.Errorf("%s: wildcard resource %q in group %q", r.Name, res, g)
					case strings.Contains(res, "/"):
						t.Errorf("%s: subresource %q in group %q", r.Name, res, g)
					}
					if prev, ok := granted[g+"/"+res]; ok {
						t.Errorf("%s/%s granted twice (%s and %s)", g, res, prev, r.Name)
					}
					granted[g+"/"+res] = r.Name
				}
			}
			if len(rule.ResourceNames) > 0 {
				t.Errorf("%s: resourceNames in a rule", r.Name)
			}
		}
	}
	if aggregated != 1 {
		t.Errorf("%d aggregated ClusterRoles, want khist-collector only", aggregated)
	}
	if granted["/secrets"] != "khist-collector-secrets" {
		t.Errorf("secrets granted by %q, want their own role khist-collector-secrets", granted["/secrets"])
	}
	for _, want := range []string{"/pods", "/nodes", "/events", "/namespaces", "apps/deployments", "apps/replicasets",
		"apps/statefulsets", "discovery.k8s.io/endpointslices", "coordination.k8s.io/leases",
		"apiextensions.k8s.io/customresourcedefinitions", "apiregistration.k8s.io/apiservices"} {
		if granted[want] == "" {
			t.Errorf("%s not granted: the collector records it", want)
		}
	}
}

// leaderElectionRole is the one namespaced Role: the collector's replicas take and renew their
// Lease.
const leaderElectionRole = "khist-collector-leader-election"

// checkLeaderElectionRole: the Role grants create on leases, and get and update on the
// collector's Lease alone.
func checkLeaderElectionRole(t *testing.T, r *rbacv1.Role) {
	t.Helper()
	if r.Name != leaderElectionRole {
		t.Errorf("Role %s: the collector needs cluster-wide read access, and its Lease only", r.Name)
		return
	}
	for _, rule := range r.Rules {
		if !slices.Equal(rule.APIGroups, []string{"coordination.k8s.io"}) || !slices.Equal(rule.Resources, []string{"leases"}) {
			t.Errorf("%s: rule %v: leases only", r.Name, rule)
		}
		for _, v := range rule.Verbs {
			switch {
			case v == "create" && len(rule.ResourceNames) == 0:
			case (v == "get" || v == "update") && slices.Equal(rule.ResourceNames, []string{"khist-collector"}):
			default:
				t.Errorf("%s: verb %q on %v: create, or get and update on the Lease khist-collector", r.Name, v, rule.ResourceNames)
			}
		}
	}
}

// TestDeploymentIsLockedDown: images pinned by digest, metrics on loopback, a NetworkPolicy
// that admits no connection, and no Service in front of the unauthenticated metrics.
func TestDeploymentIsLockedDown(t *testing.T) {
	var deploys []*appsv1.Deployment
	var policies []*networkingv1.NetworkPolicy
	for _, d := range readDocs(t) {
		switch d.kind {
		case "Deployment":
			deploys = append(deploys, decode[appsv1.Deployment](t, d))
		case "NetworkPolicy":
			policies = append(policies, decode[networkingv1.NetworkPolicy](t, d))
		case "Service":
			t.Errorf("%s: a Service: the collector serves nothing but its kubelet probe", d.file)
		}
	}
	if len(deploys) == 0 {
		t.Fatal("no Deployment")
	}
	for _, dep := range deploys {
		for _, c := range append(dep.Spec.Template.Spec.InitContainers, dep.Spec.Template.Spec.Containers...) {
			if !strings.Contains(c.Image, "@sha256:") {
				t.Errorf("%s: image %q not pinned by digest", c.Name, c.Image)
			}
			for _, a := range c.Args {
				if addr, ok := strings.CutPrefix(a, "--metrics-addr="); ok && !strings.HasPrefix(addr, "127.0.0.1:") && !strings.HasPrefix(addr, "localhost:") {
					t.Errorf("%s: --metrics-addr=%s: metrics have no authentication, serve them on loopback", c.Name, addr)
				}
			}
		}
		labels := dep.Spec.Template.Labels
		covered := false
		for _, p := range policies {
			match := true
			for k, v := range p.Spec.PodSelector.MatchLabels {
				match = match && labels[k] == v
			}
			if match && p.Namespace == dep.Namespace && slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) && len(p.Spec.Ingress) == 0 &&
				slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
				covered = true
			}
		}
		if !covered {
			t.Errorf("deployment %s: no NetworkPolicy that denies ingress and limits egress", dep.Name)
		}
	}
	// kustomization.yaml applies every manifest.
	b, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k struct{ Resources []string }
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("*.yaml")
	for _, f := range files {
		if f != "kustomization.yaml" && !slices.Contains(k.Resources, f) {
			t.Errorf("kustomization.yaml does not apply %s", f)
		}
	}
}

// promtoolVersion is the Prometheus release whose promtool checks the alerting rules; test/setup.sh
// installs it under the cache directory.
const promtoolVersion = "v0.316.0"

// promtool returns the path of promtool: $KHIST_PROMTOOL, the one test/setup.sh installs, or
// one on PATH.
func promtool() string {
	if p := os.Getenv("KHIST_PROMTOOL"); p != "" {
		return p
	}
	if cache, err := os.UserCacheDir(); err == nil {
		p := filepath.Join(cache, "khist", "tools", "prometheus-"+promtoolVersion, "promtool")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, _ := exec.LookPath("promtool")
	return p
}

// TestPrometheusRules: the alerting rules parse, their expressions are valid PromQL and their
// templates render, as promtool check rules says; and each names a metric khist exports.
func TestPrometheusRules(t *testing.T) {
	p := promtool()
	if p == "" {
		if testing.Short() {
			t.Skip("promtool is not installed (test/setup.sh builds it); skipped with -short")
		}
		t.Fatal("promtool is not installed: run test/setup.sh (it builds promtool " + promtoolVersion + " from the Go module proxy), set KHIST_PROMTOOL, or use -short to skip this test")
	}
	out, err := exec.Command(p, "check", "rules", filepath.Join("prometheus", "khist-rules.yaml")).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS: 9 rules found") {
		t.Fatalf("promtool check rules:\n%s", out)
	}
	// Every metric a rule reads is one khist exports: its name is in the source of a package.
	rules, err := os.ReadFile(filepath.Join("prometheus", "khist-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	for _, dir := range []string{"../collector", "../projector", "../notify", "../eventlog"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			src.Write(b)
		}
	}
	names := regexp.MustCompile(`khist_[a-z_]+`).FindAllString(string(rules), -1)
	if len(names) < 8 {
		t.Fatalf("the rules read %d metrics", len(names))
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
		if !strings.Contains(src.String(), `"`+base+`"`) {
			t.Errorf("a rule reads %s, which khist does not export", n)
		}
	}
}
