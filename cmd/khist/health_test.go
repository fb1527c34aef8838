package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is an io.Writer that a command writes to while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestProjectServesMetrics: khist project --metrics-addr serves the projector's metrics in
// Prometheus format (lag, fold counts, views size, rebuilds), /healthz, and /readyz once the
// views have caught up with the log.
func TestProjectServesMetrics(t *testing.T) {
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(sampleDir, "*.json.gz"))
	if out, err := run(t, dir, append([]string{"import", "--no-project"}, files...)...); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	root := newRootCmd()
	var out lockedBuffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"--data-dir", dir, "project", "--metrics-addr", "127.0.0.1:0"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("khist project: %v\n%s", err, out.String())
		}
	}()
	addrRE := regexp.MustCompile(`addr=http://([0-9.:]+)/metrics`)
	var base string
	for deadline := time.Now().Add(20 * time.Second); base == ""; time.Sleep(10 * time.Millisecond) {
		if m := addrRE.FindStringSubmatch(out.String()); m != nil {
			base = "http://" + m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no metrics address logged:\n%s", out.String())
		}
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	var code int
	var body string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if code, body = get("/readyz"); code == 200 || time.Now().After(deadline) {
			break
		}
	}
	if code != 200 || body != "ok\n" {
		t.Fatalf("/readyz after catching up: %d %q", code, body)
	}
	// The counters move just after the fold's transaction commits, which /readyz already sees.
	wants := []string{
		"khist_projector_events_folded_total 188\n", "khist_projector_lag_events 0\n", "khist_projector_lag_seconds 0\n",
		"khist_projector_position 188\n", "khist_projector_rebuilds_total 0\n", "khist_projector_views_bytes ", "go_goroutines ",
	}
	var metrics string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, metrics = get("/metrics")
		missing := 0
		for _, w := range wants {
			if !strings.Contains(metrics, w) {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, w := range wants {
		if !strings.Contains(metrics, w) {
			t.Errorf("/metrics lacks %q:\n%s", w, metrics)
		}
	}
}
