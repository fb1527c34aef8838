package e2e

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/eventlog/importer"
	"github.com/khist/khist/test/cluster"
)

// The test API server's audit log (built-in policy: writes at RequestResponse level) imports,
// and each version names who made the change: the user for the Deployment, the
// controller-manager for the ReplicaSet and the pods it creates, kwok for the pods' status.
// Every imported version is one the collector recorded.
func TestAuditImport(t *testing.T) {
	c, _ := needCluster(t)
	if c.AuditLogPath == "" {
		t.Skip("the test cluster has no audit log")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	r := StartRecorder(t, c, RecorderOptions{})
	ns := createNamespace(t, c, "audit")
	if err := c.Apply(ctx, nginxDeployment(ns, cluster.PodTiming{Ready: time.Second})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Kubectl(ctx, "-n", ns, "rollout", "status", "deployment/nginx-deployment", "--timeout=2m"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Kubectl(ctx, "-n", ns, "scale", "deployment/nginx-deployment", "--replicas=4"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Kubectl(ctx, "-n", ns, "rollout", "status", "deployment/nginx-deployment", "--timeout=2m"); err != nil {
		t.Fatal(err)
	}
	envs, err := r.Envelopes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]*eventlog.Envelope{}
	for _, e := range envs {
		recorded[e.UID+"/"+e.ResourceVersion] = e
	}

	var audit []*eventlog.Envelope
	var res *importer.Result
	if err := eventually(ctx, 30*time.Second, func() error {
		f, err := os.Open(c.AuditLogPath)
		if err != nil {
			return err
		}
		defer f.Close()
		res, err = importer.ReadAudit("e2e", importer.Input{Name: c.AuditLogPath, R: f})
		if err != nil {
			return err
		}
		audit = audit[:0]
		for _, e := range res.Envelopes {
			if e.Namespace == ns {
				audit = append(audit, e)
			}
		}
		actors := map[string]string{}
		for _, e := range audit {
			actors[string(e.Type)+" "+e.Kind] += e.Actor + ","
		}
		for want, who := range map[string]string{
			"ADDED Deployment":    "kubernetes-admin",
			"ADDED ReplicaSet":    "system:kube-controller-manager",
			"MODIFIED ReplicaSet": "system:kube-controller-manager", // the scale to 4
			"ADDED Pod":           "system:kube-controller-manager",
			"MODIFIED Pod":        "system:kwok-controller",
		} {
			if !strings.Contains(actors[want], who+",") {
				return fmt.Errorf("no %s by %s in the audit log (actors: %v)", want, who, actors)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	byActor := map[string]int{}
	for _, e := range audit {
		byActor[e.Actor+" "+string(e.Type)+" "+e.Kind]++
		if e.Source != "audit:"+c.AuditLogPath {
			t.Errorf("%s: source %q", e, e.Source)
		}
		if recorded[e.UID+"/"+e.ResourceVersion] == nil {
			t.Errorf("audit version %s by %s was not recorded by the collector", e, e.Actor)
		}
	}
	var lines []string
	for k, n := range byActor {
		lines = append(lines, fmt.Sprintf("%3d %s", n, k))
	}
	sort.Strings(lines)
	t.Logf("audit versions in %s by actor:\n%s", ns, strings.Join(lines, "\n"))
	var reasons []string
	for k, n := range res.Rejected {
		reasons = append(reasons, fmt.Sprintf("%5d %s", n, k))
	}
	sort.Strings(reasons)
	t.Logf("whole audit log: %d versions, rejected:\n%s", len(res.Envelopes), strings.Join(reasons, "\n"))
}
