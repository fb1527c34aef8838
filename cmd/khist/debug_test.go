package main

import (
	"io"
	"log/slog"
	"math"
	"net/http"
	"runtime/debug"
	"strings"
	"testing"
)

func TestServeDebugServesHeapProfile(t *testing.T) {
	url, stop, err := serveDebug("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get(url + "heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "heap profile") {
		t.Fatalf("GET %sheap: %s\n%.200s", url, resp.Status, body)
	}
	if _, _, err := serveDebug("no-such-host-xyz:1", slog.Default()); err == nil || !strings.Contains(err.Error(), "--debug-addr") {
		t.Fatalf("bad address: %v", err)
	}
}

func TestSetMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	t.Setenv("GOMEMLIMIT", "")
	if err := setMemoryLimit("192Mi", false); err != nil || debug.SetMemoryLimit(-1) != 192<<20 {
		t.Fatalf("192Mi: %v, limit %d", err, debug.SetMemoryLimit(-1))
	}
	if err := setMemoryLimit("0", true); err != nil || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Fatalf("0: %v, limit %d", err, debug.SetMemoryLimit(-1))
	}
	t.Setenv("GOMEMLIMIT", "1GiB")
	debug.SetMemoryLimit(1 << 30)
	if err := setMemoryLimit("192Mi", false); err != nil || debug.SetMemoryLimit(-1) != 1<<30 {
		t.Fatalf("GOMEMLIMIT set: the default must not override it (limit %d)", debug.SetMemoryLimit(-1))
	}
	if err := setMemoryLimit("lots", true); err == nil || !strings.HasPrefix(err.Error(), "--memory-limit: cannot parse") {
		t.Fatalf("bad value: %v", err)
	}
}

// TestHealthAddrServesOnlyHealthz: --health-addr answers the kubelet's probe and nothing else,
// so that the metrics can stay on loopback (issue 14, item 14).
func TestHealthAddrServesOnlyHealthz(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", healthz)
	url, stop, err := serveHTTP("--health-addr", "127.0.0.1:0", "/healthz", mux, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for path, want := range map[string]int{"/healthz": 200, "/metrics": 404, "/debug/pprof/": 404} {
		resp, err := http.Get(strings.TrimSuffix(url, "/healthz") + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %s, want %d", path, resp.Status, want)
		}
	}
	if _, _, err := serveHTTP("--health-addr", "no-such-host-xyz:1", "/healthz", mux, slog.Default()); err == nil || !strings.HasPrefix(err.Error(), "--health-addr no-such-host-xyz:1: ") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("bad address: %v", err)
	}
}
