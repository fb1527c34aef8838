package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestProjectNotifiesRollouts: `khist project --notify-webhook URL` (given as a file) posts one
// message for the rollout of an import, made while it runs, that missed its progress deadline,
// and keeps what it sent in notify.json beside the views.
func TestProjectNotifiesRollouts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs khist project and an import")
	}
	var mu sync.Mutex
	var got []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}))
	defer srv.Close()
	dir := t.TempDir()
	hook := filepath.Join(t.TempDir(), "webhook")
	if err := os.WriteFile(hook, []byte(srv.URL+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var projectOut bytes.Buffer
	done := make(chan error, 1)
	go func() {
		root := newRootCmd()
		root.SetOut(&projectOut)
		root.SetErr(&projectOut)
		root.SetArgs([]string{"--data-dir", dir, "project", "--notify-webhook-file", hook})
		done <- root.ExecuteContext(ctx)
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "notify.json")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("khist project did not start its notifier")
		}
	}
	if out, err := run(t, dir, "import", "../../test/fidelity/testdata/never-ready-undo.json.gz"); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no message posted")
		}
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("khist project: %v\n%s", err, projectOut.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0]["rollout"] != "deployment/web#2" || !strings.Contains(got[0]["text"].(string), "missed its progress deadline") {
		t.Fatalf("messages: %v", got)
	}
	state, err := os.ReadFile(filepath.Join(dir, "notify.json"))
	if err != nil || !strings.Contains(string(state), "never-ready-undo/Deployment/web/") {
		t.Fatalf("notify.json: %s, %v", state, err)
	}
}
