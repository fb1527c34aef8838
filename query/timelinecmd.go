package query

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// TimelineArgs are the arguments of khist timeline. With -n, cluster-scoped objects (nodes,
// volumes) are included only when --kind names their kind.
type TimelineArgs struct {
	Namespace     string   // -n
	AllNamespaces bool     // -A
	Since         string   // --since (required)
	Until         string   // --until; default now
	Kinds         []string // --kind: only lanes of these kinds
	Selector      string   // -l: only workloads with an object whose labels match
	Output        string   // -o: table, json, csv, md or html
	All           bool     // also versions that changed only noise
	// DiffURL, with -o html, leaves each change's diff out of the page, which fetches it from
	// DiffURL followed by the change's sequence when it is clicked (khist serve: a page of many
	// changes arrives fast). Default "": every diff inline, the page self-contained.
	DiffURL string
	// Workload, KIND/NAME (deploy/web), keeps only that object's tree: what it owns and the
	// Events about them. It names an object of the one namespace of Namespace. Default "": all.
	Workload string
	// After, when not 0, keeps only the changes of sequence above it (a live page's news).
	After uint64
}

// splitList splits a comma-separated list, blanks and repeats left out.
func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// Timeline writes every change in a window, grouped by workload, in one of TimelineFormats.
// Namespace may list several namespaces (a,b).
// The HTML form carries each change's diff, shown on a click.
//
// Of several clusters, their groups follow one another, each group naming its cluster; a
// cluster whose history the window misses is left out.
func (v *Views) Timeline(ctx context.Context, a TimelineArgs, w io.Writer) error {
	out, err := ParseOutput(a.Output, TimelineFormats...)
	if err != nil {
		return err
	}
	tl, err := v.timelineOfClusters(ctx, a, out)
	if err != nil {
		return err
	}
	return RenderTimeline(w, tl, out, v.Env)
}

// TimelinePageData writes the data of the HTML timeline's page as JSON (the page's #khist-data
// block), diffs left to a.DiffURL: what a live page fetches, with a.After, to add the changes
// made since it was drawn.
func (v *Views) TimelinePageData(ctx context.Context, a TimelineArgs, w io.Writer) error {
	tl, err := v.timelineOfClusters(ctx, a, OutHTML)
	if err != nil {
		return err
	}
	return json.NewEncoder(w).Encode(timelinePageData(tl, v.Env))
}

// timelineOfClusters builds the timeline of every cluster of v. Of several clusters, their
// groups follow one another, each group naming its cluster; a cluster whose history the window
// misses is left out.
func (v *Views) timelineOfClusters(ctx context.Context, a TimelineArgs, out string) (*Timeline, error) {
	cs := v.Clusters()
	if len(cs) == 1 {
		return v.In(cs[0]).timeline(ctx, a, out)
	}
	var tl *Timeline
	var missed error
	for _, c := range cs {
		one, err := v.In(c).timeline(ctx, a, out)
		if errors.Is(err, ErrOutOfRange) || errors.Is(err, ErrNotFound) {
			missed = cmp.Or(missed, err)
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, g := range one.Groups {
			g.Cluster = c
		}
		if tl == nil {
			tl = one
		} else {
			tl.Groups = append(tl.Groups, one.Groups...)
		}
	}
	if tl == nil {
		return nil, missed
	}
	tl.Cluster = strings.Join(cs, ", ")
	return tl, nil
}

// timeline builds the timeline of v's cluster.
func (v *Views) timeline(ctx context.Context, a TimelineArgs, out string) (*Timeline, error) {
	scope, err := ScopeOf(a.Namespace, a.AllNamespaces, "default")
	if err != nil {
		return nil, err
	}
	if nss := splitList(scope.Namespace); len(nss) > 1 {
		scope.Namespace, scope.Others = nss[0], nss[1:]
	} else if len(nss) == 1 {
		scope.Namespace = nss[0]
	}
	if strings.TrimSpace(a.Since) == "" {
		return nil, errorf(ErrBadTime, "--since: the start of the window is needed: use %s", TimeForms)
	}
	since, err := v.Env.Time("--since", a.Since)
	if err != nil {
		return nil, err
	}
	until := v.Env.Now
	if a.Until != "" {
		if until, err = v.Env.Time("--until", a.Until); err != nil {
			return nil, err
		}
	}
	if err := CheckWindow(since, until, v.Env.loc()); err != nil {
		return nil, err
	}
	sel, err := ParseSelector(a.Selector)
	if err != nil {
		return nil, err
	}
	var kinds []Kind
	for _, ks := range a.Kinds {
		for _, s := range strings.Split(ks, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			ks, err := v.resolveKinds(ctx, s)
			if err != nil {
				return nil, fmt.Errorf("--kind: %w", err)
			}
			for _, k := range ks {
				kinds = append(kinds, k)
				scope.ClusterScoped = scope.ClusterScoped || !k.Namespaced
			}
		}
	}
	first, last, err := v.Span(ctx)
	if err != nil {
		return nil, err
	}
	if first.IsZero() {
		return nil, errorf(ErrNotFound, "the views of cluster %q are empty: record (khist collect) or import (khist import) first, or pick --cluster", v.Cluster)
	}
	end := last.Add(time.Second)
	if until.Before(first) {
		return nil, &RangeError{Flag: "--until", Time: until, Subject: "the recorded history", From: first, To: end, Loc: v.Env.loc()}
	}
	if since.After(end) {
		return nil, &RangeError{Flag: "--since", Time: since, Subject: "the recorded history", From: first, To: end, Loc: v.Env.loc()}
	}
	var workload *ObjectKey
	if a.Workload != "" {
		if scope.AllNamespaces || len(scope.Others) > 0 {
			return nil, errorf(ErrBadArgument, "%s: a workload is named in one namespace: use -n NS, not -A or several", a.Workload)
		}
		k, name, err := v.ParseObject(ctx, a.Workload)
		if err != nil {
			return nil, err
		}
		ns := namespaceOf(k, scope)
		if _, err := v.lifetimes(ctx, k, ns, name); err != nil {
			return nil, err
		}
		workload = &ObjectKey{Group: k.Group, Kind: k.Kind, Namespace: ns, Name: name}
		scope.ClusterScoped = scope.ClusterScoped || !k.Namespaced
	}
	tl, err := BuildTimeline(v, TimelineOptions{
		Cluster: v.Cluster, Scope: scope, Since: since, Until: until, Workload: workload,
		Kinds: kinds, Selector: sel, Diffs: out == OutHTML && a.DiffURL == "", All: a.All, After: a.After,
	})
	if err != nil {
		return nil, err
	}
	tl.DiffURL = a.DiffURL
	return tl, nil
}
