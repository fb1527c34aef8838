package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/test/cluster"
	"k8s.io/client-go/kubernetes"
)

var (
	soak          = flag.Bool("soak", false, "run the soak benchmark of khist collect on the test control plane (make bench-soak): TestSoak")
	soakDuration  = flag.Duration("soak-duration", 30*time.Minute, "how long the load runs")
	soakOut       = flag.String("soak-out", filepath.Join("..", "..", "docs", "bench"), "directory of the results: soak-samples.csv, soak-rss.svg, soak-summary.md")
	soakWork      = flag.String("soak-work", "", "directory of khist's data, its log and the profiles (default: a new directory under $TMPDIR, kept; the data directory in it is removed unless -soak-keep)")
	soakKeep      = flag.Bool("soak-keep", false, "keep khist's data directory")
	soakNodes     = flag.Int("soak-nodes", 30, "kwok nodes")
	soakDeploys   = flag.Int("soak-deployments", 20, "Deployments of the load")
	soakReplicas  = flag.Int("soak-replicas", 100, "replicas of each Deployment (scaled to 1.5 times as many and back)")
	soakParallel  = flag.Int("soak-concurrent", 5, "Deployments changed at once")
	soakCollect   = flag.String("soak-collect-args", "", "more arguments of khist collect, space-separated (e.g. --memory-limit=160Mi), to measure a setting against the defaults")
	soakProfileAt = flag.String("soak-profile-at", "0.5,0.9", "when to take khist's 30 s CPU profiles, as fractions of the load's duration, comma-separated (empty: none)")
)

// sampleEvery is the sampling period.
const sampleEvery = 5 * time.Second

// TestSoak is the soak benchmark (see the package doc): it runs only with -soak.
func TestSoak(t *testing.T) {
	if !*soak {
		t.Skip("the soak benchmark runs with -soak (make bench-soak)")
	}
	work := *soakWork
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "khist-soak-"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("work directory (collect's log, profiles): %s", work)
	ctx := context.Background()
	bin := buildKhist(t, work)

	c, err := cluster.Start(ctx, cluster.Options{Nodes: *soakNodes, Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop the cluster: %v", err)
		}
	}()
	cfg := c.RESTConfig()
	cfg.QPS, cfg.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const ns = "soak"
	if _, err := c.Kubectl(ctx, "create", "namespace", ns); err != nil {
		t.Fatal(err)
	}

	// khist first, then the reference: every version a kubectl watch lists is one khist
	// listed or watched.
	dataDir := filepath.Join(work, "data")
	os.RemoveAll(dataDir)
	col := startCollect(t, bin, c, dataDir, filepath.Join(work, "collect.log"))
	defer col.kill()
	ref := startWatches(t, c, watchedResources)
	defer ref.kill()
	sm := startSampler(col, ref, dataDir)
	defer sm.stop()
	uptimes := []string{uptime()}

	l := &Load{
		Namespace: ns, Deployments: *soakDeploys, Replicas: *soakReplicas, Scaled: *soakReplicas * 3 / 2,
		Concurrent: *soakParallel, StatefulSets: 3, StatefulSetReplicas: 10, DaemonSets: 2, Services: 4,
		Ready: 3 * time.Second, Jitter: 25 * time.Second,
	}
	loadStart := time.Now()
	err = l.Create(ctx, func(ctx context.Context, manifest string) error {
		_, err := c.KubectlStdin(ctx, strings.NewReader(manifest), "apply", "-n", ns, "-f", "-")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopLoad := context.WithTimeout(ctx, *soakDuration)
	defer stopLoad()
	profileAt, err := ParseFractions(*soakProfileAt)
	if err != nil {
		t.Fatalf("-soak-profile-at: %v", err)
	}
	var profile sync.WaitGroup
	var umu sync.Mutex
	profile.Add(1)
	go func() {
		defer profile.Done()
		for _, f := range profileAt {
			select {
			case <-time.After(time.Until(loadStart.Add(time.Duration(float64(*soakDuration) * f)))):
			case <-runCtx.Done():
				return
			}
			umu.Lock()
			uptimes = append(uptimes, uptime())
			umu.Unlock()
			path := filepath.Join(work, fmt.Sprintf("cpu-%02.0f.pprof", f*100))
			t.Log(pprofTop(bin, col.debugURL+"profile?seconds=30", path, "-cum", "-nodecount=40"))
		}
	}()
	t.Logf("load: %d Deployments x %d replicas (%d at once), 3 StatefulSets x 10, 2 DaemonSets, 4 Services, on %d kwok nodes, for %s",
		l.Deployments, l.Replicas, l.Concurrent, *soakNodes, *soakDuration)
	l.Run(runCtx, cs)
	loadEnd := time.Now()
	profile.Wait()
	umu.Lock()
	uptimes = append(uptimes, uptime())
	umu.Unlock()
	t.Logf("load stopped after %s, %d changes made; waiting for the rollouts to finish", loadEnd.Sub(loadStart).Round(time.Second), l.Actions.Load())

	// Quiet: every rollout done, no watch event for 15 s on either side, the projector caught
	// up.
	settle, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	if err := l.WaitAll(settle, cs); err != nil {
		t.Errorf("the load did not settle: %v", err)
	}
	waitQuiet(t, settle, col, ref, 15*time.Second)
	uptimes = append(uptimes, uptime())
	t.Log(pprofTop(bin, col.debugURL+"heap", filepath.Join(work, "heap.pprof"), "-sample_index=inuse_space", "-nodecount=15"))
	samples := sm.stop()

	// collect stops on SIGINT, cleanly.
	khistCPU, err := col.interrupt()
	if err != nil {
		t.Errorf("khist collect did not exit cleanly on SIGINT: %v\n%s", err, col.tail(30))
	}
	kubectlCPU := ref.stop()
	seen, kubectlEvents, restarts := ref.result()
	streamBytes, _ := DirBytes(filepath.Join(dataDir, "jetstream"))
	viewsBytes, _ := DirBytes(filepath.Join(dataDir, "views.db"))

	// What kubectl saw must be in the log.
	logged, perResource, logEvents, err := readLog(ctx, dataDir)
	if err != nil {
		t.Fatalf("read khist's log: %v", err)
	}
	missed := Missed(seen, logged)
	if !*soakKeep {
		os.RemoveAll(dataDir)
	}

	r := Result{
		Date: loadStart.UTC(), Duration: loadEnd.Sub(loadStart), Nodes: *soakNodes, Load: l,
		Samples: samples, LogEvents: logEvents, PerResource: perResource,
		KhistCPU: khistCPU, KubectlCPU: kubectlCPU, KubectlEvents: kubectlEvents, KubectlRestarts: restarts,
		Seen: len(seen), Missed: missed, StreamBytes: streamBytes, ViewsBytes: viewsBytes, Uptimes: uptimes,
		Command: "make bench-soak" + argsSuffix(),
	}
	if err := r.Write(*soakOut); err != nil {
		t.Fatal(err)
	}
	t.Logf("results in %s:\n%s", *soakOut, r.Markdown())
	if len(missed) > 0 {
		t.Errorf("%d of the %d versions the kubectl watches saw are not in khist's log", len(missed), len(seen))
	}
}

// argsSuffix is the command line's soak flags other than -soak, for the report.
func argsSuffix() string {
	var args []string
	flag.Visit(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, "soak-") && f.Name != "soak-out" && f.Name != "soak-work" {
			args = append(args, "-"+f.Name+"="+f.Value.String())
		}
	})
	if len(args) == 0 {
		return ""
	}
	return " ARGS='" + strings.Join(args, " ") + "'"
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// buildKhist builds cmd/khist into dir.
func buildKhist(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "khist")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/khist/khist/cmd/khist").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/khist: %v\n%s", err, out)
	}
	return bin
}

func uptime() string {
	out, err := exec.Command("uptime").Output()
	if err != nil {
		return fmt.Sprintf("load1 %.2f", loadAvg1())
	}
	return time.Now().UTC().Format("15:04:05Z") + " " + strings.TrimSpace(string(out))
}

// collectProc is `khist collect` as a child process: embedded NATS in its own data
// directory, the projector in-process (the default main job).
type collectProc struct {
	cmd                  *exec.Cmd
	metricsURL, debugURL string
	exited               chan struct{}
	waitErr              error

	mu    sync.Mutex
	lines []string // the last lines of its log
}

func startCollect(t *testing.T, bin string, c *cluster.Cluster, dataDir, logPath string) *collectProc {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "collect",
		"--kubeconfig", c.Kubeconfig,
		"--data-dir", dataDir,
		"--cluster", "soak",
		"--log-format", "json",
		"--metrics-addr", "127.0.0.1:0",
		"--debug-addr", "127.0.0.1:0",
	)
	cmd.Args = append(cmd.Args, strings.Fields(*soakCollect)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &collectProc{cmd: cmd, exited: make(chan struct{})}
	synced := make(chan struct{})
	addrs := make(chan [2]string, 4)
	go func() {
		defer close(p.exited)
		defer logFile.Close()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		var once sync.Once
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logFile, line)
			p.mu.Lock()
			p.lines = append(p.lines, line)
			if len(p.lines) > 200 {
				p.lines = p.lines[100:]
			}
			p.mu.Unlock()
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil {
				switch {
				case rec.Msg == "initial lists recorded":
					once.Do(func() { close(synced) })
				case strings.HasPrefix(rec.Msg, "serving"):
					addrs <- [2]string{rec.Msg, rec.Addr}
				}
			}
		}
		p.waitErr = cmd.Wait()
	}()
	timeout := time.After(3 * time.Minute)
	for p.metricsURL == "" || p.debugURL == "" {
		select {
		case a := <-addrs:
			switch a[0] {
			case "serving metrics":
				p.metricsURL = a[1]
			case "serving profiles":
				p.debugURL = a[1]
			}
		case <-p.exited:
			t.Fatalf("khist collect exited: %v\n%s", p.waitErr, p.tail(30))
		case <-timeout:
			t.Fatalf("khist collect did not serve its metrics within 3 minutes\n%s", p.tail(30))
		}
	}
	select {
	case <-synced:
	case <-p.exited:
		t.Fatalf("khist collect exited before its first lists: %v\n%s", p.waitErr, p.tail(30))
	case <-timeout:
		t.Fatalf("khist collect did not record its first lists within 3 minutes\n%s", p.tail(30))
	}
	return p
}

func (p *collectProc) tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines[max(0, len(p.lines)-n):], "\n")
}

// interrupt sends SIGINT and waits for the exit; it returns the process's CPU time
// (getrusage) and an error unless it exited with status 0 within 2 minutes.
func (p *collectProc) interrupt() (time.Duration, error) {
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(2 * time.Minute):
		p.kill()
		return 0, fmt.Errorf("still running 2 minutes after SIGINT: killed")
	}
	st := p.cmd.ProcessState
	return st.UserTime() + st.SystemTime(), p.waitErr
}

func (p *collectProc) kill() {
	select {
	case <-p.exited:
	default:
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// collectMetrics are the figures sampled from collect's metrics endpoint.
type collectMetrics struct {
	events, objects, folded int64   // khist_collector_events_total, khist_collector_objects, khist_projector_events_folded_total
	lag                     float64 // khist_projector_lag_seconds
}

func (p *collectProc) metrics() (collectMetrics, error) {
	text, err := httpGet(p.metricsURL)
	if err != nil {
		return collectMetrics{}, err
	}
	e, _ := MetricSum(text, "khist_collector_events_total")
	o, _ := MetricSum(text, "khist_collector_objects")
	f, _ := MetricSum(text, "khist_projector_events_folded_total")
	l, _ := MetricSum(text, "khist_projector_lag_seconds")
	return collectMetrics{int64(e), int64(o), int64(f), l}, nil
}

// ready is /readyz: the collector has listed and the projector has caught up with the log.
func (p *collectProc) ready() bool {
	u := strings.TrimSuffix(p.metricsURL, "/metrics") + "/readyz"
	_, err := httpGet(u)
	return err == nil
}

func httpGet(url string) (string, error) {
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), nil
}

// watches are the reference: one `kubectl get -A -w --output-watch-events -o json` per
// resource, restarted when it ends (the API server closes a watch after 30 to 60 minutes).
type watches struct {
	t        *testing.T
	stopping atomic.Bool
	wg       sync.WaitGroup
	list     []*watch

	mu   sync.Mutex
	seen map[Key]Seen
}

type watch struct {
	resource  string
	mu        sync.Mutex
	cmd       *exec.Cmd
	exitedCPU time.Duration
	events    atomic.Int64
	restarts  int
}

func startWatches(t *testing.T, c *cluster.Cluster, resources []string) *watches {
	ws := &watches{t: t, seen: map[Key]Seen{}}
	for _, r := range resources {
		w := &watch{resource: r}
		ws.list = append(ws.list, w)
		started := make(chan struct{})
		ws.wg.Add(1)
		go func() {
			defer ws.wg.Done()
			for first := true; ; first = false {
				cmd := exec.Command(filepath.Join(c.BinDir, "kubectl"), "--kubeconfig="+c.Kubeconfig,
					"get", r, "-A", "-w", "--output-watch-events", "-o", "json")
				cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
				cmd.Stderr = io.Discard // Endpoints' deprecation warning
				out, err := cmd.StdoutPipe()
				if err == nil {
					err = cmd.Start()
				}
				if err != nil {
					t.Errorf("kubectl get %s -w: %v", r, err)
					if first {
						close(started)
					}
					return
				}
				w.mu.Lock()
				w.cmd = cmd
				w.mu.Unlock()
				if first {
					close(started)
				}
				rerr := ReadWatch(out, r, func(s Seen) {
					w.events.Add(1)
					ws.mu.Lock()
					ws.seen[s.Key] = s
					ws.mu.Unlock()
				})
				cmd.Wait()
				w.mu.Lock()
				w.exitedCPU += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
				w.cmd = nil
				w.mu.Unlock()
				if ws.stopping.Load() {
					return
				}
				w.restarts++
				t.Logf("kubectl get %s -w ended (%v, %v); restarted", r, rerr, cmd.ProcessState)
			}
		}()
		<-started
	}
	return ws
}

// cpu is the CPU time of every kubectl watch so far, and the events they printed.
func (ws *watches) cpu() (time.Duration, int64) {
	var cpu time.Duration
	var events int64
	for _, w := range ws.list {
		w.mu.Lock()
		cpu += w.exitedCPU
		if w.cmd != nil {
			if st, err := ReadProc(w.cmd.Process.Pid); err == nil {
				cpu += st.CPU
			}
		}
		w.mu.Unlock()
		events += w.events.Load()
	}
	return cpu, events
}

// stop ends the watches and returns their CPU time (getrusage of each process).
func (ws *watches) stop() time.Duration {
	ws.stopping.Store(true)
	for _, w := range ws.list {
		w.mu.Lock()
		if w.cmd != nil {
			w.cmd.Process.Signal(syscall.SIGTERM)
		}
		w.mu.Unlock()
	}
	ws.wg.Wait()
	cpu, _ := ws.cpu()
	return cpu
}

func (ws *watches) kill() {
	ws.stopping.Store(true)
	for _, w := range ws.list {
		w.mu.Lock()
		if w.cmd != nil {
			w.cmd.Process.Kill()
		}
		w.mu.Unlock()
	}
	ws.wg.Wait()
}

// result returns the versions seen, the events printed and the restarts.
func (ws *watches) result() (map[Key]Seen, int64, int) {
	_, events := ws.cpu()
	restarts := 0
	for _, w := range ws.list {
		restarts += w.restarts
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.seen, events, restarts
}

// sampler samples khist and the watches every sampleEvery.
type sampler struct {
	done    chan struct{}
	stopped chan struct{}
	once    sync.Once

	mu      sync.Mutex
	samples []Sample
}

func startSampler(col *collectProc, ref *watches, dataDir string) *sampler {
	s := &sampler{done: make(chan struct{}), stopped: make(chan struct{})}
	start := time.Now()
	take := func() {
		ps, err := ReadProc(col.cmd.Process.Pid)
		if err != nil {
			return
		}
		m, err := col.metrics()
		if err != nil {
			return
		}
		disk, _ := DirBytes(dataDir)
		kcpu, kev := ref.cpu()
		s.mu.Lock()
		s.samples = append(s.samples, Sample{
			Elapsed: time.Since(start), RSS: ps.RSS, RSSFile: ps.RSSFile, HWM: ps.HWM, CPU: ps.CPU, Events: m.events, Objects: m.objects,
			Disk: disk, KubectlCPU: kcpu, KubectlEvents: kev, Load1: loadAvg1(), Folded: m.folded, Lag: m.lag,
		})
		s.mu.Unlock()
	}
	go func() {
		defer close(s.stopped)
		tick := time.NewTicker(sampleEvery)
		defer tick.Stop()
		take()
		for {
			select {
			case <-tick.C:
				take()
			case <-s.done:
				take()
				return
			}
		}
	}()
	return s
}

// stop takes a last sample and returns them all.
func (s *sampler) stop() []Sample {
	s.once.Do(func() { close(s.done) })
	<-s.stopped
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples
}

// waitQuiet waits until neither side has seen an event for d and the projector has caught up
// (at most until ctx ends).
func waitQuiet(t *testing.T, ctx context.Context, col *collectProc, ref *watches, d time.Duration) {
	var lastK, lastE int64 = -1, -1
	since := time.Now()
	for {
		_, k := ref.cpu()
		m, _ := col.metrics()
		e := m.events
		if k != lastK || e != lastE || !col.ready() {
			lastK, lastE, since = k, e, time.Now()
		} else if time.Since(since) >= d {
			return
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			t.Errorf("not quiet: kubectl still sees events or khist still records (%d, %d)", k, e)
			return
		}
	}
}

// readLog reads khist's log from its data directory (collect has stopped): the keys of every
// object's version, the records per resource and the number of versions.
func readLog(ctx context.Context, dataDir string) (map[Key]bool, map[string]int, int64, error) {
	l, err := eventlog.Open(ctx, eventlog.Options{DataDir: dataDir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, nil, 0, err
	}
	defer l.Close()
	logged := map[Key]bool{}
	per := map[string]int{}
	var n int64
	rctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	err = l.Read(rctx, eventlog.ReadOptions{Batch: 2000}, func(b []*eventlog.Envelope) error {
		for _, e := range b {
			if !e.Type.IsObject() {
				// The collector's own records (discovery, watch progress): listed, not counted
				// as events recorded.
				per["("+strings.ToLower(string(e.Type))+" records)"]++
				continue
			}
			logged[LogKey(e)] = true
			per[e.Resource]++
			n++
		}
		return nil
	})
	return logged, per, n, err
}

// pprofTop fetches a profile from url into path and returns `go tool pprof -top` of it.
func pprofTop(bin, url, path string, args ...string) string {
	client := http.Client{Timeout: 2 * time.Minute}
	resp, err := client.Get(url)
	if err != nil {
		return fmt.Sprintf("profile %s: %v", url, err)
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err.Error()
	}
	_, err = io.Copy(f, resp.Body)
	f.Close()
	if err != nil {
		return fmt.Sprintf("profile %s: %v", url, err)
	}
	out, err := exec.Command("go", append(append([]string{"tool", "pprof", "-top"}, args...), bin, path)...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("go tool pprof %s: %v\n%s", path, err, out)
	}
	return fmt.Sprintf("%s (%s):\n%s", filepath.Base(path), url, out)
}
