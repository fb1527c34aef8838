package query

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/khist/khist/projector"
)

// Annotation is one mark on a dashboard's time axis, in the fields Grafana's annotations carry:
// a rollout is a region from its start to its end (to the end of the history while it lasts),
// a spec change of a workload a point.
type Annotation struct {
	Time    time.Time `json:"time"`
	TimeEnd time.Time `json:"timeEnd,omitzero"`
	Title   string    `json:"title"`
	Text    string    `json:"text"`
	// Tags: "khist", "rollout" or "spec-change", the namespace, kind/name, and of a rollout
	// its outcome (complete, failed, rolled-back, ...; a rollout that failed and was rolled
	// back has both) and its ID (khist-rollout:SEQ), which tells one rollout's annotation from
	// another's; of a spec change, khist-change:SEQ.
	Tags []string `json:"tags"`
	// Namespace of the workload it is about.
	Namespace string `json:"-"`
}

// AnnotationsArgs select the annotations of a window.
type AnnotationsArgs struct {
	Namespace     string    // the namespace; "" with AllNamespaces
	AllNamespaces bool      // every namespace
	Since, Until  time.Time // the window: what overlaps it; zero: unbounded
	// What: "rollouts", "spec-changes", or "" for both.
	What string
}

// AnnotationKinds are the values of AnnotationsArgs.What.
var AnnotationKinds = []string{"rollouts", "spec-changes"}

// Annotations returns the rollouts (khist rollouts' rows) and the spec changes of workloads
// (the spec and scale changes khist timeline marks on their lanes) that overlap the window,
// in time order.
func (v *Views) Annotations(ctx context.Context, a AnnotationsArgs) ([]Annotation, error) {
	if a.What != "" && !slices.Contains(AnnotationKinds, a.What) {
		return nil, errorf(ErrBadArgument, "annotations of %q: use %s", a.What, strings.Join(AnnotationKinds, " or "))
	}
	first, last, err := v.Span(ctx)
	if err != nil {
		return nil, err
	}
	var out []Annotation
	if first.IsZero() {
		return out, nil
	}
	if a.What == "" || a.What == "rollouts" {
		f := projector.RolloutFilter{Cluster: v.Cluster, Namespace: a.Namespace, From: a.Since, To: a.Until}
		if a.AllNamespaces {
			f.Namespace = ""
		}
		rows, err := v.rolloutRows(ctx, f, last)
		if err != nil {
			return nil, err
		}
		jobs, err := v.jobRolloutRows(ctx, f, last)
		if err != nil {
			return nil, err
		}
		for _, r := range mergeRows(rows, jobs) {
			out = append(out, rolloutAnnotation(r, last))
		}
	}
	if a.What == "" || a.What == "spec-changes" {
		changes, err := v.specChanges(ctx, a, first, last)
		if err != nil {
			return nil, err
		}
		out = append(out, changes...)
	}
	slices.SortStableFunc(out, func(x, y Annotation) int { return x.Time.Compare(y.Time) })
	return out, nil
}

// outcomeTags are an outcome as tags, one word each: "failed, rolled back" is failed and
// rolled-back, "complete after its progress deadline" complete.
func outcomeTags(r RolloutRow) []string {
	var out []string
	for _, w := range strings.Split(strings.SplitN(r.Outcome, " after", 2)[0], ", ") {
		out = append(out, strings.ReplaceAll(w, " ", "-"))
	}
	return out
}

// rolloutAnnotation is a rollout's region: from its start to its end, with the audit's line.
func rolloutAnnotation(r RolloutRow, last time.Time) Annotation {
	an := Annotation{Time: r.Started, TimeEnd: r.Ended, Namespace: r.Workload.Namespace}
	if an.TimeEnd.IsZero() && last.After(r.Started) {
		an.TimeEnd = last
	}
	ref := r.Ref
	an.Title = fmt.Sprintf("Rollout %s: %s", ref, outcomeText(r))
	var b strings.Builder
	fmt.Fprintf(&b, "%s in namespace %s: revision %s, %s; %s", ref, r.Workload.Namespace, revisionText(r), imagesText(r), outcomeText(r))
	if d := durationText(r); d != "-" {
		fmt.Fprintf(&b, " after %s", d)
	}
	if r.Job == nil {
		fmt.Fprintf(&b, "; lowest availability %s", availText(r))
	}
	if r.Actor != "" {
		fmt.Fprintf(&b, "; by %s", r.Actor)
	}
	if r.ChangeCause != "" {
		fmt.Fprintf(&b, "; change-cause: %s", r.ChangeCause)
	}
	an.Text = b.String()
	an.Tags = append([]string{"khist", "rollout"}, outcomeTags(r)...)
	an.Tags = append(an.Tags, r.Workload.Namespace, strings.ToLower(r.Workload.Kind)+"/"+r.Workload.Name, fmt.Sprintf("khist-rollout:%d", r.ID))
	if r.Rollback {
		an.Tags = append(an.Tags, "rollback")
	}
	return an
}

// specChanges are the spec and scale changes of the workloads in the window, as the timeline
// finds them on the workloads' own lanes.
func (v *Views) specChanges(ctx context.Context, a AnnotationsArgs, first, last time.Time) ([]Annotation, error) {
	var ks []Kind
	for _, name := range workloadKinds {
		found, err := v.resolveKinds(ctx, strings.ToLower(name))
		if err != nil {
			continue // a kind this cluster never recorded
		}
		ks = append(ks, found...)
	}
	if len(ks) == 0 {
		return nil, nil
	}
	since, until := a.Since, a.Until
	if since.IsZero() || since.Before(first) {
		since = first
	}
	if end := last.Add(time.Second); until.IsZero() || until.After(end) {
		until = end
	}
	if !until.After(since) {
		return nil, nil
	}
	tl, err := BuildTimeline(v, TimelineOptions{Cluster: v.Cluster, Scope: Scope{Namespace: a.Namespace, AllNamespaces: a.AllNamespaces},
		Since: since, Until: until, Kinds: ks})
	if err != nil {
		return nil, err
	}
	var out []Annotation
	for _, g := range tl.Groups {
		for _, l := range g.Lanes {
			if !slices.Contains(workloadKinds, l.Object.Kind) {
				continue
			}
			for _, e := range l.Entries {
				if e.Class != ClassSpec && e.Class != ClassScale {
					continue
				}
				what := strings.ToLower(e.Object.Kind) + "/" + e.Object.Name
				an := Annotation{Time: e.Time, Namespace: e.Object.Namespace,
					Title: fmt.Sprintf("%s: %s", what, e.Summary),
					Tags:  []string{"khist", "spec-change", string(e.Class), e.Object.Namespace, what, fmt.Sprintf("khist-change:%d", e.Seq)}}
				// The fields that changed (the generation's bump aside), else the summary.
				var fields []string
				for _, f := range e.Fields {
					if !strings.HasPrefix(f.Path, "metadata.") {
						fields = append(fields, f.String())
					}
				}
				if len(fields) == 0 {
					fields = []string{e.Summary}
				}
				an.Text = fmt.Sprintf("%s in namespace %s: %s", what, e.Object.Namespace, strings.Join(fields, "; "))
				if e.Actor != "" {
					an.Text += "; by " + e.Actor
				}
				out = append(out, an)
			}
		}
	}
	return out, nil
}
