package query

import (
	"sort"
	"strings"

	"github.com/khist/khist/eventlog/kinds"
)

// Kind is a resource kind as the log names it.
type Kind struct {
	Group      string // "" for the core group
	Kind       string // e.g. Deployment
	Resource   string // plural, e.g. deployments
	Namespaced bool
}

// ResolveKind reads a kind as kubectl accepts it, with the built-in kinds (kinds.Builtin): a
// kind (Deployment), its plural (deployments), singular (deployment) or short name (deploy),
// optionally qualified with its group (deployments.apps). extra lists kinds known from the
// recorded history (e.g. CRDs), which are matched by kind, plural and lowercase kind. An
// unknown kind is an ErrUnknownKind whose message suggests the nearest kind names. Views
// resolve with the cluster's recorded discovery instead (Views.ResolveKind).
func ResolveKind(s string, extra []Kind) (Kind, error) {
	return resolveKind(builtinResolver(), s, extra)
}

func resolveKind(r *resolver, s string, extra []Kind) (Kind, error) {
	in := strings.ToLower(strings.TrimSpace(s))
	name, group, _ := strings.Cut(in, ".")
	core := group == "core" // kubectl's name for the group ""
	if core {
		in, group = name, ""
	}
	if name != "" {
		if k, ok := r.resolve(in); ok && (!core || k.Group == "") {
			return k, nil
		}
		for _, k := range extra {
			if (group != "" || core) && strings.ToLower(k.Group) != group {
				continue
			}
			if name == strings.ToLower(k.Kind) || name == k.Resource {
				return k, nil
			}
		}
	}
	hint := ""
	if near := Nearest(name, kindWords(r, extra), 3); len(near) > 0 && name != "" {
		hint = "did you mean " + strings.Join(near, ", ") + "? "
	}
	return Kind{}, errorf(ErrUnknownKind, "unknown kind %q: %suse a kind, plural or short name such as deploy, rs, sts, ds, po, svc, pvc (kubectl api-resources lists them)", s, hint)
}

// kindWords are the words ResolveKind accepts, for suggestions: plurals, kinds and short names.
func kindWords(r *resolver, extra []Kind) []string {
	out := append([]string(nil), r.words...)
	for _, k := range extra {
		out = append(out, k.Resource, strings.ToLower(k.Kind))
	}
	return out
}

// ParseKindName splits KIND/NAME; NAME may be empty (the argument is just KIND) when
// allowEmptyName.
func ParseKindName(arg string, extra []Kind, allowEmptyName bool) (Kind, string, error) {
	return parseKindName(builtinResolver(), arg, extra, allowEmptyName)
}

func parseKindName(r *resolver, arg string, extra []Kind, allowEmptyName bool) (Kind, string, error) {
	ks, name, ok := strings.Cut(arg, "/")
	if !ok && !allowEmptyName {
		if _, err := resolveKind(r, arg, extra); err == nil {
			return Kind{}, "", errorf(ErrBadArgument, "%q: a name is needed: expected KIND/NAME, e.g. %s/web", arg, arg)
		}
		return Kind{}, "", errorf(ErrBadArgument, "%q: expected KIND/NAME, e.g. deploy/web", arg)
	}
	if ok && name == "" {
		return Kind{}, "", errorf(ErrBadArgument, "%q: the name after / is empty: expected KIND/NAME, e.g. deploy/web", arg)
	}
	if strings.Contains(name, "/") {
		return Kind{}, "", errorf(ErrBadArgument, "%q: expected KIND/NAME with one /, e.g. deploy/web (the namespace goes in -n)", arg)
	}
	k, err := resolveKind(r, ks, extra)
	return k, name, err
}

// KindNames returns the names completion offers for kinds: the built-in plurals and short
// names.
func KindNames() []string {
	var out []string
	for _, k := range kinds.Builtin() {
		out = append(out, k.Plural)
		out = append(out, k.Short...)
	}
	sort.Strings(out)
	return out
}

// WorkloadKindNames returns the names completion offers for the kinds that roll out: each
// one's short names and plural (deploy, deployments, sts, ...).
func WorkloadKindNames() []string {
	var out []string
	for _, kind := range kinds.RolloutKinds() {
		if k, ok := kinds.Lookup("", kind); ok {
			out = append(out, k.Short...)
			out = append(out, k.Plural)
		}
	}
	return out
}

// LookupKind returns the Kind the log calls kind (e.g. "Deployment"): a built-in kind with its
// plural, or for other kinds (CRDs) one whose plural is guessed as kubectl would print it.
// Views know the plural and scope of custom kinds from the recorded discovery
// (Views.LookupKind).
func LookupKind(group, kind string) Kind {
	if k, ok := builtinResolver().lookup(group, kind); ok {
		return k
	}
	return Kind{Group: group, Kind: kind, Resource: guessPlural(strings.ToLower(kind)), Namespaced: true}
}

func guessPlural(s string) string {
	switch {
	case strings.HasSuffix(s, "s"), strings.HasSuffix(s, "x"), strings.HasSuffix(s, "ch"), strings.HasSuffix(s, "sh"):
		return s + "es"
	case strings.HasSuffix(s, "y") && len(s) > 1 && !strings.ContainsRune("aeiou", rune(s[len(s)-2])):
		return s[:len(s)-1] + "ies"
	}
	return s + "s"
}

// Singular is the lowercase kind, as kubectl prints it in KIND/NAME (deployment/web).
func (k Kind) Singular() string { return strings.ToLower(k.Kind) }

// Qualified is the kind as kubectl get prints it in front of names: deployment.apps, pod.
func (k Kind) Qualified() string {
	if k.Group == "" {
		return k.Singular()
	}
	return k.Singular() + "." + k.Group
}

// String is kubectl's KIND form without a name: deployment.apps.
func (k Kind) String() string { return k.Qualified() }

// IsWorkload reports whether the kind rolls out revisions: Deployment, StatefulSet, DaemonSet
// (see kinds.RollsOut).
func (k Kind) IsWorkload() bool { return kinds.RollsOut(k.Group, k.Kind) }

// RequireWorkload returns an ErrBadArgument unless k rolls out revisions; cmd names the command.
func RequireWorkload(cmd string, k Kind) error {
	if k.IsWorkload() {
		return nil
	}
	var names, short []string
	for _, kind := range kinds.RolloutKinds() {
		names = append(names, strings.ToLower(kind))
		if b, ok := kinds.Lookup("", kind); ok && len(b.Short) > 0 {
			short = append(short, b.Short[0])
		}
	}
	list := strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	return errorf(ErrBadArgument, "%s: %s have no rollouts: use a %s (%s)", cmd, k.Resource, list, strings.Join(short, ", "))
}
