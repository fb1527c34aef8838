package collector

import (
	"fmt"
	"path"
	"strings"
)

// filter selects resources and namespaces (Options.Include, Exclude, IncludeNamespaces,
// ExcludeNamespaces).
type filter struct {
	include, exclude     []string
	includeNS, excludeNS []string
}

func newFilter(o *Options) (*filter, error) {
	f := &filter{}
	norm := func(flag string, in []string) ([]string, error) {
		var out []string
		for _, p := range in {
			p = strings.ToLower(strings.TrimSpace(p))
			if p == "" {
				continue
			}
			if _, err := path.Match(p, ""); err != nil {
				return nil, fmt.Errorf("%w: %s %q: %v (use a resource such as pods or deployments.apps, or a glob such as *.example.com)", ErrInvalidOption, flag, p, err)
			}
			out = append(out, p)
		}
		return out, nil
	}
	var err error
	if f.include, err = norm("include", o.Include); err != nil {
		return nil, err
	}
	if f.exclude, err = norm("exclude", o.Exclude); err != nil {
		return nil, err
	}
	if f.includeNS, err = norm("include-namespace", o.IncludeNamespaces); err != nil {
		return nil, err
	}
	if f.excludeNS, err = norm("exclude-namespace", o.ExcludeNamespaces); err != nil {
		return nil, err
	}
	return f, nil
}

// matchResource reports whether pattern names the resource: by plural (pods), plural.group
// (deployments.apps), kind (deployment), kind.group, or a glob on any of these
// (*.example.com).
func matchResource(pattern, group, resource, kind string) bool {
	kind = strings.ToLower(kind)
	names := []string{resource, kind}
	if group != "" {
		names = append(names, resource+"."+group, kind+"."+group)
	}
	for _, n := range names {
		if ok, _ := path.Match(pattern, n); ok {
			return true
		}
	}
	return false
}

// resource reports whether a resource is collected.
func (f *filter) resource(group, resource, kind string) bool {
	if len(f.include) > 0 {
		in := false
		for _, p := range f.include {
			if matchResource(p, group, resource, kind) {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	for _, p := range f.exclude {
		if matchResource(p, group, resource, kind) {
			return false
		}
	}
	return true
}

// namespace reports whether objects of a namespace are collected. Cluster-scoped objects
// (ns "") always are; Namespace objects are filtered by their name (see object).
func (f *filter) namespace(ns string) bool {
	if ns == "" {
		return true
	}
	if len(f.includeNS) > 0 {
		in := false
		for _, p := range f.includeNS {
			if ok, _ := path.Match(p, ns); ok {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	for _, p := range f.excludeNS {
		if ok, _ := path.Match(p, ns); ok {
			return false
		}
	}
	return true
}

// object reports whether an object is collected: its namespace, or, for a Namespace, its name.
func (f *filter) object(group, kind, ns, name string) bool {
	if group == "" && kind == "Namespace" {
		return f.namespace(name)
	}
	return f.namespace(ns)
}

// watchNamespaces returns the namespaces to watch one by one, or nil to watch all namespaces
// at once and filter: the included namespaces when they are all plain names (no glob), so
// that a collector whose credentials only reach those namespaces works.
func (f *filter) watchNamespaces() []string {
	if len(f.includeNS) == 0 {
		return nil
	}
	var out []string
	for _, p := range f.includeNS {
		if strings.ContainsAny(p, `*?[\`) {
			return nil
		}
		if f.namespace(p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
