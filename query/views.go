package query

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/khist/khist/projector"
)

// Views answers queries from the projector's views of one cluster, or of several for the
// commands that show several side by side (SelectClusters). It only reads.
type Views struct {
	DB      *projector.DB
	Cluster string
	Env     Env
	// Selected are the clusters selected when more than one is (SelectClusters), Cluster first;
	// nil when Cluster alone is.
	Selected []string
}

// NewViews returns the queries over db for cluster, in the environment env.
func NewViews(db *projector.DB, cluster string, env Env) *Views {
	return &Views{DB: db, Cluster: cluster, Env: env}
}

func (v *Views) ref(k Kind, ns, name string) projector.ObjectRef {
	if !k.Namespaced {
		ns = ""
	}
	return projector.ObjectRef{Cluster: v.Cluster, Group: k.Group, Kind: k.Kind, Namespace: ns, Name: name}
}

func fromProjector(p projector.Version) Version {
	return Version{
		Seq: p.Seq, Time: p.Observed, Type: p.Type,
		ObjectKey: ObjectKey{Group: p.Group, Kind: p.Kind, Namespace: p.Namespace, Name: p.Name},
		UID:       p.UID, ResourceVersion: p.ResourceVersion, Actor: p.Actor, Object: p.Object,
	}
}

// kindResolver resolves kinds with the cluster's latest recorded API discovery (CRDs, their
// short names and categories, the scope of custom kinds), or with the built-in kinds when the
// history carries no discovery (kubectl watch files).
func (v *Views) kindResolver(ctx context.Context) *resolver {
	rd, err := v.DB.Discovery(ctx, v.Cluster)
	if err != nil || rd == nil {
		return builtinResolver()
	}
	return newResolver(rd.Discovery)
}

// extraKinds are the kinds recorded in the cluster that r does not know (CRDs of a history
// without discovery, or deleted since the discovery).
func (v *Views) extraKinds(ctx context.Context, r *resolver) []Kind {
	gks, err := v.DB.Kinds(ctx, v.Cluster)
	if err != nil {
		return nil
	}
	var out []Kind
	for _, gk := range gks {
		k, ok := r.lookup(gk.Group, gk.Kind)
		if !ok {
			// A kind discovery does not describe: cluster-scoped if the history holds its
			// objects without a namespace.
			k = LookupKind(gk.Group, gk.Kind)
			if names, _ := v.DB.Names(ctx, v.Cluster, gk.Group, gk.Kind, ""); len(names) > 0 {
				k.Namespaced = false
			}
		}
		out = append(out, k)
	}
	return out
}

// ResolveKind reads a kind, knowing the cluster's recorded discovery and the kinds of the
// recorded history.
func (v *Views) ResolveKind(ctx context.Context, s string) (Kind, error) {
	r := v.kindResolver(ctx)
	k, err := resolveKind(r, s, nil)
	if err == nil {
		return k, nil
	}
	return resolveKind(r, s, v.extraKinds(ctx, r))
}

// category returns the kinds of a category of the cluster's recorded discovery (such as all),
// or ok false when s names none. all is at least the kinds khist state shows by default.
func (v *Views) category(ctx context.Context, s string) ([]Kind, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	r := v.kindResolver(ctx)
	var out []Kind
	if s == "all" {
		for _, k := range allKinds {
			out = append(out, LookupKind("", k))
		}
		if r == builtinResolver() {
			return out, true
		}
	}
	more, ok := r.category(s)
	for _, k := range more {
		if !slices.ContainsFunc(out, func(o Kind) bool { return o.Group == k.Group && o.Kind == k.Kind }) {
			out = append(out, k)
		}
	}
	return out, ok || len(out) > 0
}

// resolveKinds reads a category (all) as its kinds, or else a kind, as kubectl get does.
func (v *Views) resolveKinds(ctx context.Context, s string) ([]Kind, error) {
	if ks, ok := v.category(ctx, s); ok {
		return ks, nil
	}
	k, err := v.ResolveKind(ctx, s)
	if err != nil {
		return nil, err
	}
	return []Kind{k}, nil
}

// ParseObject reads KIND/NAME, knowing the cluster's recorded discovery and the kinds of the
// recorded history.
func (v *Views) ParseObject(ctx context.Context, arg string) (Kind, string, error) {
	return v.parseKindName(ctx, arg, false)
}

func (v *Views) parseKindName(ctx context.Context, arg string, allowEmptyName bool) (Kind, string, error) {
	r := v.kindResolver(ctx)
	k, n, err := parseKindName(r, arg, nil, allowEmptyName)
	if errors.Is(err, ErrUnknownKind) {
		return parseKindName(r, arg, v.extraKinds(ctx, r), allowEmptyName)
	}
	return k, n, err
}

// namespaceOf is the namespace a command looks in: -n, or default.
func namespaceOf(k Kind, s Scope) string {
	if !k.Namespaced {
		return ""
	}
	if s.Namespace == "" {
		return "default"
	}
	return s.Namespace
}

// lifetimes returns the objects that held the name, oldest first, or a NotFoundError naming the
// nearest names that exist.
func (v *Views) lifetimes(ctx context.Context, k Kind, ns, name string) ([]projector.Lifetime, error) {
	lts, err := v.DB.Lifetimes(ctx, v.ref(k, ns, name))
	if err != nil {
		return nil, err
	}
	if len(lts) == 0 {
		return nil, v.notFound(ctx, k, ns, name)
	}
	return lts, nil
}

// notFound builds the error for a name the history lacks: the nearest names of the kind in the
// namespace, and the same name in other namespaces.
func (v *Views) notFound(ctx context.Context, k Kind, ns, name string) error {
	e := &NotFoundError{Kind: k, Namespace: ns, Name: name}
	names, _ := v.DB.Names(ctx, v.Cluster, k.Group, k.Kind, ns)
	e.Nearest = Nearest(name, names, 3)
	if k.Namespaced && len(e.Nearest) < 3 {
		nss, _ := v.DB.Namespaces(ctx, v.Cluster)
		var other []string
		for _, o := range nss {
			if o == ns {
				continue
			}
			on, _ := v.DB.Names(ctx, v.Cluster, k.Group, k.Kind, o)
			for _, n := range on {
				if n == name || len(Nearest(name, []string{n}, 1)) > 0 {
					other = append(other, n+" in namespace "+o+" (-n "+o+")")
				}
			}
		}
		sort.Strings(other)
		e.Nearest = append(e.Nearest, other[:min(len(other), 3-len(e.Nearest))]...)
	}
	return e
}

// Span returns the observed times of the first and the last event in the views, zero when they
// are empty.
func (v *Views) Span(ctx context.Context) (first, last time.Time, err error) {
	vs, err := v.DB.Timeline(ctx, projector.TimelineFilter{Cluster: v.Cluster, Limit: 1})
	if err != nil || len(vs) == 0 {
		return time.Time{}, time.Time{}, err
	}
	first = vs[0].Observed
	if last, err = v.DB.LastObserved(ctx, v.Cluster); err != nil {
		return first, first, err
	}
	if last.Before(first) {
		last = first
	}
	return first, last, nil
}

// checkInHistory returns a RangeError when t lies outside the recorded history.
func (v *Views) checkInHistory(ctx context.Context, flag string, t time.Time) error {
	first, last, err := v.Span(ctx)
	if err != nil {
		return err
	}
	if first.IsZero() {
		return errorf(ErrNotFound, "the views of cluster %q are empty: record (khist collect) or import (khist import) first, or pick --cluster", v.Cluster)
	}
	return CheckRange(flag, t, "the recorded history", first, last.Add(time.Second), v.Env.loc())
}

// --- TimelineSource over the views ---

// VersionsBetween implements TimelineSource.
func (v *Views) VersionsBetween(scope Scope, since, until time.Time, fn func(*Version) error) error {
	f := projector.TimelineFilter{Cluster: v.Cluster, From: since, To: until, WithObjects: true}
	if !scope.AllNamespaces {
		f.Namespaces = append([]string{scope.Namespace}, scope.Others...)
		if scope.ClusterScoped {
			f.Namespaces = append(f.Namespaces, "")
		}
	}
	vs, err := v.DB.Timeline(context.Background(), f)
	if err != nil {
		return err
	}
	// The log's order is the causal one; the index orders by observed time first.
	slices.SortStableFunc(vs, func(a, b projector.Version) int { return cmp.Compare(a.Seq, b.Seq) })
	for i := range vs {
		qv := fromProjector(vs[i])
		if err := fn(&qv); err != nil {
			return err
		}
	}
	return nil
}

// Before implements TimelineSource.
func (v *Views) Before(ver *Version, t time.Time) (*Version, error) {
	ref := projector.ObjectRef{Cluster: v.Cluster, Group: ver.Group, Kind: ver.Kind, Namespace: ver.Namespace, Name: ver.Name, UID: ver.UID}
	pv, err := v.DB.VersionAt(context.Background(), ref, t.Add(-time.Nanosecond))
	if errors.Is(err, projector.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	qv := fromProjector(pv)
	return &qv, nil
}

// Latest implements TimelineSource.
func (v *Views) Latest(k ObjectKey, t time.Time) (*Version, error) {
	ref := projector.ObjectRef{Cluster: v.Cluster, Group: k.Group, Kind: k.Kind, Namespace: k.Namespace, Name: k.Name}
	pv, err := v.DB.VersionAt(context.Background(), ref, t)
	if errors.Is(err, projector.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.Ref(), err)
	}
	qv := fromProjector(pv)
	return &qv, nil
}
