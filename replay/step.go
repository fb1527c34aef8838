package replay

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/khist/khist/eventlog/kinds"
)

// Workload kinds replay understands: those that roll out (kinds.RolloutKinds).
const (
	KindDeployment  = kinds.Deployment
	KindStatefulSet = kinds.StatefulSet
	KindDaemonSet   = kinds.DaemonSet
)

// Step actions of StatefulSet and DaemonSet steps.
const (
	ActionCreate = "create"
	ActionDelete = "delete"
)

// Step is one observable action of a workload controller.
//
// For a Deployment it is a change of a ReplicaSet's spec.replicas (creating a ReplicaSet with N
// replicas is the step 0 -> N) and serializes as {"replicaSet","from","to","time"}. For a
// StatefulSet it is the creation or deletion of a pod, {"pod","action","revision"} where revision
// is the pod's controller-revision-hash; for a DaemonSet, {"pod","node","action"}; for a Job,
// {"pod","action","index","time"} (index only for Indexed Jobs); for a CronJob, the creation or
// deletion of the Job of a scheduled time, {"job","action","time"}.
type Step struct {
	Kind       string    // a registered kind (KindDeployment ... KindCronJob); not serialized
	ReplicaSet string    // Deployment
	From, To   int32     // Deployment
	Time       time.Time // when the step happened (all kinds; serialized for Deployments)
	Pod        string    // StatefulSet, DaemonSet
	Action     string    // StatefulSet, DaemonSet: ActionCreate or ActionDelete
	Revision   string    // StatefulSet (controller-revision-hash); kept for DaemonSets, not serialized
	Node       string    // DaemonSet
	Index      string    // Job: the completion index of an Indexed Job's pod
	Job        string    // CronJob: the Job created or deleted

	// batch groups the steps one controller issued concurrently (upstream fires them from
	// goroutines, so their order in the log is arbitrary); 0 means alone.
	batch int
}

// stepTimeFormat is the time format of Deployment steps: RFC 3339 with milliseconds.
const stepTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// MarshalJSON writes the kind-specific shape documented on Step.
func (s Step) MarshalJSON() ([]byte, error) {
	if wk := stepKindOf(s.Kind); wk != nil {
		return json.Marshal(wk.stepJSON(s))
	}
	return nil, fmt.Errorf("replay: step of unknown workload kind %q", s.Kind)
}

// UnmarshalJSON reads any of the shapes MarshalJSON writes; the kind is inferred from the fields
// (a Job's step is the pod step with a time).
func (s *Step) UnmarshalJSON(b []byte) error {
	var w struct {
		ReplicaSet string `json:"replicaSet"`
		From       int32  `json:"from"`
		To         int32  `json:"to"`
		Time       string `json:"time"`
		Pod        string `json:"pod"`
		Action     string `json:"action"`
		Revision   string `json:"revision"`
		Node       string `json:"node"`
		Index      string `json:"index"`
		Job        string `json:"job"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*s = Step{ReplicaSet: w.ReplicaSet, From: w.From, To: w.To, Pod: w.Pod, Action: w.Action, Revision: w.Revision, Node: w.Node, Index: w.Index, Job: w.Job}
	if w.Time != "" && (w.ReplicaSet != "" || w.Pod != "" || w.Job != "") {
		t, err := time.Parse(time.RFC3339Nano, w.Time)
		if err != nil {
			return fmt.Errorf("step time %q: %v", w.Time, err)
		}
		s.Time = t
	}
	switch {
	case w.ReplicaSet != "":
		s.Kind = KindDeployment
	case w.Job != "":
		s.Kind = KindCronJob
	case w.Pod != "" && w.Time != "" && w.Node == "" && w.Revision == "":
		s.Kind = KindJob // the only pod step with a time
	case w.Node != "":
		s.Kind = KindDaemonSet
	default:
		s.Kind = KindStatefulSet
	}
	return nil
}

// sameAction reports whether two steps describe the same controller action; times are not
// compared, nor what the kind leaves out (see workloadKind.sameStep).
func (s Step) sameAction(o Step) bool {
	if wk := stepKindOf(s.Kind); wk != nil {
		return wk.sameStep(s, o)
	}
	return false
}

// String renders a step on one line, as the tables show it.
func (s Step) String() string {
	if wk := stepKindOf(s.Kind); wk != nil {
		return wk.stepString(s)
	}
	return "?"
}

// sortKey orders the steps of one concurrent batch canonically.
func (s Step) sortKey() string {
	if wk := stepKindOf(s.Kind); wk != nil {
		return wk.stepSortKey(s)
	}
	return s.Action + "/" + s.Node
}

// A stepKind is a registered kind's shape of its steps.
type stepKind interface {
	// stepJSON is the step's serialized shape (see Step).
	stepJSON(s Step) any
	// sameStep reports whether two steps describe the same controller action.
	sameStep(a, b Step) bool
	// stepString renders a step on one line.
	stepString(s Step) string
	// stepSortKey orders the steps of one concurrent batch canonically.
	stepSortKey(s Step) string
}

// stepKindOf returns the registered kind named exactly k as the shape of its steps, or nil.
func stepKindOf(k string) stepKind {
	sk, _ := current().byKind[k].(stepKind)
	return sk
}
