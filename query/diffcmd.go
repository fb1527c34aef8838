package query

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/khist/khist/projector"
)

// DiffArgs are the arguments of khist diff.
type DiffArgs struct {
	Object    string // KIND/NAME
	Namespace string // -n
	// From and To are revisions (3) or times (see ParseTime). Without To the diff ends at the
	// last recorded version; without From it starts at the version before To that differs.
	From, To string
	All      bool // keep the Noise fields (resourceVersion, managedFields, status timestamps)
	Color    bool // colour for a terminal
	Context  int  // lines of context; default 3
}

// Diff writes the unified YAML diff of an object between two points of its history.
func (v *Views) Diff(ctx context.Context, a DiffArgs, w io.Writer) error {
	k, name, err := v.ParseObject(ctx, a.Object)
	if err != nil {
		return err
	}
	var from, to Point
	if a.From != "" {
		if from, err = v.Env.Point("--from", a.From); err != nil {
			return err
		}
	}
	if a.To != "" {
		if to, err = v.Env.Point("--to", a.To); err != nil {
			return err
		}
	}
	if (from.Revision > 0 || to.Revision > 0) && !k.IsWorkload() {
		return errorf(ErrBadArgument, "diff: %s have no revisions: give --from and --to as times (%s)", k.Resource, TimeForms)
	}
	ns := namespaceOf(k, Scope{Namespace: a.Namespace})
	toV, toLabel, err := v.pointVersion(ctx, k, ns, name, to, "--to")
	if err != nil {
		return err
	}
	var fromV Version
	var fromLabel string
	if a.From == "" {
		fromV, fromLabel, err = v.previousChange(ctx, toV, a.All)
	} else {
		fromV, fromLabel, err = v.pointVersion(ctx, k, ns, name, from, "--from")
	}
	if err != nil {
		return err
	}
	if fromV.Seq > toV.Seq && a.From != "" && a.To != "" {
		fromV, toV, fromLabel, toLabel = toV, fromV, toLabel, fromLabel
	}
	var fromObj, toObj []byte = fromV.Object, toV.Object
	if fromV.Seq == 0 {
		fromObj = nil
	}
	d, err := DiffObjects(fromObj, toObj, DiffOptions{FromName: fromLabel, ToName: toLabel, All: a.All, Context: a.Context})
	if err != nil {
		return err
	}
	if d == "" {
		_, err := fmt.Fprintf(w, "No differences between %s and %s%s.\n", fromLabel, toLabel, map[bool]string{false: " (noise such as resourceVersion and status timestamps ignored; --all compares everything)", true: ""}[a.All])
		return err
	}
	if a.Color {
		d = ColorizeDiff(d)
	}
	_, err = io.WriteString(w, d)
	return err
}

// label names a version in a diff header.
func (v *Views) label(ver Version, what string) string {
	s := ver.Short()
	if what != "" {
		s += " " + what
	}
	return fmt.Sprintf("%s (%s %s, resourceVersion %s)", s, ver.Type, v.Env.FormatTime(ver.Time), ver.ResourceVersion)
}

// pointVersion returns the version a --from or --to names: the last version of a revision, the
// version current at a time, or (zero point) the last recorded version.
func (v *Views) pointVersion(ctx context.Context, k Kind, ns, name string, p Point, flag string) (Version, string, error) {
	if p.Revision > 0 {
		ver, err := v.revisionVersion(ctx, k, ns, name, p.Revision)
		if err != nil {
			return Version{}, "", err
		}
		return ver, v.label(ver, "revision "+strconv.FormatInt(p.Revision, 10)), nil
	}
	ver, _, err := v.objectAt(ctx, k, ns, name, p.Time, flag)
	if err != nil {
		return Version{}, "", err
	}
	what := "last recorded"
	if !p.Time.IsZero() {
		what = "at " + v.Env.FormatTime(p.Time)
	}
	return ver, v.label(ver, what), nil
}

// previousChange returns the newest version of to's object before to that differs from it (as
// the diff compares them), or a zero Version when to is the first.
func (v *Views) previousChange(ctx context.Context, to Version, all bool) (Version, string, error) {
	ref := projector.ObjectRef{Cluster: v.Cluster, Group: to.Group, Kind: to.Kind, Namespace: to.Namespace, Name: to.Name, UID: to.UID}
	vs, err := v.DB.Versions(ctx, ref)
	if err != nil {
		return Version{}, "", err
	}
	target, err := ObjectYAML(to.Object, all)
	if err != nil {
		return Version{}, "", err
	}
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].Seq >= to.Seq {
			continue
		}
		y, err := ObjectYAML(vs[i].Object, all)
		if err == nil && string(y) != string(target) {
			pv := fromProjector(vs[i])
			return pv, v.label(pv, "previous change"), nil
		}
	}
	return Version{}, "(nothing: " + to.Short() + " was created)", nil
}

// revisionVersion returns the last version of a workload while its pod template was the one
// of revision rev. The versions of a workload fall into spans with the same spec.template; a
// span's revision is the one the revisions view says was current at the span's last version
// (the controller makes a new template's revision current a moment after the user wrote it,
// so the first versions of a span may still fall in the previous revision's period), with the
// number it had then (a rollback renumbers a revision).
func (v *Views) revisionVersion(ctx context.Context, k Kind, ns, name string, rev int64) (Version, error) {
	lts, err := v.lifetimes(ctx, k, ns, name)
	if err != nil {
		return Version{}, err
	}
	ref := v.ref(k, ns, name)
	ref.UID = lts[len(lts)-1].UID
	vs, err := v.DB.Versions(ctx, ref)
	if err != nil {
		return Version{}, err
	}
	revs, err := v.DB.Revisions(ctx, projector.WorkloadRef{Cluster: v.Cluster, Kind: k.Kind, Namespace: ns, Name: name})
	if err != nil {
		return Version{}, err
	}
	numberAt := func(seq uint64) int64 {
		for _, r := range revs {
			for _, p := range r.Current {
				if p.FromSeq <= seq && (p.ToSeq == 0 || seq < p.ToSeq) {
					n := int64(0)
					for _, rn := range r.Numbers {
						if rn.Seq <= seq {
							n = rn.Number
						}
					}
					if n == 0 {
						n = r.Number()
					}
					return n
				}
			}
		}
		return 0
	}
	var best *projector.Version
	var known []int64
	seen := map[int64]bool{}
	var spanLast *projector.Version
	var spanTmpl string
	closeSpan := func() {
		if spanLast == nil {
			return
		}
		n := numberAt(spanLast.Seq)
		if n > 0 && !seen[n] {
			seen[n] = true
			known = append(known, n)
		}
		if n == rev {
			best = spanLast
		}
	}
	for i := range vs {
		if vs[i].Type == "DELETED" || vs[i].Type == "DELETED_UNOBSERVED" {
			continue
		}
		var o struct {
			Spec struct {
				Template json.RawMessage `json:"template"`
			} `json:"spec"`
		}
		if json.Unmarshal(vs[i].Object, &o) != nil {
			continue
		}
		tmpl := canonicalJSON(o.Spec.Template)
		if spanLast != nil && tmpl != spanTmpl {
			closeSpan()
		}
		spanTmpl, spanLast = tmpl, &vs[i]
	}
	closeSpan()
	if best == nil {
		list := "none recorded"
		if len(known) > 0 {
			list = "recorded: " + joinInts(known)
		}
		return Version{}, &NotFoundError{Kind: k, Namespace: ns, Name: name, What: "revision " + strconv.FormatInt(rev, 10) + " (" + list + ")"}
	}
	return fromProjector(*best), nil
}

// canonicalJSON re-encodes JSON with sorted keys, so that equal values compare equal.
func canonicalJSON(raw json.RawMessage) string {
	var x any
	if json.Unmarshal(raw, &x) != nil {
		return string(raw)
	}
	b, _ := json.Marshal(x)
	return string(b)
}

func joinInts(ns []int64) string {
	s := ""
	for i, n := range ns {
		if i > 0 {
			s += ", "
		}
		s += strconv.FormatInt(n, 10)
	}
	return s
}
