package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/khist/khist/test/cluster"
	"github.com/nats-io/nats-server/v2/server"
	"k8s.io/client-go/kubernetes"
)

// testCluster is the package's cluster (with an audit log); nil with -short.
var testCluster *cluster.Cluster

// envNATSServer makes the test binary a NATS JetStream server on the data directory it names
// (see startNATSChild): benchmarks keep the log out of the measured process.
const envNATSServer = "KHIST_E2E_NATS_SERVER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(envNATSServer); dir != "" {
		os.Exit(serveNATS(dir))
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "khist-e2e-audit-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// The built-in audit policy logs writes at RequestResponse level (see TestAuditImport).
	return cluster.RunMain(m, cluster.Options{AuditLogPath: filepath.Join(dir, "audit.log")}, func(c *cluster.Cluster) error {
		testCluster = c
		return nil
	})
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

// envNATSPort is the port of that server; default a free one.
const envNATSPort = "KHIST_E2E_NATS_PORT"

// serveNATS runs a NATS JetStream server storing under dir, prints its URL and serves until
// stdin closes.
func serveNATS(dir string) int {
	port := server.RANDOM_PORT
	if p := os.Getenv(envNATSPort); p != "" {
		port, _ = strconv.Atoi(p)
	}
	srv, err := server.NewServer(&server.Options{
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   filepath.Join(dir, "jetstream"),
		MaxPayload: 4 << 20,
		NoSigs:     true,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		fmt.Fprintln(os.Stderr, "NATS server not ready")
		return 1
	}
	fmt.Println(srv.ClientURL())
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	srv.Shutdown()
	srv.WaitForShutdown()
	return 0
}

// natsChild is a NATS JetStream server in a child process (this test binary).
type natsChild struct {
	cmd   *exec.Cmd
	stdin io.Closer
	URL   string
}

// startNATSChild runs a NATS JetStream server in a child process and returns its URL; it
// stops when the test ends.
func startNATSChild(t testing.TB) string {
	t.Helper()
	n := runNATSChild(t, t.TempDir(), 0)
	t.Cleanup(n.stop)
	return n.URL
}

// runNATSChild runs a NATS JetStream server storing under dir, on port (0: a free one).
func runNATSChild(t testing.TB, dir string, port int) *natsChild {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envNATSServer+"="+dir, envNATSPort+"="+strconv.Itoa(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("NATS child: %v", err)
	}
	return &natsChild{cmd: cmd, stdin: stdin, URL: strings.TrimSpace(line)}
}

// stop shuts the server down cleanly.
func (n *natsChild) stop() {
	if n.cmd.ProcessState != nil {
		return
	}
	n.stdin.Close()
	n.cmd.Wait()
}

// kill ends the server with SIGKILL.
func (n *natsChild) kill() {
	if n.cmd.ProcessState != nil {
		return
	}
	n.cmd.Process.Kill()
	n.cmd.Wait()
}
