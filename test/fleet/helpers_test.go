package fleet

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/test/cluster"
	"github.com/khist/khist/test/internal/rawwatch"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// version is one object version as the test's own watch (rawwatch) saw it.
type version = rawwatch.Version

func startRawWatch(t *testing.T, cs kubernetes.Interface, ns string) *rawwatch.Watch {
	t.Helper()
	return rawwatch.Start(t, cs, ns)
}

// logTracker reads the log over and over (every 300 ms) and notes when each version of a
// namespace first appeared in it: the arrival times give how long a version took to be stored.
type logTracker struct {
	mu      sync.Mutex
	arrived map[string]time.Time // version key -> first read
	counts  map[string]int       // version key -> times in the log (from the last full read)
	envs    []*eventlog.Envelope // the last full read of the namespace
	reads   int
}

func startLogTracker(t *testing.T, url, ns string) *logTracker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	lt := &logTracker{arrived: map[string]time.Time{}, counts: map[string]int{}}
	go func() {
		defer close(done)
		var l *eventlog.Log
		defer func() {
			if l != nil {
				l.Close()
			}
		}()
		for ctx.Err() == nil {
			if l == nil {
				octx, ocancel := context.WithTimeout(ctx, 5*time.Second)
				l, _ = eventlog.Open(octx, eventlog.Options{URL: url, Name: "khist-fleet-tracker"})
				ocancel()
			}
			if l != nil {
				lt.read(ctx, l, ns)
			}
			select {
			case <-ctx.Done():
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
	return lt
}

func (lt *logTracker) read(ctx context.Context, l *eventlog.Log, ns string) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var envs []*eventlog.Envelope
	err := l.Read(rctx, eventlog.ReadOptions{}, func(b []*eventlog.Envelope) error {
		for _, e := range b {
			if e.Namespace == ns && e.Type.IsObject() {
				e.Object = nil
				envs = append(envs, e)
			}
		}
		return nil
	})
	if err != nil {
		return // the log is unavailable during the fault: try again
	}
	now := time.Now()
	counts := map[string]int{}
	for _, e := range envs {
		k := e.UID + "/" + e.ResourceVersion
		if e.Type == eventlog.DeletedUnobserved {
			k += "/gone"
		}
		counts[k]++
	}
	lt.mu.Lock()
	defer lt.mu.Unlock()
	for k := range counts {
		if _, ok := lt.arrived[k]; !ok {
			lt.arrived[k] = now
		}
	}
	lt.counts, lt.envs = counts, envs
	lt.reads++
}

// check compares the log with the raw watch's versions: lost are versions the API server
// served that the log lacks, dups those it holds more than once; lag is the longest time a
// version of want took from the raw watch to a read of the log.
func (lt *logTracker) check(want []version) (lost, dups []string, lag time.Duration) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	wanted := map[string]bool{}
	for _, v := range want {
		wanted[v.Key()] = true
		if lt.counts[v.Key()] == 0 {
			lost = append(lost, v.String())
			continue
		}
		if d := lt.arrived[v.Key()].Sub(v.Seen); d > lag {
			lag = d
		}
	}
	for k, n := range lt.counts {
		if n > 1 {
			dups = append(dups, fmt.Sprintf("%s x%d", k, n))
		}
	}
	return lost, dups, lag
}

// waitHas waits until the log holds every version of want, and returns check's figures.
func (lt *logTracker) waitHas(ctx context.Context, want []version, timeout time.Duration) (lost, dups []string, lag time.Duration) {
	deadline := time.Now().Add(timeout)
	for {
		lost, dups, lag = lt.check(want)
		if len(lost) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return lost, dups, lag
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// proc is a khist command running as a child process, logging JSON to stderr.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	exited chan error

	mu         sync.Mutex
	log        []string
	metricsURL string
	msgs       map[string]time.Time // first time each message was logged
}

// startProc runs khist with args; it is killed when the test ends if still running.
func startProc(t *testing.T, name, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, name: name, cmd: cmd, exited: make(chan error, 1), msgs: map[string]time.Time{}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			_ = json.Unmarshal([]byte(line), &rec)
			p.mu.Lock()
			p.log = append(p.log, line)
			if rec.Msg != "" {
				if _, ok := p.msgs[rec.Msg]; !ok {
					p.msgs[rec.Msg] = time.Now()
				}
				if rec.Msg == "serving metrics" {
					p.metricsURL = rec.Addr
				}
			}
			p.mu.Unlock()
		}
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.exited
			p.exited <- nil
		}
		if t.Failed() {
			t.Logf("%s's log (last lines):\n%s", p.name, p.tail(60))
		}
	})
	return p
}

func (p *proc) tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.log
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// logged returns when msg was first logged (zero if not yet).
func (p *proc) logged(msg string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.msgs[msg]
}

// waitLogged waits until msg is logged, failing the test if the process exits or timeout passes.
func (p *proc) waitLogged(msg string, timeout time.Duration) time.Time {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if at := p.logged(msg); !at.IsZero() {
			return at
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			p.t.Fatalf("%s exited (%v) before logging %q", p.name, err, msg)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not log %q within %s", p.name, msg, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// running reports whether the process is still running.
func (p *proc) running() bool {
	select {
	case err := <-p.exited:
		p.exited <- err
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to end.
func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	err := <-p.exited
	p.exited <- err
}

// stop sends SIGTERM and returns the exit error.
func (p *proc) stop() error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		p.exited <- err
		return err
	case <-time.After(time.Minute):
		p.cmd.Process.Kill()
		return fmt.Errorf("%s did not stop within a minute of SIGTERM", p.name)
	}
}

// metric returns the sum of a metric's samples on the process's metrics endpoint.
func (p *proc) metric(ctx context.Context, name string) (float64, error) {
	p.mu.Lock()
	url := p.metricsURL
	p.mu.Unlock()
	if url == "" {
		return 0, fmt.Errorf("%s serves no metrics", p.name)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var sum float64
	found := false
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q", name, line)
		}
		sum += v
		found = true
	}
	if !found {
		return 0, fmt.Errorf("no metric %s", name)
	}
	return sum, nil
}

// khist runs a khist command to its end and returns its standard output.
func khist(ctx context.Context, t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("khist %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// createNamespace creates a namespace named prefix-N for one test and returns its name.
func createNamespace(t *testing.T, c *cluster.Cluster, prefix string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%100000)
	if _, err := c.Kubectl(t.Context(), "create", "namespace", name); err != nil {
		t.Fatal(err)
	}
	return name
}

// webDeployment is the Deployment the tests roll: replicas pods, one surged at a time, none
// unavailable, each Ready after ready.
func webDeployment(ns string, replicas int32, ready time.Duration) []byte {
	one, zero := intstr.FromInt32(1), intstr.FromInt32(0)
	d := cluster.Deployment(cluster.DeploymentOptions{
		Namespace:      ns,
		Name:           "web",
		Replicas:       replicas,
		Image:          "nginx:1.0",
		MaxSurge:       &one,
		MaxUnavailable: &zero,
		Labels:         map[string]string{"app": "web"},
		PodAnnotations: cluster.PodTiming{Ready: ready, Delete: 300 * time.Millisecond}.Annotations(),
	})
	b, err := json.Marshal(d)
	if err != nil {
		panic(err)
	}
	return b
}

// rollTo starts a rolling update of deployment/web to image and returns once its new
// ReplicaSet has created a pod (the rollout is under way).
func rollTo(ctx context.Context, t *testing.T, c *cluster.Cluster, cs kubernetes.Interface, ns, image string) {
	t.Helper()
	if _, err := c.Kubectl(ctx, "-n", ns, "set", "image", "deployment/web", "*="+image); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err == nil {
			for _, p := range pods.Items {
				if len(p.Spec.Containers) > 0 && p.Spec.Containers[0].Image == image {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no pod of %s within a minute", image)
}

// rolloutDone waits for deployment/web's rollout to finish.
func rolloutDone(ctx context.Context, t *testing.T, c *cluster.Cluster, ns string) {
	t.Helper()
	if out, err := c.Kubectl(ctx, "-n", ns, "rollout", "status", "deployment/web", "--timeout=3m"); err != nil {
		t.Fatalf("rollout: %v\n%s", err, out)
	}
}
