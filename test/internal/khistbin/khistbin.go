// Package khistbin builds the khist command for the tests that run it as a child process, once
// per test binary.
package khistbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var (
	once sync.Once
	bin  string
	err  error
)

// Build builds github.com/khist/khist/cmd/khist the first time it is called in a test binary
// (into a new temporary directory) and returns its path; t fails if it cannot be built.
func Build(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		dir, e := os.MkdirTemp("", "khist-test-bin-")
		if e != nil {
			err = e
			return
		}
		bin = filepath.Join(dir, "khist")
		start := time.Now()
		if out, e := exec.Command("go", "build", "-o", bin, "github.com/khist/khist/cmd/khist").CombinedOutput(); e != nil {
			err = fmt.Errorf("go build ./cmd/khist: %v\n%s", e, out)
			return
		}
		t.Logf("built khist in %s", time.Since(start).Round(time.Second))
	})
	if err != nil {
		t.Fatal(err)
	}
	return bin
}
