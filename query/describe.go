package query

import (
	"fmt"
	"sort"
	"strings"
)

// Class is what kind of change a version made, as the timeline marks it.
type Class string

// The classes of change, from the most to the least telling. A version that changed several
// things takes the first class that applies.
const (
	ClassWarning     Class = "warning"     // a Warning Event
	ClassSpec        Class = "spec"        // the desired state changed (image, strategy, ...)
	ClassScale       Class = "scale"       // only the replica count changed
	ClassCreated     Class = "created"     // the object appeared
	ClassDeleted     Class = "deleted"     // the object is gone
	ClassTerminating Class = "terminating" // deletion requested (deletionTimestamp set)
	ClassUnready     Class = "unready"     // a pod or node stopped being Ready
	ClassReady       Class = "ready"       // a pod or node became Ready
	ClassEvent       Class = "event"       // a Normal Event
	ClassStatus      Class = "status"      // status moved (replica counts, phase, addresses)
	ClassMetadata    Class = "metadata"    // labels, annotations, owners, finalizers
	ClassNone        Class = ""            // nothing but Noise changed
)

// Marked reports whether the timeline marks the class as notable: spec changes, scaling steps,
// readiness changes and warnings.
func (c Class) Marked() bool {
	switch c {
	case ClassWarning, ClassSpec, ClassScale, ClassReady, ClassUnready:
		return true
	}
	return false
}

var classRank = map[Class]int{
	ClassWarning: 0, ClassSpec: 1, ClassScale: 2, ClassCreated: 3, ClassDeleted: 4,
	ClassTerminating: 5, ClassUnready: 6, ClassReady: 7, ClassEvent: 8, ClassStatus: 9,
	ClassMetadata: 10, ClassNone: 11,
}

// Change is what one version changed, in words.
type Change struct {
	Class   Class
	Summary string        // one line: "image checkout:v1 -> checkout:v2", "Ready", "replicas 1 -> 2"
	Fields  []FieldChange // the changed leaves (Noise excluded); nil for creations and deletions
}

// Describe says what a version of an object changed against the previous version of the same
// object (prev nil: none recorded). typ is the event type (ADDED, MODIFIED, ...).
func Describe(kind, typ string, prev, cur map[string]any) Change {
	if kind == "Event" {
		return describeEvent(typ, prev, cur)
	}
	switch {
	case typ == "DELETED":
		return Change{Class: ClassDeleted, Summary: "deleted"}
	case typ == "DELETED_UNOBSERVED":
		return Change{Class: ClassDeleted, Summary: "deleted (found missing on relist; final state not observed)"}
	case prev == nil:
		s := "created"
		if d := describeNew(kind, cur); d != "" {
			s += ": " + d
		}
		if typ == "RESYNC" {
			s = "first seen on a list"
			if d := describeNew(kind, cur); d != "" {
				s += ": " + d
			}
		}
		return Change{Class: ClassCreated, Summary: s}
	}
	fields := ChangedFields(prev, cur)
	if len(fields) == 0 {
		return Change{Class: ClassNone}
	}
	var parts []string
	class := ClassNone
	raise := func(c Class, s string) {
		if classRank[c] < classRank[class] {
			class = c
		}
		if s != "" {
			parts = append(parts, s)
		}
	}
	var spec, status, meta []FieldChange
	for _, f := range fields {
		switch {
		case strings.HasPrefix(f.Path, "status"):
			status = append(status, f)
		case strings.HasPrefix(f.Path, "metadata"):
			meta = append(meta, f)
		default:
			spec = append(spec, f)
		}
	}
	// Deletion requested.
	if getString(prev, "metadata", "deletionTimestamp") == "" && getString(cur, "metadata", "deletionTimestamp") != "" {
		raise(ClassTerminating, "terminating")
	}
	// Desired state.
	if len(spec) > 0 {
		onlyReplicas := true
		for _, f := range spec {
			if f.Path != "spec.replicas" {
				onlyReplicas = false
			}
		}
		switch {
		case onlyReplicas:
			o, _ := getInt(prev, "spec", "replicas")
			n, _ := getInt(cur, "spec", "replicas")
			dir := "up"
			if n < o {
				dir = "down"
			}
			raise(ClassScale, fmt.Sprintf("scaled %s: replicas %d -> %d", dir, o, n))
		case kind == "Pod":
			var rest []FieldChange
			for _, f := range spec {
				if f.Path == "spec.nodeName" && f.Old == "" {
					raise(ClassStatus, "scheduled to "+f.New)
					continue
				}
				rest = append(rest, f)
			}
			if len(rest) > 0 {
				raise(ClassSpec, describeSpec(kind, prev, cur, rest))
			}
		case kind == "PersistentVolumeClaim" && len(spec) == 1 && spec[0].Path == "spec.volumeName" && spec[0].Old == "":
			raise(ClassStatus, "bound to volume "+spec[0].New)
		case kind == "Endpoints" || kind == "EndpointSlice":
			raise(ClassStatus, describeEndpoints(kind, prev, cur))
		default:
			raise(ClassSpec, describeSpec(kind, prev, cur, spec))
		}
	}
	// Readiness.
	switch kind {
	case "Pod", "Node":
		o, n := condition(prev, "Ready"), condition(cur, "Ready")
		if o != n {
			if n == "True" {
				raise(ClassReady, "Ready")
			} else if o == "True" {
				raise(ClassUnready, "not Ready")
			}
		}
	}
	if len(meta) > 0 {
		raise(ClassMetadata, describeMeta(meta))
	}
	if len(status) > 0 {
		s := describeStatus(kind, prev, cur, status)
		if c := describeConditions(kind, prev, cur); c != "" {
			if s != "" {
				s += ", "
			}
			s += c
		}
		if s == "" && len(parts) == 0 {
			s = listFields(status, 2)
		}
		raise(ClassStatus, s)
	}
	if class == ClassNone {
		class = ClassStatus
	}
	return Change{Class: class, Summary: strings.Join(dedupe(parts), "; "), Fields: fields}
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, x := range s {
		if x != "" && !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// describeNew sums up a new object.
func describeNew(kind string, m map[string]any) string {
	var parts []string
	switch kind {
	case "Deployment", "ReplicaSet", "StatefulSet", "ReplicationController":
		if n, ok := getInt(m, "spec", "replicas"); ok {
			parts = append(parts, fmt.Sprintf("replicas %d", n))
		}
		if img := Images(podSpecOf(kind, m)); img != "" {
			parts = append(parts, "image "+img)
		}
		if kind == "ReplicaSet" {
			if r := getString(m, "metadata", "annotations", "deployment.kubernetes.io/revision"); r != "" {
				parts = append(parts, "revision "+r)
			}
		}
	case "DaemonSet":
		if img := Images(podSpecOf(kind, m)); img != "" {
			parts = append(parts, "image "+img)
		}
	case "Pod":
		if img := Images(podSpecOf(kind, m)); img != "" {
			parts = append(parts, "image "+img)
		}
		if n := getString(m, "spec", "nodeName"); n != "" {
			parts = append(parts, "on "+n)
		}
	case "PersistentVolumeClaim":
		if p := getString(m, "status", "phase"); p != "" {
			parts = append(parts, p)
		}
	case "Service":
		if t := getString(m, "spec", "type"); t != "" {
			parts = append(parts, t)
		}
		var ports []string
		for _, p := range getList(m, "spec", "ports") {
			pm, _ := p.(map[string]any)
			ports = append(ports, short(pm["port"])+"/"+short(pm["protocol"]))
		}
		if len(ports) > 0 {
			parts = append(parts, "ports "+strings.Join(ports, ","))
		}
	case "Endpoints", "EndpointSlice":
		if a := endpointAddrs(kind, m); len(a) > 0 {
			parts = append(parts, "ready "+strings.Join(a, ","))
		}
	case "ControllerRevision":
		if r, ok := getInt(m, "revision"); ok {
			parts = append(parts, fmt.Sprintf("revision %d", r))
		}
	}
	return strings.Join(parts, ", ")
}

// describeSpec sums up changes of the desired state, images first.
func describeSpec(kind string, prev, cur map[string]any, spec []FieldChange) string {
	var parts []string
	rest := 0
	for _, f := range spec {
		switch {
		case strings.HasSuffix(f.Path, ".image") && strings.Contains(f.Path, "containers["):
			c := f.Path[strings.Index(f.Path, "containers[")+len("containers[") : strings.LastIndex(f.Path, "]")]
			parts = append(parts, fmt.Sprintf("image %s %s -> %s", c, f.Old, f.New))
		case f.Path == "spec.replicas":
			parts = append(parts, fmt.Sprintf("replicas %s -> %s", f.Old, f.New))
		case f.Path == "spec.paused":
			if f.New == "true" {
				parts = append(parts, "paused")
			} else {
				parts = append(parts, "resumed")
			}
		default:
			rest++
			if rest <= 2 {
				parts = append(parts, f.String())
			}
		}
	}
	if rest > 2 {
		parts = append(parts, fmt.Sprintf("%d more", rest-2))
	}
	return strings.Join(parts, "; ")
}

// describeStatus sums up status changes in the words kubectl get uses.
func describeStatus(kind string, prev, cur map[string]any, status []FieldChange) string {
	switch kind {
	case "Deployment", "ReplicaSet", "StatefulSet":
		var parts []string
		want := intOr(cur, 1, "spec", "replicas")
		for _, k := range []string{"replicas", "readyReplicas", "availableReplicas", "updatedReplicas"} {
			o, n := intOr(prev, 0, "status", k), intOr(cur, 0, "status", k)
			if o != n {
				name := strings.TrimSuffix(k, "Replicas")
				if k == "replicas" {
					name = "pods"
				}
				parts = append(parts, fmt.Sprintf("%s %d -> %d/%d", name, o, n, want))
			}
		}
		if kind == "StatefulSet" {
			for _, k := range []string{"currentRevision", "updateRevision"} {
				o, n := getString(prev, "status", k), getString(cur, "status", k)
				if o != n && n != "" {
					parts = append(parts, k+" "+n)
				}
			}
		}
		return strings.Join(parts, ", ")
	case "Job":
		var parts []string
		for _, k := range []string{"succeeded", "failed"} {
			if o, n := intOr(prev, 0, "status", k), intOr(cur, 0, "status", k); o != n {
				parts = append(parts, fmt.Sprintf("%s %d -> %d", k, o, n))
			}
		}
		return strings.Join(parts, ", ")
	case "DaemonSet":
		o, n := intOr(prev, 0, "status", "numberReady"), intOr(cur, 0, "status", "numberReady")
		if o != n {
			return fmt.Sprintf("ready %d -> %d/%d", o, n, intOr(cur, 0, "status", "desiredNumberScheduled"))
		}
	case "Pod":
		o, n := getString(prev, "status", "phase"), getString(cur, "status", "phase")
		if o != n && n != "" {
			if t := terminatedText(cur); t != "" && (n == "Failed" || n == "Succeeded") {
				return "phase " + n + " (" + t + ")"
			}
			return "phase " + n
		}
		var parts []string
		for _, f := range status {
			if strings.HasSuffix(f.Path, ".restartCount") && f.Old != "" {
				parts = append(parts, "restarts "+f.New)
			}
		}
		parts = append(parts, containerStates(prev, cur)...)
		if ip := getString(cur, "status", "podIP"); ip != "" && getString(prev, "status", "podIP") == "" {
			parts = append(parts, "IP "+ip)
		}
		return strings.Join(parts, ", ")
	case "PersistentVolumeClaim", "PersistentVolume", "Namespace":
		o, n := getString(prev, "status", "phase"), getString(cur, "status", "phase")
		if o != n && n != "" {
			return strings.ToLower(n)
		}
	}
	return ""
}

// metaImplied are metadata fields whose change another part of the summary already says
// (generation follows the spec, deletion fields follow "terminating").
var metaImplied = map[string]bool{
	"metadata.generation": true, "metadata.deletionTimestamp": true, "metadata.deletionGracePeriodSeconds": true,
	"metadata.annotations.pv.kubernetes.io/bind-completed": true, "metadata.annotations.pv.kubernetes.io/bound-by-controller": true,
}

func describeMeta(meta []FieldChange) string {
	var rest []FieldChange
	for _, f := range meta {
		switch {
		case f.Path == "metadata.annotations.deployment.kubernetes.io/revision":
			if f.Old == "" {
				return "revision " + f.New
			}
			return "revision " + f.Old + " -> " + f.New
		case metaImplied[f.Path]:
		default:
			rest = append(rest, f)
		}
	}
	return listFields(rest, 2)
}

// listFields prints up to n field changes and how many more there are.
func listFields(fs []FieldChange, n int) string {
	var parts []string
	for i, f := range fs {
		if i == n {
			parts = append(parts, fmt.Sprintf("%d more", len(fs)-n))
			break
		}
		parts = append(parts, f.String())
	}
	return strings.Join(parts, "; ")
}

// endpointStates maps each address of an Endpoints or EndpointSlice, named by the pod it
// points to when known ("cache-0 (10.0.0.5)"), to its state: ready, not ready or terminating.
func endpointStates(kind string, m map[string]any) map[string]string {
	out := map[string]string{}
	name := func(ip string, target map[string]any) string {
		if n, _ := target["name"].(string); n != "" {
			return n + " (" + ip + ")"
		}
		return ip
	}
	if kind == "Endpoints" {
		for _, s := range getList(m, "subsets") {
			sm, _ := s.(map[string]any)
			for field, state := range map[string]string{"addresses": "ready", "notReadyAddresses": "not ready"} {
				for _, a := range getList(sm, field) {
					am, _ := a.(map[string]any)
					tr, _ := am["targetRef"].(map[string]any)
					out[name(short(am["ip"]), tr)] = state
				}
			}
		}
		return out
	}
	for _, e := range getList(m, "endpoints") {
		em, _ := e.(map[string]any)
		state := "ready"
		if r, ok := get(em, "conditions", "ready").(bool); ok && !r {
			state = "not ready"
		}
		if t, ok := get(em, "conditions", "terminating").(bool); ok && t {
			state = "terminating"
		}
		tr, _ := em["targetRef"].(map[string]any)
		for _, a := range getList(em, "addresses") {
			out[name(short(a), tr)] = state
		}
	}
	return out
}

// endpointAddrs lists the ready addresses of an Endpoints or EndpointSlice.
func endpointAddrs(kind string, m map[string]any) []string {
	var out []string
	for a, s := range endpointStates(kind, m) {
		if s == "ready" {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

func describeEndpoints(kind string, prev, cur map[string]any) string {
	o, n := endpointStates(kind, prev), endpointStates(kind, cur)
	var addrs []string
	for a := range o {
		addrs = append(addrs, a)
	}
	for a := range n {
		if _, ok := o[a]; !ok {
			addrs = append(addrs, a)
		}
	}
	sort.Strings(addrs)
	var parts []string
	ready := 0
	for _, a := range addrs {
		if n[a] == "ready" {
			ready++
		}
		switch {
		case o[a] == n[a]:
		case n[a] == "":
			parts = append(parts, a+" removed")
		default:
			parts = append(parts, a+" "+n[a])
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf("endpoints changed (%d ready)", ready)
	}
	return fmt.Sprintf("endpoints: %s (%d ready)", strings.Join(parts, ", "), ready)
}

// describeEvent sums up a Kubernetes Event: its type, reason and message.
func describeEvent(typ string, prev, cur map[string]any) Change {
	if typ == "DELETED" || typ == "DELETED_UNOBSERVED" {
		return Change{Class: ClassNone}
	}
	et := getString(cur, "type")
	reason := getString(cur, "reason")
	msg := getString(cur, "message")
	if msg == "" {
		msg = getString(cur, "note")
	}
	count := intOr(cur, 1, "count")
	if n, ok := getInt(cur, "series", "count"); ok {
		count = n
	}
	if prev != nil && count == intOr(prev, 1, "count") && getString(prev, "message") == msg {
		return Change{Class: ClassNone}
	}
	s := reason + ": " + msg
	if count > 1 {
		s += fmt.Sprintf(" (x%d)", count)
	}
	c := ClassEvent
	if et == "Warning" {
		c = ClassWarning
		s = "Warning " + s
	}
	return Change{Class: c, Summary: s}
}

// EventSubject returns the object an Event is about (involvedObject or regarding).
func EventSubject(m map[string]any) ObjectKey {
	r := getMap(m, "involvedObject")
	if r == nil {
		r = getMap(m, "regarding")
	}
	if r == nil {
		return ObjectKey{}
	}
	av, _ := r["apiVersion"].(string)
	g, _, ok := strings.Cut(av, "/")
	if !ok {
		g = ""
	}
	k := ObjectKey{Group: g, Kind: getString(r, "kind"), Namespace: getString(r, "namespace"), Name: getString(r, "name")}
	if k.Namespace == "" {
		k.Namespace = getString(m, "metadata", "namespace")
	}
	return k
}

// containerStates lists the containers whose state (waiting, running, terminated) changed:
// "app running", "app waiting (CrashLoopBackOff)".
func containerStates(prev, cur map[string]any) []string {
	state := func(m map[string]any) map[string]string {
		out := map[string]string{}
		for _, field := range []string{"initContainerStatuses", "containerStatuses"} {
			for _, c := range getList(m, "status", field) {
				cm, _ := c.(map[string]any)
				name, _ := cm["name"].(string)
				st := getMap(cm, "state")
				for _, s := range []string{"running", "waiting", "terminated"} {
					if d, ok := st[s].(map[string]any); ok {
						if r, _ := d["reason"].(string); r != "" {
							s += " (" + r + ")"
						}
						out[name] = s
					}
				}
			}
		}
		return out
	}
	o, n := state(prev), state(cur)
	var names []string
	for k := range n {
		names = append(names, k)
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		if o[k] != n[k] {
			parts = append(parts, "container "+k+" "+n[k])
		}
	}
	return parts
}

// describeConditions lists the conditions of a workload, PVC or node whose status or reason
// changed: "Available=True (MinimumReplicasAvailable)". Pods' Ready is said elsewhere.
func describeConditions(kind string, prev, cur map[string]any) string {
	if kind == "Pod" {
		// Ready is said by the class; a pod that cannot be scheduled is worth its reason.
		for _, c := range getList(cur, "status", "conditions") {
			cm, _ := c.(map[string]any)
			if cm["type"] == "PodScheduled" && cm["status"] == "False" && condition(prev, "PodScheduled") != "False" {
				return "unschedulable (" + short(cm["reason"]) + "): " + oneLine(short(cm["message"]), 120)
			}
		}
		return ""
	}
	conds := func(m map[string]any) map[string]string {
		out := map[string]string{}
		for _, c := range getList(m, "status", "conditions") {
			cm, _ := c.(map[string]any)
			t, _ := cm["type"].(string)
			s, _ := cm["status"].(string)
			if r, _ := cm["reason"].(string); r != "" {
				s += " (" + r + ")"
			}
			out[t] = s
		}
		return out
	}
	o, n := conds(prev), conds(cur)
	var types []string
	for t := range n {
		types = append(types, t)
	}
	sort.Strings(types)
	var parts []string
	for _, t := range types {
		if o[t] != n[t] {
			parts = append(parts, t+"="+n[t])
		}
	}
	return strings.Join(parts, ", ")
}

// terminatedText says how a finished pod's first terminated container ended: "Error, exit
// code 2".
func terminatedText(pod map[string]any) string {
	for _, c := range getList(pod, "status", "containerStatuses") {
		cm, _ := c.(map[string]any)
		t := getMap(getMap(cm, "state"), "terminated")
		if t == nil {
			continue
		}
		code := intOr(t, 0, "exitCode")
		r, _ := t["reason"].(string)
		if r == "" {
			return fmt.Sprintf("exit code %d", code)
		}
		return fmt.Sprintf("%s, exit code %d", r, code)
	}
	return ""
}
