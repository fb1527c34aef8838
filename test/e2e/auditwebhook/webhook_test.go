package auditwebhook

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/test/cluster"

	"github.com/khist/khist/test/internal/khistbin"
)

// retryBackoff is the API server's first wait before it sends a failed batch again: it tries
// 5 times, each wait 1.5 times the last (2, 3, 4.5, 6.75 s: about 16 s in all), then drops the
// batch and counts its events in apiserver_audit_error_total{plugin="webhook"}.
const retryBackoff = 2 * time.Second

// Two people, alice (group dev) and bob (group ops), each change the image of one
// Deployment, and the admin changes it as carol by impersonation: khist history names each
// for their revision, and khist timeline for each change, with their groups and user agent.
// The webhook then goes down for a few seconds (the API server's connections refused, khist
// collect still watching) while alice scales and bob annotates: the API server sends those
// batches again, and every write request of its own audit log is in khist's log. Down for
// longer than the API server retries, a change (bob's label) is lost: the API server counts it
// as an audit error, and khist names the field manager for it, not a person. Last, khist
// collect itself is restarted: the batches sent while it was down are stored too.
func TestAuditWebhookNamesUsers(t *testing.T) {
	c := testCluster
	if c == nil {
		t.Skip("no test cluster with -short")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	bin := khistbin.Build(t)
	dataDir := t.TempDir()

	p := startCollect(t, bin, c, dataDir)
	// The API server reaches khist through a TCP proxy on hookAddr: closing it is a webhook
	// outage while the collector keeps watching (TLS is end to end).
	px := startProxy(t, hookAddr, p.hookAddr)
	ns := "webhook-" + strconv.FormatInt(time.Now().UnixNano()%1e6, 10)
	kubectl := func(kubeconfig string, args ...string) {
		t.Helper()
		if kubeconfig != "" {
			args = append([]string{"--kubeconfig=" + kubeconfig}, args...)
		}
		if _, err := c.Kubectl(ctx, args...); err != nil {
			t.Fatal(err)
		}
	}
	kubectl("", "create", "namespace", ns)
	kubectl("", "-n", ns, "create", "rolebinding", "editors", "--clusterrole=edit", "--user=alice", "--user=bob", "--group=dev")
	alice, err := c.UserKubeconfig("alice", "alice", "dev")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := c.UserKubeconfig("bob", "bob", "ops")
	if err != nil {
		t.Fatal(err)
	}
	deploy := "deployment/web"
	rollout := func() { kubectl("", "-n", ns, "rollout", "status", deploy, "--timeout=2m") }
	if err := c.Apply(ctx, cluster.DeploymentManifest(cluster.DeploymentOptions{Namespace: ns, Name: "web", Replicas: 2,
		PodAnnotations: cluster.PodTiming{Ready: time.Second}.Annotations()})); err != nil {
		t.Fatal(err)
	}
	rollout()
	kubectl(alice, "-n", ns, "set", "image", deploy, "*=nginx:1.26")
	rollout()
	kubectl(bob, "-n", ns, "set", "image", deploy, "*=nginx:1.27")
	rollout()
	kubectl("", "-n", ns, "--as=carol", "--as-group=dev", "set", "image", deploy, "*=nginx:1.28")
	rollout()
	// A deletion writes no managedFields: its request is joined by its verb.
	kubectl("", "-n", ns, "create", "configmap", "settings", "--from-literal=mode=blue")
	kubectl(alice, "-n", ns, "delete", "configmap", "settings")

	// A short outage: the API server's retries outlast it.
	px.down()
	kubectl(alice, "-n", ns, "scale", deploy, "--replicas=3")
	kubectl(bob, "-n", ns, "annotate", deploy, "team=ops")
	time.Sleep(3 * time.Second)
	px.up(t)
	rollout()
	// Every write of the API server's own audit log in the namespace reaches khist's log.
	want := auditLogWrites(t, c, ns)
	var got map[string]*eventlog.AuditRecord
	if err := eventually(ctx, time.Minute, func() error {
		got = logRecords(ctx, t, dataDir, ns)
		for id, w := range want {
			if got[id] == nil {
				return fmt.Errorf("%s %s %s by %s (audit ID %s) is not in khist's log", w.Verb, w.Resource, w.Name, w.User, id)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	users := map[string]bool{}
	for _, r := range got {
		users[r.User] = true
		if r.ResourceVersion != "" {
			t.Errorf("record %s has a resourceVersion at Metadata level: %+v", r.AuditID, r)
		}
	}
	for _, u := range []string{"alice", "bob", "carol", "kubernetes-admin"} {
		if !users[u] {
			t.Errorf("no record of %s's requests; records: %v", u, users)
		}
	}
	t.Logf("%d write requests of the audit log are in khist's log", len(want))

	// A long outage: the API server gives up on the batch of bob's label.
	errorsBefore := apiserverAuditErrors(ctx, t, c)
	px.down()
	kubectl(bob, "-n", ns, "label", deploy, "tier=web")
	time.Sleep(30 * time.Second)
	after := apiserverAuditErrors(ctx, t, c)
	if after <= errorsBefore {
		t.Errorf("apiserver_audit_error_total{plugin=\"webhook\"} = %v after a 30 s outage, %v before: the dropped batches are not counted", after, errorsBefore)
	}
	t.Logf("apiserver_audit_error_total{plugin=\"webhook\"}: %v before the long outage, %v after", errorsBefore, after)
	px.up(t)

	// khist collect restarted: what the API server sent meanwhile is stored once it is back.
	if err := p.stop(); err != nil {
		t.Fatalf("khist collect: %v\n%s", err, p.log())
	}
	kubectl(alice, "-n", ns, "annotate", deploy, "reviewed-by=alice")
	p = startCollect(t, bin, c, dataDir)
	px.retarget(p.hookAddr)
	if err := eventually(ctx, time.Minute, func() error {
		for id, w := range auditLogWrites(t, c, ns) {
			if w.User == "alice" && logRecords(ctx, t, dataDir, ns)[id] == nil {
				return fmt.Errorf("alice's %s while khist collect restarted is not in khist's log", w.Verb)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// history: each revision by its author.
	var history string
	if err := eventually(ctx, time.Minute, func() error {
		history = khist(ctx, t, bin, dataDir, "history", deploy, "-n", ns)
		for _, w := range []string{"kubernetes-admin", "alice", "bob", "carol (impersonated by kubernetes-admin)"} {
			if !strings.Contains(history, w) {
				return fmt.Errorf("history does not name %q", w)
			}
		}
		return nil
	}); err != nil {
		// What the collector said (relists, retries) and the Deployment's changes as recorded,
		// to tell a missed version from a wrong join.
		t.Logf("khist collect's log:\n%s", p.log())
		t.Logf("timeline:\n%s", khist(ctx, t, bin, dataDir, "timeline", deploy, "-n", ns, "--since", "1h"))
		t.Fatalf("%v\n%s", err, history)
	}
	t.Logf("khist history %s -n %s:\n%s", deploy, ns, history)
	byRevision := map[string]string{}
	for _, line := range strings.Split(history, "\n")[1:] {
		if f := strings.Fields(line); len(f) > 2 {
			byRevision[f[0]] = line
		}
	}
	for rev, who := range map[string]string{"1": "kubernetes-admin", "2": "alice", "3": "bob", "4": "carol"} {
		if !strings.Contains(byRevision[rev], who) {
			t.Errorf("history revision %s does not name %s: %q", rev, who, byRevision[rev])
		}
	}

	// timeline: each change of the Deployment by its author, with groups and user agent.
	type entry struct {
		Type    string `json:"type"`
		Summary string `json:"summary"`
		Actor   string `json:"actor"`
		Who     *struct {
			User, Impersonator, UserAgent, Manager string
			Groups                                 []string
		} `json:"who"`
	}
	var entries []entry
	var raw string
	if err := eventually(ctx, time.Minute, func() error {
		raw = khist(ctx, t, bin, dataDir, "timeline", "-n", ns, "--since", "1h", "-o", "json")
		var tl struct {
			Groups []struct {
				Lanes []struct {
					Object  struct{ Kind, Name string }
					Entries []entry
				}
			}
		}
		if err := json.Unmarshal([]byte(raw), &tl); err != nil {
			return err
		}
		entries = nil
		for _, g := range tl.Groups {
			for _, l := range g.Lanes {
				switch {
				case l.Object.Kind == "Deployment" && l.Object.Name == "web":
					entries = append(entries, l.Entries...)
				case l.Object.Kind == "ConfigMap" && l.Object.Name == "settings":
					for _, e := range l.Entries {
						if e.Type == "DELETED" {
							e.Summary = "configmap settings deleted"
							entries = append(entries, e)
						}
					}
				}
			}
		}
		for _, e := range entries {
			if strings.Contains(e.Summary, "tier") {
				return nil
			}
		}
		return fmt.Errorf("no timeline entry of the label yet")
	}); err != nil {
		t.Fatalf("%v\n%.3000s", err, raw)
	}
	found := map[string]bool{}
	for _, e := range entries {
		t.Logf("timeline: %-60.60s %s", e.Summary, e.Actor)
		var want string
		switch {
		case strings.Contains(e.Summary, "-> nginx:1.26"), strings.Contains(e.Summary, "replicas 2 -> 3"), strings.Contains(e.Summary, "reviewed-by"),
			e.Summary == "configmap settings deleted":
			want = "alice"
		case strings.Contains(e.Summary, "-> nginx:1.27"), strings.Contains(e.Summary, "team"):
			want = "bob"
		case strings.Contains(e.Summary, "-> nginx:1.28"):
			want = "carol"
		case strings.Contains(e.Summary, "tier"):
			// Its batch was dropped: the field manager stands.
			if e.Who != nil || e.Actor != "kubectl-label" {
				t.Errorf("the label's batch was lost, yet the timeline names %q (%+v)", e.Actor, e.Who)
			}
			found["label"] = true
			continue
		default:
			continue
		}
		found[want] = true
		if e.Summary == "configmap settings deleted" {
			found["delete"] = true
		}
		if e.Who == nil || e.Who.User != want {
			t.Errorf("timeline %q: by %q, want %s", e.Summary, e.Actor, want)
			continue
		}
		if len(e.Who.Groups) == 0 || !strings.HasPrefix(e.Who.UserAgent, "kubectl") {
			t.Errorf("timeline %q: groups %v, user agent %q", e.Summary, e.Who.Groups, e.Who.UserAgent)
		}
		if want == "carol" && e.Who.Impersonator != "kubernetes-admin" {
			t.Errorf("timeline %q: impersonator %q, want kubernetes-admin", e.Summary, e.Who.Impersonator)
		}
	}
	for _, w := range []string{"alice", "bob", "carol", "label", "delete"} {
		if !found[w] {
			t.Errorf("no timeline entry for %s's change", w)
		}
	}

	t.Logf("khist timeline -n %s --kind deployment:\n%s", ns, khist(ctx, t, bin, dataDir, "timeline", "-n", ns, "--since", "1h", "--kind", "deployment"))

	// khist's metrics count the batches and records.
	m := metrics(ctx, t, <-p.metricsURL)
	if m["khist_audit_batches_received_total"] == 0 || m["khist_audit_records_published_total"] == 0 {
		t.Errorf("audit metrics: %v", m)
	}
	for name, v := range m {
		if strings.HasPrefix(name, "khist_audit_") {
			t.Logf("%s %v", name, v)
		}
	}
	if err := p.stop(); err != nil {
		t.Errorf("khist collect: %v\n%s", err, p.log())
	}
}

// auditLogWrites returns the write requests in ns that the API server's audit log holds
// (what the policy made it send to the webhook too), by audit ID.
func auditLogWrites(t *testing.T, c *cluster.Cluster, ns string) map[string]*eventlog.AuditRecord {
	t.Helper()
	f, err := os.Open(c.AuditLogPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]*eventlog.AuditRecord{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var ev struct {
			AuditID, Stage, Verb string
			User                 struct{ Username string }
			ObjectRef            *struct{ Resource, Namespace, Name string }
			ResponseStatus       *struct{ Code int }
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Stage != "ResponseComplete" || ev.ObjectRef == nil || ev.ObjectRef.Namespace != ns {
			continue
		}
		switch ev.Verb {
		case "create", "update", "patch", "delete":
		default:
			continue
		}
		if ev.ResponseStatus != nil && ev.ResponseStatus.Code >= 300 {
			continue
		}
		out[ev.AuditID] = &eventlog.AuditRecord{AuditID: ev.AuditID, Verb: ev.Verb, Resource: ev.ObjectRef.Resource, Name: ev.ObjectRef.Name, User: ev.User.Username}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < 6 {
		t.Fatalf("the audit log holds %d writes in %s", len(out), ns)
	}
	return out
}

// logRecords reads the audit records of ns from khist's log, by audit ID.
func logRecords(ctx context.Context, t *testing.T, dataDir, ns string) map[string]*eventlog.AuditRecord {
	t.Helper()
	l, err := eventlog.Open(ctx, eventlog.Options{DataDir: dataDir, Name: "khist-e2e-webhook-reader"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	out := map[string]*eventlog.AuditRecord{}
	err = l.Read(ctx, eventlog.ReadOptions{}, func(b []*eventlog.Envelope) error {
		for _, e := range b {
			if e.Type != eventlog.Audited || e.Namespace != ns {
				continue
			}
			r, err := eventlog.DecodeAudit(e.Object)
			if err != nil {
				return err
			}
			out[r.AuditID] = r
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var auditErrorRE = regexp.MustCompile(`(?m)^apiserver_audit_error_total\{plugin="webhook"\} (\S+)$`)

// apiserverAuditErrors reads the API server's count of audit events its webhook backend
// dropped.
func apiserverAuditErrors(ctx context.Context, t *testing.T, c *cluster.Cluster) float64 {
	t.Helper()
	out, err := c.Kubectl(ctx, "get", "--raw", "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m := auditErrorRE.FindSubmatch(out)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// khist runs a khist read command on the data directory and returns its output.
func khist(ctx context.Context, t *testing.T, bin, dataDir string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, append(args, "--data-dir", dataDir, "--cluster", "e2e")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("khist %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// metrics reads the counters of a Prometheus text page (label-less sums by name).
func metrics(ctx context.Context, t *testing.T, url string) map[string]float64 {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, "{")
		v, _ := strconv.ParseFloat(val, 64)
		out[name] += v
	}
	return out
}

func eventually(ctx context.Context, timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Second)
	}
}

// collectProc is a running khist collect with the audit webhook.
type collectProc struct {
	cmd        *exec.Cmd
	exited     chan error
	metricsURL chan string
	hookAddr   string // where the webhook listens
	mu         sync.Mutex
	lines      []string
}

// startCollect runs khist collect with its projector and the audit webhook on hookAddr, and
// returns once the webhook listens and the first lists are recorded.
func startCollect(t *testing.T, bin string, c *cluster.Cluster, dataDir string) *collectProc {
	t.Helper()
	cmd := exec.Command(bin, "collect",
		"--kubeconfig", c.Kubeconfig, "--data-dir", dataDir, "--cluster", "e2e",
		"--log-format", "json", "--metrics-addr", "127.0.0.1:0",
		"--audit-webhook", "127.0.0.1:0", "--audit-webhook-cert", hookFiles.Cert, "--audit-webhook-key", hookFiles.Key,
		"--audit-webhook-client-ca", hookFiles.CA)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &collectProc{cmd: cmd, exited: make(chan error, 1), metricsURL: make(chan string, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	synced, listening := make(chan struct{}), make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		var once1, once2 sync.Once
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.lines = append(p.lines, line)
			p.mu.Unlock()
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil {
				switch rec.Msg {
				case "initial lists recorded":
					once1.Do(func() { close(synced) })
				case "receiving audit events":
					once2.Do(func() { listening <- strings.TrimPrefix(rec.Addr, "https://") })
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
	// The webhook listens before the collector starts listing.
	for _, wait := range []func(){func() { p.hookAddr = <-listening }, func() { <-synced }} {
		done := make(chan struct{})
		go func() { wait(); close(done) }()
		select {
		case <-done:
		case err := <-p.exited:
			p.exited <- err
			t.Fatalf("khist collect exited: %v\n%s", err, p.log())
		case <-time.After(2 * time.Minute):
			t.Fatalf("khist collect did not start within 2 minutes\n%s", p.log())
		}
	}
	return p
}

func (p *collectProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// stop sends SIGTERM and waits for the process to end.
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

// proxy forwards TCP connections from its address to target (khist's webhook) while up.
type proxy struct {
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func startProxy(t *testing.T, addr, target string) *proxy {
	p := &proxy{addr: addr, target: target, conns: map[net.Conn]bool{}}
	p.up(t)
	t.Cleanup(p.down)
	return p
}

// up listens again (the port may linger a moment after down).
func (p *proxy) up(t *testing.T) {
	t.Helper()
	var ln net.Listener
	err := eventually(t.Context(), 10*time.Second, func() (err error) {
		ln, err = net.Listen("tcp", p.addr)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			target := p.target
			p.mu.Unlock()
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns[in], p.conns[out] = true, true
			p.mu.Unlock()
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
}

// retarget forwards new connections to target.
func (p *proxy) retarget(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
}

// down refuses new connections and cuts the open ones.
func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}
