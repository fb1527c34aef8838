package fleet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/khist/khist/test/cluster"
	"k8s.io/client-go/kubernetes"
)

// testCluster is the package's control plane; nil with -short.
var testCluster *cluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(cluster.RunMain(m, cluster.Options{}, func(c *cluster.Cluster) error {
		testCluster = c
		return nil
	}))
}

// needCluster skips a test under -short and returns the cluster and a client.
func needCluster(t testing.TB) (*cluster.Cluster, kubernetes.Interface) {
	t.Helper()
	if testCluster == nil {
		t.Skip("no test cluster with -short")
	}
	cs, err := testCluster.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	return testCluster, cs
}

var (
	khistOnce sync.Once
	khistBin  string
	khistErr  error
)

// buildKhist builds the khist command once per test binary and returns its path.
func buildKhist(t testing.TB) string {
	t.Helper()
	khistOnce.Do(func() {
		dir, err := os.MkdirTemp("", "khist-fleet-bin-")
		if err != nil {
			khistErr = err
			return
		}
		khistBin = filepath.Join(dir, "khist")
		start := time.Now()
		out, err := exec.Command("go", "build", "-o", khistBin, "github.com/khist/khist/cmd/khist").CombinedOutput()
		if err != nil {
			khistErr = fmt.Errorf("go build ./cmd/khist: %v\n%s", err, out)
			return
		}
		t.Logf("built khist in %s", time.Since(start).Round(time.Second))
	})
	if khistErr != nil {
		t.Fatal(khistErr)
	}
	return khistBin
}
