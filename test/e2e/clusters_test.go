package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/test/cluster"
	"github.com/khist/khist/test/internal/khistbin"
)

// TestTwoClustersOneHistory: two real control planes at once, the package's (recorded as
// prod) and a second one (stage), each recorded by its own `khist collect --cluster X` process
// into one log: the embedded NATS of prod's collector, which stage's collector reaches with
// --nats-url. Read commands on prod's data directory then show both, side by side with
// --all-clusters, one with --cluster.
func TestTwoClustersOneHistory(t *testing.T) {
	prod, _ := needCluster(t)
	bin := khistbin.Build(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	stage, err := cluster.Start(ctx, cluster.Options{Nodes: 1, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer stage.Stop()
	t.Logf("second control plane ready in %s", time.Since(start).Round(time.Second))

	prodDir, stageDir := t.TempDir(), t.TempDir()
	startCollect(t, bin, prod, prodDir, "--cluster", "prod")
	addr, err := os.ReadFile(filepath.Join(prodDir, "nats.addr"))
	if err != nil {
		t.Fatalf("prod's collector runs no embedded NATS: %v", err)
	}
	startCollect(t, bin, stage, stageDir, "--cluster", "stage",
		"--nats-url", strings.TrimSpace(string(addr)), "--nats-token-file", filepath.Join(prodDir, "nats.token"))

	// The same namespace and Deployment in both; a second rollout in prod only.
	ns := uniqueName("fleet")
	deploy := "deployment/nginx-deployment"
	for _, c := range []*cluster.Cluster{prod, stage} {
		if _, err := c.Kubectl(ctx, "create", "namespace", ns); err != nil {
			t.Fatal(err)
		}
		if err := c.Apply(ctx, nginxDeployment(ns, cluster.PodTiming{Ready: time.Second})); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*cluster.Cluster{prod, stage} {
		if _, err := c.Kubectl(ctx, "-n", ns, "rollout", "status", deploy, "--timeout=1m"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := prod.Kubectl(ctx, "-n", ns, "set", "image", deploy, "nginx=nginx:1.9.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := prod.Kubectl(ctx, "-n", ns, "rollout", "status", deploy, "--timeout=1m"); err != nil {
		t.Fatal(err)
	}

	khist := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, bin, append([]string{"--data-dir", prodDir}, args...)...).CombinedOutput()
		return string(out), err
	}
	// Both collectors' rollouts, each under its cluster, once complete.
	var table string
	if err := eventually(ctx, time.Minute, func() error {
		out, err := khist("rollouts", "-n", ns, "--all-clusters", "-o", "json")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		var doc struct {
			Rollouts []struct{ Cluster, Rollout, Outcome string }
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			return err
		}
		var got []string
		for _, r := range doc.Rollouts {
			got = append(got, r.Cluster+" "+r.Rollout+" "+r.Outcome)
		}
		want := map[string]bool{
			"prod deployment/nginx-deployment#1 complete":  true,
			"prod deployment/nginx-deployment#2 complete":  true,
			"stage deployment/nginx-deployment#1 complete": true,
		}
		if len(got) != len(want) {
			return fmt.Errorf("rollouts %q", got)
		}
		for _, g := range got {
			if !want[g] {
				return fmt.Errorf("rollouts %q", got)
			}
		}
		table, err = khist("rollouts", "-n", ns, "--all-clusters")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(table, "CLUSTER   ROLLOUT") || !strings.Contains(table, "\nstage     deployment/nginx-deployment#1") {
		t.Errorf("rollouts --all-clusters: no CLUSTER column:\n%s", table)
	}
	t.Logf("khist rollouts -n %s --all-clusters:\n%s", ns, table)
	if out, err := khist("rollouts", "-n", ns, "--cluster", "stage"); err != nil || strings.Contains(out, "CLUSTER") || strings.Contains(out, "#2") {
		t.Errorf("rollouts --cluster stage: %v\n%s", err, out)
	}
	out, err := khist("get", deploy, "-n", ns, "--cluster", "prod,stage")
	if want := "get: deployment/nginx-deployment exists in clusters prod, stage: pick one with --cluster\n"; err == nil || !strings.HasSuffix(out, want) {
		t.Errorf("get of an object of both clusters: %v %q; want %q", err, out, want)
	}
	if out, err := khist("history", deploy, "-n", ns, "--cluster", "prod"); err != nil || !strings.Contains(out, "nginx:1.9.1") {
		t.Errorf("history --cluster prod: %v\n%s", err, out)
	}
	t.Logf("two clusters recorded and read in %s", time.Since(start).Round(time.Second))
}
