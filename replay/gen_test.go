package replay

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The history generator is a fake cluster for tests: it runs the simulated controllers
// against a synthetic world (a workload, people editing it, pods with given readiness
// latencies, nodes coming and going) and records every write as a Version, the way the
// collector would have. It exercises extraction and Compare on every shape of rollout; it does
// not prove fidelity to upstream, which only recordings of a real control plane do.

var genStart = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

type genEdit struct {
	at    time.Duration
	actor string
	fn    func(obj any)
}

type genNodeEdit struct {
	at     time.Duration
	name   string
	remove bool
	labels map[string]string
}

type genPodDelete struct {
	at   time.Duration
	name string
}

type genWorld struct {
	obj        any // *appsv1.Deployment, *appsv1.StatefulSet or *appsv1.DaemonSet, created at 0
	edits      []genEdit
	nodes      []string
	nodeEdits  []genNodeEdit
	podDeletes []genPodDelete
	// latency of the k-th pod (from 0) of a revision, the revision being the container image
	// of the pod template; false means never Ready.
	latency func(image string, k int) (time.Duration, bool)
	// termination is how long a deleted pod takes to go away.
	termination time.Duration
}

func genDeployment(name string, replicas int32, image string) *appsv1.Deployment {
	d := &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: KindDeployment},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "gen"}}
	d.Spec.Replicas = &replicas
	d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	d.Spec.Template = genTemplate(name, image)
	d.Spec.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
	d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptrIS(intstr.FromString("25%")), MaxUnavailable: ptrIS(intstr.FromString("25%"))}
	pd, rh := int32(600), int32(10)
	d.Spec.ProgressDeadlineSeconds, d.Spec.RevisionHistoryLimit = &pd, &rh
	return d
}

func genStatefulSet(name string, replicas int32, image string) *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: KindStatefulSet},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "gen"}}
	s.Spec.Replicas = &replicas
	s.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	s.Spec.Template = genTemplate(name, image)
	s.Spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	part := int32(0)
	s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: &part}}
	s.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}
	return s
}

func genDaemonSet(name, image string) *appsv1.DaemonSet {
	s := &appsv1.DaemonSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: KindDaemonSet},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "gen"}}
	s.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	s.Spec.Template = genTemplate(name, image)
	s.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptrIS(intstr.FromInt32(1)), MaxSurge: ptrIS(intstr.FromInt32(0))}}
	return s
}

func genTemplate(name, image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}}}
}

// setImage is the edit `kubectl set image`.
func setImage(image string) func(any) {
	return func(o any) {
		switch w := o.(type) {
		case *appsv1.Deployment:
			w.Spec.Template.Spec.Containers[0].Image = image
		case *appsv1.StatefulSet:
			w.Spec.Template.Spec.Containers[0].Image = image
		case *appsv1.DaemonSet:
			w.Spec.Template.Spec.Containers[0].Image = image
		}
	}
}

func setReplicas(n int32) func(any) {
	return func(o any) {
		switch w := o.(type) {
		case *appsv1.Deployment:
			w.Spec.Replicas = &n
		case *appsv1.StatefulSet:
			w.Spec.Replicas = &n
		}
	}
}

func setPaused(p bool) func(any) { return func(o any) { o.(*appsv1.Deployment).Spec.Paused = p } }

func objMetaOf(o any) *metav1.ObjectMeta {
	switch w := o.(type) {
	case *appsv1.Deployment:
		return &w.ObjectMeta
	case *appsv1.StatefulSet:
		return &w.ObjectMeta
	case *appsv1.DaemonSet:
		return &w.ObjectMeta
	}
	panic("unknown object")
}

func specOf(o any) any {
	switch w := o.(type) {
	case *appsv1.Deployment:
		return w.Spec
	case *appsv1.StatefulSet:
		return w.Spec
	case *appsv1.DaemonSet:
		return w.Spec
	}
	panic("unknown object")
}

func deepCopy(o any) any {
	switch w := o.(type) {
	case *appsv1.Deployment:
		return w.DeepCopy()
	case *appsv1.StatefulSet:
		return w.DeepCopy()
	case *appsv1.DaemonSet:
		return w.DeepCopy()
	}
	panic("unknown object")
}

func imageOf(t *corev1.PodTemplateSpec) string {
	if t == nil || len(t.Spec.Containers) == 0 {
		return ""
	}
	return t.Spec.Containers[0].Image
}

// generate runs the world and returns its history.
func generate(t testing.TB, w genWorld) []Version {
	t.Helper()
	user := deepCopy(w.obj)
	meta := objMetaOf(user)
	meta.UID = types.UID("uid-" + meta.Name)
	meta.Generation = 1
	meta.CreationTimestamp = metav1.NewTime(genStart)
	kind := reflect.TypeOf(user).Elem().Name()
	scn := &Scenario{Kind: kind, Namespace: meta.Namespace, Name: meta.Name, UID: string(meta.UID),
		x: &extraction{nodes: map[string][]nodeVer{}, pvcs: map[string]uint64{}, revName: map[string]string{}, revKey: map[string]string{},
			termMedian: w.termination}}
	ro := &Rollout{ID: "gen", Seq: 0, EndSeq: math.MaxUint64, Start: genStart, End: genStart.Add(maxVirtual)}
	s := &simulation{clock: newClock(genStart), scn: scn, ro: ro, mode: EnvLatency, ov: &overrides{}}
	images := map[string]string{} // template key -> image
	counts := map[string]int{}
	s.env = &environment{mode: EnvLatency, lat: readyLatency{kind: "recorded"}, kind: kind, pool: map[string][]*PodRecord{},
		used: map[*PodRecord]bool{}, revLat: map[string][]time.Duration{}, revNever: map[string]bool{}, term: w.termination,
		synthetic: func(key string) (time.Duration, bool) {
			img := images[key]
			k := counts[img]
			counts[img]++
			return w.latency(img, k)
		}}
	var h []Version
	seq := uint64(0)
	emit := func(typ, kind, name, uid string, obj any) {
		seq++
		b, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		h = append(h, Version{Seq: seq, Type: typ, Observed: s.now, Kind: kind, Namespace: meta.Namespace, Name: name, UID: uid,
			ResourceVersion: strconv.FormatUint(seq, 10), Object: b})
	}
	seen := map[string]bool{}
	deletingSeen := map[*simPod]bool{}
	external := map[*simPod]bool{}
	rsTemplate := map[string]corev1.PodTemplateSpec{}
	events := 0
	record := func(c change) {
		switch c.kind {
		case chPodAdded, chPodUpdated, chPodRemoved:
			p := c.pod
			typ := Modified
			if c.kind == chPodAdded {
				typ = Added
			} else if c.kind == chPodRemoved {
				typ = Deleted
			}
			if p.deleting && !deletingSeen[p] && c.kind == chPodUpdated {
				deletingSeen[p] = true
				if !external[p] {
					events++
					msg := "Deleted pod: " + p.name
					owner := meta.Name
					if p.owner != nil {
						owner = p.owner.name
					}
					if kind == KindStatefulSet {
						msg = fmt.Sprintf("delete Pod %s in StatefulSet %s successful", p.name, meta.Name)
					}
					ev := corev1.Event{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Event"},
						ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", owner, s.now.UnixNano()+int64(events)), Namespace: meta.Namespace,
							UID: types.UID("event-" + strconv.Itoa(events))},
						Reason: "SuccessfulDelete", Message: msg, Count: 1, FirstTimestamp: metav1.NewTime(s.now)}
					defer emit(Added, "Event", ev.Name, string(ev.UID), ev)
				}
			}
			emit(typ, "Pod", p.name, p.uid, genPodJSON(p, meta, kind))
		case chReplicaSet:
			rs := c.rs
			typ := Modified
			if !seen[rs.uid] {
				typ = Added
				seen[rs.uid] = true
				tmpl := *s.st.w.tmpl.DeepCopy()
				tmpl.Labels = map[string]string{}
				for k, v := range s.st.w.tmpl.Labels {
					tmpl.Labels[k] = v
				}
				tmpl.Labels[labelPodTemplate] = rs.name
				rsTemplate[rs.uid] = tmpl
			}
			if rs.deleted {
				typ = Deleted
			}
			emit(typ, "ReplicaSet", rs.name, rs.uid, genRSJSON(rs, meta, rsTemplate[rs.uid]))
		case chWorkload:
			typ := Modified
			if !seen[string(meta.UID)] {
				typ, seen[string(meta.UID)] = Added, true
			}
			emit(typ, kind, meta.Name, string(meta.UID), genWorkloadJSON(user, s.st.w))
		}
	}
	s.st = &store{pvcs: map[string]bool{}, onNode: map[string]int{}, activeOn: map[string]int{}, notify: func(c change) { record(c); s.onChange(c) }}
	s.startControllers()
	s.syncFn = s.dispatch

	addNode := func(name string, labels map[string]string) {
		n := &node{Name: name, Labels: labels}
		nd := corev1.Node{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"}, ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("node-" + name), Labels: labels}}
		b, _ := json.Marshal(nd)
		seq++
		h = append(h, Version{Seq: seq, Type: Added, Observed: s.now, Kind: "Node", Name: name, UID: "node-" + name, ResourceVersion: strconv.FormatUint(seq, 10), Object: b})
		s.st.setNode(name, n)
	}
	for _, n := range w.nodes {
		addNode(n, map[string]string{"kubernetes.io/hostname": n})
	}
	apply := func(actor string) {
		b, err := json.Marshal(user)
		if err != nil {
			t.Fatal(err)
		}
		wo, err := parseWorkload(kind, b)
		if err != nil {
			t.Fatal(err)
		}
		images[wo.spec.Template] = imageOf(wo.tmpl)
		c := &SpecChange{Generation: meta.Generation, Actor: actor, w: wo}
		if s.st.w == nil {
			s.st.w = &simWorkload{name: meta.Name, uid: string(meta.UID), generation: c.Generation, spec: wo.spec, tmpl: wo.tmpl}
			s.st.workloadChanged()
			return
		}
		s.applyChange(c)
	}
	s.at(genStart, func() {
		meta.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl-client-side-apply", Operation: "Update", Time: ptrTime(s.now)}}
		apply("kubectl-client-side-apply")
	})
	for _, e := range w.edits {
		e := e
		s.at(genStart.Add(e.at), func() {
			before := specOf(deepCopy(user))
			e.fn(user)
			if !reflect.DeepEqual(before, specOf(user)) {
				meta.Generation++
			}
			actor := e.actor
			if actor == "" {
				actor = "kubectl-edit"
			}
			meta.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: actor, Operation: "Update", Time: ptrTime(s.now)}}
			apply(actor)
		})
	}
	for _, e := range w.nodeEdits {
		e := e
		s.at(genStart.Add(e.at), func() {
			if e.remove {
				seq++
				h = append(h, Version{Seq: seq, Type: Deleted, Observed: s.now, Kind: "Node", Name: e.name, UID: "node-" + e.name,
					ResourceVersion: strconv.FormatUint(seq, 10), Object: []byte(`{"kind":"Node","metadata":{"name":"` + e.name + `"}}`)})
				s.nodeChange(e.name, nodeVer{deleted: true})
				return
			}
			addNode(e.name, e.labels)
		})
	}
	for _, d := range w.podDeletes {
		d := d
		s.at(genStart.Add(d.at), func() {
			if p := s.st.podByName(d.name); p != nil && !p.deleting {
				external[p] = true
				s.deletePod(p, false)
			}
		})
	}
	s.run()
	return h
}

func ptrTime(t time.Time) *metav1.Time { m := metav1.NewTime(t); return &m }

func genPodJSON(p *simPod, owner *metav1.ObjectMeta, kind string) corev1.Pod {
	pod := corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: owner.Namespace, UID: typesUID(p.uid), CreationTimestamp: metav1.NewTime(p.creationTS),
			Labels: map[string]string{"app": owner.Name}}}
	ctrl := true
	if p.owner != nil {
		pod.Labels[labelPodTemplate] = p.owner.name
		pod.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: p.owner.name, UID: typesUID(p.owner.uid), Controller: &ctrl}}
	} else {
		pod.Labels[labelCtrlRevision] = p.revName
		pod.OwnerReferences = []metav1.OwnerReference{{Kind: kind, Name: owner.Name, UID: owner.UID, Controller: &ctrl}}
	}
	if p.scheduled {
		pod.Spec.NodeName = p.node
	} else if kind == KindDaemonSet {
		pod.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{p.node}}}}}}}}
	}
	pod.Status.Phase = corev1.PodPhase(p.phase)
	if p.ready {
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(p.readyLTT)}}
	}
	if p.deleting {
		pod.DeletionTimestamp = ptrTime(metaTime(p.deletedAt))
		zero := int64(0)
		pod.DeletionGracePeriodSeconds = &zero
	}
	return pod
}

func typesUID(s string) types.UID { return types.UID(s) }

func genRSJSON(rs *simRS, owner *metav1.ObjectMeta, tmpl corev1.PodTemplateSpec) appsv1.ReplicaSet {
	ctrl := true
	r := appsv1.ReplicaSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
		ObjectMeta: metav1.ObjectMeta{Name: rs.name, Namespace: owner.Namespace, UID: typesUID(rs.uid), CreationTimestamp: metav1.NewTime(rs.creationTS),
			Generation: rs.generation, Annotations: map[string]string{annRevision: strconv.FormatInt(rs.revision, 10)},
			OwnerReferences: []metav1.OwnerReference{{Kind: KindDeployment, Name: owner.Name, UID: owner.UID, Controller: &ctrl}}}}
	if rs.hasDesired {
		r.Annotations[annDesiredReplicas] = strconv.Itoa(int(rs.desired))
	}
	if rs.hasMax {
		r.Annotations[annMaxReplicas] = strconv.Itoa(int(rs.max))
	}
	n := rs.replicas
	r.Spec.Replicas = &n
	r.Spec.MinReadySeconds = rs.minReadySeconds
	r.Spec.Template = tmpl
	r.Status = appsv1.ReplicaSetStatus{Replicas: rs.status.Replicas, ReadyReplicas: rs.status.Ready, AvailableReplicas: rs.status.Available,
		ObservedGeneration: rs.status.ObservedGeneration}
	return r
}

func genWorkloadJSON(user any, w *simWorkload) any {
	o := deepCopy(user)
	m := objMetaOf(o)
	m.Generation = w.generation
	switch d := o.(type) {
	case *appsv1.Deployment:
		if w.revision > 0 {
			m.Annotations = map[string]string{annRevision: strconv.FormatInt(w.revision, 10)}
		}
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: w.status.ObservedGeneration, Replicas: w.status.Replicas,
			UpdatedReplicas: w.status.UpdatedReplicas, ReadyReplicas: w.status.ReadyReplicas, AvailableReplicas: w.status.AvailableReplicas}
		if c := w.status.Progressing; c != nil {
			d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionStatus(c.Status),
				Reason: c.Reason, LastUpdateTime: metav1.NewTime(c.LastUpdate), LastTransitionTime: metav1.NewTime(c.LastTransition)}}
		}
	case *appsv1.StatefulSet:
		d.Status = appsv1.StatefulSetStatus{ObservedGeneration: w.status.ObservedGeneration, Replicas: w.status.Replicas,
			ReadyReplicas: w.status.ReadyReplicas, AvailableReplicas: w.status.AvailableReplicas, CurrentReplicas: w.status.CurrentReplicas,
			UpdatedReplicas: w.status.UpdatedReplicas, CurrentRevision: w.status.CurrentRevision, UpdateRevision: w.status.UpdateRevision}
	case *appsv1.DaemonSet:
		d.Status = appsv1.DaemonSetStatus{ObservedGeneration: w.status.ObservedGeneration, CurrentNumberScheduled: w.status.Replicas,
			NumberReady: w.status.ReadyReplicas, NumberAvailable: w.status.AvailableReplicas, UpdatedNumberScheduled: w.status.UpdatedReplicas}
	}
	return o
}

// randomLatency returns a latency function drawing from [lo, hi) with a fixed seed; images in
// never are never Ready.
func randomLatency(seed int64, lo, hi time.Duration, never ...string) func(string, int) (time.Duration, bool) {
	r := rand.New(rand.NewSource(seed))
	cache := map[string]time.Duration{}
	return func(img string, k int) (time.Duration, bool) {
		for _, n := range never {
			if n == img {
				return 0, false
			}
		}
		key := img + "/" + strconv.Itoa(k)
		if d, ok := cache[key]; ok {
			return d, true
		}
		d := lo + time.Duration(r.Int63n(int64(hi-lo)))
		cache[key] = d
		return d, true
	}
}
