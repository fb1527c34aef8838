package query

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/printers"
)

func TestTableSortBy(t *testing.T) {
	type row struct {
		Name  string  `json:"name"`
		N     float64 `json:"n,omitempty"`
		Start string  `json:"start,omitempty"`
	}
	rows := []row{
		{"b", 10, "2026-12-03T10:00:00.5Z"},
		{"a", 9, "2026-12-03T09:59:59Z"},
		{"c", 0, ""}, // no n, no start: first
		{"d", 100, "2026-12-03T10:00:00Z"},
	}
	mk := func() *table {
		t := &table{columns: []column{{name: "NAME"}, {name: "EXTRA", wide: true}}}
		for _, r := range rows {
			t.add(r, r.Name, "x-"+r.Name)
		}
		return t
	}
	for _, c := range []struct{ path, want string }{
		{".n", "c a b d"},       // numbers by value, not text (10 < 9 as text)
		{"{.start}", "c a d b"}, // times in time, sub-second included
		{"name", "a b c d"},
		{"", "b a c d"}, // no --sort-by: as given
	} {
		tb := mk()
		if err := tb.sort(c.path); err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		var got []string
		for _, r := range tb.rows {
			got = append(got, r.cells[0])
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("--sort-by %s: %v, want %s", c.path, got, c.want)
		}
	}
	for _, bad := range []string{".missing", "{.x", "{.a[}"} {
		if err := mk().sort(bad); !errors.Is(err, ErrBadArgument) || strings.Contains(err.Error(), "\n") {
			t.Errorf("--sort-by %s: %v, want a one-line bad argument", bad, err)
		}
	}
}

func TestTablePrint(t *testing.T) {
	tb := &table{columns: []column{{name: "NAME"}, {name: "IMAGES", wide: true}, {name: "AGE"}}}
	tb.add(nil, "web-1", "nginx:1", "3m")
	tb.add(nil, "a-longer-name", "evil\x1b[31m", "10s")
	var out bytes.Buffer
	if err := tb.print(&out, false, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "NAME            AGE\nweb-1           3m\na-longer-name   10s\n"
	if out.String() != want {
		t.Errorf("table:\n%q\nwant\n%q", out.String(), want)
	}
	out.Reset()
	if err := tb.print(&out, true, TableOptions{NoHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "NAME") || !strings.Contains(out.String(), "nginx:1") || strings.Contains(out.String(), "\x1b") {
		t.Errorf("wide, no headers, escaped:\n%q", out.String())
	}
}

// TestRolloutsSortByAndNoHeaders runs the flags through khist rollouts on a recording.
func TestRolloutsSortByAndNoHeaders(t *testing.T) {
	s := loadScenario(t, "fidelity-never-ready-undo")
	var out bytes.Buffer
	err := s.views.Rollouts(context.Background(), RolloutsArgs{Namespace: "never-ready-undo", Table: TableOptions{NoHeaders: true, SortBy: ".durationNanos"}}, &out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || strings.HasPrefix(lines[0], "ROLLOUT") {
		t.Fatalf("want 3 rows without a header:\n%s", out.String())
	}
	// #3 took 0s, #1 1s, #2 9s.
	for i, ref := range []string{"deployment/web#3", "deployment/web#1", "deployment/web#2"} {
		if !strings.HasPrefix(lines[i], ref+" ") {
			t.Errorf("row %d: %q, want %s", i, lines[i], ref)
		}
	}
}

// TestRowsThroughKubectlPrinters: rollouts, history and steps print their rows through a
// kubectl printer as a List of the rows as -o json writes them.
func TestRowsThroughKubectlPrinters(t *testing.T) {
	s := loadScenario(t, "fidelity-never-ready-undo")
	ctx := context.Background()
	jp := func(tmpl string) Printer {
		p, err := printers.NewJSONPathPrinter(tmpl)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	var out bytes.Buffer
	if err := s.views.Rollouts(ctx, RolloutsArgs{Namespace: "never-ready-undo", Printer: jp(`{range .items[*]}{.rollout} {.outcome}{"\n"}{end}`)}, &out); err != nil {
		t.Fatal(err)
	}
	want := "deployment/web#1 complete\ndeployment/web#2 failed, rolled back\ndeployment/web#3 complete\n"
	if out.String() != want {
		t.Errorf("rollouts -o jsonpath:\n%s\nwant\n%s", out.String(), want)
	}
	out.Reset()
	if err := s.views.History(ctx, HistoryArgs{Object: "deploy/web", Namespace: "never-ready-undo", Printer: jp(`{.items[*].revision}`)}, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "2 3" {
		t.Errorf("history -o jsonpath: %q, want %q", out.String(), "2 3")
	}
	out.Reset()
	if err := s.views.Steps(ctx, StepsArgs{Object: "deploy/web", Namespace: "never-ready-undo", Rollout: "all", Printer: jp(`{.items[*].rollout.rollout}`)}, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "deployment/web#1 deployment/web#2 deployment/web#3" {
		t.Errorf("steps -o jsonpath: %q", out.String())
	}
}
