package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/khist/khist/collector"
	"github.com/khist/khist/collector/audit"
	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/projector"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
)

// projectFunc runs the projector in-process next to the collector, until ctx ends; m counts
// what it does and measures its lag (for /metrics and /readyz); w, when not nil, runs beside
// the fold on its views (the rollout notifier). khist collect calls it unless --no-project is
// given; given none (nil), the collector runs alone and logs that the views are not updated.
type projectFunc func(ctx context.Context, g *globalFlags, l *eventlog.Log, m *projector.Metrics, w viewsWatcher) error

type collectFlags struct {
	kube        *kubeFlags
	kubeCluster string

	include, exclude     []string
	includeNS, excludeNS []string
	keepHeartbeats       bool
	secretKeyNames       bool
	noProject            bool
	notify               notifyFlags

	auditAddr string
	auditTLS  audit.TLSFiles

	metricsAddr       string
	healthAddr        string
	debugAddr         string
	memoryLimit       memoryLimitFlag
	discoveryInterval time.Duration
	maxInFlight       int
	logFormat         string
	logLevel          string

	leaderElect    bool
	leaseName      string
	leaseNamespace string
	leaseDuration  time.Duration
	renewDeadline  time.Duration
	retryPeriod    time.Duration
}

func newCollectCmd(g *globalFlags, runProjector projectFunc) *cobra.Command {
	f := &collectFlags{kube: newKubeFlags()}
	// --cluster is khist's name for the recorded cluster (a global flag), and namespaces are
	// chosen with --include-namespace: kubectl's flags of those names are left out.
	f.kube.ClusterName = nil
	f.kube.Namespace = nil
	// Watches last minutes (each request is bounded by the collector) and discovery is not
	// cached on disk: kubectl's --request-timeout and --cache-dir do not apply (kubeFlags
	// leaves them out).
	cmd := &cobra.Command{
		Use:   "collect",
		Short: "Record every change of a cluster's objects into the log, until interrupted",
		Long: `collect lists and watches every resource of the cluster that supports list and watch,
built-in and custom (resources added later are found too), and appends each object version it
sees to the log: the embedded NATS server under --data-dir, or --nats-url. It runs the projector
in-process unless --no-project is given.

Restarted, it resumes where the log ends: versions the log already holds are not sent again,
and objects deleted while it was stopped are recorded as DELETED_UNOBSERVED. Secret values are
never recorded, and Node and Lease updates that only move heartbeat times are left out unless
--keep-heartbeats is given.`,
		Example: `  khist collect --cluster prod --context prod-admin
  khist collect --cluster prod --exclude events --exclude-namespace 'ci-*' --metrics-addr 127.0.0.1:9090
  khist collect --cluster prod --nats-url nats://nats.khist:4222 --no-project`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.memoryLimit.set = cmd.Flags().Changed("memory-limit")
			return runCollect(cmd.Context(), g, f, runProjector)
		},
	}
	fl := cmd.Flags()
	f.kube.addFlags(fl)
	fl.StringVar(&f.kubeCluster, "kube-cluster", "", "the kubeconfig cluster to use (kubectl's --cluster)")
	fl.StringSliceVar(&f.include, "include", nil, "resources to record (default all): pods, deployments.apps, Deployment, or a glob such as *.example.com; repeatable or comma separated")
	fl.StringSliceVar(&f.exclude, "exclude", nil, "resources not to record, as in --include; wins over --include")
	fl.StringSliceVar(&f.includeNS, "include-namespace", nil, "namespaces (names or globs) to record (default all); cluster-scoped objects are always recorded")
	fl.StringSliceVar(&f.excludeNS, "exclude-namespace", nil, "namespaces (names or globs) not to record; wins over --include-namespace")
	fl.BoolVar(&f.keepHeartbeats, "keep-heartbeats", false, "also record Node and Lease updates that only move heartbeat times")
	fl.BoolVar(&f.secretKeyNames, "secret-key-names", false, "watch Secrets in full to record their type and key names (values are stripped, but the API server sends them to khist); by default Secrets are watched as metadata only")
	fl.BoolVar(&f.noProject, "no-project", false, "only append to the log; do not run the projector in this process")
	f.notify.add(cmd)
	fl.StringVar(&f.auditAddr, "audit-webhook", "", "receive the API server's audit events over HTTPS on this address (e.g. :8443), to name the user behind each change; point kube-apiserver's --audit-webhook-config-file at it (see deploy/audit/)")
	fl.StringVar(&f.auditTLS.Cert, "audit-webhook-cert", "", "PEM certificate of the --audit-webhook endpoint (the API server checks it against its webhook kubeconfig's certificate-authority)")
	fl.StringVar(&f.auditTLS.Key, "audit-webhook-key", "", "PEM private key of --audit-webhook-cert")
	fl.StringVar(&f.auditTLS.ClientCA, "audit-webhook-client-ca", "", "PEM CA bundle: accept only audit batches from clients with a certificate it signed (the webhook kubeconfig's client-certificate); empty: any client")
	fl.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus metrics (and /healthz) on this address (e.g. 127.0.0.1:9090) at /metrics, without authentication: prefer loopback; empty: no metrics server")
	fl.StringVar(&f.healthAddr, "health-addr", "", "serve only /healthz on this address (e.g. :8081), for a kubelet probe while the metrics stay on loopback; empty: none")
	fl.StringVar(&f.debugAddr, "debug-addr", "", "serve Go profiles on this address (e.g. localhost:6060) at /debug/pprof/, for `go tool pprof http://ADDR/debug/pprof/heap`; empty: none")
	f.memoryLimit.add(cmd)
	fl.DurationVar(&f.discoveryInterval, "discovery-interval", collector.DefaultDiscoveryInterval, "how often to look for resources added or removed (CRD changes are also noticed at once)")
	fl.IntVar(&f.maxInFlight, "max-in-flight", collector.DefaultMaxInFlight, "versions sent to the log and not yet acknowledged before the watches wait")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.BoolVar(&f.leaderElect, "leader-elect", false, "run as one of several replicas: only the holder of a coordination.k8s.io Lease records, the others stand by (and keep their views current) and one takes over when it stops renewing; needs --nats-url")
	fl.StringVar(&f.leaseName, "leader-elect-lease-name", "khist-collector", "name of the Lease the replicas compete for (one per recorded cluster)")
	fl.StringVar(&f.leaseNamespace, "leader-elect-lease-namespace", "", "namespace of the Lease (default: the pod's namespace when in a cluster, else default)")
	fl.DurationVar(&f.leaseDuration, "leader-elect-lease-duration", 15*time.Second, "how long the standby replicas wait after the leader's last renewal before taking over")
	fl.DurationVar(&f.renewDeadline, "leader-elect-renew-deadline", 10*time.Second, "how long the leader tries to renew the Lease before it stops recording")
	fl.DurationVar(&f.retryPeriod, "leader-elect-retry-period", 2*time.Second, "how often each replica tries to take or renew the Lease")
	return cmd
}

func newLogger(format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q: use text or json", format)
}

func runCollect(ctx context.Context, g *globalFlags, f *collectFlags, runProjector projectFunc) error {
	if err := checkRecordedCluster(g); err != nil {
		return err
	}
	logger, err := newLogger(f.logFormat, f.logLevel)
	if err != nil {
		return err
	}
	var auditTLS *tls.Config
	switch {
	case f.auditAddr != "":
		if auditTLS, err = f.auditTLS.Config(); err != nil {
			return err
		}
	case f.auditTLS != audit.TLSFiles{}:
		return errors.New("--audit-webhook-cert, --audit-webhook-key and --audit-webhook-client-ca configure --audit-webhook: give its address too (e.g. --audit-webhook :8443)")
	}
	if err := setMemoryLimit(f.memoryLimit.value, f.memoryLimit.set); err != nil {
		return err
	}
	if f.debugAddr != "" {
		_, stop, err := serveDebug(f.debugAddr, logger)
		if err != nil {
			return err
		}
		defer stop()
	}
	if f.kubeCluster != "" {
		f.kube.ClusterName = &f.kubeCluster
	}
	var leader collector.LeaderOptions
	if f.leaderElect {
		if g.NATS.URL == "" {
			return errors.New("--leader-elect: the replicas must record into one log: give --nats-url (an embedded log under --data-dir is one replica's alone)")
		}
		if !(f.retryPeriod > 0 && f.retryPeriod < f.renewDeadline && f.renewDeadline < f.leaseDuration) {
			return fmt.Errorf("--leader-elect: need 0 < --leader-elect-retry-period (%s) < --leader-elect-renew-deadline (%s) < --leader-elect-lease-duration (%s)", f.retryPeriod, f.renewDeadline, f.leaseDuration)
		}
		ns := f.leaseNamespace
		if ns == "" {
			ns = podNamespace()
		}
		leader = collector.LeaderOptions{LeaseName: f.leaseName, LeaseNamespace: ns, LeaseDuration: f.leaseDuration,
			RenewDeadline: f.renewDeadline, RetryPeriod: f.retryPeriod, Logger: logger}
	}
	// Nothing is written (not even the data directory) until the cluster has answered.
	cfg, err := clusterConfig(ctx, f.kube)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	opts := collector.Options{
		Cluster:           g.Cluster,
		Include:           f.include,
		Exclude:           f.exclude,
		IncludeNamespaces: f.includeNS,
		ExcludeNamespaces: f.excludeNS,
		KeepHeartbeats:    f.keepHeartbeats,
		SecretKeyNames:    f.secretKeyNames,
		DiscoveryInterval: f.discoveryInterval,
		MaxInFlight:       f.maxInFlight,
		Registerer:        reg,
		Logger:            logger,
	}
	// The projector's metrics sit beside the collector's; /readyz answers once the collector
	// has recorded its first lists and the projector has caught up with the log.
	var pm *projector.Metrics
	var watch viewsWatcher
	if !f.noProject && runProjector != nil {
		pm = projector.NewMetrics(reg)
		if watch, err = f.notify.watcher(g, reg, logger); err != nil {
			return err
		}
	} else if f.notify.url != "" || f.notify.file != "" {
		return errors.New("--notify-webhook: notifications follow the views, which --no-project leaves to another process: give the flag to that khist project")
	} else if f.notify.otlp.endpoint != "" {
		return errors.New("--otlp-endpoint: traces follow the views, which --no-project leaves to another process: give the flag to that khist project")
	}
	var started atomic.Pointer[collector.Collector]
	var leading atomic.Bool // with --leader-elect: this replica holds the Lease
	ready := func(ctx context.Context) error {
		c := started.Load()
		if c == nil {
			return errors.New("starting")
		}
		// A standby replica is ready once its views are: it records nothing until it leads.
		if !f.leaderElect || leading.Load() {
			select {
			case <-c.Synced():
			default:
				return errors.New("the collector has not recorded its first lists yet")
			}
		}
		if pm != nil && !pm.CaughtUp(ctx) {
			return errors.New("the projector has not caught up with the log yet")
		}
		return nil
	}
	// Metrics, /healthz and /readyz on --metrics-addr; /healthz and /readyz alone on
	// --health-addr, so that kubelet probes can reach the process while the metrics stay on
	// loopback.
	if f.metricsAddr != "" {
		stop, err := serveMetrics(f.metricsAddr, reg, ready, logger)
		if err != nil {
			return err
		}
		defer stop()
	}
	if f.healthAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", healthz)
		mux.HandleFunc("/readyz", readyz(ready))
		_, stop, err := serveHTTP("--health-addr", f.healthAddr, "/healthz", mux, logger)
		if err != nil {
			return err
		}
		defer stop()
	}
	g.Logger = logger
	l, err := openLog(ctx, g)
	if err != nil {
		return err
	}
	defer l.Close()
	// Asked to stop (SIGTERM), a collector stops within its grace period even while other khist
	// processes use its embedded server.
	l.SetClientWait(collectClientWait)
	c, err := collector.New(cfg, l, opts)
	if err != nil {
		return err
	}
	started.Store(c)
	var hook *audit.Server
	if f.auditAddr != "" {
		h, err := audit.NewHandler(l, audit.Options{Cluster: g.Cluster, Registerer: reg, Logger: logger})
		if err != nil {
			return err
		}
		if hook, err = audit.Listen(f.auditAddr, auditTLS, h); err != nil {
			return err
		}
		logger.Info("receiving audit events", "addr", "https://"+hook.Addr())
	}
	where := l.ClientURL()
	if where == "" {
		where = redactURLs(g.NATS.URL)
	}
	logger.Info("collecting", "cluster", g.Cluster, "server", cfg.Host, "log", where, "stream", l.StreamName())

	// The projector, when given, runs next to the collector; either ending ends both.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	projDone := make(chan error, 1)
	switch {
	case f.noProject:
		projDone <- nil
	case runProjector == nil:
		logger.Warn("the projector is not built into this khist: only the log is written (run the projector separately, or use --no-project to silence this)")
		projDone <- nil
	default:
		go func() {
			err := runProjector(ctx, g, l, pm, watch)
			if err != nil && ctx.Err() == nil {
				cancel()
			}
			projDone <- err
		}()
	}
	hookDone := make(chan error, 1)
	if hook != nil {
		go func() {
			err := hook.Start(ctx)
			if err != nil && ctx.Err() == nil {
				cancel()
			}
			hookDone <- err
		}()
	} else {
		hookDone <- nil
	}
	if f.leaderElect {
		err = collector.RunElected(ctx, cfg, leader, func(ctx context.Context) error {
			leading.Store(true)
			return c.Start(ctx)
		})
	} else {
		err = c.Start(ctx)
	}
	cancel()
	if herr := <-hookDone; err == nil && herr != nil {
		err = fmt.Errorf("audit webhook: %w", herr)
	}
	perr := <-projDone
	if err == nil && perr != nil && !errors.Is(perr, context.Canceled) {
		err = fmt.Errorf("projector: %w", perr)
	}
	if err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

// redactURLs removes passwords from comma-separated URLs, for logs.
func redactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}

// podNamespace is the namespace of the pod this process runs in (its ServiceAccount's), or
// "default" outside a cluster.
func podNamespace() string {
	b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
	if ns := strings.TrimSpace(string(b)); err == nil && ns != "" {
		return ns
	}
	return "default"
}

// collectClientWait is how long a stopping collector keeps its embedded NATS server for other
// khist processes (Kubernetes' default grace period is 30 s).
const collectClientWait = 10 * time.Second

func healthz(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) }

// serveHTTP serves mux on addr until stop is called, and returns the URL of path there; flag
// names the option for errors.
func serveHTTP(flag, addr, path string, mux *http.ServeMux, logger *slog.Logger) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("%s %s: %w (use a free host:port)", flag, addr, err)
	}
	url = "http://" + ln.Addr().String() + path
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	logger.Info("serving "+strings.TrimPrefix(path, "/"), "addr", url)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error(strings.TrimPrefix(path, "/")+" server stopped", "err", err)
		}
	}()
	return url, func() { srv.Close() }, nil
}
