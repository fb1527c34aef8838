package e2e

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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/khist/khist/test/internal/khistbin"
)

// collectProc is `khist collect` running as a child process.
type collectProc struct {
	t          *testing.T
	cmd        *exec.Cmd
	synced     chan struct{}
	exited     chan error
	metricsURL chan string

	mu    sync.Mutex
	lines []string
}

// startCollect runs `khist collect` on dataDir and waits until its initial lists are recorded.
func startCollect(t *testing.T, bin string, c *cluster.Cluster, dataDir string, extra ...string) *collectProc {
	t.Helper()
	args := append([]string{"collect",
		"--kubeconfig", c.Kubeconfig,
		"--data-dir", dataDir,
		"--cluster", "e2e",
		"--no-project",
		"--log-format", "json",
		"--metrics-addr", "127.0.0.1:0",
		"--discovery-interval", "5s",
	}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &collectProc{t: t, cmd: cmd, synced: make(chan struct{}), exited: make(chan error, 1), metricsURL: make(chan string, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.lines = append(p.lines, line)
			p.mu.Unlock()
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil {
				switch rec.Msg {
				case "initial lists recorded":
					once.Do(func() { close(p.synced) })
				case "serving metrics":
					p.metricsURL <- rec.Addr
				}
			}
		}
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	select {
	case <-p.synced:
	case err := <-p.exited:
		p.exited <- err
		t.Fatalf("khist collect exited before its first sync: %v\n%s", err, p.log())
	case <-time.After(2 * time.Minute):
		t.Fatalf("khist collect did not sync within 2 minutes\n%s", p.log())
	}
	return p
}

func (p *collectProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// kill sends SIGKILL and waits for the process to end.
func (p *collectProc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// stop sends SIGTERM and returns the exit error.
func (p *collectProc) stop() error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		return err
	case <-time.After(time.Minute):
		p.cmd.Process.Kill()
		return fmt.Errorf("khist collect did not stop within a minute of SIGTERM")
	}
}

// currentRV returns the cluster's current resourceVersion.
func currentRV(ctx context.Context, t *testing.T) uint64 {
	t.Helper()
	cs, err := testCluster.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	l, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.ParseUint(l.ResourceVersion, 10, 64)
	return n
}

// A collector killed with SIGKILL in the middle of a rollout, while pods are deleted, and
// restarted: it resumes its watches from the progress the log holds, so that every version the
// API server served is in the log exactly once, including those that came and went while it
// was down (the deletions then are DELETED with the pods' final state, not found missing by a
// relist), and the rest of the rollout is there.
func TestCollectorKilledMidRollout(t *testing.T) {
	c, cs := needCluster(t)
	bin := khistbin.Build(t)
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	dataDir := t.TempDir()
	ns := createNamespace(t, c, "crash")
	raw := startRawWatch(t, cs, ns)
	deploy := "deployment/nginx-deployment"

	p1 := startCollect(t, bin, c, dataDir)
	// The real command serves its metrics.
	select {
	case url := <-p1.metricsURL:
		body, err := httpGet(ctx, url)
		if err != nil || !strings.Contains(body, "khist_collector_events_total") || !strings.Contains(body, "khist_collector_relists_total") {
			t.Errorf("metrics at %s: %v\n%.500s", url, err, body)
		}
	case <-time.After(10 * time.Second):
		t.Error("khist collect did not log its metrics address")
	}
	if err := c.Apply(ctx, nginxDeployment(ns, cluster.PodTiming{Ready: 3 * time.Second, Delete: 500 * time.Millisecond})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Kubectl(ctx, "-n", ns, "rollout", "status", deploy, "--timeout=2m"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Kubectl(ctx, "-n", ns, "set", "image", deploy, "nginx=nginx:1.9.1"); err != nil {
		t.Fatal(err)
	}
	// Mid-rollout: once the new ReplicaSet's first pod exists.
	if err := eventually(ctx, time.Minute, func() error {
		rss := raw.Versions("ReplicaSet")
		names := map[string]bool{}
		for _, v := range rss {
			names[v.Name] = true
		}
		if len(names) < 2 {
			return fmt.Errorf("no second ReplicaSet yet")
		}
		newRS := rss[len(rss)-1].Name
		for _, v := range raw.Versions("Pod") {
			if strings.HasPrefix(v.Name, newRS+"-") {
				return nil
			}
		}
		return fmt.Errorf("no pod of %s yet", newRS)
	}); err != nil {
		t.Fatal(err)
	}
	p1.kill()
	killedRV := currentRV(ctx, t)
	t.Logf("collector killed at rv %d", killedRV)

	// While it is down: hold the rollout and delete two pods (their ReplicaSets replace them).
	if _, err := c.Kubectl(ctx, "-n", ns, "rollout", "pause", deploy); err != nil {
		t.Fatal(err)
	}
	pods, err := podNames(ctx, cs, ns)
	if err != nil || len(pods) < 2 {
		t.Fatalf("pods %v: %v", pods, err)
	}
	deleted := pods[:2]
	deletedUIDs := map[string]string{}
	for _, v := range raw.Versions("Pod") {
		for _, d := range deleted {
			if v.Name == d {
				deletedUIDs[v.UID] = d
			}
		}
	}
	if _, err := c.Kubectl(ctx, append([]string{"-n", ns, "delete", "pod", "--wait=true", "--timeout=1m"}, deleted...)...); err != nil {
		t.Fatal(err)
	}
	raw.WaitQuiet(t, ctx, 5*time.Second)

	restartRV := currentRV(ctx, t)
	restarted := time.Now()
	p2 := startCollect(t, bin, c, dataDir)
	resumeRV := currentRV(ctx, t)
	if _, err := c.Kubectl(ctx, "-n", ns, "rollout", "resume", deploy); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Kubectl(ctx, "-n", ns, "rollout", "status", deploy, "--timeout=3m"); err != nil {
		t.Fatal(err)
	}
	raw.WaitQuiet(t, ctx, 5*time.Second)

	// Read the log through the running collector's server.
	l, err := eventlog.Open(ctx, eventlog.Options{DataDir: dataDir, Name: "khist-e2e-reader"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var envs []*eventlog.Envelope
	err = eventually(ctx, 30*time.Second, func() error {
		var err error
		if envs, err = ReadAll(ctx, l); err != nil {
			return err
		}
		inLog := map[string]bool{}
		for _, e := range envs {
			inLog[e.UID+"/"+e.ResourceVersion] = true
		}
		var lost []string
		for _, kind := range []string{"Pod", "ReplicaSet"} {
			for _, v := range raw.Versions(kind) {
				if !inLog[v.UID+"/"+v.RV] {
					lost = append(lost, v.String())
				}
			}
		}
		if len(lost) > 0 {
			return fmt.Errorf("%d versions the API server served are not in the log: %s", len(lost), strings.Join(lost, "; "))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// No version twice.
	seen := map[string]*eventlog.Envelope{}
	for _, e := range envs {
		key := e.UID + "/" + e.ResourceVersion
		if e.Type == eventlog.DeletedUnobserved {
			key += "/gone"
		}
		if prev := seen[key]; prev != nil {
			t.Errorf("version recorded twice: %s (seq %d) and %s (seq %d)", prev, prev.Seq, e, e.Seq)
		}
		seen[key] = e
	}
	// The deletions made while it was down, replayed by the API server: observed, with the
	// pods' final state.
	for uid, name := range deletedUIDs {
		var found []*eventlog.Envelope
		for _, e := range envs {
			if e.UID == uid && e.Type.IsDelete() {
				found = append(found, e)
			}
		}
		if len(found) != 1 || found[0].Type != eventlog.Deleted {
			t.Errorf("pod %s deleted while the collector was down: deletions in the log %v, want one DELETED", name, found)
			continue
		}
		m, err := eventlog.ParseMeta(found[0].Object)
		if err != nil || m.Metadata.UID != uid || m.Metadata.Name != name || len(m.Metadata.Labels) == 0 {
			t.Errorf("DELETED of %s has no final state: %s", name, found[0].Object)
		}
	}
	// The versions served while it was down.
	during, recovered := 0, 0
	for _, kind := range []string{"Pod", "ReplicaSet"} {
		for _, v := range raw.Versions(kind) {
			if rv, _ := strconv.ParseUint(v.RV, 10, 64); rv > killedRV && rv <= restartRV {
				during++
				if seen[v.UID+"/"+v.RV] != nil {
					recovered++
				}
			}
		}
	}
	if during == 0 {
		t.Error("no version while the collector was down: the test did not make a gap")
	}
	// The state of every object when the collector came back is in the log.
	lastBefore := map[string]version{}
	for _, kind := range []string{"Pod", "ReplicaSet"} {
		for _, v := range raw.Versions(kind) {
			if rv, _ := strconv.ParseUint(v.RV, 10, 64); rv <= resumeRV {
				lastBefore[v.UID] = v
			}
		}
	}
	for _, v := range lastBefore {
		if v.Type == "DELETED" {
			continue
		}
		if seen[v.UID+"/"+v.RV] == nil {
			t.Errorf("%s, the state when the collector restarted, is not in the log", v)
		}
	}
	var resync, gone int
	for _, e := range envs {
		if e.Namespace != ns || e.Observed.Before(restarted) {
			continue
		}
		if e.Type == eventlog.Resync {
			resync++
		}
		if e.Type == eventlog.DeletedUnobserved {
			gone++
		}
	}
	t.Logf("%d envelopes; in %s: %d versions served while the collector was down, %d of them in the log; %d RESYNC, %d DELETED_UNOBSERVED after the restart", len(envs), ns, during, recovered, resync, gone)
	if resync != 0 || gone != 0 {
		t.Errorf("the restarted collector relisted the namespace's resources instead of resuming their watches")
	}
	if err := p2.stop(); err != nil {
		t.Errorf("khist collect after SIGTERM: %v\n%s", err, p2.log())
	}
	if t.Failed() {
		t.Logf("first collector's log:\n%s\nsecond collector's log:\n%s", p1.log(), p2.log())
	}
}

func httpGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// A collector whose log holds a resume point the API server's watch history no longer reaches
// (resourceVersion 1: older than any watch cache) falls back to a relist of that resource, and
// says so: a warning, the relist reason resume-gone, and the objects the relist recorded
// counted as unobserved changes.
func TestCollectorResumeTooOld(t *testing.T) {
	c, _ := needCluster(t)
	bin := khistbin.Build(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	dataDir := t.TempDir()
	ns := createNamespace(t, c, "resume")
	if _, err := c.Kubectl(ctx, "-n", ns, "create", "configmap", "cm-1", "--from-literal=v=1"); err != nil {
		t.Fatal(err)
	}
	l, err := eventlog.Open(ctx, eventlog.Options{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	p, err := l.NewPublisher(eventlog.PublisherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(ctx, eventlog.NewProgress("e2e", "", "configmaps", ns, "1", "collector")); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	l.Close()

	col := startCollect(t, bin, c, dataDir, "--include", "configmaps", "--include-namespace", ns)
	defer col.stop()
	var url string
	select {
	case url = <-col.metricsURL:
	case <-time.After(10 * time.Second):
		t.Fatal("khist collect did not log its metrics address")
	}
	if err := eventually(ctx, 30*time.Second, func() error {
		body, err := httpGet(ctx, url)
		if err != nil {
			return err
		}
		if want := `khist_collector_relists_total{group="",reason="resume-gone",resource="configmaps"} 1`; !strings.Contains(body, want) {
			return fmt.Errorf("metrics lack %s", want)
		}
		// cm-1, and the namespace's kube-root-ca.crt when the list found it.
		prefix := `khist_collector_unobserved_changes_total{group="",resource="configmaps"} `
		for _, line := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(line, prefix); ok {
				if n, _ := strconv.ParseFloat(v, 64); n >= 1 {
					return nil
				}
			}
		}
		return fmt.Errorf("metrics lack %s with cm-1 counted", prefix)
	}); err != nil {
		t.Fatalf("%v\n%s", err, col.log())
	}
	if !strings.Contains(col.log(), "cannot resume the watch from the log's progress") {
		t.Errorf("no warning that the watch could not resume:\n%s", col.log())
	}
}
