package replay

// The pods of a scenario: each pod's record (creation, readiness, deletion and who deleted it),
// from the history.

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// extractPods folds the versions of the workload's pods (and a StatefulSet's claims) into
// PodRecords.
func extractPods(scn *Scenario, history []Version, owners map[string]bool, rsByUID map[string]*rsTimeline) ([]PodRecord, error) {
	x := scn.x
	var pods []PodRecord
	byUID := map[string]int{}
	// the workload's template in effect at a seq, for revision votes (seqs only grow)
	wi, tmpl := 0, ""
	tmplAt := func(seq uint64) string {
		for ; wi < len(x.workload) && x.workload[wi].seq <= seq; wi++ {
			tmpl = x.workload[wi].w.spec.Template
		}
		return tmpl
	}
	votes := map[string]map[string]int{} // hash -> template -> count
	for i := range history {
		v := &history[i]
		if v.Namespace != scn.Namespace {
			continue
		}
		if v.Kind == "PersistentVolumeClaim" && byOrdinal(scn.Kind) && v.Type == Added {
			// claims from volumeClaimTemplates are named CLAIM-SET-ORDINAL
			if i := strings.LastIndex(v.Name, "-"+scn.Name+"-"); i > 0 && ordinalOf(v.Name[i+1:], scn.Name) >= 0 {
				x.pvcs[v.Name] = v.Seq
			}
			continue
		}
		if v.Kind != "Pod" {
			continue
		}
		idx, known := byUID[v.UID]
		p, err := parsePod(v.Object)
		if err != nil {
			return nil, fmt.Errorf("replay: Pod %s seq %d: %v", v.Name, v.Seq, err)
		}
		if !known {
			_, _, ouid := p.meta.ControllerOf()
			if !owners[ouid] {
				continue
			}
			r := PodRecord{Name: v.Name, UID: v.UID, Ordinal: -1, Created: v.Observed, createSeq: v.Seq}
			if ts := p.meta.Metadata.CreationTimestamp; ts != nil {
				r.creationTimestamp = ts.UTC()
			}
			switch {
			case viaReplicaSets(scn.Kind):
				if rs := rsByUID[ouid]; rs != nil {
					r.revKey, r.Revision = rs.template, rs.name
				}
			default:
				r.Revision = p.meta.Metadata.Labels[labelCtrlRevision]
				if byOrdinal(scn.Kind) {
					r.Ordinal = ordinalOf(v.Name, scn.Name)
				}
				if r.Revision == "" {
					// no revision label (Job pods): the template of their creation
					r.revKey = tmplAt(v.Seq)
				}
				if r.Revision != "" && v.Type == Added {
					if votes[r.Revision] == nil {
						votes[r.Revision] = map[string]int{}
					}
					votes[r.Revision][tmplAt(v.Seq)]++
				}
			}
			pods = append(pods, r)
			idx = len(pods) - 1
			byUID[v.UID] = idx
		}
		r := &pods[idx]
		if p.node != "" {
			r.Node = p.node
		}
		if r.scheduledSeq == 0 && p.scheduled {
			r.scheduledSeq, r.Scheduled = v.Seq, v.Observed
		}
		if r.runningSeq == 0 && p.phase == "Running" {
			r.runningSeq, r.Running = v.Seq, v.Observed
		}
		if r.readySeq == 0 && p.ready && !isDelete(v.Type) {
			r.readySeq, r.Ready, r.readyLTT = v.Seq, v.Observed, p.readyLTT
			if r.readyLTT.IsZero() {
				r.readyLTT = v.Observed.Truncate(time.Second)
			}
		}
		if p.index != "" {
			r.Index = p.index
		}
		if r.finishSeq == 0 && (p.phase == phaseSucceeded || p.phase == phaseFailed) && kindOf(scn.Kind).runsToCompletion() {
			r.finishSeq, r.Finished, r.Phase, r.ExitCode = v.Seq, v.Observed, p.phase, p.exitCode
			r.finishedAt = p.finishedAt
			if r.finishedAt.IsZero() {
				r.finishedAt = metaTime(v.Observed)
			}
		}
		if r.delSeq == 0 && p.meta.Metadata.DeletionTimestamp != nil {
			r.delSeq, r.DeleteRequested = v.Seq, v.Observed
		}
		if isDelete(v.Type) {
			r.goneSeq, r.Gone = v.Seq, v.Observed
			if r.delSeq == 0 {
				r.delSeq, r.DeleteRequested = v.Seq, v.Observed
			}
		}
	}
	// Revision names of StatefulSet and DaemonSet pods by majority vote.
	for _, hash := range sortedKeys(votes) {
		best, bestN := "", 0
		for _, k := range sortedKeys(votes[hash]) {
			if votes[hash][k] > bestN {
				best, bestN = k, votes[hash][k]
			}
		}
		if _, ok := x.revKey[hash]; !ok {
			setRevName(x, best, hash)
		}
	}
	for i := range pods {
		if pods[i].revKey == "" {
			if k, ok := x.revKey[pods[i].Revision]; ok {
				pods[i].revKey = k
			} else {
				pods[i].revKey = "rev:" + pods[i].Revision
			}
		}
	}
	// Termination durations.
	var terms []time.Duration
	for i := range pods {
		if pods[i].goneSeq != 0 && pods[i].delSeq != pods[i].goneSeq {
			terms = append(terms, pods[i].Gone.Sub(pods[i].DeleteRequested))
		}
	}
	x.termMedian = percentile(terms, 50)
	return pods, nil
}

func ordinalOf(pod, set string) int {
	if !strings.HasPrefix(pod, set+"-") {
		return -1
	}
	n, err := strconv.Atoi(pod[len(set)+1:])
	if err != nil {
		return -1
	}
	return n
}

// eventOcc is one occurrence of a controller's "deleted pod" event.
type eventOcc struct {
	pod string
	seq uint64
	t   time.Time
}

// parseDeleteEvent recognizes the events controllers emit when they delete a pod
// (ReplicaSet and DaemonSet "Deleted pod: NAME", StatefulSet "delete Pod NAME in StatefulSet
// SET successful"). A MODIFIED event counts when its count grew.
func parseDeleteEvent(v *Version, counts map[string]int32) (eventOcc, bool) {
	var e struct {
		Reason  string `json:"reason"`
		Message string `json:"message"`
		Note    string `json:"note"`
		Count   int32  `json:"count"`
		Series  *struct {
			Count int32 `json:"count"`
		} `json:"series"`
	}
	if decodeJSON(v.Object, &e) != nil || e.Reason != "SuccessfulDelete" {
		return eventOcc{}, false
	}
	n := e.Count
	if e.Series != nil && e.Series.Count > n {
		n = e.Series.Count
	}
	if n == 0 {
		n = 1
	}
	if n <= counts[v.UID] {
		return eventOcc{}, false
	}
	counts[v.UID] = n
	msg := e.Message
	if msg == "" {
		msg = e.Note
	}
	var pod string
	switch {
	case strings.HasPrefix(msg, "Deleted pod: "):
		pod = strings.TrimPrefix(msg, "Deleted pod: ")
	case strings.HasPrefix(msg, "delete Pod "):
		pod, _, _ = strings.Cut(strings.TrimPrefix(msg, "delete Pod "), " ")
	default:
		return eventOcc{}, false
	}
	return eventOcc{pod: pod, seq: v.Seq, t: v.Observed}, true
}

func hasEvents(h []Version, ns string) bool {
	for i := range h {
		if h[i].Kind == "Event" && h[i].Namespace == ns {
			return true
		}
	}
	return false
}

// attributeDeletions decides for each deleted pod whether its controller deleted it. With
// Events in the history, the proof is a "deleted pod" event of the controller: each event is
// matched with the latest deletion of a pod of that name before it in log order (the controller
// reports a deletion after making it; StatefulSet pods reuse names), within seconds. Without
// Events, or without the event of a deletion (a busy controller's event recorder drops and
// aggregates them), a deletion the controller had a reason for (a ReplicaSet above its
// replicas, a StatefulSet pod outside its ordinals or of an old revision) is attributed to it.
func attributeDeletions(scn *Scenario, events []eventOcc, haveEvents bool) {
	if !haveEvents {
		for i := range scn.Pods {
			p := &scn.Pods[i]
			if p.delSeq == 0 {
				continue
			}
			p.DeletedBy = deletedByExternal
			if controllerHadReason(scn, p) {
				p.DeletedBy = deletedByController
			}
		}
		return
	}
	byName := map[string][]*PodRecord{}
	for i := range scn.Pods {
		p := &scn.Pods[i]
		if p.delSeq != 0 {
			p.DeletedBy = deletedByExternal
			byName[p.Name] = append(byName[p.Name], p)
		}
	}
	matched := map[*PodRecord]bool{}
	for _, e := range events {
		var best *PodRecord
		for _, p := range byName[e.pod] {
			if p.delSeq < e.seq && !matched[p] && (best == nil || p.delSeq > best.delSeq) {
				best = p
			}
		}
		if best == nil {
			continue
		}
		if d := e.t.Sub(best.DeleteRequested); d >= -time.Second && d <= 5*time.Second {
			matched[best] = true
			best.DeletedBy = deletedByController
		}
	}
	// A busy controller's events are rate-limited and aggregated by its event recorder, so a
	// deletion without its event is the controller's when it had a reason for it.
	for i := range scn.Pods {
		if p := &scn.Pods[i]; p.DeletedBy == deletedByExternal && !matched[p] && controllerHadReason(scn, p) {
			p.DeletedBy = deletedByController
		}
	}
}

// controllerHadReason reports whether the workload's controller had a reason to delete p
// when it was deleted (see deletionJudge); by default, that p was of another template than
// the workload's.
func controllerHadReason(scn *Scenario, p *PodRecord) bool {
	if j, ok := kindOf(scn.Kind).(deletionJudge); ok {
		return j.hadReason(scn, p)
	}
	w := workloadAt(scn.x, p.delSeq)
	return w == nil || p.revKey != w.spec.Template
}

// A deletionJudge is a workload kind whose controller deletes pods for reasons of its own:
// hadReason reports whether it had one to delete p when p was deleted (the histories without
// Events tell the controller's deletions from other people's so).
type deletionJudge interface {
	hadReason(scn *Scenario, p *PodRecord) bool
}

// workloadAt returns the workload's state just before seq.
func workloadAt(x *extraction, seq uint64) *workloadObj {
	var w *workloadObj
	for _, wv := range x.workload {
		if wv.seq >= seq {
			break
		}
		if !isDelete(wv.typ) {
			w = wv.w
		}
	}
	return w
}

// classifyReadiness marks the pods that never became Ready although they lived longer than
// the slowest pod of the workload took.
func classifyReadiness(scn *Scenario) {
	var longest time.Duration
	for i := range scn.Pods {
		if l := scn.Pods[i].Latency(); l > longest {
			longest = l
		}
	}
	for i := range scn.Pods {
		p := &scn.Pods[i]
		if p.readySeq != 0 {
			continue
		}
		end := scn.End
		if p.delSeq != 0 {
			end = p.DeleteRequested
		}
		if end.Sub(p.Created) >= longest {
			p.NeverReady = true
		}
	}
}
