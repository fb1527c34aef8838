package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Cluster is a running test control plane. Its fields are set by Start and
// must not be changed.
type Cluster struct {
	// Kubeconfig is the path of an admin kubeconfig (user kubernetes-admin in
	// group system:masters, namespace default).
	Kubeconfig string
	// APIServerURL is the API server's address, https://127.0.0.1:PORT.
	APIServerURL string
	// EtcdEndpoint is etcd's client URL, http://127.0.0.1:PORT.
	EtcdEndpoint string
	// AuditLogPath is the API server's audit log, or "" when auditing is off.
	AuditLogPath string
	// Dir is the state directory, LogDir the component logs' directory.
	Dir, LogDir string
	// BinDir holds the binaries the cluster runs.
	BinDir string
	// Nodes are the names of the fake Nodes.
	Nodes []string

	restConfig *rest.Config
	pki        *pki
	log        io.Writer
	procs      []*process // in start order
	removeDir  bool

	stopOnce sync.Once
	stopErr  error
}

// Start builds the binaries if needed (see EnsureBinaries), starts etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok on free
// ports of 127.0.0.1, creates the fake Nodes, and returns when the API server
// is ready, the default ServiceAccount exists (until then pods are rejected)
// and every fake Node is Ready and untainted. Cancelling ctx aborts the
// start-up; it does not stop a started cluster: call Stop.
//
// On failure no process is left running and the error carries the tail of
// each component's log; the state directory is kept.
//
// The components run with upstream defaults except: API Priority and
// Fairness off, no endpoint reconciler (a single 127.0.0.1 API server),
// leader election off, the controller-manager running every controller
// under its own identity, and etcd without fsync.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	if opts.Nodes == 0 {
		opts.Nodes = DefaultNodes
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.BinDir == "" {
		dir, err := ensureBinaries(ctx, opts.Log)
		if err != nil {
			return nil, err
		}
		opts.BinDir = dir
	}
	if opts.KwokStagesFile == "" {
		opts.KwokStagesFile = filepath.Join(opts.BinDir, kwokStagesFile)
	}
	removeDir := false
	if opts.Dir == "" {
		dir, err := os.MkdirTemp("", "khist-cluster-")
		if err != nil {
			return nil, err
		}
		opts.Dir, removeDir = dir, !opts.KeepDir
	}
	if opts.LogDir == "" {
		opts.LogDir = filepath.Join(opts.Dir, "logs")
	}
	for _, d := range []string{opts.Dir, opts.LogDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	for attempt := 1; ; attempt++ {
		c, err := start(ctx, opts)
		if err == nil {
			c.removeDir = removeDir
			return c, nil
		}
		if attempt < 3 && errors.Is(err, errPortInUse) && ctx.Err() == nil {
			fmt.Fprintf(opts.Log, "khist/cluster: %v; retrying with new ports\n", err)
			continue
		}
		return nil, err
	}
}

// start is one attempt of Start with defaulted options.
func start(ctx context.Context, o Options) (_ *Cluster, err error) {
	begin := time.Now()
	ports, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	etcdPort, peerPort, apiPort, kcmPort, schedPort, kwokPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]
	c := &Cluster{
		Kubeconfig:   filepath.Join(o.Dir, "admin.kubeconfig"),
		APIServerURL: "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(apiPort)),
		EtcdEndpoint: "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(etcdPort)),
		Dir:          o.Dir,
		LogDir:       o.LogDir,
		BinDir:       o.BinDir,
		log:          o.Log,
	}
	defer func() {
		if err != nil {
			err = c.startError(err)
			_ = c.stopProcesses()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()

	// Certificates and kubeconfigs: one identity per component, so that the
	// audit log and managedFields name who did what.
	pki, err := newPKI(filepath.Join(o.Dir, "pki"))
	if err != nil {
		return nil, err
	}
	serving, err := pki.serving("apiserver", net.ParseIP("10.96.0.1"))
	if err != nil {
		return nil, err
	}
	c.pki = pki
	saKey, saPub, err := pki.serviceAccountKeys()
	if err != nil {
		return nil, err
	}
	kubeconfigs := map[string]string{}
	for _, id := range []struct{ name, user string }{
		{"admin", "kubernetes-admin"},
		// The controller-manager runs every controller under its own
		// identity (--use-service-account-credentials=false), which needs
		// more than its default role grants: it is also a system:master.
		{"controller-manager", "system:kube-controller-manager"},
		{"scheduler", "system:kube-scheduler"},
		{"kwok", "system:kwok-controller"},
	} {
		groups := []string{"system:masters"}
		if id.name == "scheduler" {
			groups = nil // the default RBAC role suffices
		}
		kp, err := pki.client(id.name, id.user, groups...)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(o.Dir, id.name+".kubeconfig")
		if err := writeKubeconfig(path, c.APIServerURL, pki.caPEM, kp); err != nil {
			return nil, err
		}
		kubeconfigs[id.name] = path
	}

	// etcd.
	etcdData := filepath.Join(o.Dir, "etcd")
	if err := os.RemoveAll(etcdData); err != nil { // a previous attempt's
		return nil, err
	}
	peerURL := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(peerPort))
	if err := c.run(binEtcd, []string{
		"--name=khist-test",
		"--data-dir=" + etcdData,
		"--listen-client-urls=" + c.EtcdEndpoint,
		"--advertise-client-urls=" + c.EtcdEndpoint,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=khist-test=" + peerURL,
		"--initial-cluster-state=new",
		"--unsafe-no-fsync",
		"--quota-backend-bytes=8589934592",
		"--log-level=warn",
	}); err != nil {
		return nil, err
	}
	if err := c.waitFor(ctx, "etcd health", func(ctx context.Context) error {
		return httpOK(ctx, c.EtcdEndpoint+"/health")
	}); err != nil {
		return nil, err
	}

	// kube-apiserver.
	apiArgs := []string{
		"--etcd-servers=" + c.EtcdEndpoint,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(apiPort),
		"--tls-cert-file=" + serving.certPath,
		"--tls-private-key-file=" + serving.keyPath,
		"--client-ca-file=" + pki.caPath,
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + saPub,
		"--service-account-signing-key-file=" + saKey,
		"--service-cluster-ip-range=" + ServiceClusterIPRange,
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
	}
	logFile := o.Audit || o.AuditLogPath != "" || o.AuditPolicyFile != "" && o.AuditWebhookConfigFile == ""
	if logFile || o.AuditWebhookConfigFile != "" {
		policy := o.AuditPolicyFile
		if policy == "" {
			policy = filepath.Join(o.Dir, "audit-policy.yaml")
			if err := os.WriteFile(policy, []byte(defaultAuditPolicy), 0o644); err != nil {
				return nil, err
			}
		}
		apiArgs = append(apiArgs, "--audit-policy-file="+policy)
	}
	if logFile {
		c.AuditLogPath = o.AuditLogPath
		if c.AuditLogPath == "" {
			c.AuditLogPath = filepath.Join(o.Dir, "audit.log")
		}
		apiArgs = append(apiArgs,
			"--audit-log-path="+c.AuditLogPath,
			"--audit-log-format=json",
			"--audit-log-mode=blocking",
			"--audit-log-maxsize=0",
		)
	}
	if o.AuditWebhookConfigFile != "" {
		wait, backoff := o.AuditWebhookBatchMaxWait, o.AuditWebhookInitialBackoff
		if wait <= 0 {
			wait = time.Second
		}
		if backoff <= 0 {
			backoff = time.Second
		}
		apiArgs = append(apiArgs,
			"--audit-webhook-config-file="+o.AuditWebhookConfigFile,
			"--audit-webhook-mode=batch",
			"--audit-webhook-batch-max-wait="+wait.String(),
			"--audit-webhook-initial-backoff="+backoff.String(),
		)
	}
	if err := c.run(binAPIServer, append(apiArgs, o.ExtraAPIServerFlags...)); err != nil {
		return nil, err
	}
	if c.restConfig, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig); err != nil {
		return nil, err
	}
	c.restConfig.QPS, c.restConfig.Burst = 100, 200
	client, err := kubernetes.NewForConfig(c.restConfig)
	if err != nil {
		return nil, err
	}
	if err := c.waitFor(ctx, "kube-apiserver /readyz", func(ctx context.Context) error {
		return client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
	}); err != nil {
		return nil, err
	}

	// The rest start together.
	if err := c.run(binController, append([]string{
		"--kubeconfig=" + kubeconfigs["controller-manager"],
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(kcmPort),
		"--controllers=*",
		"--use-service-account-credentials=false",
		"--root-ca-file=" + pki.caPath,
		"--service-account-private-key-file=" + saKey,
		"--cluster-signing-cert-file=" + pki.caPath,
		"--cluster-signing-key-file=" + filepath.Join(pki.dir, "ca.key"),
		"--service-cluster-ip-range=" + ServiceClusterIPRange,
		"--leader-elect=false",
		"--profiling=false",
	}, o.ExtraControllerManagerFlags...)); err != nil {
		return nil, err
	}
	if err := c.run(binScheduler, append([]string{
		"--kubeconfig=" + kubeconfigs["scheduler"],
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(schedPort),
		"--leader-elect=false",
		"--profiling=false",
	}, o.ExtraSchedulerFlags...)); err != nil {
		return nil, err
	}
	kwokArgs := []string{
		"--kubeconfig=" + kubeconfigs["kwok"],
		"--config=" + o.KwokStagesFile,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + KwokNodeAnnotation + "=fake",
		"--server-address=" + net.JoinHostPort("127.0.0.1", strconv.Itoa(kwokPort)),
		"--node-port=" + strconv.Itoa(kwokPort),
		"--node-lease-duration-seconds=40",
	}
	if o.KwokStagesFile == filepath.Join(o.BinDir, kwokStagesFile) {
		// The general stages are completed by khist's pod-fail stage (jobstages.go).
		extra, err := writeJobStages(o.Dir)
		if err != nil {
			return nil, err
		}
		kwokArgs = append(kwokArgs, "--config="+extra)
	}
	if err := c.run(binKwok, append(kwokArgs, o.ExtraKwokFlags...)); err != nil {
		return nil, err
	}
	if c.Nodes, err = createNodes(ctx, client, o.Nodes); err != nil {
		return nil, err
	}
	if err := c.waitReady(ctx, client, kcmPort, schedPort); err != nil {
		return nil, err
	}
	fmt.Fprintf(c.log, "khist/cluster: ready in %s: %s, kubeconfig %s\n",
		time.Since(begin).Round(100*time.Millisecond), c.APIServerURL, c.Kubeconfig)
	return c, nil
}

// run starts one component and records it for Stop.
func (c *Cluster) run(name string, args []string) error {
	p, err := startProcess(name, filepath.Join(c.BinDir, name), c.LogDir, args)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return nil
}

// startError adds the state directory and each component's log tail to a
// start-up error, and marks a failed bind as errPortInUse.
func (c *Cluster) startError(err error) error {
	var b strings.Builder
	fmt.Fprintf(&b, "start test cluster (state in %s): %v", c.Dir, err)
	portInUse := false
	for _, p := range c.procs {
		fmt.Fprintf(&b, "\n--- last lines of %s ---\n%s", p.logPath, p.tail(20))
		portInUse = portInUse || p.logContains("address already in use")
	}
	if portInUse {
		return fmt.Errorf("%w: %s", errPortInUse, b.String())
	}
	return errors.New(b.String())
}

// RESTConfig returns a copy of the admin client configuration (QPS 100,
// burst 200).
func (c *Cluster) RESTConfig() *rest.Config {
	return rest.CopyConfig(c.restConfig)
}

// Clientset returns a typed client with the admin configuration.
func (c *Cluster) Clientset() (*kubernetes.Clientset, error) {
	return kubernetes.NewForConfig(c.RESTConfig())
}

// UserKubeconfig issues a client certificate from the cluster's CA for user
// in groups and writes a kubeconfig with it, Dir/NAME.kubeconfig: the user
// is authenticated and has the permissions RBAC grants the user or groups
// (none by default).
func (c *Cluster) UserKubeconfig(name, user string, groups ...string) (string, error) {
	kp, err := c.pki.client(name, user, groups...)
	if err != nil {
		return "", err
	}
	path := filepath.Join(c.Dir, name+".kubeconfig")
	return path, writeKubeconfig(path, c.APIServerURL, c.pki.caPEM, kp)
}

// Kubectl runs the cluster's kubectl with the admin kubeconfig and returns
// its standard output. A failure's error carries kubectl's standard error.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) ([]byte, error) {
	return c.KubectlStdin(ctx, nil, args...)
}

// KubectlStdin is Kubectl with stdin, e.g. KubectlStdin(ctx, manifest,
// "apply", "-f", "-").
func (c *Cluster) KubectlStdin(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	return c.tool(ctx, binKubectl, stdin, append([]string{"--kubeconfig=" + c.Kubeconfig}, args...))
}

// Apply runs kubectl apply on manifest (YAML or JSON, one or more objects).
func (c *Cluster) Apply(ctx context.Context, manifest []byte) error {
	_, err := c.KubectlStdin(ctx, bytes.NewReader(manifest), "apply", "-f", "-")
	return err
}

// Etcdctl runs etcdctl against the cluster's etcd and returns its standard
// output.
func (c *Cluster) Etcdctl(ctx context.Context, args ...string) ([]byte, error) {
	return c.tool(ctx, binEtcdctl, nil, append([]string{"--endpoints=" + c.EtcdEndpoint}, args...))
}

// EtcdRevision returns etcd's current revision.
func (c *Cluster) EtcdRevision(ctx context.Context) (int64, error) {
	out, err := c.Etcdctl(ctx, "endpoint", "status", "--write-out=json")
	if err != nil {
		return 0, err
	}
	var status []struct {
		Status struct {
			Header struct {
				Revision int64 `json:"revision"`
			} `json:"header"`
		} `json:"Status"`
	}
	if err := json.Unmarshal(out, &status); err != nil || len(status) != 1 {
		return 0, fmt.Errorf("etcdctl endpoint status: unexpected output %q: %v", out, err)
	}
	return status[0].Status.Header.Revision, nil
}

// EtcdCompact compacts etcd's history up to its current revision and waits
// until the compaction is applied: every older version of every object is
// gone, as after the API server's periodic compaction (every 5 minutes by
// default). Watches and lists from an older resourceVersion that reach etcd
// then fail with 410 Gone; the API server's watch cache may still serve some
// from memory (start with ExtraAPIServerFlags "--watch-cache=false" to avoid
// that).
func (c *Cluster) EtcdCompact(ctx context.Context) error {
	rev, err := c.EtcdRevision(ctx)
	if err != nil {
		return err
	}
	_, err = c.Etcdctl(ctx, "compaction", "--physical", strconv.FormatInt(rev, 10))
	return err
}

// tool runs a binary of BinDir to completion.
func (c *Cluster) tool(ctx context.Context, name string, stdin io.Reader, args []string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, name), args...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args[1:], " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// Stop ends the cluster's processes: kwok, scheduler and controller-manager
// first, then the API server, then etcd; each gets SIGTERM, then SIGKILL
// after 10 s. Only the process groups Start created are signalled. It then
// removes a temporary state directory (see Options.KeepDir). Stop is
// idempotent; it reports a component that had died before it was called.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		c.stopErr = c.stopProcesses()
		if c.removeDir {
			if err := os.RemoveAll(c.Dir); err != nil {
				c.stopErr = errors.Join(c.stopErr, err)
			}
		}
	})
	return c.stopErr
}

// KeepDir stops Stop from removing a temporary state directory, e.g. to
// read the logs of a failed test.
func (c *Cluster) KeepDir() { c.removeDir = false }

func (c *Cluster) stopProcesses() error {
	byName := map[string]*process{}
	for _, p := range c.procs {
		byName[p.name] = p
	}
	var errs []error
	for _, group := range [][]string{{binKwok, binScheduler, binController}, {binAPIServer}, {binEtcd}} {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, name := range group {
			p := byName[name]
			if p == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := p.stop(stopGrace); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	c.procs = nil
	return errors.Join(errs...)
}
