package collector

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	"k8s.io/client-go/rest"
)

// TestResumeFrom: a namespace's watch resumes from its own progress or from that of a watch of
// all namespaces, whichever came further.
func TestResumeFrom(t *testing.T) {
	for _, c := range []struct{ own, all, want string }{
		{"", "", ""},
		{"10", "", "10"},
		{"", "20", "20"},
		{"10", "20", "20"},
		{"30", "20", "30"},
		{"x", "20", "x"}, // not comparable: its own
	} {
		if got := resumeFrom(c.own, c.all); got != c.want {
			t.Errorf("resumeFrom(%q, %q) = %q, want %q", c.own, c.all, got, c.want)
		}
	}
}

// TestCheckpointDue: a progress record waits for every envelope sent before the watch got
// there; the first is written at once, the next every interval after changes and every
// idleProgress when the watch only moved; never twice for one resourceVersion.
func TestCheckpointDue(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		name     string
		rv       string
		n, acked uint64
		changed  bool
		last     string
		ago      time.Duration
		want     bool
	}{
		{"nothing reached", "", 0, 0, false, "", 0, false},
		{"first progress", "5", 0, 0, false, "", 0, true},
		{"versions unacknowledged", "7", 3, 2, true, "5", time.Minute, false},
		{"changes, within the interval", "7", 3, 3, true, "5", time.Second, false},
		{"versions acknowledged", "7", 3, 3, true, "5", 5 * time.Second, true},
		{"same resourceVersion", "7", 3, 3, true, "7", time.Hour, false},
		{"moved only, recently", "9", 3, 3, false, "7", time.Minute, false},
		{"moved only, long ago", "9", 3, 3, false, "7", idleProgress, true},
	} {
		if got := checkpointDue(c.rv, c.n, c.acked, c.changed, c.last, now.Add(-c.ago), now, 5*time.Second); got != c.want {
			t.Errorf("%s: checkpointDue = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestLoadResumePoints: the collector learns each watch's resume point from a real log: the
// last progress record of that watch (not the highest resourceVersion in the log, which
// another resource's watch may have reached), per namespace; and each kind's high-water mark
// (the highest resourceVersion the log holds of it, deletions included), up to which a
// resumed watch checks replayed versions against the log.
func TestLoadResumePoints(t *testing.T) {
	ctx := t.Context()
	l, err := eventlog.Open(ctx, eventlog.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p, err := l.NewPublisher(eventlog.PublisherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := func(typ eventlog.EventType, name string, rv int) *eventlog.Envelope {
		return &eventlog.Envelope{Type: typ, Cluster: "c1", Version: "v1", Kind: "Pod", Resource: "pods",
			Namespace: "ns1", Name: name, UID: "uid-" + name, ResourceVersion: fmt.Sprint(rv), Observed: time.Now(),
			Object: []byte(`{}`)}
	}
	rs := pod(eventlog.Added, "web", 300)
	rs.Group, rs.Kind, rs.Resource, rs.UID = "apps", "ReplicaSet", "replicasets", "uid-rs"
	for _, e := range []*eventlog.Envelope{
		pod(eventlog.Added, "a", 100),
		eventlog.NewProgress("c1", "", "pods", "ns1", "100", "collector"),
		pod(eventlog.Modified, "a", 120),
		pod(eventlog.Added, "b", 130),
		pod(eventlog.Deleted, "b", 140),
		eventlog.NewProgress("c1", "", "pods", "ns1", "150", "collector"), // the last of this watch
		rs, // another resource's watch went further
		eventlog.NewProgress("c1", "apps", "replicasets", "ns1", "310", "collector"),
		eventlog.NewProgress("c1", "", "pods", "ns2", "90", "collector"),
		eventlog.NewProgress("c1", "", "pods", "", "200", "collector"),    // a watch of all namespaces
		eventlog.NewProgress("c2", "", "pods", "ns1", "999", "collector"), // another cluster's
		eventlog.NewProgress("c1", "", "configmaps", "ns1", "50", "collector"),
	} {
		if err := p.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}

	c, err := New(&rest.Config{Host: "https://127.0.0.1:1"}, l, Options{Cluster: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.stream, err = l.JetStream().Stream(ctx, l.StreamName()); err != nil {
		t.Fatal(err)
	}
	if err := c.load(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, k := range []struct{ group, resource, ns, want string }{
		{"", "pods", "ns1", "200"}, // its own says 150; the all-namespaces watch came further
		{"", "pods", "ns2", "200"},
		{"", "pods", "", "200"},
		{"apps", "replicasets", "ns1", "310"},
		{"apps", "replicasets", "", ""},
		{"", "configmaps", "ns1", "50"},
		{"", "secrets", "ns1", ""},
	} {
		if got := c.state.resumePoint(k.group, k.resource, k.ns); got != k.want {
			t.Errorf("resume point of %s.%s in %q = %q, want %q", k.resource, k.group, k.ns, got, k.want)
		}
	}
	pods := c.state.lookup("", "Pod")
	if pods == nil || pods.highWater() != 140 || pods.len() != 1 {
		t.Fatalf("pods: high water %d, %d objects; want 140 (the deletion of b), 1 (a)", pods.highWater(), pods.len())
	}
	if !pods.covers("uid-a", 120) || !pods.covers("uid-a", 100) || pods.covers("uid-a", 121) || pods.covers("uid-b", 130) {
		t.Error("covers: the table knows a at 120, and nothing of b (deleted)")
	}
}
