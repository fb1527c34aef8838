package web

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/khist/khist/test/cluster"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestKubernetesAuth runs khist serve's --auth=kubernetes against the project's real control
// plane (test/cluster) with two ServiceAccounts: alice may get pods in namespace
// sample-rolling only, bob nowhere. Tokens are checked with TokenReview and every namespace with
// SubjectAccessReview; each answer is cached for the TTL.
func TestKubernetesAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{Nodes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	admin, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"sample-rolling", "default-25", "khist-serve"} {
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	token := map[string]string{}
	for _, sa := range []string{"alice", "bob"} {
		if _, err := admin.CoreV1().ServiceAccounts("khist-serve").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		tr, err := admin.CoreV1().ServiceAccounts("khist-serve").CreateToken(ctx, sa, &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(3600))}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		token[sa] = tr.Status.Token
	}
	if _, err := admin.RbacV1().Roles("sample-rolling").Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().RoleBindings("sample-rolling").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "alice-reads-pods"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "pod-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "khist-serve", Name: "alice"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The server's own identity creates the reviews; count its requests to see the cache.
	var reviews atomic.Int64
	cfg := c.RESTConfig()
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			if strings.HasSuffix(r.URL.Path, "/tokenreviews") || strings.HasSuffix(r.URL.Path, "/subjectaccessreviews") {
				reviews.Add(1)
			}
			return rt.RoundTrip(r)
		})
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	k := &Kubernetes{Client: cs, TTL: time.Minute}
	pki := newPKI(t)
	s, err := New(Options{Views: testViews(t), Addr: "0.0.0.0:0", TLSCertFile: pki.certFile, TLSKeyFile: pki.keyFile, Authenticator: k, Authorizer: k})
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(runServer(t, s))
	base := "https://127.0.0.1:" + port + "/api/v1/"
	client := pki.clientWith(nil)
	as := func(who string) []string { return []string{"Authorization", "Bearer " + token[who]} }

	// Unauthenticated: no token, a token the cluster does not know.
	for _, hdr := range [][]string{nil, {"Authorization", "Bearer not-a-token"}} {
		if status, body := get(t, client, base+"rollouts?all-namespaces=true", hdr...); status != http.StatusUnauthorized {
			t.Errorf("%v: %d %s, want 401", hdr, status, body)
		}
	}
	// alice sees sample-rolling and nothing of default-25; bob sees nothing.
	for _, c := range []struct {
		who, path    string
		status       int
		want, absent string
	}{
		{"alice", "rollouts?all-namespaces=true", 200, `"namespace": "sample-rolling"`, "default-25"},
		{"alice", "history?namespace=sample-rolling&object=deploy/checkout", 200, `"revision": 2`, ""},
		{"alice", "replay/all?all-namespaces=true", 200, "", "default-25"},
		{"alice", "history?namespace=default-25&object=deploy/web", 403, "system:serviceaccount:khist-serve:alice may not read the history of namespace default-25", ""},
		{"alice", "steps?namespace=default-25&object=deploy/web", 403, "", `"steps"`},
		{"alice", "timeline?all-namespaces=true&since=2020-01-01T00:00:00Z&until=2030-01-01T00:00:00Z", 200, "sample-rolling", "default-25"},
		{"bob", "rollouts?all-namespaces=true", 200, `"rollouts": []`, "namespace"},
		{"bob", "history?namespace=sample-rolling&object=deploy/checkout", 403, "may not read the history of namespace sample-rolling", ""},
		{"bob", "get?namespace=default-25&object=deploy/web", 403, "", "image"},
	} {
		status, body := get(t, client, base+c.path, as(c.who)...)
		if status != c.status || !strings.Contains(body, c.want) || c.absent != "" && strings.Contains(body, c.absent) {
			t.Errorf("%s as %s: %d %.300s\nwant %d with %q, without %q", c.path, c.who, status, body, c.status, c.want, c.absent)
		}
	}
	// The same questions again are answered from the cache: no more reviews.
	before := reviews.Load()
	for i := 0; i < 3; i++ {
		get(t, client, base+"rollouts?all-namespaces=true", as("alice")...)
		get(t, client, base+"history?namespace=default-25&object=deploy/web", as("alice")...)
	}
	if n := reviews.Load() - before; n != 0 || before == 0 {
		t.Errorf("%d reviews for repeated requests after %d, want 0 (cached)", n, before)
	}
	t.Logf("%d TokenReviews and SubjectAccessReviews in all", reviews.Load())

	// The in-cluster manifests of serve (deploy/serve) are valid for the API server, and give
	// the pod's ServiceAccount the two reviews and nothing more.
	t.Run("deploy/serve", func(t *testing.T) {
		dir, err := filepath.Abs("../../deploy")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"namespace.yaml", "rbac.yaml", "serve/rbac.yaml"} {
			if out, err := c.Kubectl(ctx, "apply", "-f", filepath.Join(dir, f)); err != nil {
				t.Fatalf("apply %s: %v\n%s", f, err, out)
			}
		}
		// deploy/ with the serve component turned on, as its kustomization.yaml says.
		k, err := cluster.DeployWith(dir, t.TempDir(), "serve")
		if err != nil {
			t.Fatal(err)
		}
		if out, err := c.Kubectl(ctx, "apply", "--dry-run=server", "-k", k); err != nil {
			t.Fatalf("server-side dry run of deploy/ with deploy/serve: %v\n%s", err, out)
		}
		out, err := c.Kubectl(ctx, "kustomize", k)
		if err != nil || !strings.Contains(string(out), "- --auth=kubernetes") || !strings.Contains(string(out), "name: collector") {
			t.Errorf("kubectl kustomize deploy/serve: %v: the collector's pod lacks the serve container\n%s", err, out)
		}
		const sa = "system:serviceaccount:khist:khist-collector"
		for _, check := range []struct{ verb, resource, want string }{
			{"create", "tokenreviews.authentication.k8s.io", "yes"},
			{"create", "subjectaccessreviews.authorization.k8s.io", "yes"},
			{"create", "pods", "no"},
			{"create", "secrets", "no"},
			{"create", "serviceaccounts/token", "no"},
		} {
			out, _ := c.Kubectl(ctx, "auth", "can-i", check.verb, check.resource, "--as", sa)
			if got := strings.TrimSpace(string(out)); got != check.want {
				t.Errorf("can %s %s %s: %q, want %q", sa, check.verb, check.resource, got, check.want)
			}
		}
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func ptr[T any](v T) *T { return &v }
