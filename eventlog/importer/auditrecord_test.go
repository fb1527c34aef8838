package importer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/khist/khist/eventlog"
)

// The audit events of testdata/audit.jsonl, sent as one EventList as the API server's webhook
// backend does: every successful write becomes a record whatever its level, naming the user and
// the field manager, with the resourceVersion of its response when it has one; no body is kept
// (the Secret's value least of all), and the rest is counted by reason.
func TestAuditRecords(t *testing.T) {
	raw, err := os.ReadFile("testdata/audit.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var items []json.RawMessage
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		items = append(items, line)
	}
	list, _ := json.Marshal(map[string]any{"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items})
	envs, rejected, err := AuditRecords("c1", "audit-webhook", list)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range envs {
		if err := e.Validate(); err != nil {
			t.Error(err)
		}
		if e.Type != eventlog.Audited || e.Cluster != "c1" || e.Source != "audit-webhook" {
			t.Errorf("envelope %s: type %s cluster %q source %q", e, e.Type, e.Cluster, e.Source)
		}
		if bytes.Contains(e.Object, []byte("aHVudGVyMg")) || bytes.Contains(e.Object, []byte("hunter2")) {
			t.Errorf("%s: a Secret's value is kept: %s", e, e.Object)
		}
		r, err := eventlog.DecodeAudit(e.Object)
		if err != nil {
			t.Fatal(err)
		}
		if e.MsgID() != "c1/audit/"+r.AuditID {
			t.Errorf("message id %q", e.MsgID())
		}
		got = append(got, fmt.Sprintf("%s %s/%s %s rv=%s by %s as %s", r.Verb, r.Resource, r.Subresource, r.Name, r.ResourceVersion, r.User, r.Manager))
	}
	want := []string{
		"create deployments/ web rv=100 by kubernetes-admin as kubectl",
		"patch deployments/ web rv=105 by alice as kubectl",
		"update replicasets/status web-abc rv=103 by system:kube-controller-manager as kubectl",
		"update deployments/scale web rv=106 by kubernetes-admin as kubectl", // a Scale's resourceVersion is the Deployment's
		"create secrets/ db rv=107 by kubernetes-admin as kubectl",
		"delete pods/ web-1 rv=108 by bob as kubectl",
		"delete pods/ web-1 rv=109 by system:kwok-controller as kubectl",
		"delete configmaps/ cfg rv= by kubernetes-admin as kubectl", // answered with a Status
		"update secrets/ db rv= by kubernetes-admin as kubectl",     // Metadata level: no response
		"update deployments/ web rv=105 by carol as kubectl",        // a no-op update: the same version
		"delete configmaps/ gone rv=111 by kubernetes-admin as kubectl",
	}
	if g := strings.Join(got, "\n"); g != strings.Join(want, "\n") {
		t.Errorf("records:\n%s\nwant:\n%s", g, strings.Join(want, "\n"))
	}
	if rejected[rejectReadOnly] != 2 || rejected[rejectStage] != 1 || rejected[rejectFailed] != 1 || rejected[rejectDryRun] != 1 {
		t.Errorf("rejected: %v", rejected)
	}

	for _, bad := range []string{`{"kind":"Deployment","apiVersion":"apps/v1"}`, `not json`, `{"kind":"Policy","apiVersion":"audit.k8s.io/v1"}`} {
		if _, _, err := AuditRecords("c1", "audit-webhook", []byte(bad)); err == nil {
			t.Errorf("AuditRecords(%s): no error", bad)
		}
	}
}

// The field manager is the request's fieldManager parameter, else its user agent's product.
func TestFieldManager(t *testing.T) {
	for _, c := range []struct{ uri, ua, want string }{
		{"/apis/apps/v1/namespaces/shop/deployments/web?fieldManager=kubectl-set", "kubectl/v1.33.13 (linux/amd64)", "kubectl-set"},
		{"/apis/apps/v1/namespaces/shop/deployments/web/scale", "kubectl/v1.33.13 (linux/amd64) kubernetes/abc", "kubectl"},
		{"/api/v1/namespaces/shop/pods/x/status", "kwok/v0.7.0 (linux/amd64)", "kwok"},
		{"/api/v1/namespaces/shop/configmaps?fieldManager=helm&x=1", "Helm/3.14", "helm"},
		{"/x", "", ""},
	} {
		if got := fieldManager(c.uri, c.ua); got != c.want {
			t.Errorf("fieldManager(%q, %q) = %q, want %q", c.uri, c.ua, got, c.want)
		}
	}
}
