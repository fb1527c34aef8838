package replay

// The spec changes and rollouts of a scenario, and the steps the controller was recorded taking.

import (
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
)

// extractChangesAndRollouts finds the user spec changes and the rollouts they started.
func extractChangesAndRollouts(scn *Scenario) {
	x := scn.x
	var prev *wlVer
	effective := ""
	type start struct {
		seq   uint64
		t     time.Time
		tmpl  string
		prev  string
		actor string
	}
	var starts []start
	for i := range x.workload {
		wv := &x.workload[i]
		if isDelete(wv.typ) {
			continue
		}
		gen := wv.w.meta.Metadata.Generation
		isChange := false
		if prev == nil {
			created := wv.w.status.ObservedGeneration == 0 && gen <= 1
			if created {
				isChange = true
			} else {
				effective = wv.w.spec.Template
			}
		} else if gen > prev.w.meta.Metadata.Generation {
			isChange = true
		}
		if isChange {
			actor := wv.actor
			if actor == "" {
				actor = specActor(&wv.w.meta)
			}
			c := SpecChange{Seq: wv.seq, Time: wv.t, Actor: actor, Generation: gen, Object: wv.raw, w: wv.w}
			if prev != nil {
				c.Fields = changedFields(prev.raw, wv.raw)
			}
			scn.Changes = append(scn.Changes, c)
			if !wv.w.spec.Paused && wv.w.spec.Template != effective {
				starts = append(starts, start{seq: wv.seq, t: wv.t, tmpl: wv.w.spec.Template, prev: effective, actor: actor})
				effective = wv.w.spec.Template
			}
		}
		prev = wv
	}
	kindLower := strings.ToLower(scn.Kind)
	for i, s := range starts {
		r := Rollout{Index: i + 1, ID: fmt.Sprintf("%s/%s#%d", kindLower, scn.Name, i+1), Seq: s.seq, LogSeq: x.toLogSeq(s.seq), Start: s.t,
			Revision: revisionName(scn, s.tmpl), Actor: s.actor, template: s.tmpl}
		if s.prev != "" {
			r.Previous = revisionName(scn, s.prev)
		}
		if i+1 < len(starts) {
			r.EndSeq, r.End = starts[i+1].seq, starts[i+1].t
		} else {
			r.EndSeq, r.End = x.endSeq+1, x.endTime
		}
		scn.Rollouts = append(scn.Rollouts, r)
	}
}

// revisionName is the recorded name of the revision with template key k, or a stable
// synthetic name when the history never named it.
func revisionName(scn *Scenario, k string) string {
	if n, ok := scn.x.revName[k]; ok {
		return n
	}
	h := k
	if len(h) > 10 {
		h = h[:10]
	}
	if _, ok := kindOf(scn.Kind).(simRevisionPrefixer); ok {
		return scn.Name + "-sim" + h
	}
	return "sim" + h
}

// changedFields lists the top-level spec fields that differ between two object JSONs.
func changedFields(a, b []byte) []string {
	var x, y struct {
		Spec map[string]json.RawMessage `json:"spec"`
	}
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return nil
	}
	var out []string
	for _, k := range sortedKeys(y.Spec) {
		if !jsonEqual(x.Spec[k], y.Spec[k]) {
			out = append(out, k)
		}
	}
	for _, k := range sortedKeys(x.Spec) {
		if _, ok := y.Spec[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return string(a) == string(b)
	}
	return reflect.DeepEqual(x, y)
}

// recordSteps lists the writes the controllers were recorded making (extraction.steps) and
// fills each rollout's recorded steps. A ReplicaSet scaled by someone other than the controller
// manager is kept as a step of the rollout but marked external: an input of the decision audit.
func recordSteps(scn *Scenario) {
	x := scn.x
	var steps []loggedStep
	if r, ok := kindOf(scn.Kind).(stepRecorder); ok {
		steps = r.recordedSteps(scn)
	} else {
		steps = podSteps(scn)
	}
	slices.SortStableFunc(steps, func(a, b loggedStep) int { return cmp.Compare(a.seq, b.seq) })
	x.steps = steps
	for ri := range scn.Rollouts {
		r := &scn.Rollouts[ri]
		for _, s := range steps {
			if s.seq >= r.Seq && s.seq < r.EndSeq {
				r.Recorded = append(r.Recorded, s.s)
			}
		}
	}
}

// A stepRecorder is a workload kind whose controller's writes are not its pods' creations and
// deletions (the Deployment's are its ReplicaSets' scales): recordedSteps lists them, in any
// order.
type stepRecorder interface {
	recordedSteps(scn *Scenario) []loggedStep
}

// podSteps are the creations of the workload's pods and the deletions its controller made.
func podSteps(scn *Scenario) []loggedStep {
	var steps []loggedStep
	for i := range scn.Pods {
		p := &scn.Pods[i]
		steps = append(steps, loggedStep{s: Step{Kind: scn.Kind, Pod: p.Name, Action: ActionCreate, Revision: p.Revision, Node: p.Node, Index: p.Index, Time: p.Created}, seq: p.createSeq})
		if p.DeletedBy == deletedByController {
			steps = append(steps, loggedStep{s: Step{Kind: scn.Kind, Pod: p.Name, Action: ActionDelete, Revision: p.Revision, Node: p.Node, Index: p.Index, Time: p.DeleteRequested}, seq: p.delSeq})
		}
	}
	return steps
}

// rsWriter is who changed a ReplicaSet's spec between two versions: the version's recorded
// writer when the history has one (the event log's), else the manager whose managedFields entry
// outside the status subresource is new or moved, another than the controller manager when
// there are several; "" when unknown.
func rsWriter(prev, cur *rsObj, actor string) string {
	if actor != "" || len(cur.meta.Metadata.ManagedFields) == 0 {
		return actor // the event log's writer (an audit log's user where one was imported)
	}
	var pm *objMeta
	if prev != nil {
		pm = &prev.meta
	}
	if w := movedManager(pm, &cur.meta, true); w != "" {
		return w
	}
	return "kube-controller-manager"
}
