package auditwebhook

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/khist/khist/test/cluster"
)

var (
	// testCluster is the package's cluster; nil with -short.
	testCluster *cluster.Cluster
	// hookAddr is where the API server sends audit batches (127.0.0.1:PORT), hookFiles the
	// certificates of both ends.
	hookAddr  string
	hookFiles *cluster.AuditWebhookFiles
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "khist-e2e-webhook-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// The webhook's address must be in the API server's configuration before it starts, and
	// khist listens only once the cluster answers: reserve a free port now.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	hookAddr = ln.Addr().String()
	ln.Close()
	if hookFiles, err = cluster.NewAuditWebhook(filepath.Join(dir, "webhook"), "https://"+hookAddr+"/"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	policy, err := filepath.Abs(filepath.Join("..", "..", "..", "deploy", "audit", "policy.yaml"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return cluster.RunMain(m, cluster.Options{
		AuditPolicyFile: policy,
		// The same events in a log file: what the API server meant to send.
		AuditLogPath:               filepath.Join(dir, "audit.log"),
		AuditWebhookConfigFile:     hookFiles.Kubeconfig,
		AuditWebhookInitialBackoff: retryBackoff,
	}, func(c *cluster.Cluster) error {
		testCluster = c
		return nil
	})
}
