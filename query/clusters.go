package query

// Several recorded clusters in one history: which of them a read command answers about.

import (
	"context"
	"slices"
	"strings"
)

// ClusterArgs select the recorded clusters a read command answers about: --cluster a,b and
// --all-clusters on the command line, cluster=a,b and allClusters=true in khist serve's API.
type ClusterArgs struct {
	Names []string // the clusters named; none: the views' Cluster
	All   bool     // every cluster the views hold
}

// SplitClusters reads --cluster's value: cluster names separated by commas.
func SplitClusters(s string) []string {
	var out []string
	for _, c := range strings.Split(s, ",") {
		if c = strings.TrimSpace(c); c != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// SelectClusters sets the clusters the views answer about. All selects every cluster the views
// hold (the views' Cluster when they hold none). A cluster named among several that the views
// do not hold is an ErrNotFound that lists the clusters they hold (when they hold none, the
// command says its views are empty).
func (v *Views) SelectClusters(ctx context.Context, a ClusterArgs) error {
	if a.All && len(a.Names) > 0 {
		return errorf(ErrBadArgument, "--cluster %s and --all-clusters exclude each other: use one", strings.Join(a.Names, ","))
	}
	names := a.Names
	known, err := v.DB.Clusters(ctx)
	if err != nil {
		return err
	}
	if !a.All && len(names) <= 1 {
		if len(names) == 1 {
			v.Cluster = names[0]
		}
		v.Selected = nil
		if len(known) > 0 && !slices.Contains(known, v.Cluster) {
			return errorf(ErrNotFound, "no cluster %q in the history (it holds %s): pick one with --cluster, or use --all-clusters", v.Cluster, listOr(known))
		}
		return nil
	}
	if a.All {
		names = known
		if len(names) == 0 {
			names = []string{v.Cluster}
		}
	}
	for _, c := range names {
		if !slices.Contains(known, c) {
			return errorf(ErrNotFound, "no cluster %q in the history (it holds %s): name those with --cluster, or use --all-clusters", c, listOr(known))
		}
	}
	v.Cluster = names[0]
	v.Selected = nil
	if len(names) > 1 {
		v.Selected = names
	}
	return nil
}

func listOr(names []string) string {
	if len(names) == 0 {
		return "none: record (khist collect) or import (khist import) first"
	}
	return strings.Join(names, ", ")
}

// Clusters returns the clusters the views answer about, in the order selected.
func (v *Views) Clusters() []string {
	if len(v.Selected) > 1 {
		return v.Selected
	}
	return []string{v.Cluster}
}

// In returns the views of cluster c alone.
func (v *Views) In(c string) *Views {
	return &Views{DB: v.DB, Cluster: c, Env: v.Env}
}

// Single returns the views of the one cluster selected, or an ErrBadArgument when several are:
// cmd answers about one cluster at a time.
func (v *Views) Single(cmd string) (*Views, error) {
	if cs := v.Clusters(); len(cs) > 1 {
		return nil, errorf(ErrBadArgument, "%s answers about one cluster at a time, not %s: pick one with --cluster", cmd, strings.Join(cs, ", "))
	}
	return v.In(v.Cluster), nil
}

// One returns the views of the cluster, among those selected, that holds the object arg
// (KIND/NAME, a #N suffix allowed) in namespace ns, for a command about one object. When
// several hold it, it returns an ErrBadArgument that names them; when none does, the views of
// the first cluster, whose command then says the object is not found.
func (v *Views) One(ctx context.Context, cmd, arg, ns string) (*Views, error) {
	cs := v.Clusters()
	if len(cs) == 1 {
		return v.In(cs[0]), nil
	}
	obj, _, _ := strings.Cut(arg, "#")
	var holders []string
	parsed := false
	for _, c := range cs {
		cv := v.In(c)
		k, name, err := cv.ParseObject(ctx, obj)
		if err != nil {
			continue
		}
		parsed = true
		in := ns
		if in == "" {
			in = "default"
		}
		if lts, err := cv.DB.Lifetimes(ctx, cv.ref(k, in, name)); err == nil && len(lts) > 0 {
			holders = append(holders, c)
		}
	}
	switch len(holders) {
	case 0:
		if !parsed {
			return v.Single(cmd)
		}
		return v.In(cs[0]), nil
	case 1:
		return v.In(holders[0]), nil
	}
	return nil, errorf(ErrBadArgument, "%s: %s exists in clusters %s: pick one with --cluster", cmd, obj, strings.Join(holders, ", "))
}
