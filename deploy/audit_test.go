package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

// auditPolicy is audit.k8s.io/v1 Policy as kube-apiserver reads it (the fields the example
// uses), for a strict decoding: a misspelt field fails. The real API server reads the file in
// test/e2e/auditwebhook.
type auditPolicy struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	OmitStages []string `json:"omitStages"`
	Rules      []struct {
		Level      string   `json:"level"`
		Verbs      []string `json:"verbs"`
		Users      []string `json:"users"`
		UserGroups []string `json:"userGroups"`
		Resources  []struct {
			Group     string   `json:"group"`
			Resources []string `json:"resources"`
		} `json:"resources"`
	} `json:"rules"`
}

// TestAuditExamples: the audit policy records writes at Metadata level and nothing at a level
// with bodies, drops reads first, keeps Secrets at Metadata; the webhook kubeconfig is a valid
// kubeconfig naming an https server, a CA and a client certificate.
func TestAuditExamples(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("audit", "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var p auditPolicy
	if err := yaml.UnmarshalStrict(b, &p); err != nil {
		t.Fatalf("audit/policy.yaml: %v", err)
	}
	if p.APIVersion != "audit.k8s.io/v1" || p.Kind != "Policy" || len(p.Rules) < 3 {
		t.Fatalf("audit/policy.yaml: %s %s with %d rules", p.APIVersion, p.Kind, len(p.Rules))
	}
	if r := p.Rules[0]; r.Level != "None" || !slices.Equal(r.Verbs, []string{"get", "list", "watch"}) {
		t.Errorf("the first rule does not drop reads: %+v", r)
	}
	if last := p.Rules[len(p.Rules)-1]; last.Level != "Metadata" || len(last.Verbs)+len(last.Resources)+len(last.Users)+len(last.UserGroups) != 0 {
		t.Errorf("the last rule is not Metadata for everything else: %+v", last)
	}
	secrets := false
	for _, r := range p.Rules {
		if r.Level != "None" && r.Level != "Metadata" {
			t.Errorf("a rule at level %s sends bodies", r.Level)
		}
		for _, res := range r.Resources {
			if res.Group == "" && slices.Contains(res.Resources, "secrets") {
				secrets = r.Level == "Metadata"
			}
		}
	}
	if !secrets {
		t.Error("no rule keeps Secrets at Metadata")
	}
	if !slices.Contains(p.OmitStages, "RequestReceived") {
		t.Error("RequestReceived is not omitted: every request would be sent twice")
	}

	cfg, err := clientcmd.LoadFromFile(filepath.Join("audit", "webhook-kubeconfig.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := clientcmd.Validate(*cfg); err != nil && !strings.Contains(err.Error(), "no such file") {
		t.Errorf("audit/webhook-kubeconfig.yaml: %v", err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if ctx == nil {
		t.Fatal("audit/webhook-kubeconfig.yaml: no current context")
	}
	cl, user := cfg.Clusters[ctx.Cluster], cfg.AuthInfos[ctx.AuthInfo]
	if cl == nil || !strings.HasPrefix(cl.Server, "https://") || cl.CertificateAuthority == "" {
		t.Errorf("audit/webhook-kubeconfig.yaml: cluster %+v: want an https server and its CA", cl)
	}
	if user == nil || user.ClientCertificate == "" || user.ClientKey == "" {
		t.Errorf("audit/webhook-kubeconfig.yaml: user %+v: want the API server's client certificate", user)
	}
}
