package query

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
)

// Output formats of the read commands (-o).
const (
	OutTable = "table"
	OutWide  = "wide"
	OutJSON  = "json"
	OutYAML  = "yaml"
	OutCSV   = "csv"
	OutMD    = "md"
	OutHTML  = "html"
	OutName  = "name"
)

// ParseOutput checks an -o value against the formats a command offers (the first is the default
// when s is empty).
func ParseOutput(s string, allowed ...string) (string, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	if v == "" {
		return allowed[0], nil
	}
	if v == "markdown" {
		v = OutMD
	}
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", errorf(ErrBadArgument, "-o: unknown output format %q: use %s", s, orList(allowed))
}

// orList joins words as "a, b or c".
func orList(w []string) string {
	if len(w) == 1 {
		return w[0]
	}
	return strings.Join(w[:len(w)-1], ", ") + " or " + w[len(w)-1]
}

// ParseSelector reads a label selector as kubectl's -l does (app=web,tier!=db, env in (a,b)).
// An empty selector selects everything.
func ParseSelector(s string) (labels.Selector, error) {
	if strings.TrimSpace(s) == "" {
		return labels.Everything(), nil
	}
	sel, err := labels.Parse(s)
	if err != nil {
		return nil, errorf(ErrBadArgument, "-l: cannot parse selector %q: use key=value, key!=value, key in (a,b), key or !key, joined by commas", s)
	}
	return sel, nil
}

// Scope is where a command looks: one namespace, or all of them.
type Scope struct {
	Namespace     string // -n; "" with AllNamespaces
	AllNamespaces bool   // -A
	ClusterScoped bool   // with Namespace: cluster-scoped objects (nodes, volumes) too
	// Others are further namespaces besides Namespace: khist timeline -n a,b is Namespace a,
	// Others [b]. Only the timeline takes several.
	Others []string
}

// ScopeOf validates -n and -A: they exclude each other; without either the namespace is def
// (the current namespace: "default" unless the caller knows better).
func ScopeOf(namespace string, all bool, def string) (Scope, error) {
	if all && namespace != "" {
		return Scope{}, errorf(ErrBadArgument, "-n %s and -A exclude each other: use one", namespace)
	}
	if all {
		return Scope{AllNamespaces: true}, nil
	}
	if namespace == "" {
		namespace = def
	}
	return Scope{Namespace: namespace}, nil
}

// Matches reports whether an object in namespace ns ("" for cluster-scoped objects) is in the
// scope.
func (s Scope) Matches(ns string) bool {
	return s.AllNamespaces || ns == s.Namespace || ns == "" && s.ClusterScoped || ns != "" && slices.Contains(s.Others, ns)
}
