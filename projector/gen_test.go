package projector

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/khist/khist/eventlog"
)

// This file generates realistic synthetic histories for the property, crash and benchmark
// tests: Deployments with ReplicaSets and Pods (objects of real size and shape, managedFields
// sanitized), rolling updates with their scale steps and Events, and mostly pod status churn
// (readiness flaps, container restarts), as a busy cluster produces. Generation is
// deterministic for a seed.

type genConfig struct {
	Seed        uint64
	Events      int     // stop after this many events
	Namespaces  int     // default 3
	Deployments int     // per namespace, default 4
	Replicas    int     // per Deployment, default 4
	RolloutRate float64 // probability that a step starts a rollout; default 0.01
	DupRate     float64 // probability of re-sending a recent version (RESYNC or duplicate)
	LateRate    float64 // probability that an event's observed time is late (earlier than the last)
	Cluster     string  // default "gen"
}

type genPod struct {
	name, uid, node, ip, containerID string
	lastContainerID                  string // the container before the last restart
	created, started                 time.Time
	lastStarted, lastFinished        time.Time
	restarts                         int
	ready, deleting                  bool
	rv                               uint64
	rs                               *genRS
}

type genRS struct {
	name, uid, hash, image string
	replicas, revision     int
	emitted                bool
	dep                    *genDep
	pods                   []*genPod
}

type genDep struct {
	ns, name, uid string
	gen           int
	image         int
	replicas      int
	cur, old      *genRS
	rolling       bool
	progressSteps int
}

type gen struct {
	cfg  genConfig
	r    *rand.Rand
	rv   uint64
	now  time.Time
	out  []*eventlog.Envelope
	raw  []int // size of each event's JSON as the API server sends it (with field sets)
	deps []*genDep
	pods []*genPod // live pods
	// recent versions, for duplicates
	recent []*eventlog.Envelope
}

func genHistory(cfg genConfig) []*eventlog.Envelope {
	envs, _ := genHistoryRaw(cfg)
	return envs
}

// genHistoryRaw also returns the size of each event's JSON as a watch receives it from the API
// server: with the field sets (managedFields[].fieldsV1) that the collector leaves out.
func genHistoryRaw(cfg genConfig) ([]*eventlog.Envelope, []int) {
	if cfg.Namespaces == 0 {
		cfg.Namespaces = 3
	}
	if cfg.Deployments == 0 {
		cfg.Deployments = 4
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 4
	}
	if cfg.RolloutRate == 0 {
		cfg.RolloutRate = 0.01
	}
	if cfg.Cluster == "" {
		cfg.Cluster = "gen"
	}
	g := &gen{cfg: cfg, r: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)), rv: 1000,
		now: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)}
	for ns := 0; ns < cfg.Namespaces && len(g.out) < cfg.Events; ns++ {
		for d := 0; d < cfg.Deployments && len(g.out) < cfg.Events; d++ {
			dep := &genDep{ns: fmt.Sprintf("team-%d", ns), name: fmt.Sprintf("svc-%d", d), uid: g.uid(), replicas: cfg.Replicas, gen: 1, image: 1}
			g.deps = append(g.deps, dep)
			g.emitDep(eventlog.Added, dep, "kubectl-client-side-apply")
			rs := g.newRS(dep)
			dep.cur = rs
			g.scale(rs, cfg.Replicas)
			for i := 0; i < cfg.Replicas; i++ {
				g.createPod(rs)
			}
		}
	}
	for len(g.out) < cfg.Events {
		x := g.r.Float64()
		switch {
		case x < cfg.RolloutRate:
			dep := g.deps[g.r.IntN(len(g.deps))]
			if !dep.rolling {
				g.startRollout(dep)
			}
		case x < 0.15:
			g.rolloutStep()
		case x < 0.25:
			g.event()
		default:
			g.churn()
		}
	}
	return g.out[:cfg.Events], g.raw[:cfg.Events]
}

func (g *gen) uid() string {
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", g.r.Uint32(), g.r.Uint32()&0xffff, g.r.Uint32()&0xffff, g.r.Uint32()&0xffff, g.r.Uint64()&0xffffffffffff)
}

// nameUID is a uid as random-looking as the API server's, derived from a name so that it
// draws nothing from the generator's random sequence.
func nameUID(name string) string {
	h := sha256.Sum256([]byte(name))
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func (g *gen) hex(n int) string {
	const d = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = d[g.r.IntN(16)]
	}
	return string(b)
}

func (g *gen) tick() time.Time {
	g.now = g.now.Add(time.Duration(5+g.r.IntN(20)) * time.Millisecond)
	return g.now
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// emit appends an envelope for obj, and maybe a duplicate of a recent version.
func (g *gen) emit(typ eventlog.EventType, kind, group, ns, name, uid string, rv uint64, actor string, obj []byte) {
	if len(g.out) >= g.cfg.Events {
		return
	}
	obs := g.tick()
	if g.cfg.LateRate > 0 && g.r.Float64() < g.cfg.LateRate {
		obs = obs.Add(-time.Duration(g.r.IntN(2000)) * time.Millisecond)
	}
	ver := "v1"
	e := &eventlog.Envelope{Type: typ, Cluster: g.cfg.Cluster, Group: group, Version: ver, Kind: kind, Namespace: ns, Name: name, UID: uid,
		ResourceVersion: strconv.FormatUint(rv, 10), Observed: obs, Source: "gen", Actor: actor, Object: obj}
	e.Seq = uint64(len(g.out) + 1)
	g.out = append(g.out, e)
	g.raw = append(g.raw, len(obj)+fieldSetsSize(kind, obj))
	g.recent = append(g.recent, e)
	if len(g.recent) > 64 {
		g.recent = g.recent[1:]
	}
	if g.cfg.DupRate > 0 && g.r.Float64() < g.cfg.DupRate && len(g.out) < g.cfg.Events {
		d := *g.recent[g.r.IntN(len(g.recent))]
		if g.r.IntN(2) == 0 && !d.Type.IsDelete() {
			d.Type = eventlog.Resync
		}
		d.Seq = uint64(len(g.out) + 1)
		g.out = append(g.out, &d)
		g.raw = append(g.raw, len(d.Object)+fieldSetsSize(d.Kind, d.Object))
	}
}

func (g *gen) nextRV() uint64 { g.rv++; return g.rv }

func (g *gen) emitDep(typ eventlog.EventType, d *genDep, actor string) {
	rv := g.nextRV()
	avail, updated, total := 0, 0, 0
	for _, rs := range []*genRS{d.cur, d.old} {
		if rs == nil {
			continue
		}
		for _, p := range rs.pods {
			if p.deleting {
				continue
			}
			total++
			if p.ready {
				avail++
			}
			if rs == d.cur {
				updated++
			}
		}
	}
	reason := "ReplicaSetUpdated"
	if !d.rolling && d.cur != nil && updated == d.replicas && avail == d.replicas {
		reason = "NewReplicaSetAvailable"
	}
	obj := fmt.Appendf(nil, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"deployment.kubernetes.io/revision":"%d"},"creationTimestamp":"2026-11-20T10:00:00Z","generation":%d,"labels":{"app":"%s"},"managedFields":[{"apiVersion":"apps/v1","manager":"%s","operation":"Update","time":"%s"}],"name":"%s","namespace":"%s","resourceVersion":"%d","uid":"%s"},"spec":{"progressDeadlineSeconds":600,"replicas":%d,"revisionHistoryLimit":10,"selector":{"matchLabels":{"app":"%s"}},"strategy":{"rollingUpdate":{"maxSurge":1,"maxUnavailable":0},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"%s"}},"spec":{"containers":[{"image":"registry.example.com/%s:v%d","name":"app","ports":[{"containerPort":8080}]}]}}},"status":{"availableReplicas":%d,"conditions":[{"lastTransitionTime":"%s","lastUpdateTime":"%s","message":"ok","reason":"MinimumReplicasAvailable","status":"True","type":"Available"},{"lastTransitionTime":"%s","lastUpdateTime":"%s","message":"progress","reason":"%s","status":"True","type":"Progressing"}],"observedGeneration":%d,"readyReplicas":%d,"replicas":%d,"updatedReplicas":%d}}`,
		revOf(d.cur), d.gen, d.name, actor, ts(g.now), d.name, d.ns, rv, d.uid, d.replicas, d.name, d.name, d.name, d.image,
		avail, ts(g.now), ts(g.now), ts(g.now), ts(g.now), reason, d.gen, avail, total, updated)
	g.emit(typ, "Deployment", "apps", d.ns, d.name, d.uid, rv, actor, obj)
}

func revOf(rs *genRS) int {
	if rs == nil {
		return 0
	}
	return rs.revision
}

func (g *gen) newRS(d *genDep) *genRS {
	rs := &genRS{hash: g.hex(10), uid: g.uid(), dep: d, revision: revOf(d.cur) + 1, image: fmt.Sprintf("v%d", d.image)}
	rs.name = d.name + "-" + rs.hash
	return rs
}

func (g *gen) emitRS(typ eventlog.EventType, rs *genRS) {
	rv := g.nextRV()
	ready := 0
	for _, p := range rs.pods {
		if p.ready && !p.deleting {
			ready++
		}
	}
	d := rs.dep
	obj := fmt.Appendf(nil, `{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"annotations":{"deployment.kubernetes.io/desired-replicas":"%d","deployment.kubernetes.io/max-replicas":"%d","deployment.kubernetes.io/revision":"%d"},"creationTimestamp":"2026-11-20T10:00:00Z","generation":%d,"labels":{"app":"%s","pod-template-hash":"%s"},"managedFields":[{"apiVersion":"apps/v1","manager":"kube-controller-manager","operation":"Update","time":"%s"}],"name":"%s","namespace":"%s","ownerReferences":[{"apiVersion":"apps/v1","blockOwnerDeletion":true,"controller":true,"kind":"Deployment","name":"%s","uid":"%s"}],"resourceVersion":"%d","uid":"%s"},"spec":{"replicas":%d,"selector":{"matchLabels":{"app":"%s","pod-template-hash":"%s"}},"template":{"metadata":{"labels":{"app":"%s","pod-template-hash":"%s"}},"spec":{"containers":[{"image":"registry.example.com/%s:%s","name":"app","ports":[{"containerPort":8080}]}]}}},"status":{"availableReplicas":%d,"fullyLabeledReplicas":%d,"observedGeneration":%d,"readyReplicas":%d,"replicas":%d}}`,
		d.replicas, d.replicas+1, rs.revision, rs.revision, d.name, rs.hash, ts(g.now), rs.name, d.ns, d.name, d.uid, rv, rs.uid,
		rs.replicas, d.name, rs.hash, d.name, rs.hash, d.name, rs.image, ready, len(rs.pods), rs.revision, ready, len(rs.pods))
	g.emit(typ, "ReplicaSet", "apps", d.ns, rs.name, rs.uid, rv, "kube-controller-manager", obj)
}

func (g *gen) scale(rs *genRS, n int) {
	from := rs.replicas
	rs.replicas = n
	typ := eventlog.Modified
	if !rs.emitted {
		typ, rs.emitted = eventlog.Added, true
	}
	g.emitRS(typ, rs)
	dir := "up"
	if n < from {
		dir = "down"
	}
	g.emitEvent(rs.dep.ns, rs.dep.name+"."+g.hex(16), "Deployment", rs.dep.name, rs.dep.uid, "ScalingReplicaSet",
		fmt.Sprintf("Scaled %s replica set %s from %d to %d", dir, rs.name, from, n), "deployment-controller", 1)
}

func (g *gen) emitEvent(ns, name, kind, obj, objUID, reason, msg, comp string, count int) {
	rv := g.nextRV()
	typ := eventlog.Added
	uid := nameUID(name)
	if count > 1 {
		typ = eventlog.Modified
	}
	body := fmt.Appendf(nil, `{"apiVersion":"v1","count":%d,"eventTime":null,"firstTimestamp":"%s","involvedObject":{"apiVersion":"apps/v1","kind":"%s","name":"%s","namespace":"%s","uid":"%s"},"kind":"Event","lastTimestamp":"%s","message":%q,"metadata":{"creationTimestamp":"%s","name":"%s","namespace":"%s","resourceVersion":"%d","uid":"%s"},"reason":"%s","reportingComponent":"%s","reportingInstance":"","source":{"component":"%s"},"type":"Normal"}`,
		count, ts(g.now), kind, obj, ns, objUID, ts(g.now), msg, ts(g.now), name, ns, rv, uid, reason, comp, comp)
	g.emit(typ, "Event", "", ns, name, uid, rv, comp, body)
}

func (g *gen) createPod(rs *genRS) *genPod {
	p := &genPod{name: rs.name + "-" + g.hex(5), uid: g.uid(), node: fmt.Sprintf("node-%d", g.r.IntN(20)), rs: rs, created: g.now}
	rs.pods = append(rs.pods, p)
	g.pods = append(g.pods, p)
	g.emitPod(eventlog.Added, p)
	g.emitEvent(rs.dep.ns, rs.name+"."+g.hex(16), "ReplicaSet", rs.name, rs.uid, "SuccessfulCreate", "Created pod: "+p.name, "replicaset-controller", 1)
	p.ip = fmt.Sprintf("10.%d.%d.%d", g.r.IntN(250), g.r.IntN(250), 2+g.r.IntN(250))
	p.containerID = g.hex(64)
	p.started = g.now
	g.emitPod(eventlog.Modified, p)
	p.ready = true
	g.emitPod(eventlog.Modified, p)
	return p
}

func (g *gen) deletePod(p *genPod) {
	p.deleting = true
	g.emitPod(eventlog.Modified, p)
	g.emitEvent(p.rs.dep.ns, p.rs.name+"."+g.hex(16), "ReplicaSet", p.rs.name, p.rs.uid, "SuccessfulDelete", "Deleted pod: "+p.name, "replicaset-controller", 1)
	p.ready = false
	g.emitPod(eventlog.Modified, p)
	g.emitPod(eventlog.Deleted, p)
	for i, q := range g.pods {
		if q == p {
			g.pods = append(g.pods[:i], g.pods[i+1:]...)
			break
		}
	}
	for i, q := range p.rs.pods {
		if q == p {
			p.rs.pods = append(p.rs.pods[:i], p.rs.pods[i+1:]...)
			break
		}
	}
}

func (g *gen) emitPod(typ eventlog.EventType, p *genPod) {
	rv := g.nextRV()
	d := p.rs.dep
	readyStatus := "False"
	if p.ready {
		readyStatus = "True"
	}
	del := ""
	if p.deleting {
		del = `"deletionGracePeriodSeconds":30,"deletionTimestamp":"` + ts(g.now.Add(30*time.Second)) + `",`
	}
	status := `"phase":"Pending","qosClass":"Burstable"`
	if p.ip != "" {
		status = fmt.Sprintf(`"conditions":[{"lastProbeTime":null,"lastTransitionTime":"%s","status":"True","type":"PodReadyToStartContainers"},{"lastProbeTime":null,"lastTransitionTime":"%s","status":"True","type":"Initialized"},{"lastProbeTime":null,"lastTransitionTime":"%s","status":"%s","type":"Ready"},{"lastProbeTime":null,"lastTransitionTime":"%s","status":"%s","type":"ContainersReady"},{"lastProbeTime":null,"lastTransitionTime":"%s","status":"True","type":"PodScheduled"}],"containerStatuses":[{"containerID":"containerd://%s","image":"registry.example.com/%s:%s","imageID":"registry.example.com/%s@sha256:%s","lastState":{%s},"name":"app","ready":%v,"restartCount":%d,"started":true,"state":{"running":{"startedAt":"%s"}}}],"hostIP":"192.168.%d.%d","hostIPs":[{"ip":"192.168.%d.%d"}],"phase":"Running","podIP":"%s","podIPs":[{"ip":"%s"}],"qosClass":"Burstable","startTime":"%s"`,
			ts(p.created), ts(p.created), ts(g.now), readyStatus, ts(g.now), readyStatus, ts(p.created), p.containerID, d.name, p.rs.image, d.name, p.rs.hash+p.rs.hash+p.rs.hash+p.rs.hash+p.rs.hash+p.rs.hash+"abcd", lastState(p), p.ready, p.restarts, ts(p.started), len(p.node), len(p.name), len(p.node), len(p.name), p.ip, p.ip, ts(p.created))
	}
	obj := fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Pod","metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-11-01T08:00:00Z","prometheus.io/port":"9090","prometheus.io/scrape":"true"},"creationTimestamp":"%s",%s"generateName":"%s-","labels":{"app":"%s","pod-template-hash":"%s","team":"payments","tier":"backend"},"managedFields":[{"apiVersion":"v1","manager":"kube-controller-manager","operation":"Update","time":"%s"},{"apiVersion":"v1","manager":"kubelet","operation":"Update","subresource":"status","time":"%s"}],"name":"%s","namespace":"%s","ownerReferences":[{"apiVersion":"apps/v1","blockOwnerDeletion":true,"controller":true,"kind":"ReplicaSet","name":"%s","uid":"%s"}],"resourceVersion":"%d","uid":"%s"},"spec":{"containers":[{"env":[{"name":"GOMAXPROCS","value":"2"},{"name":"POD_NAME","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.name"}}},{"name":"LOG_LEVEL","value":"info"}],"image":"registry.example.com/%s:%s","imagePullPolicy":"IfNotPresent","livenessProbe":{"failureThreshold":3,"httpGet":{"path":"/healthz","port":8080,"scheme":"HTTP"},"periodSeconds":10,"successThreshold":1,"timeoutSeconds":1},"name":"app","ports":[{"containerPort":8080,"name":"http","protocol":"TCP"}],"readinessProbe":{"failureThreshold":3,"httpGet":{"path":"/ready","port":8080,"scheme":"HTTP"},"periodSeconds":5,"successThreshold":1,"timeoutSeconds":1},"resources":{"limits":{"cpu":"1","memory":"512Mi"},"requests":{"cpu":"100m","memory":"128Mi"}},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","volumeMounts":[{"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount","name":"kube-api-access-%s","readOnly":true}]}],"dnsPolicy":"ClusterFirst","enableServiceLinks":true,"nodeName":"%s","preemptionPolicy":"PreemptLowerPriority","priority":0,"restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},"serviceAccount":"default","serviceAccountName":"default","terminationGracePeriodSeconds":30,"tolerations":[{"effect":"NoExecute","key":"node.kubernetes.io/not-ready","operator":"Exists","tolerationSeconds":300},{"effect":"NoExecute","key":"node.kubernetes.io/unreachable","operator":"Exists","tolerationSeconds":300}],"volumes":[{"name":"kube-api-access-%s","projected":{"defaultMode":420,"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"configMap":{"items":[{"key":"ca.crt","path":"ca.crt"}],"name":"kube-root-ca.crt"}},{"downwardAPI":{"items":[{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"},"path":"namespace"}]}}]}}]},"status":{%s}}`,
		ts(p.created), del, p.rs.name, d.name, p.rs.hash, ts(p.created), ts(g.now), p.name, d.ns, p.rs.name, p.rs.uid, rv, p.uid,
		d.name, p.rs.image, p.uid[:5], p.node, p.uid[:5], status)
	g.emit(typ, "Pod", "", d.ns, p.name, p.uid, rv, "kubelet", obj)
}

// lastState is a container status's lastState as the kubelet writes it: empty until the
// container restarted, then the terminated container.
func lastState(p *genPod) string {
	if p.restarts == 0 {
		return ""
	}
	return fmt.Sprintf(`"terminated":{"containerID":"containerd://%s","exitCode":137,"finishedAt":"%s","reason":"OOMKilled","startedAt":"%s"}`,
		p.lastContainerID, ts(p.lastFinished), ts(p.lastStarted))
}

// churn changes a random live pod's status: a restart, or a readiness flap.
func (g *gen) churn() {
	if len(g.pods) == 0 {
		return
	}
	p := g.pods[g.r.IntN(len(g.pods))]
	if p.deleting || p.ip == "" {
		return
	}
	switch g.r.IntN(3) {
	case 0:
		p.restarts++
		p.lastContainerID, p.lastStarted, p.lastFinished = p.containerID, p.started, g.now
		p.containerID = g.hex(64)
		p.started = g.now
	default:
		p.ready = !p.ready
	}
	g.emitPod(eventlog.Modified, p)
}

func (g *gen) event() {
	if len(g.pods) == 0 {
		return
	}
	p := g.pods[g.r.IntN(len(g.pods))]
	g.emitEvent(p.rs.dep.ns, p.name+"."+g.hex(16), "Pod", p.name, p.uid, "BackOff", "Back-off restarting failed container app in pod "+p.name, "kubelet", 1+g.r.IntN(3))
}

func (g *gen) startRollout(d *genDep) {
	d.gen++
	d.image++
	d.rolling = true
	d.old = d.cur
	d.cur = g.newRS(d)
	g.emitDep(eventlog.Modified, d, "kubectl-set")
}

// rolloutStep advances one rolling Deployment by one pod (maxSurge 1, maxUnavailable 0).
func (g *gen) rolloutStep() {
	for _, d := range g.deps {
		if !d.rolling {
			continue
		}
		switch {
		case d.cur.replicas < d.replicas && (d.old == nil || d.cur.replicas+d.old.replicas <= d.replicas):
			g.scale(d.cur, d.cur.replicas+1)
			g.createPod(d.cur)
		case d.old != nil && d.old.replicas > 0:
			g.scale(d.old, d.old.replicas-1)
			if len(d.old.pods) > 0 {
				g.deletePod(d.old.pods[0])
			}
		default:
			d.rolling = false
			d.old = nil
		}
		g.emitDep(eventlog.Modified, d, "kube-controller-manager")
		return
	}
}

// Field sets as recorded on a real control plane (shared/recordings/sample-rolling; its node
// agent, kwok, named kubelet here), by kind, field manager and subresource:
// testdata/fieldsv1.json. The API server sends one with each managedFields entry; the
// collector keeps the entry without it (see eventlog.Sanitize), so a generated object is what
// the collector stores and withFieldSets rebuilds what the watch delivered.
var (
	fieldSetsOnce sync.Once
	fieldSets     map[string][]byte
	managerRE     = regexp.MustCompile(`"manager":"([^"]*)","operation":"[^"]*"(,"subresource":"([^"]*)")?`)
)

func loadFieldSets() {
	raw, err := os.ReadFile("testdata/fieldsv1.json")
	if err != nil {
		panic(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		panic(err)
	}
	fieldSets = map[string][]byte{}
	for k, v := range m {
		var b bytes.Buffer
		if err := json.Compact(&b, v); err != nil {
			panic(err)
		}
		fieldSets[k] = b.Bytes()
	}
}

// fieldSetFor is the field set of a manager's entry: the recorded one for the same kind,
// manager and subresource, else the largest recorded for the kind and subresource.
func fieldSetFor(kind, manager, sub string) []byte {
	fieldSetsOnce.Do(loadFieldSets)
	if fs, ok := fieldSets[kind+"|"+manager+"|"+sub]; ok {
		return fs
	}
	var best []byte
	for k, fs := range fieldSets {
		if bytes.HasPrefix([]byte(k), []byte(kind+"|")) && bytes.HasSuffix([]byte(k), []byte("|"+sub)) && len(fs) > len(best) {
			best = fs
		}
	}
	return best
}

// withFieldSets returns obj as the API server sends it: each managedFields entry with its
// field set.
func withFieldSets(kind string, obj []byte) []byte {
	var out []byte
	last := 0
	for _, m := range managerRE.FindAllSubmatchIndex(obj, -1) {
		fs := fieldSetFor(kind, string(obj[m[2]:m[3]]), subOf(obj, m))
		if fs == nil {
			continue
		}
		out = append(out, obj[last:m[0]]...)
		out = append(out, `"fieldsType":"FieldsV1","fieldsV1":`...)
		out = append(out, fs...)
		out = append(out, ',')
		last = m[0]
	}
	return append(out, obj[last:]...)
}

func subOf(obj []byte, m []int) string {
	if m[6] < 0 {
		return ""
	}
	return string(obj[m[6]:m[7]])
}

// fieldSetsSize is len(withFieldSets(kind, obj)) - len(obj), without building it.
func fieldSetsSize(kind string, obj []byte) int {
	n := 0
	for _, m := range managerRE.FindAllSubmatchIndex(obj, -1) {
		if fs := fieldSetFor(kind, string(obj[m[2]:m[3]]), subOf(obj, m)); fs != nil {
			n += len(`"fieldsType":"FieldsV1","fieldsV1":,`) + len(fs)
		}
	}
	return n
}
