package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestProjectSendsTraces: `khist project --otlp-endpoint` (beside --notify-webhook-file) sends
// each rollout of an import made while it runs as one trace, once, to an OTLP/HTTP receiver
// (here a stand-in that decodes the OTLP protobuf requests, a fake: the export's own tests use
// Jaeger), while the webhook still gets its message; otlp.json keeps where it got to.
func TestProjectSendsTraces(t *testing.T) {
	if testing.Short() {
		t.Skip("runs khist project and an import")
	}
	var mu sync.Mutex
	roots := map[string]string{} // trace ID -> root span name
	spans := 0
	otlpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(b, &req) != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					spans++
					if len(s.ParentSpanId) == 0 {
						roots[hex.EncodeToString(s.TraceId)] = s.Name
					}
				}
			}
		}
		mu.Unlock()
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	defer otlpSrv.Close()
	var hooked int
	hookSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hooked++
		mu.Unlock()
	}))
	defer hookSrv.Close()
	dir := t.TempDir()
	hook := filepath.Join(t.TempDir(), "webhook")
	os.WriteFile(hook, []byte(hookSrv.URL+"\n"), 0o600)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var projectOut bytes.Buffer
	done := make(chan error, 1)
	go func() {
		root := newRootCmd()
		root.SetOut(&projectOut)
		root.SetErr(&projectOut)
		root.SetArgs([]string{"--data-dir", dir, "project", "--notify-webhook-file", hook,
			"--otlp-endpoint", strings.TrimPrefix(otlpSrv.URL, "http://"), "--otlp-insecure"})
		done <- root.ExecuteContext(ctx)
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, e1 := os.Stat(filepath.Join(dir, "otlp.json"))
		_, e2 := os.Stat(filepath.Join(dir, "notify.json"))
		if e1 == nil && e2 == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("khist project did not start its trace sender and notifier:\n%s", projectOut.String())
		}
	}
	if out, err := run(t, dir, "import", "../../test/fidelity/testdata/never-ready-undo.json.gz"); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n, h := len(roots), hooked
		mu.Unlock()
		if n >= 3 && h >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d traces, %d webhook messages:\n%s", n, h, projectOut.String())
		}
	}
	time.Sleep(6 * time.Second) // more than one read of the views: nothing is sent twice
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("khist project: %v\n%s", err, projectOut.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(roots) != 3 || spans != 11 {
		t.Errorf("%d traces (%v) of %d spans, want 3 of 11 (khist export otlp sends those of never-ready-undo)", len(roots), roots, spans)
	}
	for id, name := range roots {
		if name != "rollout deployment/web" {
			t.Errorf("trace %s: root %q", id, name)
		}
	}
	state, err := os.ReadFile(filepath.Join(dir, "otlp.json"))
	if err != nil || !strings.Contains(string(state), `"sent":`) || strings.Contains(string(state), `"sent":0`) {
		t.Errorf("otlp.json: %s %v", state, err)
	}
}
