package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// binaryEnv makes this test binary run khist's main with the arguments after "--": the tests
// below run khist as a user does, as a process with its own environment and exit status.
const binaryEnv = "KHIST_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(binaryEnv) == "1" {
		for i, a := range os.Args {
			if a == "--" {
				os.Args = append([]string{"khist"}, os.Args[i+1:]...)
				break
			}
		}
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// khistProcess runs khist ARGS as a process with env (and no other environment than PATH),
// and returns its combined output, its exit error and how long it took.
func khistProcess(t *testing.T, env []string, args ...string) (string, error, time.Duration) {
	t.Helper()
	return khistProcessIn(t, "", env, args...)
}

// khistProcessIn is khistProcess in the working directory dir. A command is killed after 3
// minutes: the demo's busy import takes 20 s on a quiet machine and passed a minute at load 24.
func khistProcessIn(t *testing.T, dir string, env []string, args ...string) (string, error, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append([]string{binaryEnv + "=1", "PATH=" + os.Getenv("PATH")}, env...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	return out.String(), err, time.Since(start)
}

// TestCollectWithoutCluster: a first run without a usable kubeconfig ends at once, non-zero,
// with one line saying what was looked for and what to do, and leaves no data directory.
func TestCollectWithoutCluster(t *testing.T) {
	home := t.TempDir()
	// A port that was open a moment ago and is closed now: connections are refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	kubeconfig := func(name, body string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unreachable := kubeconfig("closed-port", `apiVersion: v1
kind: Config
clusters:
- name: gone
  cluster: {server: "https://`+closed+`"}
users:
- name: me
  user: {token: abc}
contexts:
- name: gone
  context: {cluster: gone, user: me}
current-context: gone
`)
	noCurrent := kubeconfig("no-current", `apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: "https://`+closed+`"}
users:
- name: me
  user: {token: abc}
contexts:
- name: kind-a
  context: {cluster: a, user: me}
- name: kind-b
  context: {cluster: a, user: me}
`)
	// An API server that answers, and refuses the credentials.
	refusing := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`))
	}))
	defer refusing.Close()
	badToken := kubeconfig("bad-token", `apiVersion: v1
kind: Config
clusters:
- name: strict
  cluster: {server: "`+refusing.URL+`", insecure-skip-tls-verify: true}
users:
- name: me
  user: {token: wrong}
contexts:
- name: strict
  context: {cluster: strict, user: me}
current-context: strict
`)
	cases := []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"empty HOME, no KUBECONFIG", []string{"HOME=" + home}, nil,
			[]string{"no kubeconfig found (looked for " + filepath.Join(home, ".kube", "config") + ")"}},
		{"KUBECONFIG names a missing file", []string{"HOME=" + home, "KUBECONFIG=" + filepath.Join(home, "nope")}, nil,
			[]string{"no kubeconfig found (looked for $KUBECONFIG " + filepath.Join(home, "nope") + ")"}},
		{"no current context", []string{"HOME=" + home}, []string{"--kubeconfig", noCurrent},
			[]string{"--kubeconfig " + noCurrent + " has no current context (contexts: kind-a, kind-b): pick one with --context NAME"}},
		{"unknown --context", []string{"HOME=" + home}, []string{"--kubeconfig", noCurrent, "--context", "prod"},
			[]string{`context "prod" is not in --kubeconfig ` + noCurrent + " (contexts: kind-a, kind-b)"}},
		{"server at a closed port", []string{"HOME=" + home, "KUBECONFIG=" + unreachable}, nil,
			[]string{"cannot reach the API server https://" + closed + ` (context "gone" of $KUBECONFIG ` + unreachable + ")", "connection refused"}},
		{"credentials refused", []string{"HOME=" + home}, []string{"--kubeconfig", badToken},
			[]string{"the API server " + refusing.URL + ` (context "strict" of --kubeconfig ` + badToken + ") refused khist's credentials", "check the user of the context"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			out, err, took := khistProcess(t, c.env, append([]string{"--data-dir", dataDir, "collect"}, c.args...)...)
			if err == nil {
				t.Fatalf("khist collect exited 0:\n%s", out)
			}
			if took > 10*time.Second {
				t.Errorf("khist collect took %v to fail, want under 10s", took)
			}
			if strings.Count(out, "\n") != 1 {
				t.Errorf("khist collect printed %d lines, want one:\n%s", strings.Count(out, "\n"), out)
			}
			for _, w := range append(c.want, "make demo", "make cluster-up", "--kubeconfig", "--context") {
				if !strings.Contains(out, w) {
					t.Errorf("khist collect: output lacks %q:\n%s", w, out)
				}
			}
			if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
				t.Errorf("khist collect left %s behind (%v)", dataDir, err)
			}
		})
	}
}

// TestCollectAuditWebhookFlags: the audit webhook's flags are checked before anything runs,
// each mistake with one line saying what to give.
func TestCollectAuditWebhookFlags(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--audit-webhook", "127.0.0.1:0"}, "the API server only sends audit events over HTTPS: give --audit-webhook-cert and --audit-webhook-key"},
		{[]string{"--audit-webhook-cert", "tls.crt"}, "give its address too (e.g. --audit-webhook :8443)"},
		{[]string{"--audit-webhook", "127.0.0.1:0", "--audit-webhook-cert", missing + ".crt", "--audit-webhook-key", missing + ".key"}, "--audit-webhook-cert/--audit-webhook-key: open " + missing + ".crt"},
	} {
		dataDir := filepath.Join(t.TempDir(), "data")
		out, err := run(t, dataDir, append([]string{"collect"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("collect %v: %v (output %q), want one line with %q", c.args, err, out, c.want)
		}
		if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
			t.Errorf("collect %v left %s behind", c.args, dataDir)
		}
	}
}

// TestCollectLeaderElectFlags: --leader-elect without a shared log, or with lease timings that
// cannot work, ends at once, non-zero, with one line saying what to give.
func TestCollectLeaderElectFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--leader-elect"}, "--leader-elect: the replicas must record into one log: give --nats-url"},
		{[]string{"--leader-elect", "--nats-url", "nats://127.0.0.1:1", "--leader-elect-retry-period", "20s"},
			"--leader-elect: need 0 < --leader-elect-retry-period (20s) < --leader-elect-renew-deadline (10s) < --leader-elect-lease-duration (15s)"},
		{[]string{"--leader-elect", "--nats-url", "nats://127.0.0.1:1", "--leader-elect-lease-duration", "5s"},
			"--leader-elect: need 0 < --leader-elect-retry-period (2s) < --leader-elect-renew-deadline (10s) < --leader-elect-lease-duration (5s)"},
	} {
		dataDir := filepath.Join(t.TempDir(), "data")
		out, err, _ := khistProcess(t, nil, append([]string{"--data-dir", dataDir, "collect"}, c.args...)...)
		if err == nil {
			t.Errorf("khist collect %v exited 0:\n%s", c.args, out)
			continue
		}
		if strings.Count(out, "\n") != 1 || !strings.Contains(out, c.want) {
			t.Errorf("khist collect %v: %q, want one line with %q", c.args, out, c.want)
		}
		if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
			t.Errorf("khist collect left %s behind (%v)", dataDir, err)
		}
	}
}
