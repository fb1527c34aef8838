package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestClustersImport imports two real recordings into one data dir as clusters prod and stage
// (khist import --cluster), and the seed rollout into both: the read commands' --cluster a,b
// and --all-clusters, as the binary wires them. What the answers say is tested in package
// query (TestClustersRollouts, TestClustersSelect).
func TestClustersImport(t *testing.T) {
	dir := t.TempDir()
	rec := func(name string) string { return "../../test/fidelity/testdata/" + name + ".json.gz" }
	for _, c := range [][]string{
		{"prod", rec("max-surge-0"), rec("seed-rolling")},
		{"stage", rec("never-ready-undo"), rec("seed-rolling")},
	} {
		if out, err := run(t, dir, append([]string{"import", "--cluster", c[0]}, c[1:]...)...); err != nil {
			t.Fatalf("import --cluster %s: %v\n%s", c[0], err, out)
		}
	}
	out, err := run(t, dir, "rollouts", "-A", "--all-clusters")
	if err != nil {
		t.Fatalf("rollouts --all-clusters: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[0], "CLUSTER   NAMESPACE") {
		t.Errorf("rollouts --all-clusters: no CLUSTER column first:\n%s", out)
	}
	seen := map[string]bool{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		seen[f[0]+" "+f[1]] = true
	}
	for _, want := range []string{"prod max-surge-0", "prod seed-rolling", "stage never-ready-undo", "stage seed-rolling"} {
		if !seen[want] {
			t.Errorf("rollouts --all-clusters lacks a row of %s:\n%s", want, out)
		}
	}
	if seen["prod never-ready-undo"] || seen["stage max-surge-0"] {
		t.Errorf("rollouts --all-clusters mixes the clusters up:\n%s", out)
	}

	out, err = run(t, dir, "rollouts", "-A", "--cluster", "prod")
	if err != nil || strings.Contains(out, "CLUSTER") || strings.Contains(out, "never-ready-undo") || !strings.Contains(out, "max-surge-0") {
		t.Errorf("rollouts --cluster prod: %v: want prod's rollouts only, without a CLUSTER column:\n%s", err, out)
	}

	out, err = run(t, dir, "rollouts", "-A", "--cluster", "stage,prod", "-o", "json")
	if err != nil {
		t.Fatalf("rollouts -o json: %v\n%s", err, out)
	}
	var doc struct {
		Rollouts []struct {
			Cluster  string `json:"cluster"`
			Workload struct{ Namespace string }
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, r := range doc.Rollouts {
		per[r.Cluster+" "+r.Workload.Namespace]++
	}
	if per["prod max-surge-0"] != 2 || per["stage never-ready-undo"] != 3 || per["prod seed-rolling"] != 2 || per["stage seed-rolling"] != 2 || len(per) != 4 {
		t.Errorf("rollouts -o json: rows per cluster and namespace %v", per)
	}

	// The raw log: both clusters' events, each under its cluster.
	out, err = run(t, dir, "log", "deploy/web", "--cluster", "prod,stage", "-o", "json")
	if err != nil {
		t.Fatalf("log --cluster prod,stage: %v\n%.300s", err, out)
	}
	perLog := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var e struct{ Cluster, Namespace, Name string }
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.Name != "web" {
			t.Fatalf("log -o json line %q: %v", l, err)
		}
		perLog[e.Cluster+" "+e.Namespace]++
	}
	if len(perLog) != 2 || perLog["prod max-surge-0"] == 0 || perLog["stage never-ready-undo"] == 0 {
		t.Errorf("log deploy/web --cluster prod,stage: events per cluster and namespace %v", perLog)
	}
	out, err = run(t, dir, "log", "deploy/nginx-deployment", "-n", "seed-rolling", "--all-clusters", "--limit", "40")
	if err != nil || !strings.HasPrefix(out, "CLUSTER    SEQ") || !strings.Contains(out, "\nprod ") || !strings.Contains(out, "\nstage ") {
		t.Errorf("log --all-clusters: %v: want a CLUSTER column and both clusters:\n%s", err, out)
	}
	if out, err := run(t, dir, "log", "deploy/nginx-deployment", "-n", "seed-rolling", "--cluster", "qa"); err != nil || !strings.Contains(out, "No events of deployment/nginx-deployment recorded in namespace seed-rolling") {
		t.Errorf("log --cluster qa: %v\n%s", err, out)
	}

	out, err = run(t, dir, "timeline", "-A", "--all-clusters", "--kind", "deploy", "--since", "2026-11-22T02:09:00Z", "--until", "2026-11-22T02:12:00Z")
	if err != nil || !strings.Contains(out, "deployment.apps/web  (cluster stage, namespace never-ready-undo)") || !strings.Contains(out, "deployment.apps/web  (cluster prod, namespace max-surge-0)") {
		t.Errorf("timeline --all-clusters: %v: want the groups of both clusters:\n%.2000s", err, out)
	}

	// Shell completion: --cluster's names, and the objects of the clusters selected.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "rollouts", "--cluster", ""}, "prod\nstage\n:6\n"},
		{[]string{"__complete", "rollouts", "--cluster", "stage,"}, "stage,prod\n:6\n"},
		{[]string{"__complete", "get", "--all-clusters", "-n", ""}, "max-surge-0\nnever-ready-undo\nseed-rolling\n:4\n"},
		{[]string{"__complete", "get", "--cluster", "stage", "-n", "max-surge-0", "deploy/"}, ":4\n"},
		{[]string{"__complete", "get", "--cluster", "prod", "-n", "max-surge-0", "deploy/"}, "deploy/web\n:4\n"},
	} {
		out, err := run(t, dir, c.args...)
		if got, _, _ := strings.Cut(out, "Completion ended"); err != nil || got != c.want {
			t.Errorf("khist %s: %v %q, want %q", strings.Join(c.args, " "), err, got, c.want)
		}
	}

	// Commands about one object: the cluster that holds it, or an error when several do.
	out, err = run(t, dir, "history", "deploy/web", "-n", "never-ready-undo", "--all-clusters")
	if err != nil || !strings.Contains(out, "web:broken") {
		t.Errorf("history of stage's deploy/web with --all-clusters: %v\n%s", err, out)
	}
	// stage's deploy/web rolled out 3 times, prod's (in another namespace) twice.
	if out, err := run(t, dir, "replay", "compare", "deploy/web", "-n", "never-ready-undo", "--all-clusters"); err != nil || !strings.HasPrefix(out, "deployment/web: MATCH (3 rollouts;") {
		t.Errorf("replay compare of stage's deploy/web with --all-clusters: %v\n%.500s", err, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"replay", "compare", "deploy/nginx-deployment", "-n", "seed-rolling", "--cluster", "stage,prod"}, "compare: deploy/nginx-deployment exists in clusters stage, prod: pick one with --cluster"},
		{[]string{"get", "deploy/nginx-deployment", "-n", "seed-rolling", "--all-clusters"}, "get: deploy/nginx-deployment exists in clusters prod, stage: pick one with --cluster"},
		{[]string{"rollouts", "-A"}, `no cluster "default" in the history (it holds prod, stage): pick one with --cluster, or use --all-clusters`},
		{[]string{"rollouts", "-A", "--cluster", "prod,qa"}, `no cluster "qa" in the history (it holds prod, stage)`},
		{[]string{"rollouts", "-A", "--cluster", "prod", "--all-clusters"}, "--cluster prod and --all-clusters exclude each other: use one"},
		{[]string{"import", "--cluster", "prod,stage", rec("max-surge-0")}, `--cluster "prod,stage": a command that records takes one cluster name`},
		{[]string{"collect", "--cluster", "prod,stage"}, `--cluster "prod,stage": a command that records takes one cluster name`},
		{[]string{"state", "--all-clusters"}, "state answers about one cluster at a time, not prod, stage: pick one with --cluster"},
	} {
		out, err := run(t, dir, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("khist %s: error %v, want one line with %q\n%s", strings.Join(c.args, " "), err, c.want, out)
		}
	}
	if out, err := run(t, dir, "get", "deploy/nginx-deployment", "-n", "seed-rolling", "--cluster", "stage"); err != nil || !strings.Contains(out, "nginx:1.9.1") {
		t.Errorf("get --cluster stage: %v\n%s", err, out)
	}
}
