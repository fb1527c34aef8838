package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/eventlog/importer"
	"github.com/khist/khist/test/cluster"
)

// The seed scenario: a rolling update of nginx-deployment from nginx:1.7.9 to nginx:1.9.1
// (3 replicas, maxSurge 1, maxUnavailable 1, pods Ready 2s after they start). Every Pod and
// ReplicaSet version that the test's own watch saw is in the log, in order, with nothing else.
func TestSeedRollout(t *testing.T) {
	c, cs := needCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	r := StartRecorder(t, c, RecorderOptions{})
	ns := createNamespace(t, c, "seed")
	raw := startRawWatch(t, cs, ns)

	if _, err := c.KubectlStdin(ctx, strings.NewReader(string(nginxDeployment(ns, cluster.PodTiming{Ready: 2 * time.Second}))), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Kubectl(ctx, "-n", ns, "rollout", "status", "deployment/nginx-deployment", "--timeout=2m"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Kubectl(ctx, "-n", ns, "set", "image", "deployment/nginx-deployment", "nginx=nginx:1.9.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Kubectl(ctx, "-n", ns, "rollout", "status", "deployment/nginx-deployment", "--timeout=2m"); err != nil {
		t.Fatal(err)
	}
	raw.WaitQuiet(t, ctx, 5*time.Second)

	var envs []*eventlog.Envelope
	err := eventually(ctx, 30*time.Second, func() error {
		var err error
		if envs, err = r.Envelopes(ctx); err != nil {
			return err
		}
		for _, kind := range []string{"Pod", "ReplicaSet"} {
			group := ""
			if kind == "ReplicaSet" {
				group = "apps"
			}
			if d := diffVersions(logVersions(envs, ns, group, kind), raw.Versions(kind)); d != "" {
				return fmt.Errorf("%s versions differ:\n%s", kind, d)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pods, rss := raw.Versions("Pod"), raw.Versions("ReplicaSet")
	t.Logf("%d Pod versions and %d ReplicaSet versions, all in the log in order", len(pods), len(rss))
	// The rollout's scaling steps, as the log tells them.
	var steps []string
	last := map[string]int32{}
	for _, v := range logVersions(envs, ns, "apps", "ReplicaSet") {
		if old, ok := last[v.Name]; !ok || old != v.Replicas {
			steps = append(steps, fmt.Sprintf("%s=%d", v.Name[len("nginx-deployment-"):], v.Replicas))
			last[v.Name] = v.Replicas
		}
	}
	t.Logf("ReplicaSet spec.replicas steps: %s", strings.Join(steps, " "))
	if len(steps) < 4 {
		t.Errorf("a rolling update of 3 replicas with maxSurge 1 takes several scaling steps, got %v", steps)
	}
	if len(rss) < 2 || len(pods) < 12 {
		t.Errorf("implausible scenario: %d pod versions, %d ReplicaSet versions", len(pods), len(rss))
	}
	for _, e := range envs {
		if e.Namespace == ns && e.Type == eventlog.Resync {
			t.Errorf("RESYNC in a namespace created after the collector started: %s", e)
		}
		if e.Source != "collector" || e.Cluster != "e2e" {
			t.Errorf("%s: source %q cluster %q", e, e.Source, e.Cluster)
		}
	}
	// The log also has the Deployment's versions, the Events, and no Lease or Node heartbeat.
	var deploys, events, leases int
	for _, e := range envs {
		switch {
		case e.Namespace == ns && e.Kind == "Deployment":
			deploys++
		case e.Namespace == ns && e.Kind == "Event" && e.Group == "":
			events++
		case e.Kind == "Event" && e.Group == "events.k8s.io":
			t.Errorf("Event recorded twice (events.k8s.io): %s", e)
		case e.Kind == "Lease":
			leases++
		}
	}
	if deploys < 3 || events < 5 {
		t.Errorf("the log has %d Deployment versions and %d Events of the scenario", deploys, events)
	}
	t.Logf("%d Deployment versions, %d Events, %d Lease versions in the log (%d envelopes)", deploys, events, leases, len(envs))

	// The recording round-trips through a watch file and the importer.
	path := filepath.Join(t.TempDir(), "seed.json.gz")
	if err := WriteWatchFile(path, envs); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("KHIST_E2E_KEEP") != "" {
		t.Logf("recording kept in %s", path)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in, err := gunzip(f)
	if err != nil {
		t.Fatal(err)
	}
	res, err := importer.ReadWatch("e2e", importer.Input{Name: path, R: in})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Envelopes) != len(envs) {
		t.Errorf("watch file imports %d envelopes, the log has %d (rejected %v)", len(res.Envelopes), len(envs), res.Rejected)
	}
}
