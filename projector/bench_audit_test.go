package projector

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/eventlog/kinds"
)

// withAudit returns envs with an audit record after every version (the worst case: a policy
// that audits every write, controllers' included), records numbered after the versions.
func withAudit(b *testing.B, envs []*eventlog.Envelope) []*eventlog.Envelope {
	out := make([]*eventlog.Envelope, 0, 2*len(envs))
	for i, e := range envs {
		v := *e
		v.Seq = uint64(len(out) + 1)
		out = append(out, &v)
		r := &eventlog.AuditRecord{AuditID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Verb: "patch",
			Group: e.Group, APIVersion: e.Version, Resource: plural(e.Group, e.Kind), Namespace: e.Namespace, Name: e.Name,
			User: "system:serviceaccount:kube-system:controller", Groups: []string{"system:serviceaccounts", "system:authenticated"},
			UserAgent: "kube-controller-manager/v1.33.13 (linux/amd64) kubernetes/abc", Manager: e.Actor,
			Received: e.Observed.Add(-8 * time.Millisecond), Completed: e.Observed.Add(-time.Millisecond)}
		a, err := eventlog.NewAuditEnvelope(e.Cluster, "audit-webhook", r)
		if err != nil {
			b.Fatal(err)
		}
		a.Seq = uint64(len(out) + 1)
		out = append(out, a)
	}
	return out
}

func plural(group, kind string) string {
	if k, ok := kinds.Lookup(group, kind); ok {
		return k.Plural
	}
	return strings.ToLower(kind) + "s"
}

// BenchmarkFoldAudit measures the fold of a generated history (DB.Apply in batches of 256, no
// NATS) alone and with an audit record beside every version: the added cost per version is
// the difference of their cpu-us/version. An op is the whole log.
func BenchmarkFoldAudit(b *testing.B) {
	envs := benchHistory(min(*benchEvents, 20000))
	mixed := withAudit(b, envs)
	for _, mode := range []string{"versions", "versions+audit", "versions", "versions+audit"} {
		b.Run(mode, func(b *testing.B) {
			log := envs
			if mode == "versions+audit" {
				log = mixed
			}
			var elapsed, cpu time.Duration
			for range b.N {
				b.StopTimer()
				db := MustOpenDB(b)
				b.StartTimer()
				start, c0 := time.Now(), processCPU()
				for i := 0; i < len(log); i += 256 {
					if err := db.Apply(context.Background(), log[i:min(i+256, len(log))]); err != nil {
						b.Fatal(err)
					}
				}
				elapsed += time.Since(start)
				cpu += processCPU() - c0
				b.StopTimer()
				db.Close()
				b.StartTimer()
			}
			n := float64(len(envs) * b.N)
			b.ReportMetric(n/elapsed.Seconds(), "versions/s")
			b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-us/version")
		})
	}
}

// BenchmarkWho measures the readers' join of one version to its request (DB.Who) in views
// holding an audit record beside every version.
func BenchmarkWho(b *testing.B) {
	envs := benchHistory(min(*benchEvents, 20000))
	db := MustOpenDB(b)
	mixed := withAudit(b, envs)
	for i := 0; i < len(mixed); i += 256 {
		if err := db.Apply(context.Background(), mixed[i:min(i+256, len(mixed))]); err != nil {
			b.Fatal(err)
		}
	}
	found := 0
	b.ResetTimer()
	c0 := processCPU()
	for i := range b.N {
		e := envs[i%len(envs)]
		r, err := db.Who(context.Background(), ObjectRef{Cluster: e.Cluster, Group: e.Group, Kind: e.Kind, Namespace: e.Namespace, Name: e.Name}, WhoOf{At: e.Observed, Manager: e.Actor, Deleted: e.Type == eventlog.Deleted})
		if err != nil {
			b.Fatal(err)
		}
		if r != nil {
			found++
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((processCPU()-c0).Microseconds())/float64(b.N), "cpu-us/lookup")
	if found < b.N*9/10 {
		b.Fatalf("joined %d of %d versions", found, b.N)
	}
}
