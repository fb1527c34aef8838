// Command progress reads `go test -json` on stdin and prints, while the tests run, what a
// person waiting for a long package wants to see: each test that took a second or more or
// failed (a failure with its output), a line every 30 seconds naming the tests still running,
// and each package's result as go test prints it. It exits 1 when a test or a package failed.
//
//	go test -json ./... | go run ./test/progress
package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// event is one line of go test -json (cmd/test2json).
type event struct {
	Time       time.Time
	Action     string
	Package    string
	ImportPath string // of build-output and build-fail
	Test       string
	Elapsed    float64
	Output     string
}

// reporter turns events into progress lines; it is safe for the heartbeat to call Running
// while Handle runs.
type reporter struct {
	w      io.Writer
	slow   time.Duration // tests at least this long are listed when they pass
	mu     sync.Mutex
	out    map[string]*strings.Builder // package/test -> its output, until it ends
	start  map[string]time.Time        // package/test -> when it started (top-level tests)
	failed bool
}

func newReporter(w io.Writer) *reporter {
	return &reporter{w: w, slow: time.Second, out: map[string]*strings.Builder{}, start: map[string]time.Time{}}
}

func (r *reporter) Handle(e event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := e.Package + " " + e.Test
	top := e.Test != "" && !strings.Contains(e.Test, "/")
	// A subtest's output belongs to its top-level test.
	topTest, _, _ := strings.Cut(e.Test, "/")
	topKey := e.Package + " " + topTest
	switch e.Action {
	case "build-output":
		fmt.Fprint(r.w, e.Output)
	case "build-fail":
		r.failed = true
		fmt.Fprintf(r.w, "FAIL\t%s [build failed]\n", e.ImportPath)
	case "run":
		if top {
			r.start[key] = e.Time
		}
	case "output":
		if e.Test == "" {
			// Package output: build failures, and the ok/FAIL lines go test prints.
			if !strings.HasPrefix(e.Output, "PASS") && !strings.HasPrefix(e.Output, "FAIL\n") && !strings.HasPrefix(e.Output, "ok ") &&
				!strings.HasPrefix(e.Output, "FAIL\t") && !strings.HasPrefix(e.Output, "?") {
				fmt.Fprint(r.w, e.Output)
			}
			return
		}
		b := r.out[topKey]
		if b == nil {
			b = &strings.Builder{}
			r.out[topKey] = b
		}
		b.WriteString(e.Output)
	case "pass", "fail", "skip":
		if e.Test == "" {
			word := map[string]string{"pass": "ok  ", "fail": "FAIL", "skip": "?   "}[e.Action]
			fmt.Fprintf(r.w, "%s\t%s\t%.3fs\n", word, e.Package, e.Elapsed)
			if e.Action == "fail" {
				r.failed = true
			}
			return
		}
		d := time.Duration(e.Elapsed * float64(time.Second))
		switch {
		case e.Action == "fail" && top:
			r.failed = true
			fmt.Fprintf(r.w, "--- FAIL: %s %s (%s)\n%s", e.Package, e.Test, d.Round(time.Millisecond), r.out[key])
		case e.Action == "pass" && top && d >= r.slow:
			fmt.Fprintf(r.w, "    %s %s passed (%s)\n", e.Package, e.Test, d.Round(time.Millisecond))
		}
		if top {
			delete(r.out, key)
			delete(r.start, key)
		}
	}
}

// Running names the top-level tests running for at least min at now, longest first.
func (r *reporter) Running(now time.Time, min time.Duration) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	type run struct {
		name string
		d    time.Duration
	}
	var rs []run
	for k, t := range r.start {
		if d := now.Sub(t); d >= min {
			rs = append(rs, run{k, d})
		}
	}
	slices.SortFunc(rs, func(a, b run) int { return cmp.Compare(b.d, a.d) })
	var out []string
	for _, x := range rs {
		out = append(out, fmt.Sprintf("%s (%s)", x.name, x.d.Round(time.Second)))
	}
	return out
}

func main() {
	r := newReporter(os.Stdout)
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				if running := r.Running(now, 30*time.Second); len(running) > 0 {
					r.mu.Lock()
					fmt.Fprintf(r.w, "    still running: %s\n", strings.Join(running, ", "))
					r.mu.Unlock()
				}
			}
		}
	}()
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			fmt.Println(sc.Text()) // not test2json: build output
			continue
		}
		r.Handle(e)
	}
	close(stop)
	if r.failed {
		os.Exit(1)
	}
}
