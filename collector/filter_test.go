package collector

import (
	"errors"
	"fmt"
	"testing"
)

func TestFilterResources(t *testing.T) {
	type res struct{ group, resource, kind string }
	pods := res{"", "pods", "Pod"}
	deploys := res{"apps", "deployments", "Deployment"}
	widgets := res{"example.com", "widgets", "Widget"}
	gadgets := res{"tools.example.com", "gadgets", "Gadget"}
	events := res{"", "events", "Event"}
	all := []res{pods, deploys, widgets, gadgets, events}
	cases := []struct {
		include, exclude []string
		want             []res
	}{
		{nil, nil, all},
		{[]string{"pods"}, nil, []res{pods}},
		{[]string{"Deployment"}, nil, []res{deploys}},
		{[]string{"deployments.apps", "pod"}, nil, []res{pods, deploys}},
		{[]string{"*.example.com"}, nil, []res{widgets, gadgets}},
		{nil, []string{"events", "*.example.com"}, []res{pods, deploys}},
		{[]string{"*.example.com"}, []string{"gadgets"}, []res{widgets}},
		{[]string{"deployments.extensions"}, nil, nil},
	}
	for _, c := range cases {
		f, err := newFilter(&Options{Include: c.include, Exclude: c.exclude})
		if err != nil {
			t.Fatal(err)
		}
		var got []res
		for _, r := range all {
			if f.resource(r.group, r.resource, r.kind) {
				got = append(got, r)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("include %v exclude %v: got %v, want %v", c.include, c.exclude, got, c.want)
		}
	}
	if _, err := newFilter(&Options{Include: []string{"[pods"}}); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("bad glob: %v", err)
	}
}

func TestFilterNamespaces(t *testing.T) {
	f, err := newFilter(&Options{IncludeNamespaces: []string{"team-*", "default"}, ExcludeNamespaces: []string{"team-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		group, kind, ns, name string
		want                  bool
	}{
		{"", "Pod", "default", "p", true},
		{"", "Pod", "team-a", "p", true},
		{"", "Pod", "team-secret", "p", false},
		{"", "Pod", "kube-system", "p", false},
		{"", "Node", "", "n", true},           // cluster-scoped: always
		{"", "Namespace", "", "team-b", true}, // by name
		{"", "Namespace", "", "kube-system", false},
	} {
		if got := f.object(c.group, c.kind, c.ns, c.name); got != c.want {
			t.Errorf("%s %s/%s: %v, want %v", c.kind, c.ns, c.name, got, c.want)
		}
	}
	if ns := f.watchNamespaces(); ns != nil {
		t.Errorf("globs: watch %v one by one", ns)
	}
	f, _ = newFilter(&Options{IncludeNamespaces: []string{"a", "b"}, ExcludeNamespaces: []string{"b"}})
	if ns := f.watchNamespaces(); fmt.Sprint(ns) != "[a]" {
		t.Errorf("plain names: watch %v", ns)
	}
}
