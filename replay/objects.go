package replay

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"reflect"
	"sort"
	"strconv"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Annotations and labels the controllers use.
const (
	annRevision        = "deployment.kubernetes.io/revision"
	annDesiredReplicas = "deployment.kubernetes.io/desired-replicas"
	annMaxReplicas     = "deployment.kubernetes.io/max-replicas"
	labelPodTemplate   = "pod-template-hash"
	labelCtrlRevision  = "controller-revision-hash"
	// annJobCompletionIndex is the completion index of a pod of an Indexed Job.
	annJobCompletionIndex = "batch.kubernetes.io/job-completion-index"
	phaseSucceeded        = "Succeeded"
	phaseFailed           = "Failed"
)

// noLimit is the value upstream treats as "no progress deadline" / "no history limit".
const noLimit = math.MaxInt32

// spec is the part of a workload's spec the controllers read, for any of the three kinds.
type spec struct {
	Replicas                int32
	MinReadySeconds         int32
	Paused                  bool   // Deployment
	ProgressDeadlineSeconds int32  // Deployment; noLimit when unset
	RevisionHistoryLimit    int32  // noLimit when unset
	Strategy                string // Deployment: RollingUpdate|Recreate; StatefulSet, DaemonSet: RollingUpdate|OnDelete
	MaxSurge                *intstr.IntOrString
	MaxUnavailable          *intstr.IntOrString
	Partition               int32  // StatefulSet
	PodManagementPolicy     string // StatefulSet
	Claims                  []string
	Template                string // key of the pod template (see templateKey)
	HasSelector             bool

	// Job
	Parallelism           int32
	Completions           int32 // noLimit when unset
	BackoffLimit          int32
	ActiveDeadlineSeconds int64 // 0 when unset
	Suspend               bool
	CompletionMode        string // NonIndexed or Indexed
	PodReplacementPolicy  string // TerminatingOrFailed or Failed
	FailureRules          []jobFailureRule
}

// workloadObj is a parsed version of a Deployment, StatefulSet or DaemonSet.
type workloadObj struct {
	meta   objMeta
	spec   spec
	tmpl   *corev1.PodTemplateSpec
	status workloadStatus
}

type workloadStatus struct {
	ObservedGeneration int64
	Replicas           int32
	UpdatedReplicas    int32
	CurrentReplicas    int32 // StatefulSet
	ReadyReplicas      int32
	AvailableReplicas  int32
	CurrentRevision    string // StatefulSet
	UpdateRevision     string // StatefulSet
	CollisionCount     int32
	Progressing        *condition // Deployment
	// Job: when it started (as stored; zero while suspended), and once it ended, how
	// (Complete or Failed) and why (BackoffLimitExceeded, DeadlineExceeded, PodFailurePolicy)
	StartTime            time.Time
	Finished, FinishedBy string
	FinishedAt           time.Time
}

// condition is a workload condition as the controllers compare it.
type condition struct {
	Status, Reason             string
	LastUpdate, LastTransition time.Time
}

// useJSONv2 selects json v2 in decodeJSON; tests turn it off to compare with encoding/json.
var useJSONv2 = true

// decodeJSON decodes the versions extraction reads most (pods, ReplicaSets, workload status,
// Events, time clues) into structs of the fields it needs. It uses json v2, several times as
// fast as encoding/json on Kubernetes objects, and falls back to encoding/json for what v2
// refuses (invalid UTF-8, duplicate names); both decode these structs alike (TestDecoders).
func decodeJSON(obj []byte, v any) error {
	if useJSONv2 {
		if jsonv2.Unmarshal(obj, v) == nil {
			return nil
		}
		reflect.ValueOf(v).Elem().SetZero() // drop what v2 decoded before it gave up
	}
	return json.Unmarshal(obj, v)
}

// parseWorkloadStatus parses the metadata and status of a version of a workload, taking its
// spec from prev: right when the generation is the same.
func parseWorkloadStatus(kind string, obj []byte, prev *workloadObj) (*workloadObj, error) {
	var v struct {
		objMeta
		Status struct {
			ObservedGeneration     int64      `json:"observedGeneration"`
			Replicas               int32      `json:"replicas"`
			UpdatedReplicas        int32      `json:"updatedReplicas"`
			CurrentReplicas        int32      `json:"currentReplicas"`
			ReadyReplicas          int32      `json:"readyReplicas"`
			AvailableReplicas      int32      `json:"availableReplicas"`
			CurrentRevision        string     `json:"currentRevision"`
			UpdateRevision         string     `json:"updateRevision"`
			CollisionCount         *int32     `json:"collisionCount"`
			CurrentNumberScheduled int32      `json:"currentNumberScheduled"`
			UpdatedNumberScheduled int32      `json:"updatedNumberScheduled"`
			NumberReady            int32      `json:"numberReady"`
			NumberAvailable        int32      `json:"numberAvailable"`
			StartTime              *time.Time `json:"startTime"` // Job
			Conditions             []struct {
				Type               string     `json:"type"`
				Status             string     `json:"status"`
				Reason             string     `json:"reason"`
				LastUpdateTime     *time.Time `json:"lastUpdateTime"`
				LastTransitionTime *time.Time `json:"lastTransitionTime"`
			} `json:"conditions"`
		} `json:"status"`
	}
	if err := decodeJSON(obj, &v); err != nil {
		return nil, err
	}
	w := &workloadObj{meta: v.objMeta, spec: prev.spec, tmpl: prev.tmpl}
	st := v.Status
	w.status = workloadStatus{ObservedGeneration: st.ObservedGeneration, Replicas: st.Replicas, UpdatedReplicas: st.UpdatedReplicas,
		CurrentReplicas: st.CurrentReplicas, ReadyReplicas: st.ReadyReplicas, AvailableReplicas: st.AvailableReplicas,
		CurrentRevision: st.CurrentRevision, UpdateRevision: st.UpdateRevision, CollisionCount: deref32(st.CollisionCount, 0)}
	if kind == KindDaemonSet {
		w.status.Replicas, w.status.UpdatedReplicas = st.CurrentNumberScheduled, st.UpdatedNumberScheduled
		w.status.ReadyReplicas, w.status.AvailableReplicas = st.NumberReady, st.NumberAvailable
	}
	if st.StartTime != nil {
		w.status.StartTime = st.StartTime.UTC()
	}
	for _, c := range st.Conditions {
		if (c.Type == "Complete" || c.Type == "Failed") && c.Status == "True" {
			w.status.Finished, w.status.FinishedBy = c.Type, c.Reason // Job
		}
		if c.Type == "Progressing" {
			pc := &condition{Status: c.Status, Reason: c.Reason}
			if c.LastUpdateTime != nil {
				pc.LastUpdate = c.LastUpdateTime.UTC()
			}
			if c.LastTransitionTime != nil {
				pc.LastTransition = c.LastTransitionTime.UTC()
			}
			w.status.Progressing = pc
		}
	}
	return w, nil
}

func parseWorkload(kind string, obj []byte) (*workloadObj, error) {
	w := &workloadObj{}
	if err := json.Unmarshal(obj, &w.meta); err != nil {
		return nil, err
	}
	s := &w.spec
	s.ProgressDeadlineSeconds = noLimit
	s.RevisionHistoryLimit = noLimit
	k := kindOf(kind)
	if k == nil {
		return nil, fmt.Errorf("replay: unsupported workload kind %q: use %s", kind, kindChoices())
	}
	if err := k.parse(obj, w); err != nil {
		return nil, err
	}
	key, err := templateKey(obj)
	if err != nil {
		return nil, err
	}
	s.Template = key
	return w, nil
}

// templateKey identifies a pod template by its content: a hash of the canonical JSON of
// spec.template without the labels and fields controllers add (pod-template-hash,
// creationTimestamp), so a Deployment's template and its ReplicaSet's have the same key, as
// upstream's EqualIgnoreHash sees them.
func templateKey(obj []byte) (string, error) {
	var o struct {
		Spec struct {
			Template map[string]any `json:"template"`
		} `json:"spec"`
		Data struct { // ControllerRevision
			Spec struct {
				Template map[string]any `json:"template"`
			} `json:"spec"`
		} `json:"data"`
	}
	if err := json.Unmarshal(obj, &o); err != nil {
		return "", err
	}
	t := o.Spec.Template
	if t == nil {
		t = o.Data.Spec.Template
	}
	return canonicalTemplate(t)
}

func canonicalTemplate(t map[string]any) (string, error) {
	if t == nil {
		return "", nil
	}
	delete(t, "$patch")
	if md, ok := t["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
		if l, ok := md["labels"].(map[string]any); ok {
			delete(l, labelPodTemplate)
			if len(l) == 0 {
				delete(md, "labels")
			}
		}
		if len(md) == 0 {
			delete(t, "metadata")
		}
	}
	b, err := json.Marshal(t) // maps marshal with sorted keys: canonical
	if err != nil {
		return "", err
	}
	h := fnv.New64a()
	h.Write(b)
	return strconv.FormatUint(h.Sum64(), 36), nil
}

// podObj is a parsed version of a pod.
type podObj struct {
	meta      objMeta
	scheduled bool   // spec.nodeName is set
	node      string // spec.nodeName, or the node a DaemonSet pod is pinned to
	phase     string
	ready     bool
	readyLTT  time.Time
	// Job pods: the completion index (Indexed Jobs; "" otherwise), and once the pod ended,
	// the first non-zero exit code of its containers and when the last one finished.
	index      string
	exitCode   int32
	finishedAt time.Time
}

func parsePod(obj []byte) (*podObj, error) {
	var p struct {
		objMeta
		Spec struct {
			NodeName string           `json:"nodeName"`
			Affinity *corev1.Affinity `json:"affinity"`
		} `json:"spec"`
		Status struct {
			Phase             string `json:"phase"`
			ContainerStatuses []struct {
				State struct {
					Terminated *struct {
						ExitCode   int32      `json:"exitCode"`
						FinishedAt *time.Time `json:"finishedAt"`
					} `json:"terminated"`
				} `json:"state"`
			} `json:"containerStatuses"`
			Conditions []struct {
				Type               string     `json:"type"`
				Status             string     `json:"status"`
				LastTransitionTime *time.Time `json:"lastTransitionTime"`
			} `json:"conditions"`
		} `json:"status"`
	}
	if err := decodeJSON(obj, &p); err != nil {
		return nil, err
	}
	po := &podObj{meta: p.objMeta, node: p.Spec.NodeName, scheduled: p.Spec.NodeName != "", phase: p.Status.Phase}
	if po.node == "" {
		po.node = affinityNode(p.Spec.Affinity)
	}
	po.index = p.Metadata.Annotations[annJobCompletionIndex]
	for _, c := range p.Status.ContainerStatuses {
		if t := c.State.Terminated; t != nil {
			if po.exitCode == 0 {
				po.exitCode = t.ExitCode
			}
			if t.FinishedAt != nil && t.FinishedAt.After(po.finishedAt) {
				po.finishedAt = t.FinishedAt.UTC()
			}
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" && c.Status == "True" {
			po.ready = true
			if c.LastTransitionTime != nil {
				po.readyLTT = c.LastTransitionTime.UTC()
			}
		}
	}
	return po, nil
}

// affinityNode returns the node a DaemonSet pod is pinned to by its node affinity.
func affinityNode(a *corev1.Affinity) string {
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range t.MatchFields {
			if f.Key == "metadata.name" && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// rsObj is a parsed version of a ReplicaSet.
type rsObj struct {
	meta            objMeta
	replicas        int32
	minReadySeconds int32
	template        string
	status          rsStatus
}

type rsStatus struct {
	Replicas, Ready, Available int32
	ObservedGeneration         int64
}

// parseReplicaSet parses a ReplicaSet version; the template key is computed only when
// withTemplate (a ReplicaSet's template does not change after its creation).
func parseReplicaSet(obj []byte, withTemplate bool) (*rsObj, error) {
	var r struct {
		objMeta
		Spec struct {
			Replicas        *int32 `json:"replicas"`
			MinReadySeconds int32  `json:"minReadySeconds"`
		} `json:"spec"`
		Status struct {
			Replicas           int32 `json:"replicas"`
			ReadyReplicas      int32 `json:"readyReplicas"`
			AvailableReplicas  int32 `json:"availableReplicas"`
			ObservedGeneration int64 `json:"observedGeneration"`
		} `json:"status"`
	}
	if err := decodeJSON(obj, &r); err != nil {
		return nil, err
	}
	o := &rsObj{meta: r.objMeta, replicas: deref32(r.Spec.Replicas, 1), minReadySeconds: r.Spec.MinReadySeconds,
		status: rsStatus{Replicas: r.Status.Replicas, Ready: r.Status.ReadyReplicas, Available: r.Status.AvailableReplicas,
			ObservedGeneration: r.Status.ObservedGeneration}}
	if withTemplate {
		key, err := templateKey(obj)
		if err != nil {
			return nil, err
		}
		o.template = key
	}
	return o, nil
}

// node is a node as the DaemonSet controller and the scheduler see it.
type node struct {
	Name          string
	Labels        map[string]string
	Taints        []corev1.Taint
	Unschedulable bool
}

func parseNode(obj []byte) (*node, error) {
	var n corev1.Node
	if err := json.Unmarshal(obj, &n); err != nil {
		return nil, err
	}
	return &node{Name: n.Name, Labels: n.Labels, Taints: n.Spec.Taints, Unschedulable: n.Spec.Unschedulable}, nil
}

// shouldRunDaemonPod reports, as upstream's NodeShouldRunDaemonPod, whether a DaemonSet with
// template t should run a pod on n, and whether a pod already there may continue running.
func shouldRunDaemonPod(n *node, t *corev1.PodTemplateSpec) (shouldRun, shouldContinue bool) {
	if t == nil {
		return true, true
	}
	if t.Spec.NodeName != "" && t.Spec.NodeName != n.Name {
		return false, false
	}
	for k, v := range t.Spec.NodeSelector {
		if n.Labels[k] != v {
			return false, false
		}
	}
	if !matchesRequiredAffinity(n, t.Spec.Affinity) {
		return false, false
	}
	tolerations := daemonTolerations(t)
	untolerated := func(effects ...corev1.TaintEffect) bool {
		for i := range n.Taints {
			tt := &n.Taints[i]
			relevant := false
			for _, e := range effects {
				relevant = relevant || tt.Effect == e
			}
			if !relevant {
				continue
			}
			ok := false
			for j := range tolerations {
				if tolerations[j].ToleratesTaint(tt) {
					ok = true
					break
				}
			}
			if !ok {
				return true
			}
		}
		return false
	}
	if untolerated(corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute) {
		return false, !untolerated(corev1.TaintEffectNoExecute)
	}
	return true, true
}

// daemonTolerations are the template's tolerations plus those the DaemonSet controller adds to
// every daemon pod.
func daemonTolerations(t *corev1.PodTemplateSpec) []corev1.Toleration {
	out := append([]corev1.Toleration(nil), t.Spec.Tolerations...)
	add := func(key string, effect corev1.TaintEffect) {
		out = append(out, corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: effect})
	}
	add("node.kubernetes.io/not-ready", corev1.TaintEffectNoExecute)
	add("node.kubernetes.io/unreachable", corev1.TaintEffectNoExecute)
	add("node.kubernetes.io/disk-pressure", corev1.TaintEffectNoSchedule)
	add("node.kubernetes.io/memory-pressure", corev1.TaintEffectNoSchedule)
	add("node.kubernetes.io/pid-pressure", corev1.TaintEffectNoSchedule)
	add("node.kubernetes.io/unschedulable", corev1.TaintEffectNoSchedule)
	if t.Spec.HostNetwork {
		add("node.kubernetes.io/network-unavailable", corev1.TaintEffectNoSchedule)
	}
	return out
}

func matchesRequiredAffinity(n *node, a *corev1.Affinity) bool {
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for _, t := range terms {
		if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
			continue
		}
		ok := true
		for _, e := range t.MatchExpressions {
			v, has := n.Labels[e.Key]
			ok = ok && matchRequirement(e, v, has)
		}
		for _, e := range t.MatchFields {
			ok = ok && (e.Key != "metadata.name" || matchRequirement(e, n.Name, true))
		}
		if ok {
			return true
		}
	}
	return false
}

func matchRequirement(e corev1.NodeSelectorRequirement, v string, has bool) bool {
	in := func() bool {
		for _, x := range e.Values {
			if x == v {
				return true
			}
		}
		return false
	}
	switch e.Operator {
	case corev1.NodeSelectorOpIn:
		return has && in()
	case corev1.NodeSelectorOpNotIn:
		return !has || !in()
	case corev1.NodeSelectorOpExists:
		return has
	case corev1.NodeSelectorOpDoesNotExist:
		return !has
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if !has || len(e.Values) != 1 {
			return false
		}
		a, err1 := strconv.ParseInt(v, 10, 64)
		b, err2 := strconv.ParseInt(e.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if e.Operator == corev1.NodeSelectorOpGt {
			return a > b
		}
		return a < b
	}
	return false
}

func deref32(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

func ptrIS(v intstr.IntOrString) *intstr.IntOrString { return &v }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
