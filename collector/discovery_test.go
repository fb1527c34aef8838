package collector

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/rest"
	kubetesting "k8s.io/client-go/testing"
)

// TestDiscoverPreferred: discover collects each resource at the version client-go's
// ServerPreferredResources picks, and returns what discovery listed (subresources left out),
// the same whatever order the groups come in. The discovery client is client-go's fake, the
// only fake here: the collector's live behaviour is tested on a real API server (test/e2e).
func TestDiscoverPreferred(t *testing.T) {
	rw := []string{"get", "list", "watch"}
	fake := &fakediscovery.FakeDiscovery{Fake: &kubetesting.Fake{Resources: []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "pods", SingularName: "pod", Kind: "Pod", Namespaced: true, ShortNames: []string{"po"}, Categories: []string{"all"}, Verbs: rw},
			{Name: "pods/log", Kind: "Pod", Namespaced: true, Verbs: []string{"get"}},
			{Name: "bindings", Kind: "Binding", Namespaced: true, Verbs: []string{"create"}},
			{Name: "events", SingularName: "event", Kind: "Event", Namespaced: true, Verbs: rw},
		}},
		{GroupVersion: "events.k8s.io/v1", APIResources: []metav1.APIResource{
			{Name: "events", SingularName: "event", Kind: "Event", Namespaced: true, Verbs: rw},
		}},
		// The first version of a group is its preferred one (the fake's rule).
		{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{
			{Name: "widgets", SingularName: "widget", Kind: "Widget", Namespaced: true, ShortNames: []string{"wg"}, Verbs: rw},
		}},
		{GroupVersion: "example.com/v1beta1", APIResources: []metav1.APIResource{
			{Name: "widgets", SingularName: "widget", Kind: "Widget", Namespaced: true, Verbs: rw},
			{Name: "gizmos", SingularName: "gizmo", Kind: "Gizmo", Verbs: rw},
		}},
	}}}
	c, err := New(&rest.Config{Host: "http://127.0.0.1:1"}, nil, Options{Cluster: "c1", Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	c.disco = fake
	res, failed, doc, err := c.discover()
	if err != nil || len(failed) != 0 {
		t.Fatalf("discover: %v, failed %v", err, failed)
	}
	var got []string
	for _, r := range res {
		got = append(got, r.group+"/"+r.version+"/"+r.resource)
	}
	slices.Sort(got)
	lists, err := discovery.ServerPreferredResources(fake)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range lists {
		for _, r := range l.APIResources {
			if slices.Contains(r.Verbs, "watch") && !(strings.HasPrefix(l.GroupVersion, "events.k8s.io/") && r.Name == "events") {
				g, v, ok := strings.Cut(l.GroupVersion, "/")
				if !ok {
					g, v = "", g
				}
				want = append(want, g+"/"+v+"/"+r.Name)
			}
		}
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("collected %v, want (client-go's preferred resources) %v", got, want)
	}
	if !slices.Contains(got, "example.com/v1/widgets") || !slices.Contains(got, "example.com/v1beta1/gizmos") {
		t.Errorf("collected %v: want widgets at v1 and gizmos at v1beta1", got)
	}

	// What discovery listed, in a stable order, subresources left out.
	doc.Normalize()
	var groups []string
	for _, g := range doc.Groups {
		groups = append(groups, g.Name+"@"+g.Preferred)
		for _, v := range g.Versions {
			for _, r := range v.Resources {
				if strings.Contains(r.Plural, "/") {
					t.Errorf("subresource %s recorded", r.Plural)
				}
			}
		}
	}
	if want := []string{"@v1", "events.k8s.io@v1", "example.com@v1"}; !slices.Equal(groups, want) {
		t.Errorf("groups %v, want %v", groups, want)
	}
	ex := doc.Groups[2]
	if len(ex.Versions) != 2 || ex.Versions[0].Version != "v1" || len(ex.Versions[1].Resources) != 2 || ex.Versions[1].Resources[0].Plural != "gizmos" {
		t.Errorf("example.com recorded as %+v", ex)
	}
	pods := doc.Groups[0].Versions[0].Resources[2]
	if pods.Plural != "pods" || pods.Singular != "pod" || !slices.Equal(pods.ShortNames, []string{"po"}) || !slices.Equal(pods.Categories, []string{"all"}) ||
		!pods.Namespaced || !slices.Equal(pods.Verbs, rw) {
		t.Errorf("pods recorded as %+v", pods)
	}
}
