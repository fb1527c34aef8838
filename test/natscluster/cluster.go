package natscluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/khist/khist/test/internal/proc"
)

// Options configure Start. Zero values mean the documented defaults.
type Options struct {
	// Nodes is the number of nats-server processes. Default 3.
	Nodes int
	// Dir holds each node's configuration, store and log (DIR/n1, ...). Default: a new
	// temporary directory, removed by Stop.
	Dir string
	// Log receives build progress. Default os.Stderr.
	Log io.Writer
	// Conf is appended to every node's configuration, e.g. accounts with users and their
	// permissions. Default: none (no authentication).
	Conf string
	// Env is added to every node's environment (name=value), e.g. the passwords Conf names
	// as $VARIABLES. Default: none.
	Env []string
	// TLS, when set, makes every node require TLS from clients (with its certificate and key)
	// and on its routes (mutual: each node verifies the other's certificate against the CA),
	// as the NATS Helm chart renders config.nats.tls and config.cluster.tls. The certificate
	// must name 127.0.0.1. Default: plain TCP.
	TLS *TLSFiles
	// ClientOptions are the options of the cluster's own connections (StreamLeader,
	// WaitStreamCurrent), e.g. a user and password when Conf requires one; the CA of TLS is
	// added. Default: none.
	ClientOptions []nats.Option
}

// TLSFiles name a certificate authority and a certificate with its key, PEM files.
type TLSFiles struct {
	CA, Cert, Key string
}

// Cluster is a running NATS JetStream cluster.
type Cluster struct {
	// Nodes are the cluster's servers, named n1, n2, ...
	Nodes []*Node
	// Dir holds the nodes' directories.
	Dir string

	ownDir  bool
	clientO []nats.Option
}

// Node is one nats-server process of a Cluster. Its ports and store stay the same across
// Stop/Kill and Start.
type Node struct {
	// Name is the node's server name (as JetStream names stream leaders and replicas).
	Name string
	// ClientURL is nats://127.0.0.1:PORT.
	ClientURL string
	// MonitorURL is the node's HTTP monitoring endpoint, http://127.0.0.1:PORT.
	MonitorURL string
	// Dir holds the node's nats.conf, its JetStream store (jetstream/) and its log (server.log).
	Dir string

	bin string
	env []string
	mu  sync.Mutex
	cmd *exec.Cmd
	end chan struct{} // closed when cmd has exited
}

// Start builds (if needed) and starts a cluster, and returns once every node is healthy.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
	bin, err := EnsureBinary(ctx, o.Log)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: o.Dir, clientO: o.ClientOptions}
	scheme, clientTLS, routeTLS := "nats", "", ""
	if o.TLS != nil {
		scheme = "tls"
		c.clientO = append(c.clientO, nats.RootCAs(o.TLS.CA))
		clientTLS = fmt.Sprintf("tls {\n  cert_file: %q\n  key_file: %q\n}\n", o.TLS.Cert, o.TLS.Key)
		routeTLS = fmt.Sprintf("  tls {\n    cert_file: %q\n    key_file: %q\n    ca_file: %q\n    verify: true\n  }\n", o.TLS.Cert, o.TLS.Key, o.TLS.CA)
	}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "khist-natscluster-"); err != nil {
			return nil, err
		}
		c.ownDir = true
	}
	ports, err := freePorts(3 * o.Nodes)
	if err != nil {
		return nil, err
	}
	// A name of its own, so that nodes of two clusters started side by side never join each
	// other (were a port reused between them).
	name := fmt.Sprintf("khist-test-%d", time.Now().UnixNano()%1e9)
	var routes []string
	for i := 0; i < o.Nodes; i++ {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[3*i+1]))
	}
	for i := 0; i < o.Nodes; i++ {
		n := &Node{
			Name:       fmt.Sprintf("n%d", i+1),
			ClientURL:  fmt.Sprintf("%s://127.0.0.1:%d", scheme, ports[3*i]),
			MonitorURL: fmt.Sprintf("http://127.0.0.1:%d", ports[3*i+2]),
			Dir:        filepath.Join(c.Dir, fmt.Sprintf("n%d", i+1)),
			bin:        bin,
			env:        o.Env,
		}
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
max_payload: 4MB
jetstream {
  store_dir: %q
}
cluster {
  name: %s
  listen: 127.0.0.1:%d
  routes: [%s]
%s}
%s%s
`, n.Name, ports[3*i], ports[3*i+2], filepath.Join(n.Dir, "jetstream"), name, ports[3*i+1], strings.Join(routes, ", "), routeTLS, clientTLS, o.Conf)
		if err := os.MkdirAll(n.Dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(n.Dir, "nats.conf"), []byte(conf), 0o644); err != nil {
			return nil, err
		}
		c.Nodes = append(c.Nodes, n)
	}
	for _, n := range c.Nodes {
		if err := n.spawn(); err != nil {
			c.Stop()
			return nil, err
		}
	}
	for _, n := range c.Nodes {
		if err := n.WaitHealthy(ctx); err != nil {
			c.Stop()
			return nil, err
		}
	}
	return c, nil
}

// freePorts returns n distinct free TCP ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// URL is every node's client URL, comma separated, as --nats-url takes it.
func (c *Cluster) URL() string {
	var urls []string
	for _, n := range c.Nodes {
		urls = append(urls, n.ClientURL)
	}
	return strings.Join(urls, ",")
}

// Node returns the node of that server name, or nil.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Stop ends every node (SIGTERM, then SIGKILL after 10 s) and removes the directory if Start
// made it.
func (c *Cluster) Stop() {
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		wg.Add(1)
		go func() { defer wg.Done(); _ = n.Stop() }()
	}
	wg.Wait()
	if c.ownDir {
		os.RemoveAll(c.Dir)
	}
}

// Logs returns the tail of every node's log, for a failing test.
func (c *Cluster) Logs(lines int) string {
	var b strings.Builder
	for _, n := range c.Nodes {
		data, _ := os.ReadFile(filepath.Join(n.Dir, "server.log"))
		all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(all) > lines {
			all = all[len(all)-lines:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", n.Name, strings.Join(all, "\n"))
	}
	return b.String()
}

// spawn starts the node's process, appending its output to server.log.
func (n *Node) spawn() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return fmt.Errorf("natscluster: %s is running", n.Name)
	}
	logf, err := os.OpenFile(filepath.Join(n.Dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(n.bin, "-c", filepath.Join(n.Dir, "nats.conf"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if len(n.env) > 0 {
		cmd.Env = append(os.Environ(), n.env...)
	}
	cmd.SysProcAttr = proc.SysProcAttr()
	if err := proc.Start(cmd); err != nil {
		logf.Close()
		return fmt.Errorf("natscluster: start %s: %w", n.Name, err)
	}
	end := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(end) }()
	n.cmd, n.end = cmd, end
	return nil
}

// Start runs a stopped node again, on the same ports and store, and returns once it is healthy
// (its JetStream has caught up; see WaitHealthy).
func (n *Node) Start(ctx context.Context) error {
	if err := n.spawn(); err != nil {
		return err
	}
	return n.WaitHealthy(ctx)
}

// Kill ends the node with SIGKILL, as a crash or a lost machine, and waits for it to exit.
func (n *Node) Kill() error { return n.signal(syscall.SIGKILL, 0) }

// Stop ends the node with SIGTERM (SIGKILL after 10 s) and waits for it to exit.
func (n *Node) Stop() error { return n.signal(syscall.SIGTERM, 10*time.Second) }

func (n *Node) signal(sig syscall.Signal, grace time.Duration) error {
	n.mu.Lock()
	cmd, end := n.cmd, n.end
	n.cmd, n.end = nil, nil
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	if grace > 0 {
		select {
		case <-end:
			return nil
		case <-time.After(grace):
			_ = cmd.Process.Kill()
		}
	}
	<-end
	return nil
}

// Running reports whether the node's process runs.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// WaitHealthy waits until the node's /healthz answers 200: it accepts clients and its
// JetStream (meta group and every stream and consumer replica it holds) is current.
func (n *Node) WaitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var last error
	for {
		n.mu.Lock()
		end := n.end
		n.mu.Unlock()
		if end == nil {
			return fmt.Errorf("natscluster: %s is not running", n.Name)
		}
		select {
		case <-end:
			return fmt.Errorf("natscluster: %s exited; see %s", n.Name, filepath.Join(n.Dir, "server.log"))
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.MonitorURL+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("natscluster: %s not healthy: %v (%w)", n.Name, last, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// streamInfo asks any running node about a stream.
func (c *Cluster) streamInfo(ctx context.Context, stream string) (*jetstream.StreamInfo, error) {
	var urls []string
	for _, n := range c.Nodes {
		if n.Running() {
			urls = append(urls, n.ClientURL)
		}
	}
	if len(urls) == 0 {
		return nil, errors.New("natscluster: no node is running")
	}
	nc, err := nats.Connect(strings.Join(urls, ","), append([]nats.Option{nats.Name("natscluster")}, c.clientO...)...)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	return st.Info(ctx)
}

// StreamLeader returns the node that leads the stream's replicas, once one is elected.
func (c *Cluster) StreamLeader(ctx context.Context, stream string) (*Node, error) {
	var node *Node
	err := c.waitStream(ctx, stream, func(si *jetstream.StreamInfo) error {
		if si.Cluster == nil || si.Cluster.Leader == "" {
			return errors.New("no leader")
		}
		if node = c.Node(si.Cluster.Leader); node == nil {
			return fmt.Errorf("leader %q is not a node of this cluster", si.Cluster.Leader)
		}
		return nil
	})
	return node, err
}

// WaitStreamCurrent waits until the stream has a leader and every other node holds a current
// replica of it.
func (c *Cluster) WaitStreamCurrent(ctx context.Context, stream string) error {
	return c.waitStream(ctx, stream, func(si *jetstream.StreamInfo) error {
		if si.Cluster == nil || si.Cluster.Leader == "" {
			return errors.New("no leader")
		}
		if len(si.Cluster.Replicas) != len(c.Nodes)-1 {
			return fmt.Errorf("%d replicas besides the leader", len(si.Cluster.Replicas))
		}
		for _, r := range si.Cluster.Replicas {
			if !r.Current || r.Offline {
				return fmt.Errorf("replica %s not current", r.Name)
			}
		}
		return nil
	})
}

func (c *Cluster) waitStream(ctx context.Context, stream string, ok func(*jetstream.StreamInfo) error) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var last error
	for {
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		si, err := c.streamInfo(rctx, stream)
		rcancel()
		if err == nil {
			err = ok(si)
			if err == nil {
				return nil
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("natscluster: stream %s: %v (%w)", stream, last, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
