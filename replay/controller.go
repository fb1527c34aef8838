package replay

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/khist/khist/eventlog/kinds"
	corev1 "k8s.io/api/core/v1"
)

// A controller is one controller the simulation re-runs, bound to one simulation. The
// simulation calls sync each time the controller's workqueue hands it a key (see clock).
type controller interface {
	// sync reconciles key as upstream's worker does once it takes key out of its queue: ""
	// for the workload's own controller, the ReplicaSet's name for the ReplicaSet controller.
	sync(key string)
}

// controllerFunc adapts a function to a controller.
type controllerFunc func(key string)

func (f controllerFunc) sync(key string) { f(key) }

// controllerID names a controller's workqueue (and its reaction latencies, see latencyModel).
type controllerID string

// A registeredKind is a kind replay re-runs the controller of, as the registry holds it: its
// name and spellings. It is either a workloadKind, replayed by the pod simulation (Compare,
// WhatIf, CompareAll), or a standaloneKind, whose controller runs in a simulation of its own.
type registeredKind interface {
	// kind is the Kubernetes kind, e.g. "Deployment".
	kind() string
	// names are the spellings a user may give for the kind, lowercase: singular, plural,
	// short names, KIND.GROUP.
	names() []string
}

// A standaloneKind is a kind whose controller writes no pods, replayed by a small simulation of
// its own rather than the pod simulation: a CronJob's controller decides when Jobs start. The
// entry points (CompareReport, WhatIfReport, CheckWhatIf, CompareAll) dispatch to it.
type standaloneKind interface {
	registeredKind
	// stepKind is the shape of its steps in a survey's divergences.
	stepKind
	// compare replays the controller of the workload ns/name over the history h with the
	// overrides set (PATH=VALUE; none: as recorded) and compares it with the recording.
	compare(h []Version, ns, name string, set []string) (Report, error)
	// checkSet refuses --set values the kind cannot apply, wrapping ErrInvalidOverride.
	checkSet(set []string) error
	// survey is the comparison as CompareAll counts it: one RolloutComparison per recorded
	// window that ran at or after since (none when none did).
	survey(h []Version, ns, name string, since time.Time) ([]RolloutComparison, error)
}

// A workloadKind is a workload kind replay re-runs the controller of: how its objects parse,
// which controllers its simulation runs, what wakes them, and what its steps look like. Each
// kind is one file (deployment.go, statefulset.go, daemonset.go ...) and one line in
// registerBuiltinKinds. What only some kinds do is an optional interface a kind implements:
// replicaSetOwner, ordinalOwner, revisionNamer, simRevisionPrefixer, overrideRefuser,
// rollingUpdateDefaulter, finisher, stepRecorder, deletionJudge.
type workloadKind interface {
	registeredKind
	// controller is the workqueue of the workload's own controller: the one whose writes
	// are the recorded steps and whose reaction latencies are calibrated.
	controller() controllerID
	// parse fills w's spec, pod template and status from the workload's JSON (w.meta is
	// already parsed).
	parse(obj []byte, w *workloadObj) error
	// start binds the kind's controllers to a simulation, by workqueue; the workload's own
	// controller must be among them.
	start(s *simulation) map[controllerID]controller
	// onChange is the controllers' informers: it enqueues the keys a change of the simulated
	// store wakes.
	onChange(s *simulation, c change)
	// wants is how many pods a workload with spec sp and template tmpl wants; nodes lists
	// the nodes of the moment, for kinds that read them (see readsNodes).
	wants(sp *spec, tmpl *corev1.PodTemplateSpec, nodes func() []*node) int
	// keepsOld is how many pods a rollout of a workload with spec sp leaves at the old
	// revision (a StatefulSet's partition).
	keepsOld(sp *spec) int
	// runsToCompletion reports whether the kind's pods run to an end (Succeeded or Failed)
	// that the controller reads: their ends are then part of the environment replayed.
	runsToCompletion() bool
	// readsNodes reports whether the controller watches nodes: their changes are inputs of
	// its rollouts.
	readsNodes() bool
	// describe renders the simulated store as the workload's controller sees it, one line
	// per object (see Decision.View).
	describe(s *simulation) []string
	// counterpart claims the recorded pod (of list, the recorded pods of the new pod's
	// revision) that a new simulated pod ps stands for, whose behaviour it replays (see
	// environment.plan); nil when none.
	counterpart(e *environment, list []*PodRecord, ps podSpec) *PodRecord
	// stepKind is the shape of its steps.
	stepKind
	// overrides are the --set paths a what-if can change (see WhatIf).
	overrides() []string
	// validate refuses a spec the overrides make invalid, as the API server would.
	validate(ov *overrides, s *spec) error
	// resize adapts a steady initial state to an overridden replica count (--set
	// spec.replicas): the what-if starts from want available pods of the current revision.
	resize(s *simulation, want int)
}

// A replicaSetOwner is a workload kind that owns its pods through ReplicaSets, one per
// revision, which the ReplicaSet controller scales (a Deployment). The other kinds own their
// pods themselves and keep their revisions in ControllerRevisions (or none: a Job).
type replicaSetOwner interface {
	podsViaReplicaSets()
}

// viaReplicaSets reports whether the workloads of kind own their pods through ReplicaSets (see
// replicaSetOwner).
func viaReplicaSets(kind string) bool {
	_, ok := kindOf(kind).(replicaSetOwner)
	return ok
}

// An ordinalOwner is a workload kind whose pods have stable identities: named NAME-ORDINAL,
// with the claims of its volumeClaimTemplates named CLAIM-NAME-ORDINAL (a StatefulSet).
type ordinalOwner interface {
	podsByOrdinal()
}

// byOrdinal reports whether the pods of kind's workloads are named by ordinal (see
// ordinalOwner).
func byOrdinal(kind string) bool {
	_, ok := kindOf(kind).(ordinalOwner)
	return ok
}

// A revisionNamer is a workload kind whose pods name their revision otherwise than by the
// controller-revision-hash label of its ControllerRevisions (the default; the revision's name
// when the label is missing).
type revisionNamer interface {
	// podRevision is the revision the pods of workload name carry for the ControllerRevision
	// named cr, whose controller-revision-hash label is hash ("" when it has none).
	podRevision(name, cr, hash string) string
}

// podRevision is the revision the pods of a workload of kind named name carry for the
// ControllerRevision cr with the label hash (see revisionNamer).
func podRevision(kind, name, cr, hash string) string {
	if n, ok := kindOf(kind).(revisionNamer); ok {
		return n.podRevision(name, cr, hash)
	}
	if hash == "" {
		return cr
	}
	return hash
}

// A simRevisionPrefixer is a workload kind whose simulated revisions (those the history does
// not name) are named after the workload, as its real ones are: NAME-simHASH rather than
// simHASH.
type simRevisionPrefixer interface {
	revisionsNamedAfterWorkload()
}

// kindRegistry is the workload kinds replay knows, in registration order. It is never
// modified once published: registerKind publishes a new one, so that reads (on every step the
// comparisons look at) take no lock.
type kindRegistry struct {
	kinds  []registeredKind
	byName map[string]registeredKind // user spellings, lowercase
	byKind map[string]registeredKind // e.g. "Deployment"
}

var (
	registry   atomic.Pointer[kindRegistry]
	registerMu sync.Mutex // serializes registerKind
)

func init() { registerBuiltinKinds() }

// registerBuiltinKinds registers the kinds replay re-runs; a new kind is one more line here.
func registerBuiltinKinds() {
	registerKind(deploymentKind{})
	registerKind(statefulSetKind{})
	registerKind(daemonSetKind{})
	registerKind(jobKind{})
	registerKind(cronJobKind{})
}

// publish makes ks the registered kinds.
func publish(ks []registeredKind) {
	r := &kindRegistry{kinds: ks, byName: map[string]registeredKind{}, byKind: map[string]registeredKind{}}
	for _, k := range ks {
		r.byKind[k.kind()] = k
		r.byName[strings.ToLower(k.kind())] = k
		for _, n := range k.names() {
			r.byName[n] = k
		}
	}
	registry.Store(r)
}

func current() *kindRegistry {
	if r := registry.Load(); r != nil {
		return r
	}
	return &kindRegistry{}
}

// registerKind adds a workload kind and returns a function that removes it again (tests
// register kinds of their own). It panics when the kind or one of its names is taken.
func registerKind(k registeredKind) (unregister func()) {
	registerMu.Lock()
	defer registerMu.Unlock()
	r := current()
	if _, ok := r.byKind[k.kind()]; ok {
		panic(fmt.Sprintf("replay: kind %s registered twice", k.kind()))
	}
	for _, n := range append([]string{strings.ToLower(k.kind())}, k.names()...) {
		if o, ok := r.byName[n]; ok {
			panic(fmt.Sprintf("replay: kind %s: name %q is taken by %s", k.kind(), n, o.kind()))
		}
	}
	publish(append(slices.Clone(r.kinds), k))
	return func() {
		registerMu.Lock()
		defer registerMu.Unlock()
		publish(slices.DeleteFunc(slices.Clone(current().kinds), func(o registeredKind) bool { return o.kind() == k.kind() }))
	}
}

// kindByName returns the registered kind a user's spelling names (Deployment, deploy,
// deployments.apps ...), or nil.
func kindByName(name string) registeredKind { return current().byName[strings.ToLower(name)] }

// kindOf returns the registered kind named exactly k (e.g. "Deployment") that the pod
// simulation replays, or nil (for a standaloneKind too).
func kindOf(k string) workloadKind {
	wk, _ := current().byKind[k].(workloadKind)
	return wk
}

// standaloneOf returns the registered standaloneKind named exactly k (e.g. "CronJob"), or nil.
func standaloneOf(k string) standaloneKind {
	sk, _ := current().byKind[k].(standaloneKind)
	return sk
}

// registeredKinds lists the registered kinds, in registration order.
func registeredKinds() []string {
	var ks []string
	for _, k := range current().kinds {
		ks = append(ks, k.kind())
	}
	return ks
}

// Kinds lists the kinds whose controller replay re-runs, in registration order.
func Kinds() []string { return registeredKinds() }

// isWorkloadKind reports whether the pod simulation re-runs the controller of kind k.
func isWorkloadKind(k string) bool { return kindOf(k) != nil }

// kindChoices lists the registered kinds the pod simulation replays (Compare, WhatIf,
// ExtractScenario) for error messages: "deployment, statefulset or daemonset".
func kindChoices() string {
	var ns []string
	for _, k := range registeredKinds() {
		if kindOf(k) != nil {
			ns = append(ns, strings.ToLower(k))
		}
	}
	if len(ns) < 2 {
		return strings.Join(ns, "")
	}
	return strings.Join(ns[:len(ns)-1], ", ") + " or " + ns[len(ns)-1]
}

// kubectlNames are the spellings kubectl accepts for a built-in kind: singular, plural, short
// names, and singular.group.
func kubectlNames(group, kind string) []string {
	k, ok := kinds.Lookup(group, kind)
	if !ok {
		return []string{strings.ToLower(kind)}
	}
	ns := append([]string{k.Singular(), k.Plural}, k.Short...)
	if group != "" {
		ns = append(ns, k.Singular()+"."+group)
	}
	return ns
}
