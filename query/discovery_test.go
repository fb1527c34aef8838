package query

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/eventlog/kinds"
	"github.com/khist/khist/projector"
)

// testDiscovery is a cluster's discovery: the built-in kinds, and two CRDs of example.com, a
// namespaced one with a short name and categories, and a cluster-scoped one, served at v1 and
// at the older v1beta1.
func testDiscovery() *eventlog.APIDiscovery {
	d := kinds.BuiltinDiscovery()
	d.Groups = append(d.Groups, eventlog.DiscoveryGroup{Name: "example.com", Preferred: "v1", Versions: []eventlog.DiscoveryVersion{
		{Version: "v1", Resources: []eventlog.DiscoveryResource{
			{Kind: "Widget", Plural: "widgets", Singular: "widget", ShortNames: []string{"wg"}, Categories: []string{"all", "toys"}, Namespaced: true, Verbs: []string{"get", "list", "watch"}},
			{Kind: "ClusterWidget", Plural: "clusterwidgets", Singular: "clusterwidget", ShortNames: []string{"cwg"}, Verbs: []string{"get", "list", "watch"}},
		}},
		{Version: "v1beta1", Resources: []eventlog.DiscoveryResource{
			{Kind: "Widget", Plural: "widgets", Singular: "widget", ShortNames: []string{"wg"}, Namespaced: true},
		}},
	}})
	return d
}

// TestResolveFromDiscovery: kinds resolve as kubectl resolves them against the cluster: CRD
// short names and categories, cluster-scoped custom kinds; without a recorded discovery the
// built-in kinds answer.
func TestResolveFromDiscovery(t *testing.T) {
	widget := Kind{Group: "example.com", Kind: "Widget", Resource: "widgets", Namespaced: true}
	cwidget := Kind{Group: "example.com", Kind: "ClusterWidget", Resource: "clusterwidgets"}
	deploy := Kind{Group: "apps", Kind: "Deployment", Resource: "deployments", Namespaced: true}
	recorded := newResolver(testDiscovery())
	for _, c := range []struct {
		in      string
		builtin bool // resolve without discovery
		want    Kind
		unknown bool
	}{
		{in: "wg", want: widget},
		{in: "widgets", want: widget},
		{in: "widget", want: widget},
		{in: "Widget", want: widget},
		{in: "widgets.example.com", want: widget},
		{in: "widgets.v1beta1.example.com", want: widget},
		{in: "Widget.example.com", want: widget},
		{in: "cwg", want: cwidget},
		{in: "clusterwidgets", want: cwidget},
		{in: "deploy", want: deploy},
		{in: "svc.core", want: Kind{Kind: "Service", Resource: "services", Namespaced: true}},
		{in: "widgets.apps", unknown: true},
		{in: "wg.core", unknown: true},
		{in: "wg", builtin: true, unknown: true},
		{in: "deploy", builtin: true, want: deploy},
		{in: "crds", builtin: true, want: Kind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition", Resource: "customresourcedefinitions"}},
	} {
		r := recorded
		if c.builtin {
			r = builtinResolver()
		}
		k, err := resolveKind(r, c.in, nil)
		switch {
		case c.unknown && !errors.Is(err, ErrUnknownKind):
			t.Errorf("resolve %q (builtin %v) = %+v, %v; want ErrUnknownKind", c.in, c.builtin, k, err)
		case !c.unknown && (err != nil || k != c.want):
			t.Errorf("resolve %q (builtin %v) = %+v, %v; want %+v", c.in, c.builtin, k, err, c.want)
		}
	}
	// An unknown kind suggests the nearest names, the recorded ones included.
	if _, err := resolveKind(recorded, "widgts", nil); err == nil || !strings.Contains(err.Error(), "did you mean widgets") {
		t.Errorf("widgts: %v", err)
	}
	// Categories.
	if ks, ok := recorded.category("toys"); !ok || !slices.Equal(ks, []Kind{widget}) {
		t.Errorf("category toys = %v, %v", ks, ok)
	}
	all, ok := recorded.category("all")
	if !ok || !slices.Contains(all, widget) || !slices.Contains(all, deploy) || slices.Contains(all, cwidget) {
		t.Errorf("category all = %v, %v", all, ok)
	}
	if _, ok := builtinResolver().category("toys"); ok {
		t.Error("builtin: category toys exists")
	}
}

// TestViewsResolveRecordedDiscovery: views resolve KIND/NAME with the discovery the log
// recorded: a CRD short name, a cluster-scoped custom resource (not looked up in namespace
// default), a category in get and state; the latest discovery wins.
func TestViewsResolveRecordedDiscovery(t *testing.T) {
	ctx := context.Background()
	db, err := projector.Open(filepath.Join(t.TempDir(), "views.db"), &projector.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	v := NewViews(db, "c1", Env{Loc: time.UTC, Now: t0.Add(time.Hour)})
	obj := func(seq uint64, kind, ns, name string) *eventlog.Envelope {
		body := `{"apiVersion":"example.com/v1","kind":"` + kind + `","metadata":{"name":"` + name + `","uid":"u-` + name + `","resourceVersion":"` + name + `1","creationTimestamp":"2026-12-01T10:00:00Z"` +
			map[bool]string{true: `,"namespace":"` + ns + `"`, false: ``}[ns != ""] + `}}`
		return &eventlog.Envelope{Type: eventlog.Added, Cluster: "c1", Group: "example.com", Version: "v1", Kind: kind, Namespace: ns, Name: name,
			UID: "u-" + name, ResourceVersion: name + "1", Observed: t0.Add(time.Duration(seq) * time.Second), Object: []byte(body), Seq: seq}
	}
	// Before any discovery: the custom kinds are known by their plural from the history only.
	if err := db.Apply(ctx, []*eventlog.Envelope{obj(1, "Widget", "shop", "w1"), obj(2, "ClusterWidget", "", "big")}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.ResolveKind(ctx, "wg"); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("wg without discovery: %v", err)
	}
	if k, err := v.ResolveKind(ctx, "widgets"); err != nil || k.Kind != "Widget" || !k.Namespaced {
		t.Errorf("widgets without discovery: %v, %v", k, err)
	}
	// ... and the scope from where their objects are.
	if k, err := v.ResolveKind(ctx, "clusterwidgets"); err != nil || k.Kind != "ClusterWidget" || k.Namespaced {
		t.Errorf("clusterwidgets without discovery: %+v, %v", k, err)
	}
	// With the recorded discovery.
	disco, err := eventlog.NewDiscoveryEnvelope("c1", "collector", t0.Add(3*time.Second), testDiscovery())
	if err != nil {
		t.Fatal(err)
	}
	disco.Seq = 3
	if err := db.Apply(ctx, []*eventlog.Envelope{disco}); err != nil {
		t.Fatal(err)
	}
	if rd, err := db.Discovery(ctx, "c1"); err != nil || rd == nil || rd.Seq != 3 {
		t.Fatalf("recorded discovery: %+v, %v", rd, err)
	}
	for _, c := range []struct {
		args GetArgs
		want string
	}{
		{GetArgs{Object: "wg/w1", Namespace: "shop", Output: OutName}, "widget.example.com/w1\n"},
		{GetArgs{Object: "cwg/big", Namespace: "shop", Output: OutName}, "clusterwidget.example.com/big\n"},
		{GetArgs{Object: "clusterwidgets/big", Output: OutName}, "clusterwidget.example.com/big\n"},
		{GetArgs{Object: "toys", Namespace: "shop", Output: OutName}, "widget.example.com/w1\n"},
		{GetArgs{Object: "all", Namespace: "shop", Output: OutName}, "widget.example.com/w1\n"},
		{GetArgs{Object: "cwg", Output: OutName}, "clusterwidget.example.com/big\n"},
	} {
		var out bytes.Buffer
		if err := v.Get(ctx, c.args, &out); err != nil || out.String() != c.want {
			t.Errorf("get %+v = %q, %v; want %q", c.args, out.String(), err, c.want)
		}
	}
	var out bytes.Buffer
	if err := v.State(ctx, StateArgs{Namespace: "shop", At: "now", Kinds: []string{"toys,cwg"}, Output: OutName}, &out); err != nil ||
		out.String() != "widget.example.com/w1\nclusterwidget.example.com/big\n" {
		t.Errorf("state --kind toys,cwg = %q, %v", out.String(), err)
	}
	out.Reset()
	if err := v.Timeline(ctx, TimelineArgs{Namespace: "shop", Since: "2026-12-01T09:00:00Z", Kinds: []string{"toys"}}, &out); err != nil ||
		!strings.Contains(out.String(), "w1") || strings.Contains(out.String(), "big") {
		t.Errorf("timeline --kind toys = %v\n%s", err, out.String())
	}
	// A later discovery without the CRDs (deleted): their kinds still resolve from the
	// history, short names no longer.
	later, err := eventlog.NewDiscoveryEnvelope("c1", "collector", t0.Add(4*time.Second), kinds.BuiltinDiscovery())
	if err != nil {
		t.Fatal(err)
	}
	later.Seq = 4
	if err := db.Apply(ctx, []*eventlog.Envelope{later}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.ResolveKind(ctx, "wg"); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("wg after the CRD is gone: %v", err)
	}
	if k, err := v.ResolveKind(ctx, "clusterwidgets"); err != nil || k.Kind != "ClusterWidget" {
		t.Errorf("clusterwidgets after the CRD is gone: %v, %v", k, err)
	}
}
