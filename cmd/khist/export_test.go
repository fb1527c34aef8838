package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestExportBadInputs: each bad flag of export is a one-line error saying what to give.
func TestExportBadInputs(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "otlp", "-A"}, `otlp: endpoint "": give the OTLP/HTTP receiver as HOST:PORT`},
		{[]string{"export", "otlp", "-A", "--endpoint", "http://collector:4318"}, `otlp: endpoint "http://collector:4318": give the OTLP/HTTP receiver as HOST:PORT`},
		{[]string{"export", "otlp", "-A", "--endpoint", "collector:http"}, `otlp: endpoint "collector:http": the port is not a number`},
		{[]string{"export", "grafana", "-A", "--url", "grafana:3000"}, `grafana: --url "grafana:3000" is not an http:// or https:// URL`},
		{[]string{"export", "grafana", "-A", "--url", "http://g", "--token", "a", "--token-file", "f"}, "--token and --token-file both given"},
		{[]string{"project", "--otlp-insecure"}, "--otlp-insecure: give --otlp-endpoint too"},
		{[]string{"project", "--otlp-endpoint", "collector"}, `--otlp-endpoint: otlp: endpoint "collector": give`},
	} {
		_, err := run(t, dir, c.args...)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("khist %s: error %v, want one line starting %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}

// TestExportGrafana: khist export grafana on an imported recording posts its annotations to
// Grafana's API with the token of KHIST_GRAFANA_TOKEN (here a stand-in that keeps them, a
// fake), and a second run adds nothing.
func TestExportGrafana(t *testing.T) {
	dir := t.TempDir()
	if out, err := run(t, dir, "import", "../../test/fidelity/testdata/never-ready-undo.json.gz"); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	var mu sync.Mutex
	var posted []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer glsa_cmd" {
			http.Error(w, "{}", http.StatusUnauthorized)
			return
		}
		switch r.Method {
		case http.MethodGet:
			out := []map[string]any{}
			for i, a := range posted {
				out = append(out, map[string]any{"id": i + 1, "time": a["time"], "timeEnd": a["timeEnd"], "tags": a["tags"], "text": a["text"]})
			}
			json.NewEncoder(w).Encode(out)
		case http.MethodPost:
			b, _ := io.ReadAll(r.Body)
			var a map[string]any
			json.Unmarshal(b, &a)
			if _, ok := a["timeEnd"]; !ok {
				a["timeEnd"] = a["time"]
			}
			posted = append(posted, a)
			w.Write([]byte(`{"message":"Annotation added","id":1}`))
		default:
			http.Error(w, "{}", http.StatusMethodNotAllowed)
		}
	}))
	defer srv.Close()
	t.Setenv(envGrafanaToken, "glsa_cmd")
	out, err := run(t, dir, "export", "grafana", "--url", srv.URL, "-n", "never-ready-undo", "--what", "rollouts")
	if err != nil || out != "3 annotations: 3 added, 0 updated, 0 already there\n" {
		t.Fatalf("export grafana: %v %q", err, out)
	}
	if !strings.Contains(posted[1]["text"].(string), "failed, rolled back") {
		t.Errorf("the second rollout's annotation: %v", posted[1])
	}
	if _, err := run(t, dir, "export", "grafana", "--url", srv.URL, "-A", "--what", "pods"); err == nil || err.Error() != `annotations of "pods": use rollouts or spec-changes` {
		t.Errorf("--what pods: %v", err)
	}
	out, err = run(t, dir, "export", "grafana", "--url", srv.URL, "-n", "never-ready-undo", "--what", "rollouts")
	if err != nil || out != "3 annotations: 0 added, 0 updated, 3 already there\n" {
		t.Fatalf("export grafana again: %v %q", err, out)
	}
}
