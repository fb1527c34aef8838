package replay

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The simulated API store holds the objects the controllers read and write: the workload, its
// ReplicaSets or controller revisions, its pods and claims, and the nodes. Objects are plain
// structs shared by pointer; every write goes through a store method that notifies the
// simulation, which enqueues the controllers watching that kind of object, as informers do.
// Times the API server stores (creation, condition transitions) are kept at its one-second
// resolution, because upstream sorts and compares them.

type simPod struct {
	name, uid       string
	owner           *simRS // Deployment pods
	revKey, revName string
	ordinal         int // StatefulSet
	node            string
	created         time.Time // precise
	creationTS      time.Time // as stored
	scheduled       bool
	phase           string    // "Pending", "Running", and for Job pods "Succeeded" or "Failed"
	index           string    // Job pods: the completion index of Indexed Jobs
	exitCode        int32     // Job pods that failed
	finishedAt      time.Time // Job pods that ended: as their containers report it
	ready           bool
	readyAt         time.Time // precise
	readyLTT        time.Time // Ready condition lastTransitionTime, as stored
	deleting        bool
	deletedAt       time.Time
	gone            bool
	goneAt          time.Time
	rec             *PodRecord // recorded counterpart, nil when none
}

// finished reports whether a Job pod ended, Succeeded or Failed.
func (p *simPod) finished() bool { return p.phase == phaseSucceeded || p.phase == phaseFailed }

// active is upstream's IsPodActive for the phases the simulation knows.
func (p *simPod) active() bool { return !p.deleting }

// available is upstream's IsPodAvailable.
func (p *simPod) available(minReadySeconds int32, now time.Time) bool {
	if !p.ready {
		return false
	}
	return minReadySeconds == 0 || p.readyLTT.Add(time.Duration(minReadySeconds)*time.Second).Before(now)
}

// runningAndReady is the StatefulSet controller's isRunningAndReady.
func (p *simPod) runningAndReady() bool { return p.phase == "Running" && p.ready }

// healthy is the StatefulSet controller's isHealthy.
func (p *simPod) healthy() bool { return p.runningAndReady() && !p.deleting }

type simRS struct {
	name, uid, revKey  string
	creationTS         time.Time
	replicas           int32
	minReadySeconds    int32
	revision           int64 // deployment.kubernetes.io/revision, 0 when unset
	desired, max       int32 // desired-replicas and max-replicas annotations
	hasDesired, hasMax bool
	generation         int64
	status             rsStatus
	deleted            bool
	pods               []*simPod // existing pods, terminating ones included
	// active and ready count the pods that are not terminating, and of those the Ready ones;
	// the store keeps them current so that a sync need not walk the pods.
	active, ready int32
	// landing is set while a status write is on its way (see replicaSetController.writeStatus),
	// with the latest status computed since in pending.
	landing bool
	pending rsStatus
	// pendingAt is when the sync that computed pending listed the pods.
	pendingAt time.Time
	// statusSeq is the log position of the recorded status write the last simulated one stood
	// for (as recorded: each recorded write stands for one simulated write at most).
	statusSeq uint64
}

// recount recomputes the counters from the pods.
func (rs *simRS) recount() {
	rs.active, rs.ready = 0, 0
	for _, p := range rs.pods {
		if !p.deleting {
			rs.active++
			if p.ready {
				rs.ready++
			}
		}
	}
}

type simWorkload struct {
	name, uid  string
	generation int64
	spec       spec
	tmpl       *corev1.PodTemplateSpec
	revision   int64 // Deployment: deployment.kubernetes.io/revision
	status     workloadStatus
	available  *condition // Deployment Available condition
}

// ctrlRevision is a ControllerRevision of a StatefulSet or DaemonSet.
type ctrlRevision struct {
	name     string // StatefulSet: full name; DaemonSet: the hash pods carry
	key      string // template key
	revision int64
}

type changeKind int

const (
	chPodAdded changeKind = iota
	chPodUpdated
	chPodRemoved
	chReplicaSet
	chWorkload
	chNode
)

type change struct {
	kind        changeKind
	pod         *simPod
	rs          *simRS
	becameReady bool
	// rsSpec marks a change of a ReplicaSet's spec or annotations (created or scaled by the
	// Deployment controller), as opposed to one of its status.
	rsSpec bool
}

type store struct {
	w         *simWorkload // nil until created
	rss       []*simRS
	pods      []*simPod // existing pods of the workload
	nodes     []*node   // sorted by name
	revisions []*ctrlRevision
	pvcs      map[string]bool
	ever      []*simPod      // every pod that existed during the run
	onNode    map[string]int // existing pods per node
	// activeOn counts the pods that are not terminating per spec.nodeName ("" when not
	// scheduled yet), as the ReplicaSet controller ranks pods by it.
	activeOn map[string]int
	notify   func(change)
}

// insertPod adds a pod without notifying anyone (initial state).
func (s *store) insertPod(p *simPod) {
	s.pods = append(s.pods, p)
	s.ever = append(s.ever, p)
	if s.onNode == nil {
		s.onNode = map[string]int{}
	}
	s.onNode[p.node]++
	if s.activeOn == nil {
		s.activeOn = map[string]int{}
	}
	if !p.deleting {
		s.activeOn[p.nodeName()]++
	}
	if p.owner != nil {
		p.owner.pods = append(p.owner.pods, p)
		if !p.deleting {
			p.owner.active++
			if p.ready {
				p.owner.ready++
			}
		}
	}
}

// dropPod takes a pod out of the store without notifying anyone (initial state).
func (s *store) dropPod(p *simPod) {
	if !p.deleting {
		s.activeOn[p.nodeName()]--
	}
	s.pods = removeFrom(s.pods, p)
	s.ever = removeFrom(s.ever, p)
	s.onNode[p.node]--
	if p.owner != nil {
		p.owner.pods = removeFrom(p.owner.pods, p)
		p.owner.recount()
	}
}

func (s *store) addPod(p *simPod) {
	s.insertPod(p)
	s.notify(change{kind: chPodAdded, pod: p})
}

func (s *store) podChanged(p *simPod, becameReady bool) {
	s.notify(change{kind: chPodUpdated, pod: p, becameReady: becameReady})
}

// setReady marks a pod Ready.
func (s *store) setReady(p *simPod, now time.Time) {
	p.ready, p.readyAt, p.readyLTT = true, now, metaTime(now)
	if p.owner != nil && !p.deleting {
		p.owner.ready++
	}
}

// setScheduled binds a pod to its node.
func (s *store) setScheduled(p *simPod) {
	if p.scheduled {
		return
	}
	if !p.deleting {
		s.activeOn[""]--
		s.activeOn[p.node]++
	}
	p.scheduled = true
}

// setDeleting marks a pod terminating.
func (s *store) setDeleting(p *simPod, now time.Time) {
	if p.deleting {
		return
	}
	p.deleting, p.deletedAt = true, now
	s.activeOn[p.nodeName()]--
	if p.owner != nil {
		p.owner.active--
		if p.ready {
			p.owner.ready--
		}
	}
}

func (s *store) removePod(p *simPod, now time.Time) {
	if p.gone {
		return
	}
	s.setDeleting(p, now)
	p.gone, p.goneAt = true, now
	s.pods = removeFrom(s.pods, p)
	s.onNode[p.node]--
	if p.owner != nil {
		p.owner.pods = removeFrom(p.owner.pods, p)
	}
	s.notify(change{kind: chPodRemoved, pod: p})
}

func removeFrom(list []*simPod, p *simPod) []*simPod {
	for i, q := range list {
		if q == p {
			copy(list[i:], list[i+1:])
			list[len(list)-1] = nil
			return list[:len(list)-1]
		}
	}
	return list
}

func (s *store) addReplicaSet(rs *simRS) {
	s.rss = append(s.rss, rs)
	s.notify(change{kind: chReplicaSet, rs: rs, rsSpec: true})
}

// replicaSetChanged notifies a change of a ReplicaSet's spec or annotations (by the Deployment
// controller); replicaSetStatusChanged one of its status (by the ReplicaSet controller).
func (s *store) replicaSetChanged(rs *simRS) {
	s.notify(change{kind: chReplicaSet, rs: rs, rsSpec: true})
}

func (s *store) replicaSetStatusChanged(rs *simRS) { s.notify(change{kind: chReplicaSet, rs: rs}) }

func (s *store) deleteReplicaSet(rs *simRS) {
	rs.deleted = true
	for i, r := range s.rss {
		if r == rs {
			s.rss = append(s.rss[:i], s.rss[i+1:]...)
			break
		}
	}
	s.notify(change{kind: chReplicaSet, rs: rs})
}

func (s *store) workloadChanged() { s.notify(change{kind: chWorkload}) }

func (s *store) rsByName(name string) *simRS {
	for _, rs := range s.rss {
		if rs.name == name {
			return rs
		}
	}
	return nil
}

func (s *store) podByName(name string) *simPod {
	for _, p := range s.pods {
		if p.name == name {
			return p
		}
	}
	return nil
}

func (s *store) nodeByName(name string) *node {
	for _, n := range s.nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// setNode adds, replaces (n != nil) or removes (n == nil) a node, keeping name order.
func (s *store) setNode(name string, n *node) {
	for i, m := range s.nodes {
		if m.Name == name {
			if n == nil {
				s.nodes = append(s.nodes[:i], s.nodes[i+1:]...)
			} else {
				s.nodes[i] = n
			}
			s.notify(change{kind: chNode})
			return
		}
	}
	if n == nil {
		return
	}
	i := 0
	for i < len(s.nodes) && s.nodes[i].Name < name {
		i++
	}
	s.nodes = append(s.nodes, nil)
	copy(s.nodes[i+1:], s.nodes[i:])
	s.nodes[i] = n
	s.notify(change{kind: chNode})
}
