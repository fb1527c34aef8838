package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/khist/khist/query/web"
	"github.com/khist/khist/test/fidelity"
)

// runOut runs khist as the binary would and returns its standard output alone.
func runOut(t *testing.T, dataDir string, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	cmd.SetArgs(append([]string{"--data-dir", dataDir}, args...))
	err := cmd.Execute()
	return out.String(), err
}

// serveFixture imports the sample rollout (namespace sample-rolling) and a rollout recorded on
// a real control plane (namespace default-25) and serves their views as khist serve does.
func serveFixture(t *testing.T) (dir string, srv *httptest.Server) {
	t.Helper()
	dir = t.TempDir()
	files, _ := filepath.Glob(filepath.Join("../../query/testdata/scenarios/sample-rolling", "*.json.gz"))
	files = append(files, fidelity.FixturePath(fidelityDir, "default-25"))
	if out, err := run(t, dir, append([]string{"import"}, files...)...); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	s, err := web.New(web.Options{Views: filepath.Join(dir, "views.db")})
	if err != nil {
		t.Fatal(err)
	}
	srv = httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return dir, srv
}

func apiGet(t *testing.T, srv *httptest.Server, path string, q url.Values) (int, string) {
	t.Helper()
	resp, err := http.Get(srv.URL + path + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeAPIEqualsCLI: every endpoint of khist serve's API answers, on the same recordings,
// exactly what the command's -o json writes (diff: {"diff": the command's output}).
func TestServeAPIEqualsCLI(t *testing.T) {
	dir, srv := serveFixture(t)
	const at = "2026-11-22T00:11:32Z"
	type q = url.Values
	for _, c := range []struct {
		cli  []string
		path string
		q    q
	}{
		{[]string{"rollouts", "-A"}, "rollouts", q{"all-namespaces": {"true"}}},
		{[]string{"rollouts", "-n", "sample-rolling", "deploy/checkout", "--since", "2026-11-22T00:00:00Z"}, "rollouts", q{"namespace": {"sample-rolling"}, "object": {"deploy/checkout"}, "since": {"2026-11-22T00:00:00Z"}}},
		{[]string{"history", "deploy/checkout", "-n", "sample-rolling"}, "history", q{"namespace": {"sample-rolling"}, "object": {"deploy/checkout"}}},
		{[]string{"steps", "deploy/checkout", "-n", "sample-rolling", "--rollout", "all"}, "steps", q{"namespace": {"sample-rolling"}, "object": {"deploy/checkout"}, "rollout": {"all"}}},
		{[]string{"steps", "deploy/web", "-n", "default-25"}, "steps", q{"namespace": {"default-25"}, "object": {"deploy/web"}}},
		{[]string{"get", "deploy/checkout", "-n", "sample-rolling", "--at", at}, "get", q{"namespace": {"sample-rolling"}, "object": {"deploy/checkout"}, "at": {at}}},
		{[]string{"get", "rs", "-A", "--at", "2026-11-22T00:11:35Z"}, "get", q{"all-namespaces": {"true"}, "object": {"rs"}, "at": {"2026-11-22T00:11:35Z"}}},
		{[]string{"state", "-n", "sample-rolling", "--at", "2026-11-22T00:11:36Z", "--kind", "deploy,rs"}, "state", q{"namespace": {"sample-rolling"}, "at": {"2026-11-22T00:11:36Z"}, "kind": {"deploy,rs"}}},
		{[]string{"timeline", "-n", "sample-rolling", "--since", "2026-11-22T00:00:00Z", "--until", "2026-11-22T01:00:00Z"}, "timeline", q{"namespace": {"sample-rolling"}, "since": {"2026-11-22T00:00:00Z"}, "until": {"2026-11-22T01:00:00Z"}}},
		{[]string{"timeline", "-n", "sample-rolling,default-25", "--since", "2020-01-01", "--until", "2030-01-01"}, "timeline", q{"namespace": {"sample-rolling,default-25"}, "since": {"2020-01-01"}, "until": {"2030-01-01"}}},
		{[]string{"timeline", "deploy/web", "-n", "default-25", "--since", "2020-01-01", "--until", "2030-01-01"}, "timeline", q{"namespace": {"default-25"}, "workload": {"deploy/web"}, "since": {"2020-01-01"}, "until": {"2030-01-01"}}},
		{[]string{"replay", "compare", "deploy/web", "-n", "default-25"}, "replay/compare", q{"namespace": {"default-25"}, "object": {"deploy/web"}}},
		{[]string{"replay", "compare", "deploy/web", "-n", "default-25", "--rollout", "#2", "--free-run"}, "replay/compare", q{"namespace": {"default-25"}, "object": {"deploy/web"}, "rollout": {"#2"}, "free-run": {"true"}}},
		{[]string{"replay", "what-if", "deploy/web", "-n", "default-25", "--set", "strategy.rollingUpdate.maxSurge=50%", "--ready-latency", "p90"}, "replay/what-if", q{"namespace": {"default-25"}, "object": {"deploy/web"}, "set": {"strategy.rollingUpdate.maxSurge=50%"}, "ready-latency": {"p90"}}},
		{[]string{"replay", "all", "-A"}, "replay/all", q{"all-namespaces": {"true"}}},
	} {
		cli, err := runOut(t, dir, append(c.cli, "-o", "json")...)
		if err != nil {
			t.Fatalf("khist %s -o json: %v", strings.Join(c.cli, " "), err)
		}
		status, body := apiGet(t, srv, "/api/v1/"+c.path, c.q)
		if status != http.StatusOK || body != cli {
			t.Errorf("GET /api/v1/%s?%s: %d\n%s\nwant the CLI's -o json:\n%s", c.path, c.q.Encode(), status, body, cli)
		}
		if !json.Valid([]byte(body)) || len(body) < 20 {
			t.Errorf("GET /api/v1/%s: not a JSON answer: %q", c.path, body)
		}
	}

	// diff: the command's unified diff, in {"diff": ...}.
	cli, err := runOut(t, dir, "diff", "deploy/checkout", "-n", "sample-rolling", "--from", "1", "--to", "2", "--color", "never")
	if err != nil {
		t.Fatal(err)
	}
	status, body := apiGet(t, srv, "/api/v1/diff", q{"namespace": {"sample-rolling"}, "object": {"deploy/checkout"}, "from": {"1"}, "to": {"2"}})
	var d struct{ Diff string }
	if status != http.StatusOK || json.Unmarshal([]byte(body), &d) != nil || d.Diff != cli || !strings.Contains(cli, "+      - image: checkout:v2") {
		t.Errorf("GET /api/v1/diff: %d %s\nwant {\"diff\": %q}", status, body, cli)
	}
}

// TestServeAPIErrors: bad input is a 400 (a missing object a 404) whose one-line JSON error is
// the CLI's message.
func TestServeAPIErrors(t *testing.T) {
	dir, srv := serveFixture(t)
	type q = url.Values
	for _, c := range []struct {
		cli    []string
		path   string
		q      q
		status int
	}{
		{[]string{"get", "deploy/checkout", "-n", "sample-rolling", "--at", "soon"}, "get", q{"namespace": {"sample-rolling"}, "object": {"deploy/checkout"}, "at": {"soon"}}, 400},
		{[]string{"history", "deploy/chekout", "-n", "sample-rolling"}, "history", q{"namespace": {"sample-rolling"}, "object": {"deploy/chekout"}}, 404},
		{[]string{"history", "frobs/x", "-n", "sample-rolling"}, "history", q{"namespace": {"sample-rolling"}, "object": {"frobs/x"}}, 400},
		{[]string{"rollouts", "-A", "--since", "yesterday"}, "rollouts", q{"all-namespaces": {"true"}, "since": {"yesterday"}}, 400},
		{[]string{"timeline", "-n", "sample-rolling", "--since", "2020-01-01", "--until", "2020-01-02"}, "timeline", q{"namespace": {"sample-rolling"}, "since": {"2020-01-01"}, "until": {"2020-01-02"}}, 400},
		{[]string{"state", "-n", "sample-rolling"}, "state", q{"namespace": {"sample-rolling"}}, 400},
		{[]string{"replay", "what-if", "deploy/web", "-n", "default-25", "--set", "strategy.rollingUpdate.maxSurge=lots"}, "replay/what-if", q{"namespace": {"default-25"}, "object": {"deploy/web"}, "set": {"strategy.rollingUpdate.maxSurge=lots"}}, 400},
		{[]string{"replay", "compare", "deploy/web", "-n", "default-25", "--rollout", "rev9"}, "replay/compare", q{"namespace": {"default-25"}, "object": {"deploy/web"}, "rollout": {"rev9"}}, 404},
		{[]string{"replay", "compare", "svc/web", "-n", "default-25"}, "replay/compare", q{"namespace": {"default-25"}, "object": {"svc/web"}}, 400},
	} {
		_, cliErr := runOut(t, dir, append(c.cli, "-o", "json")...)
		if c.cli[0] == "diff" {
			_, cliErr = runOut(t, dir, c.cli...)
		}
		if cliErr == nil {
			t.Fatalf("khist %s: no error", strings.Join(c.cli, " "))
		}
		status, body := apiGet(t, srv, "/api/v1/"+c.path, c.q)
		var e struct{ Error string }
		if err := json.Unmarshal([]byte(body), &e); err != nil || status != c.status || e.Error != cliErr.Error() || strings.Count(body, "\n") != 1 {
			t.Errorf("GET /api/v1/%s?%s: %d %s\nwant %d {\"error\": %q}", c.path, c.q.Encode(), status, body, c.status, cliErr.Error())
		}
	}
	for _, c := range []struct {
		path, want string
		status     int
	}{
		{"/api/v1/rollouts?namespace=a&all-namespaces=true", "-n a and -A exclude each other: use one", 400},
		{"/api/v1/history?object=deploy/web&colour=red", "history takes no parameter colour: use allClusters, cluster, namespace, object", 400},
		{"/api/v1/diff?object=deploy/web&unified=x", `--unified "x": use a number of 0 or more`, 400},
		{"/api/v1/nothing", "/api/v1/nothing: no such endpoint", 404},
	} {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct{ Error string }
		if json.Unmarshal(b, &e) != nil || resp.StatusCode != c.status || !strings.Contains(e.Error, c.want) {
			t.Errorf("GET %s: %d %s, want %d with %q", c.path, resp.StatusCode, b, c.status, c.want)
		}
	}
	resp, err := http.Post(srv.URL+"/api/v1/rollouts", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("POST: %d %v, want 405 with the hardening headers", resp.StatusCode, resp.Header)
	}
}

// TestServeCommand runs khist serve as the binary would: a non-loopback address without TLS
// and --auth refuses to start; on loopback it serves the views (after folding what the log
// holds beyond them) until its context ends, then shuts down cleanly.
func TestServeCommand(t *testing.T) {
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join("../../query/testdata/scenarios/sample-rolling", "*.json.gz"))
	if out, err := run(t, dir, append([]string{"import", "--no-project"}, files...)...); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--addr", "0.0.0.0:0"}, "is not a loopback address: serving it needs TLS"},
		{[]string{"serve", "--addr", "0.0.0.0:0", "--tls-cert-file", "c", "--tls-private-key-file", "k"}, "needs authentication: --auth=kubernetes, token-file or proxy"},
		{[]string{"serve", "--auth", "magic"}, `--auth "magic": use none, token-file, kubernetes or proxy`},
		{[]string{"serve", "--auth", "token-file"}, "--auth=token-file: give the file with --token-auth-file"},
	} {
		if out, err := run(t, dir, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("khist %s: %v, want %q\n%s", strings.Join(c.args, " "), err, c.want, out)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cmd := newRootCmd()
	var out syncBuffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--data-dir", dir, "serve", "--addr", "127.0.0.1:0", "--refresh", "100ms"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	var base string
	for deadline := time.Now().Add(30 * time.Second); base == ""; time.Sleep(20 * time.Millisecond) {
		if _, rest, ok := strings.Cut(out.String(), "serving "); ok {
			base, _, _ = strings.Cut(rest, "/ ")
		}
		if time.Now().After(deadline) {
			t.Fatalf("khist serve did not start:\n%s", out.String())
		}
	}
	resp, err := http.Get(base + "/api/v1/rollouts?namespace=sample-rolling")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"rollout": "deployment/checkout#2"`) {
		t.Errorf("GET rollouts: %d %s", resp.StatusCode, b)
	}
	// The log grows (an import that leaves folding to others): serve folds it within --refresh.
	if out, err := run(t, dir, "import", "--no-project", fidelity.FixturePath(fidelityDir, "default-25")); err != nil {
		t.Fatalf("import while serving: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(base + "/api/v1/history?namespace=default-25&object=deploy/web")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the imported workload is not served after 30s: %d\n%s", resp.StatusCode, out.String())
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("khist serve after its context ended: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("khist serve did not stop")
	}
}

// syncBuffer is a bytes.Buffer safe for a command writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTimelineNamespacesAndWorkload: khist timeline -n a,b holds the groups of both namespaces
// and no other; khist timeline deploy/web is the one group of deploy/web in its namespace's
// timeline (its ReplicaSets, their pods, the Events about them), the same as that timeline
// shows it; a workload is named in one namespace.
func TestTimelineNamespacesAndWorkload(t *testing.T) {
	dir, _ := serveFixture(t)
	window := []string{"--since", "2020-01-01", "--until", "2030-01-01", "-o", "json"}
	type timeline struct {
		Scope  string
		Groups []struct {
			Workload struct{ Kind, Namespace, Name string }
			Lanes    []struct {
				Object  struct{ Kind string }
				Entries []struct{ Event string }
			}
		}
	}
	read := func(args ...string) (timeline, string) {
		t.Helper()
		out, err := runOut(t, dir, append(args, window...)...)
		if err != nil {
			t.Fatalf("khist %s: %v", strings.Join(args, " "), err)
		}
		var tl timeline
		if err := json.Unmarshal([]byte(out), &tl); err != nil {
			t.Fatal(err)
		}
		return tl, out
	}
	two, _ := read("timeline", "-n", "sample-rolling,default-25")
	seen := map[string]int{}
	for _, g := range two.Groups {
		seen[g.Workload.Namespace]++
	}
	one, _ := read("timeline", "-n", "sample-rolling")
	other, _ := read("timeline", "-n", "default-25")
	if two.Scope != "namespaces sample-rolling, default-25" || len(seen) != 2 || seen["sample-rolling"] != len(one.Groups) || seen["default-25"] != len(other.Groups) {
		t.Errorf("timeline -n sample-rolling,default-25: scope %q, groups per namespace %v; alone: %d and %d", two.Scope, seen, len(one.Groups), len(other.Groups))
	}
	tree, _ := read("timeline", "deploy/web", "-n", "default-25")
	if len(tree.Groups) != 1 {
		t.Fatalf("timeline deploy/web: %d groups, want 1", len(tree.Groups))
	}
	g := tree.Groups[0]
	kinds, events := map[string]bool{}, 0
	for _, l := range g.Lanes {
		kinds[l.Object.Kind] = true
		for _, e := range l.Entries {
			if e.Event != "" {
				events++
			}
		}
	}
	if g.Workload.Kind != "Deployment" || g.Workload.Name != "web" || !kinds["ReplicaSet"] || !kinds["Pod"] || events == 0 {
		t.Errorf("timeline deploy/web: workload %+v, lane kinds %v, %d events", g.Workload, kinds, events)
	}
	whole, _ := json.Marshal(g)
	found := false
	for _, og := range other.Groups {
		if b, _ := json.Marshal(og); string(b) == string(whole) {
			found = true
		}
	}
	if !found {
		t.Errorf("timeline deploy/web is not the deploy/web group of the namespace's timeline:\n%s", whole)
	}
	if _, err := runOut(t, dir, append([]string{"timeline", "deploy/web", "-A"}, window...)...); err == nil || !strings.Contains(err.Error(), "one namespace") {
		t.Errorf("timeline deploy/web -A: %v, want an error naming one namespace", err)
	}
	if _, err := runOut(t, dir, append([]string{"timeline", "deploy/wbe", "-n", "default-25"}, window...)...); err == nil || !strings.Contains(err.Error(), "nearest: web") {
		t.Errorf("timeline deploy/wbe: %v, want not found, nearest web", err)
	}
}
