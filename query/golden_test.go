package query

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/khist/khist/internal/recording"
	"github.com/khist/khist/projector"
)

// update regenerates the golden files: go test ./query -update.
var update = flag.Bool("update", false, "rewrite testdata/golden/* with the current output")

// A scenario is a directory testdata/scenarios/NAME holding a recording: the output of
// kubectl get RESOURCE --watch --output-watch-events -o json, one file per resource type
// (.json or .json.gz). Adding a scenario is dropping such a directory there and running the
// tests with -update: the queries below are derived from what the recording holds (its
// namespaces, its workloads, its time range).

type scenario struct {
	name        string
	dir         string // the views' temporary directory, removed by TestMain
	views       *Views
	first, last time.Time
}

var (
	scenarioMu    sync.Mutex
	scenarioCache = map[string]*scenario{}
)

func scenarioNames(t testing.TB) []string {
	dirs, _ := filepath.Glob(filepath.Join("testdata", "scenarios", "*"))
	var out []string
	for _, d := range dirs {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			out = append(out, filepath.Base(d))
		}
	}
	// The fidelity suite's recordings, made by the project's own harness on the real control
	// plane: one merged watch stream per scenario.
	for _, name := range fidelityScenarios {
		out = append(out, "fidelity-"+name)
	}
	sort.Strings(out)
	if len(out) == 0 {
		t.Fatal("no scenario under testdata/scenarios")
	}
	return out
}

// fidelityScenarios are the test/fidelity recordings the golden files cover: the seed rollout,
// a failed rollout rolled back, a StatefulSet with a re-created pod, a mid-rollout re-update.
var fidelityScenarios = []string{"seed-rolling", "never-ready-undo", "sts-pod-recreate", "mid-rollout-update", "undo-to-revision", "recreate", "pause-resume"}

// scenarioFiles lists the recording files of a scenario.
func scenarioFiles(name string) []string {
	if f, ok := strings.CutPrefix(name, "jobs-"); ok {
		return []string{filepath.Join("..", "test", "fidelity", "testdata", "jobs", f+".json.gz")}
	}
	if f, ok := strings.CutPrefix(name, "fidelity-"); ok {
		return []string{filepath.Join("..", "test", "fidelity", "testdata", f+".json.gz")}
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "scenarios", name, "*.json*"))
	sort.Strings(files)
	return files
}

// TestMain removes the views the scenarios were folded into and closes the benchmarks' views.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, s := range scenarioCache {
		s.views.DB.Close()
		os.RemoveAll(s.dir)
	}
	if benchViews != nil {
		benchViews.DB.Close()
	}
	os.Exit(code)
}

// loadScenario imports a recording and folds it into views (through the projector's fold API,
// as the log would deliver it), once per test binary.
func loadScenario(t testing.TB, name string) *scenario {
	t.Helper()
	scenarioMu.Lock()
	defer scenarioMu.Unlock()
	if s := scenarioCache[name]; s != nil {
		return s
	}
	envs, err := recording.Envelopes("test", scenarioFiles(name)...)
	if err != nil {
		t.Fatalf("scenario %s: %v", name, err)
	}
	dir, err := os.MkdirTemp("", "khist-query-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	db, err := projector.Open(filepath.Join(dir, "views.db"), &projector.Options{NoSync: true})
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	if err := db.Apply(context.Background(), envs); err != nil {
		t.Fatalf("scenario %s: fold: %v", name, err)
	}
	s := &scenario{name: name, dir: dir}
	s.views = NewViews(db, "test", Env{Loc: time.UTC})
	s.first, s.last, err = s.views.Span(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// "now" is an hour after the recording ends, so that durations ago reach into it.
	s.views.Env.Now = s.last.Add(time.Hour).Truncate(time.Second)
	scenarioCache[name] = s
	return s
}

// goldenQuery is one query of a scenario and its golden file.
type goldenQuery struct {
	slug string
	run  func(ctx context.Context, v *Views, w *bytes.Buffer) error
}

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// scenarioQueries derives the queries of a scenario from its content.
func scenarioQueries(t testing.TB, s *scenario) []goldenQuery {
	ctx := context.Background()
	v := s.views
	mid := s.first.Add(s.last.Sub(s.first) / 2).Truncate(time.Second)
	var qs []goldenQuery
	add := func(slug string, run func(ctx context.Context, v *Views, w *bytes.Buffer) error) {
		qs = append(qs, goldenQuery{slug, run})
	}
	nss, err := v.DB.Namespaces(ctx, v.Cluster)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range nss {
		if ns == "" {
			continue
		}
		since, until := rfc(s.first), rfc(s.last.Add(time.Second))
		for _, o := range []string{"table", "csv", "md", "json"} {
			add("timeline-"+ns+"."+o, func(ctx context.Context, v *Views, w *bytes.Buffer) error {
				return v.Timeline(ctx, TimelineArgs{Namespace: ns, Since: since, Until: until, Output: o}, w)
			})
		}
		add("rollouts-"+ns, func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Rollouts(ctx, RolloutsArgs{Namespace: ns}, w)
		})
		add("state-"+ns+"-mid", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.State(ctx, StateArgs{Namespace: ns, At: rfc(mid)}, w)
		})
		add("state-"+ns+"-end", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.State(ctx, StateArgs{Namespace: ns, At: rfc(s.last), Kinds: []string{"all"}, Output: "wide"}, w)
		})
		for _, kind := range []string{"Deployment", "StatefulSet", "DaemonSet"} {
			names, _ := v.DB.Names(ctx, v.Cluster, "apps", kind, ns)
			for _, n := range names {
				obj := strings.ToLower(kind) + "/" + n
				slug := strings.ToLower(kind) + "-" + n
				add("get-"+slug, func(ctx context.Context, v *Views, w *bytes.Buffer) error {
					return v.Get(ctx, GetArgs{Object: obj, Namespace: ns}, w)
				})
				add("get-"+slug+"-mid.json", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
					return v.Get(ctx, GetArgs{Object: obj, Namespace: ns, At: rfc(mid), Output: "json"}, w)
				})
				add("diff-"+slug+"-start-end", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
					return v.Diff(ctx, DiffArgs{Object: obj, Namespace: ns, From: rfc(s.first), To: rfc(s.last)}, w)
				})
				add("diff-"+slug+"-last-change", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
					return v.Diff(ctx, DiffArgs{Object: obj, Namespace: ns}, w)
				})
				add("history-"+slug, func(ctx context.Context, v *Views, w *bytes.Buffer) error {
					return v.History(ctx, HistoryArgs{Object: obj, Namespace: ns}, w)
				})
				add("rollouts-"+slug, func(ctx context.Context, v *Views, w *bytes.Buffer) error {
					return v.Rollouts(ctx, RolloutsArgs{Object: obj, Namespace: ns, Output: "wide"}, w)
				})
				add("steps-"+slug+"-all", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
					return v.Steps(ctx, StepsArgs{Object: obj, Namespace: ns, Rollout: "all"}, w)
				})
				add("diff-"+slug+"-rev1-rev2", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
					return v.Diff(ctx, DiffArgs{Object: obj, Namespace: ns, From: "1", To: "2"}, w)
				})
			}
		}
	}
	return qs
}

// TestGolden runs the queries of every scenario and compares their output with
// testdata/golden/SCENARIO/QUERY.golden.
func TestGolden(t *testing.T) {
	for _, name := range scenarioNames(t) {
		t.Run(name, func(t *testing.T) {
			s := loadScenario(t, name)
			seen := map[string]bool{}
			for _, q := range scenarioQueries(t, s) {
				t.Run(q.slug, func(t *testing.T) {
					var out bytes.Buffer
					if err := q.run(context.Background(), s.views, &out); err != nil {
						fmt.Fprintf(&out, "error: %v\n", err)
					}
					path := filepath.Join("testdata", "golden", name, q.slug+".golden")
					seen[path] = true
					checkGolden(t, path, out.Bytes())
				})
			}
			if *update {
				// Drop golden files of queries that no longer exist.
				old, _ := filepath.Glob(filepath.Join("testdata", "golden", name, "*.golden"))
				for _, p := range old {
					if !seen[p] {
						os.Remove(p)
					}
				}
			}
		})
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./query -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (go test ./query -update rewrites it):\n%s", path,
			UnifiedDiff(string(want), string(got), path, "output", 2))
	}
}
