package fleet

import (
	"os"
	"testing"

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
