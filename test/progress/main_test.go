package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestReporter feeds a go test -json stream (as cmd/test2json writes it) and checks what a
// person sees: slow and failed tests, with a failure's output, and the package lines.
func TestReporter(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	lines := []event{
		{Time: t0, Action: "start", Package: "example.com/p"},
		{Time: t0, Action: "run", Package: "example.com/p", Test: "TestFast"},
		{Time: t0, Action: "output", Package: "example.com/p", Test: "TestFast", Output: "=== RUN   TestFast\n"},
		{Time: t0, Action: "pass", Package: "example.com/p", Test: "TestFast", Elapsed: 0.01},
		{Time: t0, Action: "run", Package: "example.com/p", Test: "TestSlow"},
		{Time: t0, Action: "run", Package: "example.com/p", Test: "TestBad"},
		{Time: t0, Action: "run", Package: "example.com/p", Test: "TestBad/case"},
		{Time: t0, Action: "output", Package: "example.com/p", Test: "TestBad/case", Output: "    x_test.go:9: got 1, want 2\n"},
		{Time: t0, Action: "fail", Package: "example.com/p", Test: "TestBad/case", Elapsed: 0.5},
		{Time: t0, Action: "output", Package: "example.com/p", Test: "TestBad", Output: "--- FAIL: TestBad (0.50s)\n"},
		{Time: t0, Action: "fail", Package: "example.com/p", Test: "TestBad", Elapsed: 0.5},
		{Time: t0.Add(95 * time.Second), Action: "pass", Package: "example.com/p", Test: "TestSlow", Elapsed: 95},
		{Time: t0, Action: "output", Package: "example.com/p", Output: "FAIL\n"},
		{Time: t0, Action: "output", Package: "example.com/p", Output: "FAIL\texample.com/p\t96.000s\n"},
		{Time: t0, Action: "fail", Package: "example.com/p", Elapsed: 96},
	}
	var out bytes.Buffer
	r := newReporter(&out)
	for i, e := range lines {
		b, _ := json.Marshal(e)
		var back event
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		r.Handle(back)
		if i == 5 {
			if got := r.Running(t0.Add(40*time.Second), 30*time.Second); strings.Join(got, ",") != "example.com/p TestSlow (40s),example.com/p TestBad (40s)" && strings.Join(got, ",") != "example.com/p TestBad (40s),example.com/p TestSlow (40s)" {
				t.Errorf("running: %q", got)
			}
		}
	}
	want := "--- FAIL: example.com/p TestBad (500ms)\n    x_test.go:9: got 1, want 2\n--- FAIL: TestBad (0.50s)\n" +
		"    example.com/p TestSlow passed (1m35s)\n" +
		"FAIL\texample.com/p\t96.000s\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
	if !r.failed {
		t.Error("a failed package does not fail the run")
	}
}
