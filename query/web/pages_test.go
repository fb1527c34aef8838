package web

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestPages checks the pages' answers over HTTP: search by name, label, image and uid (deleted
// objects too), the assets, and that a user sees only the namespaces they may read.
func TestPages(t *testing.T) {
	tf, err := ReadTokenFile(strings.NewReader("a,alice,1\nr,root,2\n"), "tokens")
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
	page := func(tok, path string) (int, string) {
		t.Helper()
		return get(t, srv.Client(), srv.URL+path, as(tok)...)
	}
	// A deleted pod's uid, from the API.
	_, body := page("r", "/api/v1/get?namespace=never-ready-undo&object=pod/web-58766d45c5-mdrhx")
	var pod struct{ Metadata struct{ UID string } }
	if err := json.Unmarshal([]byte(body), &pod); err != nil || pod.Metadata.UID == "" {
		t.Fatalf("the pod's uid: %v %.200s", err, body)
	}
	for _, c := range []struct {
		tok, q    string
		want, not []string
	}{
		{"r", "checkout", []string{"deployment/checkout", "replicaset/checkout-59b467b7d8", "name"}, nil},
		{"r", "app=checkout", []string{"deployment/checkout", "label app=checkout"}, []string{"deployment/web"}},
		{"r", "web:broken", []string{"pod/web-58766d45c5-mdrhx", "image web:broken"}, []string{"checkout"}},
		{"r", pod.Metadata.UID, []string{"pod/web-58766d45c5-mdrhx", "uid"}, nil},
		{"a", "web", nil, []string{"default-25", "never-ready-undo"}},
	} {
		status, body := page(c.tok, "/search?q="+url.QueryEscape(c.q))
		if status != 200 {
			t.Errorf("search %q: %d", c.q, status)
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("search %q as %s lacks %q", c.q, c.tok, w)
			}
		}
		main := body[strings.Index(body, `<main`):]
		for _, w := range c.not {
			if strings.Contains(main[strings.Index(main, "</form>"):], w) {
				t.Errorf("search %q as %s shows %q", c.q, c.tok, w)
			}
		}
	}
	if status, body := page("a", "/rollouts"); status != 200 || !strings.Contains(body, "deployment/checkout") || strings.Contains(body, "default-25") {
		t.Errorf("rollouts page as alice: %d, want sample-rolling only", status)
	}
	if status, body := page("a", "/workload?namespace=default-25&object=deploy/web"); status != http.StatusForbidden || !strings.Contains(body, "alice may not read the history of namespace default-25") {
		t.Errorf("workload page of another namespace as alice: %d", status)
	}
	if status, _ := page("a", "/object?namespace=default-25&object=deploy/web"); status != http.StatusForbidden {
		t.Errorf("object page of another namespace as alice: %d", status)
	}
	if status, _ := page("a", "/timeline"); status != http.StatusForbidden {
		t.Errorf("timeline of all namespaces as alice: %d, want 403", status)
	}
	if status, body := page("a", "/timeline?namespace=sample-rolling&since=2026-11-22T00:00:00Z&until=2026-11-22T01:00:00Z"); status != 200 || !strings.Contains(body, "checkout") {
		t.Errorf("timeline of sample-rolling as alice: %d", status)
	}
	if status, body := page("r", "/object?namespace=sample-rolling&object=deploy/chekout"); status != 404 || !strings.Contains(body, "nearest: checkout") {
		t.Errorf("object page of a typo: %d", status)
	}
	if status, _ := page("r", "/static/app.css"); status != 200 {
		t.Errorf("app.css: %d", status)
	}
	for _, p := range []string{"/static/layout.html", "/static/..%2fpages.go", "/nothing"} {
		if status, _ := page("r", p); status != 404 {
			t.Errorf("%s: %d, want 404", p, status)
		}
	}
	if status, _ := page("", "/api/v1/rollouts"); status != http.StatusUnauthorized {
		t.Errorf("API without a token: %d, want 401", status)
	}

	// A browser logs in with its token, kept in a cookie.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(srv.URL + "/workload?namespace=sample-rolling&object=deploy/checkout")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/login" || resp.Request.URL.Query().Get("next") != "/workload?namespace=sample-rolling&object=deploy/checkout" {
		t.Errorf("a page without a token went to %s, want the login page", resp.Request.URL)
	}
	resp, err = c.PostForm(srv.URL+"/login", url.Values{"token": {"wrong"}, "next": {"/rollouts"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("login with a wrong token: %d, want 401", resp.StatusCode)
	}
	noRedirect := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noRedirect.PostForm(srv.URL+"/login", url.Values{"token": {"a"}, "next": {"//evil.example/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	set := resp.Header.Get("Set-Cookie")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/rollouts" || !strings.Contains(set, "HttpOnly") || !strings.Contains(set, "SameSite=Strict") {
		t.Errorf("login: %d to %q, cookie %q", resp.StatusCode, resp.Header.Get("Location"), set)
	}
	status, body := get(t, c, srv.URL+"/rollouts")
	if status != 200 || !strings.Contains(body, "deployment/checkout") || !strings.Contains(body, "alice") || strings.Contains(body, "default-25") {
		t.Errorf("rollouts page after login: %d", status)
	}
	if status, _ := get(t, c, srv.URL+"/login?logout=1"); status != 200 {
		t.Errorf("logout: %d", status)
	}
	if status, _ := get(t, c, srv.URL+"/api/v1/rollouts"); status != http.StatusUnauthorized {
		t.Errorf("API after logout: %d, want 401", status)
	}
}

// TestDivergenceStandsOut: the workload page marks the first divergence of the replay (the
// recordings of the tests all match, so the page's data is made here).
func TestDivergenceStandsOut(t *testing.T) {
	var b strings.Builder
	d := pageData{"Title": "w", "Namespace": "shop", "Object": "deployment/web", "Compare": map[string]any{
		"Match": false, "Divergence": map[string]any{"Step": 2, "Reason": "the sync scales web-2 to 3, the controller to 2"},
		"Decisions": []int{1, 2}, "DecisionsMatched": 1, "FreeRun": nil,
		"Pairs": []stepPair{{N: 1, Recorded: "web-1 3->2", Simulated: "web-1 3->2"}, {N: 2, Recorded: "web-2 0->2", Simulated: "web-2 0->3", Diverged: true}},
	}}
	if err := pageTmpl["workload"].Execute(&b, d); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{`<tr class="diverged" id="divergence"><td class="num">2</td><td>web-2 0-&gt;2</td><td>web-2 0-&gt;3</td>`, "DIVERGED", "at step 2: the sync scales web-2 to 3"} {
		if !strings.Contains(page, want) {
			t.Errorf("the workload page lacks %q", want)
		}
	}
	if strings.Count(page, `class="diverged"`) != 1 {
		t.Errorf("%d rows marked diverged, want the first divergence only", strings.Count(page, `class="diverged"`))
	}
}
