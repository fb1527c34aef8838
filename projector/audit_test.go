package projector

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
)

// Audit records, folded after the versions they made (as the API server's batches arrive),
// name the user of each version: by resourceVersion when the record has one, else by field
// manager and nearest time; not across kinds, managers or beyond WhoWindow.
func TestWho(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	seq := uint64(0)
	var envs []*eventlog.Envelope
	version := func(name, rv string, at time.Time, typ eventlog.EventType, managers ...string) {
		mf := ""
		for i, m := range managers {
			if i > 0 {
				mf += ","
			}
			// Each manager's entry moves to the version's time when it writes.
			ts := t0
			if i == len(managers)-1 {
				ts = at
			}
			mf += fmt.Sprintf(`{"manager":%q,"operation":"Update","apiVersion":"apps/v1","time":%q,"fieldsType":"FieldsV1","fieldsV1":{}}`, m, ts.Format(time.RFC3339))
		}
		seq++
		envs = append(envs, &eventlog.Envelope{Type: typ, Cluster: "c1", Group: "apps", Version: "v1", Kind: "Deployment",
			Resource: "deployments", Namespace: "shop", Name: name, UID: "uid-" + name, ResourceVersion: rv, Observed: at,
			Source: "collector", Actor: managers[len(managers)-1], Seq: seq,
			Object: fmt.Appendf(nil, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":%q,"namespace":"shop","uid":"uid-%s","resourceVersion":%q,"generation":1,"managedFields":[%s]},"spec":{"replicas":1}}`, name, name, rv, mf)})
	}
	record := func(r eventlog.AuditRecord) {
		r.Group, r.APIVersion, r.Namespace = "apps", "v1", "shop"
		if r.Resource == "" {
			r.Resource = "deployments"
		}
		e, err := eventlog.NewAuditEnvelope("c1", "audit-webhook", &r)
		if err != nil {
			t.Fatal(err)
		}
		seq++
		e.Seq = seq
		envs = append(envs, e)
	}
	t1, t2, t3 := t0.Add(10*time.Second), t0.Add(12*time.Second), t0.Add(14*time.Second)
	version("web", "10", t0, eventlog.Added, "kubectl-client-side-apply")
	version("web", "11", t1, eventlog.Modified, "kubectl-client-side-apply", "kubectl-set")
	version("web", "12", t2, eventlog.Modified, "kubectl-client-side-apply", "kubectl-set")
	version("web", "13", t3, eventlog.Deleted, "kubectl-client-side-apply", "kubectl-set")
	version("api", "20", t0, eventlog.Added, "kubectl-create")
	// The batch: later in the log, completion times a few milliseconds before the watch saw
	// the change.
	record(eventlog.AuditRecord{AuditID: "a0", Verb: "create", Name: "web", User: "kubernetes-admin", Manager: "kubectl-client-side-apply", Completed: t0.Add(-4 * time.Millisecond)})
	record(eventlog.AuditRecord{AuditID: "a1", Verb: "patch", Name: "web", User: "alice", Groups: []string{"dev"}, Manager: "kubectl-set", UserAgent: "kubectl/v1.33.13", Completed: t1.Add(-3 * time.Millisecond)})
	record(eventlog.AuditRecord{AuditID: "a2", Verb: "patch", Name: "web", User: "bob", Manager: "kubectl-set", Completed: t2.Add(-5 * time.Millisecond)})
	record(eventlog.AuditRecord{AuditID: "a6", Verb: "delete", Name: "web", User: "carol", Manager: "kubectl", Completed: t3.Add(-2 * time.Millisecond)})
	record(eventlog.AuditRecord{AuditID: "a3", Verb: "patch", Name: "web", Resource: "statefulsets", User: "mallory", Manager: "kubectl-set", Completed: t1})
	// At RequestResponse level: the response's resourceVersion decides, whatever the time.
	record(eventlog.AuditRecord{AuditID: "a4", Verb: "create", Name: "api", User: "dave", Manager: "kubectl-create", ResourceVersion: "20", Completed: t0.Add(25 * time.Second)})
	record(eventlog.AuditRecord{AuditID: "a5", Verb: "patch", Name: "api", User: "erin", Manager: "kubectl-create", ResourceVersion: "21", Completed: t0})
	foldAll(t, db, envs, 3)

	for _, c := range []struct {
		kind, name, rv string
		at             time.Time
		manager, want  string
		deleted        bool
	}{
		{"Deployment", "web", "10", t0, "kubectl-client-side-apply", "kubernetes-admin", false},
		{"Deployment", "web", "11", t1, "kubectl-set", "alice", false},
		{"Deployment", "web", "12", t2, "kubectl-set", "bob", false},
		{"Deployment", "web", "11", t1, "kube-controller-manager", "", false}, // a controller's status write
		{"Deployment", "web", "11", t1.Add(2 * WhoWindow), "kubectl-set", "", false},
		{"StatefulSet", "web", "11", t1, "kubectl-set", "mallory", false},
		{"Deployment", "api", "20", t0, "kubectl-create", "dave", false},
		{"Deployment", "api", "", t0, "kubectl-create", "", false}, // records with a resourceVersion match only by it
		// A deletion writes no managedFields: its writer is whoever wrote last, and the
		// request is the delete nearest in time.
		{"Deployment", "web", "13", t3, "kubectl-set", "carol", true},
		{"Deployment", "web", "13", t3, "kubectl-set", "bob", false},
	} {
		r, err := db.Who(ctx, ObjectRef{Cluster: "c1", Group: "apps", Kind: c.kind, Namespace: "shop", Name: c.name}, WhoOf{ResourceVersion: c.rv, At: c.at, Manager: c.manager, Deleted: c.deleted})
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if r != nil {
			got = r.User
		}
		if got != c.want {
			t.Errorf("Who(%s/%s rv %s at %s by %s) = %q, want %q", c.kind, c.name, c.rv, c.at.Format(time.TimeOnly), c.manager, got, c.want)
		}
	}
	// The versions view still holds the field managers: the join is the readers'.
	h, err := db.Versions(ctx, ObjectRef{Cluster: "c1", Group: "apps", Kind: "Deployment", Namespace: "shop", Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 4 || h[1].Actor != "kubectl-set" {
		t.Errorf("history: %+v", h)
	}
	mustCheckAndClose(t, db)
}
