package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeSmallConfigMaps writes n ADDED events of small ConfigMaps named PREFIX-I in namespace
// conc.
func writeSmallConfigMaps(t *testing.T, prefix string, n int) string {
	t.Helper()
	var b strings.Builder
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `{"type":"ADDED","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"%s-%d","namespace":"conc","uid":"%s-u-%d","resourceVersion":"%d","creationTimestamp":"%s"},"data":{"x":"%d"}}}`+"\n",
			prefix, i, prefix, i, i+1, t0.Add(time.Duration(i)*time.Second).Format(time.RFC3339), i)
	}
	path := filepath.Join(t.TempDir(), prefix+".json")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConcurrentUseOfADataDirectory reproduces issue 14, item 5: whichever khist process held
// the data directory ran the embedded server and the others connected to it, so when it
// exited they lost the log: an import while read commands ran in a loop stored a few events
// and failed with "context deadline exceeded", and two imports at once stored part of their
// events or failed with "in use by another khist process that publishes no address". (The
// lock is a flock, held per open file: commands run in goroutines of one process contend for
// it as processes do.) Now every command completes and every event is stored.
func TestConcurrentUseOfADataDirectory(t *testing.T) {
	dir := t.TempDir()
	const n = 4000
	files := []string{writeSmallConfigMaps(t, "a", n), writeSmallConfigMaps(t, "b", n)}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	done := make(chan struct{})
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := []string{"import", f} // the first folds its events into the views too
			if i == 1 {
				args = []string{"import", "--no-project", f}
			}
			if out, err := run(t, dir, args...); err != nil {
				errs <- fmt.Errorf("import %s: %v\n%s", filepath.Base(f), err, tail(out))
			} else if !strings.Contains(out, fmt.Sprintf("imported %d events", n)) {
				errs <- fmt.Errorf("import %s: %s", filepath.Base(f), tail(out))
			}
		}()
	}
	reads := 0
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() { // short commands in a loop, each starting or joining the server and leaving
		defer rwg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			args := []string{"log", "--limit", "1"}
			if reads%2 == 1 {
				args = []string{"get", "cm/a-1", "-n", "conc"} // folds into the views first
			}
			if out, err := run(t, dir, args...); err != nil && !strings.Contains(err.Error(), `no configmap "a-1"`) {
				errs <- fmt.Errorf("%s: %v\n%s", args[0], err, tail(out))
			}
			reads++
		}
	}()
	wg.Wait()
	close(done)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	out, err := run(t, dir, "log", "-n", "conc")
	if err != nil || strings.Count(out, "\n") != 2*n+1 {
		for _, l := range strings.Split(out, "\n") {
			if !strings.Contains(l, "ConfigMap") {
				t.Log(l)
			}
		}
		t.Fatalf("log after the imports: %v, %d lines, want %d", err, strings.Count(out, "\n"), 2*n+1)
	}
	t.Logf("%d reads during the imports", reads)
}
