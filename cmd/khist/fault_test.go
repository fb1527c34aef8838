package main

// The fault-injection suite: it damages each kind of file under a data directory in turn
// (message blocks of the embedded store, the store itself, the views file, a rebuild's
// leftover) and runs the commands a user would, asserting that each ends within 10 seconds,
// fails where its answer would be wrong or incomplete, says in one line what is damaged and
// what to do, and never panics. `go test ./cmd/khist -run TestFaults -v` prints the table of
// outcomes kept in RELIABILITY.md.

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/test/faults"
)

// faultEvents ConfigMaps of 6 KB of incompressible data fill three blocks of the store.
const faultEvents = 3000

// writeConfigMaps writes n ADDED events of ConfigMaps in namespace fault, each with 6 KB of
// random data, as kubectl --watch --output-watch-events -o json prints them.
func writeConfigMaps(t testing.TB, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cms.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	b := make([]byte, 3000)
	for i := 0; i < n; i++ {
		rand.Read(b)
		fmt.Fprintf(f, `{"type":"ADDED","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-%d","namespace":"fault","uid":"u-%d","resourceVersion":"%d","creationTimestamp":"%s"},"data":{"x":"%s"}}}`+"\n",
			i, i, i+1, t0.Add(time.Duration(i)*time.Second).Format(time.RFC3339), hex.EncodeToString(b))
	}
	return path
}

// faultBase imports faultEvents events into a new data directory and returns it. The
// de-duplication window is short so that the embedded server, when it starts again, does not
// load every recent event to rebuild it (about 10ms per event of a damaged block).
func faultBase(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := run(t.(*testing.T), dir, "import", "--stream-dedup-window", "100ms", writeConfigMaps(t, faultEvents)); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(faults.Blocks(t, dir, "KHIST")); n < 3 {
		t.Fatalf("%d message blocks, want 3 or more", n)
	}
	return dir
}

// outcome is what one command is expected to do on a damaged data directory.
type outcome struct {
	args []string
	fail bool     // it must fail (non-zero exit)
	want []string // its error (or, when it succeeds, its output) must contain each
	// mayFail: it may also fail, with an error that contains each of mayWant (whether it
	// fails depends on which page random damage hit).
	mayFail bool
	mayWant []string
}

func TestFaults(t *testing.T) {
	base := faultBase(t)
	get := []string{"get", "cm/cm-2000", "-n", "fault", "-o", "json"}
	views := func(dir string) string { return filepath.Join(dir, "views.db") }
	small := writeConfigMaps(t, 1)
	block := func(i int) func(t *testing.T, dir string) string {
		return func(t *testing.T, dir string) string {
			b := faults.Blocks(t, dir, "KHIST")
			if i < 0 {
				i += len(b)
			}
			return b[i]
		}
	}
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		expect []outcome
		after  []outcome // run after the expected ones, e.g. once rebuilt
	}{
		{
			name:   "store: middle message block deleted",
			damage: func(t *testing.T, dir string) { faults.Remove(t, block(1)(t, dir)) },
			expect: []outcome{
				{args: []string{"log"}, fail: true, want: []string{"event log damaged: events ", " missing (", "run khist doctor"}},
				{args: get, fail: false, want: []string{`"name": "cm-2000"`}}, // the views hold it
				{args: []string{"rebuild"}, fail: true, want: []string{"rebuild would lose history", "the views are kept"}},
				{args: []string{"doctor"}, fail: true, want: []string{"DAMAGED: events ", "the views hold their history"}},
			},
			after: []outcome{{args: get, fail: false, want: []string{`"name": "cm-2000"`}}},
		},
		{
			name:   "store: 4 KB overwritten in the middle of a message block",
			damage: func(t *testing.T, dir string) { faults.Overwrite(t, block(1)(t, dir), 4096) },
			expect: []outcome{
				{args: []string{"log"}, fail: true, want: []string{"event log damaged: events ", " unreadable (", "run khist doctor"}},
				{args: []string{"rebuild"}, fail: true, want: []string{"event log damaged: events ", " unreadable", "the views are kept"}},
				{args: get, fail: false, want: []string{`"name": "cm-2000"`}},
				{args: []string{"doctor"}, fail: true, want: []string{"DAMAGED: events ", "unreadable", "the views hold their history"}},
			},
		},
		{
			name:   "store: last message block truncated to half",
			damage: func(t *testing.T, dir string) { faults.Truncate(t, block(-1)(t, dir), 0.5) },
			expect: []outcome{
				{args: []string{"log"}, fail: true, want: []string{"event log damaged: events ", " missing (", "run khist doctor"}},
				{args: []string{"rebuild"}, fail: true, want: []string{"rebuild would lose history"}},
				{args: []string{"doctor"}, fail: true, want: []string{"DAMAGED: events "}},
			},
		},
		{
			name:   "store: jetstream directory deleted",
			damage: func(t *testing.T, dir string) { faults.Remove(t, filepath.Join(dir, "jetstream")) },
			expect: []outcome{
				{args: []string{"rebuild"}, fail: true, want: []string{"rebuild would lose history", "was folded from 3000 events and the log holds 0"}},
				{args: get, fail: false, want: []string{`"name": "cm-2000"`}}, // from the views, with a warning
				{args: []string{"doctor"}, fail: true, want: []string{"AHEAD: the views hold events up to 3000 but the log ends at 0"}},
			},
			after: []outcome{{args: []string{"rebuild", "--force"}, fail: false, want: nil}},
		},
		{
			name: "store: events not yet folded are in a damaged block",
			damage: func(t *testing.T, dir string) {
				faults.Remove(t, views(dir))
				faults.Overwrite(t, block(1)(t, dir), 4096)
			},
			expect: []outcome{
				{args: get, fail: true, want: []string{"event log damaged: events ", "--no-update answers from the views as they are"}},
				{args: []string{"doctor"}, fail: true, want: []string{"not in the views: lost unless re-imported"}},
			},
			after: []outcome{{args: []string{"rebuild", "--force"}, fail: false, want: []string{"folded without "}}},
		},
		{
			name:   "views: 4 KB overwritten in the middle",
			damage: func(t *testing.T, dir string) { faults.Overwrite(t, views(dir), 4096) },
			expect: []outcome{
				// It fails with "views damaged" when the page is one it reads.
				{args: get, mayFail: true, mayWant: []string{"views damaged: ", "run khist rebuild"}},
				{args: []string{"rebuild"}},
			},
			after: []outcome{{args: get, fail: false, want: []string{`"name": "cm-2000"`}}},
		},
		{
			name:   "views: truncated to half",
			damage: func(t *testing.T, dir string) { faults.Truncate(t, views(dir), 0.5) },
			expect: []outcome{
				{args: get, fail: true, want: []string{"views damaged: ", "run khist rebuild"}},
				{args: []string{"import", small}, fail: true, want: []string{"views damaged: ", "run khist rebuild"}},
				{args: []string{"rebuild"}, fail: false, want: nil},
			},
			after: []outcome{{args: get, fail: false, want: []string{`"name": "cm-2000"`}}},
		},
		{
			name: "views: every page after the first 64 KB overwritten",
			damage: func(t *testing.T, dir string) {
				fi, _ := os.Stat(views(dir))
				f, _ := os.OpenFile(views(dir), os.O_WRONLY, 0)
				b := make([]byte, fi.Size()-65536)
				rand.Read(b)
				f.WriteAt(b, 65536)
				f.Close()
			},
			expect: []outcome{
				{args: get, fail: true, want: []string{"views damaged: ", "run khist rebuild"}},
				{args: []string{"rebuild"}, fail: false, want: nil},
			},
			after: []outcome{{args: get, fail: false, want: []string{`"name": "cm-2000"`}}},
		},
		{
			name: "views: a killed rebuild's views.db.rebuild left over",
			damage: func(t *testing.T, dir string) {
				os.WriteFile(views(dir)+".rebuild", make([]byte, 1<<20), 0o600)
			},
			expect: []outcome{{args: get, fail: false, want: []string{`"name": "cm-2000"`}}},
		},
	}
	var table []string
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(base)); err != nil {
				t.Fatal(err)
			}
			c.damage(t, dir)
			for _, o := range append(c.expect, c.after...) {
				began := time.Now()
				out, err := run(t, dir, o.args...)
				took := time.Since(began)
				msg := "ok"
				if err != nil {
					msg = err.Error()
				}
				table = append(table, fmt.Sprintf("| %s | `khist %s` | %s | %s | %s |", c.name, strings.Join(o.args, " "), rc(err), took.Round(10*time.Millisecond), strings.ReplaceAll(firstLine(msg), "|", "/")))
				if took > 10*time.Second {
					t.Errorf("khist %s: took %s", strings.Join(o.args, " "), took)
				}
				if o.mayFail && err != nil {
					for _, w := range o.mayWant {
						if !strings.Contains(err.Error(), w) {
							t.Errorf("khist %s: error %q lacks %q", strings.Join(o.args, " "), err, w)
						}
					}
					continue
				}
				if o.fail != (err != nil) {
					t.Errorf("khist %s: error %v, want failure %v\n%s", strings.Join(o.args, " "), err, o.fail, tail(out))
					continue
				}
				if err != nil && strings.Contains(err.Error(), "\n") {
					t.Errorf("khist %s: error on several lines: %q", strings.Join(o.args, " "), err)
				}
				if err != nil && !o.fail {
					continue
				}
				text := out
				if err != nil {
					text = err.Error()
					if o.args[0] == "doctor" {
						text = out
					}
				}
				for _, w := range o.want {
					if !strings.Contains(text, w) {
						t.Errorf("khist %s: lacks %q:\n%s", strings.Join(o.args, " "), w, tail(text))
					}
				}
			}
			if c.name == "views: a killed rebuild's views.db.rebuild left over" {
				if _, err := os.Stat(views(dir) + ".rebuild"); err == nil {
					t.Errorf("views.db.rebuild still there")
				}
			}
		})
	}
	t.Logf("\n| damage | command | exit | time | message |\n|---|---|---|---|---|\n%s", strings.Join(table, "\n"))
}

func rc(err error) string {
	if err != nil {
		return "1"
	}
	return "0"
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func tail(s string) string {
	if len(s) > 2000 {
		return "..." + s[len(s)-2000:]
	}
	return s
}

// TestOddObjectIsQuarantined: an object that no view can place in time (a ConfigMap with no
// creationTimestamp and no managedFields) is quarantined by the views, counted, and listed by
// doctor; the rest of the cluster's history answers as before.
func TestOddObjectIsQuarantined(t *testing.T) {
	dir := t.TempDir()
	odd := filepath.Join(t.TempDir(), "odd.json")
	os.WriteFile(odd, []byte(`{"type":"ADDED","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"odd","namespace":"sample-rolling","uid":"u-odd","resourceVersion":"1"},"data":{"a":"b"}}}`+"\n"), 0o600)
	files, _ := filepath.Glob(filepath.Join("../../query/testdata/scenarios/sample-rolling", "*.json.gz"))
	out, err := run(t, dir, append([]string{"import"}, append(files, odd)...)...)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	if !strings.Contains(out, "1 events could not be folded and are quarantined: khist doctor lists them") {
		t.Errorf("import does not say that an event was quarantined:\n%s", out)
	}
	for _, args := range [][]string{
		{"rollouts", "-A"},
		{"rollouts", "-n", "sample-rolling"},
		{"timeline", "-A", "--since", "2026-11-22T00:00:00Z", "--until", "2026-11-22T01:00:00Z"},
	} {
		out, err := run(t, dir, args...)
		if err != nil || !strings.Contains(out, "checkout") {
			t.Errorf("khist %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	out, err = run(t, dir, "doctor")
	if err == nil || !strings.Contains(out, "1 quarantined") || !strings.Contains(out, "no time: the object has no creationTimestamp or managedFields time and the log no observed time: ADDED ConfigMap sample-rolling/odd rv=1") {
		t.Fatalf("doctor: %v\n%s", err, out)
	}
}

// TestOversizedObjectFailsWholeImport: an object larger than any Kubernetes object fails the
// import at its FILE:LINE before anything is stored.
func TestOversizedObjectFailsWholeImport(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(t.TempDir(), "big.json")
	line := func(name string, size int) string {
		return fmt.Sprintf(`{"type":"ADDED","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"%s","namespace":"x","uid":"u-%s","resourceVersion":"1","creationTimestamp":"2026-11-20T10:00:00Z"},"data":{"a":"%s"}}}`+"\n", name, name, strings.Repeat("a", size))
	}
	os.WriteFile(big, []byte(line("small", 10)+line("big", 2<<20)+line("after", 10)), 0o600)
	files, _ := filepath.Glob(filepath.Join(sampleDir, "*.json.gz"))
	_, err := run(t, dir, append([]string{"import"}, append(files, big)...)...)
	want := "import: " + big + ":2: invalid envelope: ADDED ConfigMap x/big rv=1"
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "over etcd's limit") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("import: %v, want one line starting %q", err, want)
	}
	out, err := run(t, dir, "log")
	if err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("log after the failed import holds events: %v\n%s", err, out)
	}
}
