package query

import (
	"errors"
	"slices"
	"strings"
	"sync"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/eventlog/kinds"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/openapi"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// resolver reads kinds as kubectl does, from one API discovery: client-go's discovery
// RESTMapper behind its shortcut expander (short names), and its category expander
// (categories such as all), both reading the recorded discovery instead of a server.
type resolver struct {
	d      *eventlog.APIDiscovery
	mapper meta.RESTMapper
	cats   restmapper.CategoryExpander
	words  []string // plurals, kinds and short names, for suggestions
}

func newResolver(d *eventlog.APIDiscovery) *resolver {
	rd := newRecordedDiscovery(d)
	return &resolver{
		d:      d,
		mapper: restmapper.NewShortcutExpander(restmapper.NewDiscoveryRESTMapper(rd.groupResources()), rd, nil),
		cats:   restmapper.NewDiscoveryCategoryExpander(rd),
		words:  rd.words,
	}
}

// builtinResolver resolves with the built-in kinds: for histories that carry no discovery.
var builtinResolver = sync.OnceValue(func() *resolver { return newResolver(kinds.BuiltinDiscovery()) })

// resolve reads s (already lowercase, without the "core" group) as a resource, singular, short
// name or kind, optionally qualified by group (deployments.apps) or version and group
// (deployments.v1.apps).
func (r *resolver) resolve(s string) (Kind, bool) {
	var gvk schema.GroupVersionKind
	full, gr := schema.ParseResourceArg(s)
	if full != nil {
		gvk, _ = r.mapper.KindFor(*full)
	}
	if gvk.Empty() {
		gvk, _ = r.mapper.KindFor(gr.WithVersion(""))
	}
	if gvk.Empty() {
		// A kind written with its group (Widget.example.com), which the resource mapping does
		// not know when discovery lacks the singular name.
		fullK, gk := schema.ParseKindArg(s)
		if k, ok := r.byKind(gk); ok {
			return k, true
		}
		if fullK != nil {
			if k, ok := r.byKind(fullK.GroupKind()); ok {
				return k, true
			}
		}
		return Kind{}, false
	}
	m, err := r.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return Kind{}, false
	}
	return Kind{Group: m.GroupVersionKind.Group, Kind: m.GroupVersionKind.Kind, Resource: m.Resource.Resource,
		Namespaced: m.Scope.Name() == meta.RESTScopeNameNamespace}, true
}

// byKind finds a kind by its name, case-insensitively, in gk's group ("" any group).
func (r *resolver) byKind(gk schema.GroupKind) (Kind, bool) {
	for _, g := range r.d.Groups {
		if gk.Group != "" && g.Name != gk.Group {
			continue
		}
		for _, v := range g.Versions {
			for _, res := range v.Resources {
				if strings.EqualFold(res.Kind, gk.Kind) {
					return Kind{Group: g.Name, Kind: res.Kind, Resource: res.Plural, Namespaced: res.Namespaced}, true
				}
			}
		}
	}
	return Kind{}, false
}

// lookup returns the kind the log calls group/kind ("" group: any), as discovery describes it.
func (r *resolver) lookup(group, kind string) (Kind, bool) {
	for _, g := range r.d.Groups {
		if group != "" && g.Name != group {
			continue
		}
		for _, v := range g.Versions {
			for _, res := range v.Resources {
				if res.Kind == kind {
					return Kind{Group: g.Name, Kind: res.Kind, Resource: res.Plural, Namespaced: res.Namespaced}, true
				}
			}
		}
	}
	return Kind{}, false
}

// category returns the kinds of a category (all), in discovery's order.
func (r *resolver) category(s string) ([]Kind, bool) {
	grs, ok := r.cats.Expand(s)
	if !ok || len(grs) == 0 {
		return nil, false
	}
	var out []Kind
	for _, gr := range grs {
		if k, ok := r.resolve(gr.Resource + "." + gr.Group); ok && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, len(out) > 0
}

// recordedDiscovery serves a recorded eventlog.APIDiscovery through client-go's discovery
// interface (a CachedDiscoveryInterface that is always fresh), for restmapper's expanders.
// What discovery does not record (the server's version, OpenAPI, a REST client) is an error.
type recordedDiscovery struct {
	groups    []*metav1.APIGroup
	resources []*metav1.APIResourceList
	words     []string
}

var _ discovery.CachedDiscoveryInterface = (*recordedDiscovery)(nil)

// errNotRecorded is what recordedDiscovery answers for what discovery records do not hold.
var errNotRecorded = errors.New("not in the recorded discovery")

func newRecordedDiscovery(d *eventlog.APIDiscovery) *recordedDiscovery {
	rd := &recordedDiscovery{}
	for _, g := range d.Groups {
		ag := &metav1.APIGroup{Name: g.Name}
		for _, v := range g.Versions {
			gv := schema.GroupVersion{Group: g.Name, Version: v.Version}.String()
			ag.Versions = append(ag.Versions, metav1.GroupVersionForDiscovery{GroupVersion: gv, Version: v.Version})
			if v.Version == g.Preferred {
				ag.PreferredVersion = ag.Versions[len(ag.Versions)-1]
			}
			l := &metav1.APIResourceList{GroupVersion: gv}
			for _, r := range v.Resources {
				l.APIResources = append(l.APIResources, metav1.APIResource{Name: r.Plural, SingularName: r.Singular, Namespaced: r.Namespaced,
					Kind: r.Kind, Verbs: r.Verbs, ShortNames: r.ShortNames, Categories: r.Categories})
				if v.Version == g.Preferred || len(g.Versions) == 1 {
					rd.words = append(rd.words, r.Plural, strings.ToLower(r.Kind))
					rd.words = append(rd.words, r.ShortNames...)
				}
			}
			rd.resources = append(rd.resources, l)
		}
		if ag.PreferredVersion.Version == "" && len(ag.Versions) > 0 {
			ag.PreferredVersion = ag.Versions[0]
		}
		rd.groups = append(rd.groups, ag)
	}
	return rd
}

// groupResources is the discovery as restmapper.NewDiscoveryRESTMapper takes it.
func (rd *recordedDiscovery) groupResources() []*restmapper.APIGroupResources {
	var out []*restmapper.APIGroupResources
	for _, g := range rd.groups {
		gr := &restmapper.APIGroupResources{Group: *g, VersionedResources: map[string][]metav1.APIResource{}}
		for _, v := range g.Versions {
			if l, _ := rd.ServerResourcesForGroupVersion(v.GroupVersion); l != nil {
				gr.VersionedResources[v.Version] = l.APIResources
			}
		}
		out = append(out, gr)
	}
	return out
}

func (rd *recordedDiscovery) ServerGroups() (*metav1.APIGroupList, error) {
	l := &metav1.APIGroupList{}
	for _, g := range rd.groups {
		l.Groups = append(l.Groups, *g)
	}
	return l, nil
}

func (rd *recordedDiscovery) ServerResourcesForGroupVersion(gv string) (*metav1.APIResourceList, error) {
	for _, l := range rd.resources {
		if l.GroupVersion == gv {
			return l, nil
		}
	}
	return nil, errNotRecorded
}

func (rd *recordedDiscovery) ServerGroupsAndResources() ([]*metav1.APIGroup, []*metav1.APIResourceList, error) {
	return rd.groups, rd.resources, nil
}

func (rd *recordedDiscovery) ServerPreferredResources() ([]*metav1.APIResourceList, error) {
	return discovery.ServerPreferredResources(rd)
}

func (rd *recordedDiscovery) ServerPreferredNamespacedResources() ([]*metav1.APIResourceList, error) {
	return discovery.ServerPreferredNamespacedResources(rd)
}

func (rd *recordedDiscovery) RESTClient() restclient.Interface      { return nil }
func (rd *recordedDiscovery) ServerVersion() (*version.Info, error) { return nil, errNotRecorded }
func (rd *recordedDiscovery) OpenAPISchema() (*openapi_v2.Document, error) {
	return nil, errNotRecorded
}
func (rd *recordedDiscovery) OpenAPIV3() openapi.Client                { return nil }
func (rd *recordedDiscovery) WithLegacy() discovery.DiscoveryInterface { return rd }
func (rd *recordedDiscovery) Fresh() bool                              { return true }
func (rd *recordedDiscovery) Invalidate()                              {}
