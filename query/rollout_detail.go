package query

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/khist/khist/projector"
)

// RolloutDetail is one finished rollout with what khist rollouts, khist steps and the pods'
// lifecycles say of it: its row, its reconcile steps, and the readiness changes of its
// workload's pods while it ran. Exports that carry whole rollouts (OpenTelemetry traces) read it.
type RolloutDetail struct {
	Cluster string         `json:"cluster"`
	UID     string         `json:"uid"` // the workload's
	Rollout RolloutRow     `json:"rollout"`
	Steps   []StepDetail   `json:"steps"`
	Pods    []PodReadiness `json:"pods"`
}

// StepDetail is a reconcile step as khist steps shows it, with the numbers behind its text.
type StepDetail struct {
	StepRow
	From     *int32 `json:"from,omitempty"`     // a scale's replicas before
	To       *int32 `json:"to,omitempty"`       // and after
	Revision string `json:"revision,omitempty"` // a created pod's revision hash
	Node     string `json:"node,omitempty"`
}

// PodReadiness is a change of a pod's Ready condition during a rollout.
type PodReadiness struct {
	Pod      string    `json:"pod"`
	Revision string    `json:"revision,omitempty"`
	Node     string    `json:"node,omitempty"`
	Created  time.Time `json:"created"`
	At       time.Time `json:"at"`
	Seq      uint64    `json:"seq"`
	Ready    bool      `json:"ready"`
}

// RolloutDetailArgs select finished rollouts.
type RolloutDetailArgs struct {
	Namespace     string    // "" with AllNamespaces
	AllNamespaces bool      // every namespace
	Since, Until  time.Time // rollouts that overlap the window; zero: unbounded
	// EndedAfter: only rollouts that ended after this log sequence (0: any).
	EndedAfter uint64
}

// RolloutDetails returns the finished rollouts of Deployments, StatefulSets and DaemonSets that
// the arguments select, in the order they ended.
func (v *Views) RolloutDetails(ctx context.Context, a RolloutDetailArgs) ([]RolloutDetail, error) {
	_, last, err := v.Span(ctx)
	if err != nil {
		return nil, err
	}
	f := projector.RolloutFilter{Cluster: v.Cluster, Namespace: a.Namespace, From: a.Since, To: a.Until}
	if a.AllNamespaces {
		f.Namespace = ""
	}
	raw, err := v.DB.Rollouts(ctx, f)
	if err != nil {
		return nil, err
	}
	bySeq := map[uint64]*projector.Rollout{}
	for i := range raw {
		bySeq[raw[i].StartSeq] = &raw[i]
	}
	rows, err := v.rolloutRows(ctx, f, last)
	if err != nil {
		return nil, err
	}
	var out []RolloutDetail
	for _, row := range rows {
		r := bySeq[row.ID]
		if r == nil || r.EndSeq == 0 || r.EndSeq <= a.EndedAfter {
			continue
		}
		d := RolloutDetail{Cluster: r.Cluster, UID: r.UID, Rollout: row, Steps: []StepDetail{}, Pods: []PodReadiness{}}
		steps, err := v.DB.RolloutSteps(ctx, *r)
		if err != nil {
			return nil, err
		}
		for _, s := range steps {
			d.Steps = append(d.Steps, StepDetail{StepRow: stepRow(s, row), From: s.From, To: s.To, Revision: s.Revision, Node: s.Node})
		}
		pods, err := v.DB.Pods(ctx, projector.PodFilter{Cluster: r.Cluster, Namespace: r.Namespace, Workload: r.Name, Kind: r.Kind,
			From: r.Start, To: r.End.Add(time.Nanosecond)})
		if err != nil {
			return nil, err
		}
		for _, p := range pods {
			for _, rc := range p.Ready {
				if rc.Seq < r.StartSeq || rc.Seq > r.EndSeq {
					continue
				}
				d.Pods = append(d.Pods, PodReadiness{Pod: p.Name, Revision: p.Revision, Node: p.Node, Created: p.Created, At: rc.At, Seq: rc.Seq, Ready: rc.Ready})
			}
		}
		slices.SortStableFunc(d.Pods, func(x, y PodReadiness) int { return cmp.Compare(x.Seq, y.Seq) })
		out = append(out, d)
	}
	slices.SortStableFunc(out, func(x, y RolloutDetail) int { return cmp.Compare(x.Rollout.EndSeq, y.Rollout.EndSeq) })
	return out, nil
}
