package fidelity

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/test/cluster"
	"github.com/khist/khist/test/e2e"
)

var (
	record  = flag.Bool("record", false, "rewrite testdata/*.json.gz with the live suite's recordings")
	only    = flag.String("scenarios", "", "comma-separated scenario names the live suite plays (default: all)")
	repeats = flag.Int("repeat", 1, "play each selected Deployment scenario this many times (in namespaces NAME, NAME-2, ...)")
)

// liveScenarios are the scenarios the live suite plays, as the flags select them.
func liveScenarios(t *testing.T) []Scenario {
	var out []Scenario
	for _, s := range Scenarios {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), s.Name) {
			continue
		}
		out = append(out, s)
		for i := 2; i <= *repeats && s.Kind == "Deployment"; i++ {
			c := s
			c.Name = fmt.Sprintf("%s-%d", s.Name, i)
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		t.Fatalf("-scenarios %q selects no scenario", *only)
	}
	return out
}

var testCluster *cluster.Cluster

func TestMain(m *testing.M) {
	flag.Parse()
	opts := cluster.Options{}
	if *busy {
		opts.Nodes = BusyNodes
	}
	os.Exit(cluster.RunMain(m, opts, func(c *cluster.Cluster) error {
		testCluster = c
		return nil
	}))
}

// runner adapts the test cluster to Runner.
type runner struct{ c *cluster.Cluster }

func (r runner) Kubectl(ctx context.Context, args ...string) ([]byte, error) {
	return r.c.Kubectl(ctx, args...)
}

func (r runner) KubectlStdin(ctx context.Context, stdin string, args ...string) ([]byte, error) {
	return r.c.KubectlStdin(ctx, strings.NewReader(stdin), args...)
}

// TestLiveFidelity is the fidelity suite: every scenario is played on the real control plane
// while khist's collector records it, and the recording is replayed and compared step for step
// with what the real controllers did. With -record the recordings become the fixtures that
// TestFixturesReplay and the query tests read.
func TestLiveFidelity(t *testing.T) {
	if testCluster == nil {
		t.Skip("needs the test control plane (not with -short)")
	}
	if *busy || *jobsSuite {
		t.Skip("-busy and -jobs play their suites alone (TestLiveBusy, TestLiveJobs)")
	}
	scenarios := liveScenarios(t)
	var names []string
	for _, s := range scenarios {
		names = append(names, s.Name)
	}
	rec := e2e.StartRecorder(t, testCluster, e2e.RecorderOptions{Cluster: "fidelity", IncludeNamespaces: names})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	for i := range scenarios {
		s := &scenarios[i]
		if err := s.Run(ctx, runner{testCluster}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Second) // the last status updates
	envs, err := rec.Envelopes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var histories []scenarioHistory
	for i := range scenarios {
		s := &scenarios[i]
		mine := ForScenario(envs, s)
		if len(mine) == 0 {
			t.Fatalf("%s: nothing recorded", s.Name)
		}
		// Every live recording is kept as a test artifact, so that a divergence can be studied.
		if err := e2e.WriteWatchFile(filepath.Join("..", "artifacts", "fidelity", s.Name+".json.gz"), mine); err != nil {
			t.Fatal(err)
		}
		if *record && *only == "" && *repeats == 1 {
			if err := e2e.WriteWatchFile(FixturePath("testdata", s.Name), mine); err != nil {
				t.Fatal(err)
			}
		}
		histories = append(histories, scenarioHistory{s, Versions(mine)})
	}
	checkFidelity(t, histories)
}
