package web

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoopbackOnly: without TLS and authentication the server listens on loopback only, and
// answers only requests that name loopback (no DNS rebinding); any other address refuses to
// start.
func TestLoopbackOnly(t *testing.T) {
	views := testViews(t)
	pki := newPKI(t)
	tf, err := ReadTokenFile(strings.NewReader("secret,alice,1\n"), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		o    Options
		want error
	}{
		{Options{Views: views, Addr: "0.0.0.0:8474"}, ErrInsecure},
		{Options{Views: views, Addr: "192.0.2.1:8474", Authenticator: tf}, ErrInsecure},
		{Options{Views: views, Addr: ":8474", TLSCertFile: pki.certFile, TLSKeyFile: pki.keyFile}, ErrInsecure},
		{Options{Views: views, Addr: "127.0.0.1:8474", TLSCertFile: pki.certFile}, ErrBadOption},
		{Options{Views: views, Addr: "127.0.0.1:8474", Authenticator: &Proxy{}}, ErrBadOption},
		{Options{Views: views, Addr: "localhost"}, ErrBadOption},
	} {
		if _, err := New(c.o); !errors.Is(err, c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("New(%+v): %v, want %v", c.o, err, c.want)
		}
	}
	for _, a := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0"} {
		if _, err := New(Options{Views: views, Addr: a}); err != nil {
			t.Errorf("New(%s): %v", a, err)
		}
	}

	s, err := New(Options{Views: views, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	addr := runServer(t, s)
	status, body := get(t, http.DefaultClient, "http://"+addr+"/api/v1/rollouts?all-namespaces=true")
	if status != 200 || !strings.Contains(body, `"rollout": "deployment/checkout#2"`) {
		t.Errorf("loopback without credentials: %d %s", status, body)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v1/rollouts", nil)
	req.Host = "evil.example:8474"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("Host evil.example: %d, want 403", resp.StatusCode)
	}
}

// TestTokenFile serves a non-loopback address over TLS with a static token file: a request
// without a token or with an unknown one is 401, a listed token is served.
func TestTokenFile(t *testing.T) {
	pki := newPKI(t)
	path := filepath.Join(t.TempDir(), "tokens.csv")
	os.WriteFile(path, []byte("# token,user,uid,groups\ns3cret,alice,u1,\"sre,dev\"\nother,bob,u2\n"), 0o600)
	tf, err := LoadTokenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := tf.Authenticate(&http.Request{Header: http.Header{"Authorization": {"Bearer s3cret"}}}); err != nil || u.Name != "alice" || strings.Join(u.Groups, "|") != "sre|dev" {
		t.Errorf("alice: %+v %v", u, err)
	}
	for _, bad := range []string{"", "just-a-token\n", "t,,uid\n"} {
		if _, err := ReadTokenFile(strings.NewReader(bad), "bad.csv"); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("token file %q: %v, want a one-line error", bad, err)
		}
	}
	s, err := New(Options{Views: testViews(t), Addr: "0.0.0.0:0", TLSCertFile: pki.certFile, TLSKeyFile: pki.keyFile, Authenticator: tf})
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(runServer(t, s))
	url := "https://127.0.0.1:" + port + "/api/v1/history?namespace=sample-rolling&object=deploy/checkout"
	c := pki.clientWith(nil)
	for _, hdr := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "Basic czNjcmV0"}} {
		if status, body := get(t, c, url, hdr...); status != http.StatusUnauthorized || !strings.Contains(body, `"error"`) {
			t.Errorf("%v: %d %s, want 401", hdr, status, body)
		}
	}
	if status, body := get(t, c, url, "Authorization", "Bearer s3cret"); status != 200 || !strings.Contains(body, `"revision": 2`) {
		t.Errorf("alice: %d %s", status, body)
	}
	if resp, err := http.Get("http://127.0.0.1:" + port + "/api/v1/rollouts"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the TLS port: %d, want Go's 400 for HTTP to HTTPS", resp.StatusCode)
		}
	}
}

// TestProxy: an authenticating proxy's headers are trusted only over a client certificate of
// the client CA.
func TestProxy(t *testing.T) {
	pki := newPKI(t)
	s, err := New(Options{Views: testViews(t), Addr: "127.0.0.1:0", TLSCertFile: pki.certFile, TLSKeyFile: pki.keyFile, ClientCAFile: pki.caFile,
		Authenticator: &Proxy{AllowedNames: []string{"front-proxy"}}, Authorizer: onlyNamespaces{"alice": {"sample-rolling"}}})
	if err != nil {
		t.Fatal(err)
	}
	url := "https://" + runServer(t, s) + "/api/v1/rollouts?all-namespaces=true"
	for _, c := range []struct {
		client *http.Client
		hdr    []string
		status int
	}{
		{pki.clientWith(nil), []string{"X-Remote-User", "alice"}, 401},
		{pki.clientWith(&pki.client), nil, 401},
		{pki.clientWith(&pki.client), []string{"X-Remote-User", "alice", "X-Remote-Group", "sre"}, 200},
	} {
		status, body := get(t, c.client, url, c.hdr...)
		if status != c.status {
			t.Errorf("%v: %d %s, want %d", c.hdr, status, body, c.status)
		}
		if status == 200 && (!strings.Contains(body, "sample-rolling") || strings.Contains(body, "default-25")) {
			t.Errorf("alice through the proxy sees other namespaces: %s", body)
		}
	}
	// A certificate of another CA does not get through the handshake's verification.
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("X-Remote-User", "alice")
	if resp, err := pki.clientWith(&pki.other).Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("client certificate of another CA: %d, want refused", resp.StatusCode)
		}
	}
}

// onlyNamespaces is a fake Authorizer: each user may read the namespaces listed.
type onlyNamespaces map[string][]string

func (o onlyNamespaces) Authorize(_ context.Context, u *User, ns string) (bool, error) {
	for _, n := range o[u.Name] {
		if n == ns || n == "*" {
			return true, nil
		}
	}
	return false, nil
}

// TestAuthorizedNamespaces: lists show only the namespaces the user may read, direct access
// to another namespace is 403, and a not-found error suggests no names from other namespaces.
func TestAuthorizedNamespaces(t *testing.T) {
	tf, err := ReadTokenFile(strings.NewReader("a,alice,1\nb,bob,2\nr,root,3\n"), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Views: testViews(t), Addr: "127.0.0.1:0", Authenticator: tf,
		Authorizer: onlyNamespaces{"alice": {"sample-rolling"}, "root": {"*"}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	as := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	count := func(body, field string) map[string]int {
		var doc map[string][]map[string]any
		json.Unmarshal([]byte(body), &doc)
		n := map[string]int{}
		for _, it := range doc[field] {
			ns := ""
			if w, ok := it["workload"].(map[string]any); ok {
				ns, _ = w["namespace"].(string)
			}
			if m, ok := it["metadata"].(map[string]any); ok {
				ns, _ = m["namespace"].(string)
			}
			n[ns]++
		}
		return n
	}
	for _, c := range []struct {
		tok, path, field string
		want             map[string]int // items per namespace
	}{
		{"r", "/api/v1/rollouts?all-namespaces=true", "rollouts", map[string]int{"sample-rolling": 2, "default-25": 2, "never-ready-undo": 3}},
		{"a", "/api/v1/rollouts?all-namespaces=true", "rollouts", map[string]int{"sample-rolling": 2}},
		{"b", "/api/v1/rollouts?all-namespaces=true", "rollouts", map[string]int{}},
		{"a", "/api/v1/get?object=rs&all-namespaces=true&at=2026-11-22T00:11:35Z", "items", map[string]int{"sample-rolling": 2}},
		{"a", "/api/v1/state?all-namespaces=true&at=2026-11-22T00:11:35Z&kind=deploy", "items", map[string]int{"sample-rolling": 1}},
		{"a", "/api/v1/timeline?all-namespaces=true&since=2020-01-01T00:00:00Z&until=2030-01-01T00:00:00Z", "groups", nil},
	} {
		status, body := get(t, srv.Client(), srv.URL+c.path, as(c.tok)...)
		got := count(body, c.field)
		if status != 200 || c.want != nil && !equalCounts(got, c.want) || c.want == nil && (got["default-25"] > 0 || got["sample-rolling"] == 0) {
			t.Errorf("%s as %s: %d %v, want %v\n%.400s", c.path, c.tok, status, got, c.want, body)
		}
	}
	var all struct {
		Rollouts []struct{ Namespace string }
	}
	status, body := get(t, srv.Client(), srv.URL+"/api/v1/replay/all?all-namespaces=true", as("a")...)
	json.Unmarshal([]byte(body), &all)
	if status != 200 || strings.Contains(body, "default-25") {
		t.Errorf("replay/all as alice: %d %.600s", status, body)
	}
	for _, path := range []string{
		"/api/v1/history?namespace=default-25&object=deploy/web",
		"/api/v1/replay/compare?namespace=default-25&object=deploy/web",
		"/api/v1/rollouts?namespace=default-25",
		"/api/v1/get?object=node/kwok-node-0",
		"/api/v1/state?namespace=sample-rolling&kind=nodes&at=now",
		"/api/v1/timeline?namespace=sample-rolling,default-25&since=2020-01-01T00:00:00Z&until=2030-01-01T00:00:00Z",
		"/timeline/data?namespace=default-25&since=2020-01-01T00:00:00Z&until=2030-01-01T00:00:00Z&after=1",
	} {
		if status, body := get(t, srv.Client(), srv.URL+path, as("a")...); status != http.StatusForbidden || !strings.Contains(body, "alice may not read the history of") {
			t.Errorf("%s as alice: %d %s, want 403", path, status, body)
		}
	}
	// A live timeline page's news are checked as the page is.
	if status, body := get(t, srv.Client(), srv.URL+"/timeline/data?all-namespaces=true&since=2020-01-01T00:00:00Z&until=2030-01-01T00:00:00Z&after=1", as("a")...); status != http.StatusForbidden || !strings.Contains(body, "name a namespace") {
		t.Errorf("the timeline's data of all namespaces as alice: %d %s, want 403", status, body)
	}
	if status, body := get(t, srv.Client(), srv.URL+"/timeline/data?namespace=sample-rolling&since=2020-01-01T00:00:00Z&until=2030-01-01T00:00:00Z&after=1", as("a")...); status != 200 || !strings.Contains(body, `"lanes":[{`) || strings.Contains(body, "default-25") {
		t.Errorf("the timeline's data of sample-rolling as alice: %d %.300s", status, body)
	}
	if status, body := get(t, srv.Client(), srv.URL+"/timeline/data?namespace=sample-rolling&after=x", as("a")...); status != http.StatusBadRequest || !strings.Contains(body, `after=\"x\": give the sequence`) {
		t.Errorf("the timeline's data after=x: %d %s, want 400 saying what to give", status, body)
	}
	if status, body := get(t, srv.Client(), srv.URL+"/api/v1/history?namespace=sample-rolling&object=deploy/web", as("a")...); status != 404 || strings.Contains(body, "default-25") {
		t.Errorf("not found as alice: %d %s, want 404 naming nothing of default-25", status, body)
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
