package main

import (
	"io"
	"log/slog"
	"net/http"
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
