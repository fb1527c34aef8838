package fidelity

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog/importer"
	"github.com/khist/khist/test/cluster"
)

var record = flag.Bool("record", false, "play every scenario on the test cluster and rewrite testdata/*.json.gz")

var testCluster *cluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(cluster.RunMain(m, cluster.Options{}, func(c *cluster.Cluster) error {
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

// TestRecordScenarios plays the scenarios on the real control plane while kubectl watches them,
// and with -record keeps the recordings as fixtures.
func TestRecordScenarios(t *testing.T) {
	if testCluster == nil {
		t.Skip("needs the test control plane (not with -short)")
	}
	if !*record {
		t.Skip("run with -record to rewrite the fixtures")
	}
	for i := range Scenarios {
		s := &Scenarios[i]
		t.Run(s.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			w := &KubectlWatch{Kubectl: filepath.Join(testCluster.BinDir, "kubectl"), Kubeconfig: testCluster.Kubeconfig}
			if err := w.Start(ctx, s.Name, s.ClusterScoped); err != nil {
				t.Fatal(err)
			}
			err := s.Run(ctx, runner{testCluster})
			time.Sleep(2 * time.Second) // let the last changes reach the watches
			ins := w.Stop()
			if err != nil {
				t.Fatal(err)
			}
			res, err := importer.ReadWatch("fidelity", ins...)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Envelopes) == 0 {
				t.Fatal("nothing recorded")
			}
			if err := WriteFixture(FixturePath("testdata", s.Name), res.Envelopes); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d events recorded", s.Name, len(res.Envelopes))
		})
	}
}
