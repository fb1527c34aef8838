package query

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/projector"
)

// The benchmarks read views folded from a synthetic week of a busy cluster: at least a million
// events of Deployments rolling out (ReplicaSets scaled step by step, pods created, scheduled,
// becoming ready, terminated), pods flapping with Warning Events, and the Events of it all.
// The views are built once through the projector's fold API (no NATS) and cached under
// os.TempDir() in a file named after benchVersion: change it when the generator changes. They
// are built only when a benchmark runs (go test -bench), which takes minutes the first time.

const benchVersion = "v1"

// benchEvents is the size of the synthetic log; KHIST_BENCH_EVENTS overrides it (for a quick
// look at a smaller one).
var benchEvents = func() uint64 {
	if n, err := strconv.ParseUint(os.Getenv("KHIST_BENCH_EVENTS"), 10, 64); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}()

var (
	benchOnce  sync.Once
	benchViews *Views
	benchErr   error
	benchInfo  benchData
)

// benchData is what the benchmarks pick their queries from.
type benchData struct {
	Start, End  time.Time
	Namespaces  []string
	Deployments []ObjectKey
}

func loadBench(b *testing.B) (*Views, benchData) {
	b.Helper()
	benchOnce.Do(func() {
		path := filepath.Join(os.TempDir(), fmt.Sprintf("khist-query-bench-%s-%d.db", benchVersion, benchEvents))
		if _, err := os.Stat(path); err != nil {
			b.Logf("building %s: %d synthetic events (once; cached)", path, benchEvents)
			t0 := time.Now()
			if benchErr = buildBenchViews(path); benchErr != nil {
				return
			}
			b.Logf("built in %s", time.Since(t0).Round(time.Second))
		}
		db, err := projector.Open(path, &projector.Options{ReadOnly: true})
		if errors.Is(err, projector.ErrSchema) {
			os.Remove(path)
			if benchErr = buildBenchViews(path); benchErr != nil {
				return
			}
			db, err = projector.Open(path, &projector.Options{ReadOnly: true})
		}
		if err != nil {
			benchErr = err
			return
		}
		benchViews = NewViews(db, "bench", Env{Loc: time.UTC})
		ctx := context.Background()
		first, last, err := benchViews.Span(ctx)
		if err != nil {
			benchErr = err
			return
		}
		benchViews.Env.Now = last.Add(time.Minute)
		benchInfo.Start, benchInfo.End = first, last
		nss, _ := db.Namespaces(ctx, "bench")
		for _, ns := range nss {
			if ns == "" {
				continue
			}
			benchInfo.Namespaces = append(benchInfo.Namespaces, ns)
			names, _ := db.Names(ctx, "bench", "apps", "Deployment", ns)
			for _, n := range names {
				benchInfo.Deployments = append(benchInfo.Deployments, ObjectKey{Group: "apps", Kind: "Deployment", Namespace: ns, Name: n})
			}
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchViews, benchInfo
}

func buildBenchViews(path string) error {
	tmp := path + ".tmp"
	os.Remove(tmp)
	db, err := projector.Open(tmp, &projector.Options{NoSync: true})
	if err != nil {
		return err
	}
	g := newBenchGen(1)
	ctx := context.Background()
	batch := make([]*eventlog.Envelope, 0, 5000)
	for g.seq < benchEvents {
		batch = g.step(batch)
		if len(batch) >= 5000 {
			if err := db.Apply(ctx, batch); err != nil {
				db.Close()
				return err
			}
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		if err := db.Apply(ctx, batch); err != nil {
			db.Close()
			return err
		}
	}
	if err := db.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// --- the generator ---

type bgPod struct {
	name, uid, node, ip string
	created             time.Time
	ready               bool
	rs                  *bgRS
}

type bgRS struct {
	name, uid, hash string
	image, rev      int
	replicas        int
	ready           int
	created         time.Time
	pods            []*bgPod
	dep             *bgDep
}

type bgDep struct {
	ns, name, uid string
	replicas, gen int
	created       time.Time
	cur, old      *bgRS
	rss           []*bgRS
	rolling       bool
	actor         string
}

type benchGen struct {
	r    *rand.Rand
	now  time.Time
	seq  uint64
	deps []*bgDep
	roll []*bgDep
}

var benchNodes = []string{"node-a1", "node-a2", "node-b1", "node-b2", "node-c1", "node-c2", "node-c3", "node-d1"}

func newBenchGen(seed uint64) *benchGen {
	g := &benchGen{r: rand.New(rand.NewPCG(seed, seed^0x5eed)), now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	return g
}

func (g *benchGen) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.r.IntN(16)]
	}
	return string(b)
}

func (g *benchGen) uid() string {
	return g.hex(8) + "-" + g.hex(4) + "-" + g.hex(4) + "-" + g.hex(4) + "-" + g.hex(12)
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (g *benchGen) emit(out []*eventlog.Envelope, typ eventlog.EventType, group, kind, ns, name, uid, actor, obj string) []*eventlog.Envelope {
	g.seq++
	g.now = g.now.Add(time.Duration(100+g.r.IntN(1000)) * time.Millisecond)
	v := "v1"
	return append(out, &eventlog.Envelope{
		Type: typ, Cluster: "bench", Group: group, Version: v, Kind: kind, Namespace: ns, Name: name, UID: uid,
		ResourceVersion: strconv.FormatUint(g.seq, 10), Observed: g.now, Source: "bench", Actor: actor,
		Object: []byte(obj), Seq: g.seq,
	})
}

const podTemplate = `{"metadata":{"labels":{"app":"%[1]s","pod-template-hash":"%[2]s"},"annotations":{"prometheus.io/scrape":"true","prometheus.io/port":"9090"}},"spec":{"containers":[{"name":"app","image":"registry.example.com/%[1]s:v%[3]d","ports":[{"containerPort":8080,"protocol":"TCP"}],"resources":{"requests":{"cpu":"100m","memory":"128Mi"},"limits":{"memory":"256Mi"}},"readinessProbe":{"httpGet":{"path":"/healthz","port":8080,"scheme":"HTTP"},"periodSeconds":5,"timeoutSeconds":1,"successThreshold":1,"failureThreshold":3},"env":[{"name":"LOG_LEVEL","value":"info"},{"name":"REGION","value":"eu-west-1"}],"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"}],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":"default","securityContext":{},"schedulerName":"default-scheduler"}}`

func (g *benchGen) depJSON(d *bgDep, rev int, status string) string {
	img := 1
	hash := "none"
	if d.cur != nil {
		img, hash = d.cur.image, d.cur.hash
	}
	tmpl := fmt.Sprintf(podTemplate, d.name, hash, img)
	tmpl = strings.Replace(tmpl, `,"pod-template-hash":"`+hash+`"`, "", 1)
	return fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":%q,"namespace":%q,"uid":%q,"resourceVersion":"%d","generation":%d,"creationTimestamp":%q,"labels":{"app":%q,"team":%q},"annotations":{"deployment.kubernetes.io/revision":"%d"},"managedFields":[{"manager":%q,"operation":"Update","apiVersion":"apps/v1","time":%q},{"manager":"kube-controller-manager","operation":"Update","apiVersion":"apps/v1","time":%q,"subresource":"status"}]},"spec":{"replicas":%d,"selector":{"matchLabels":{"app":%q}},"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1,"maxUnavailable":0}},"revisionHistoryLimit":10,"progressDeadlineSeconds":600,"template":%s},"status":%s}`,
		d.name, d.ns, d.uid, g.seq+1, d.gen, ts(d.created), d.name, d.ns, rev, d.actor, ts(g.now), ts(g.now), d.replicas, d.name, tmpl, status)
}

func (g *benchGen) depStatus(d *bgDep, progressing string) string {
	total, ready, updated := 0, 0, 0
	for _, rs := range d.rss {
		total += len(rs.pods)
		for _, p := range rs.pods {
			if p.ready {
				ready++
			}
		}
	}
	if d.cur != nil {
		updated = len(d.cur.pods)
	}
	avail := "True"
	if ready < d.replicas {
		avail = "False"
	}
	return fmt.Sprintf(`{"observedGeneration":%d,"replicas":%d,"updatedReplicas":%d,"readyReplicas":%d,"availableReplicas":%d,"conditions":[{"type":"Available","status":%q,"lastUpdateTime":%q,"lastTransitionTime":%q,"reason":"MinimumReplicasAvailable","message":"Deployment has minimum availability."},{"type":"Progressing","status":"True","lastUpdateTime":%q,"lastTransitionTime":%q,"reason":%q,"message":"ReplicaSet has progressed."}]}`,
		d.gen, total, updated, ready, ready, avail, ts(g.now), ts(g.now), ts(g.now), ts(g.now), progressing)
}

func (g *benchGen) emitDep(out []*eventlog.Envelope, typ eventlog.EventType, d *bgDep, actor, progressing string) []*eventlog.Envelope {
	rev := 0
	if d.cur != nil {
		rev = d.cur.rev
	}
	return g.emit(out, typ, "apps", "Deployment", d.ns, d.name, d.uid, actor, g.depJSON(d, rev, g.depStatus(d, progressing)))
}

func (g *benchGen) emitRS(out []*eventlog.Envelope, typ eventlog.EventType, rs *bgRS) []*eventlog.Envelope {
	d := rs.dep
	ready := 0
	for _, p := range rs.pods {
		if p.ready {
			ready++
		}
	}
	obj := fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":%q,"namespace":%q,"uid":%q,"resourceVersion":"%d","generation":%d,"creationTimestamp":%q,"labels":{"app":%q,"pod-template-hash":%q},"annotations":{"deployment.kubernetes.io/revision":"%d","deployment.kubernetes.io/desired-replicas":"%d","deployment.kubernetes.io/max-replicas":"%d"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":%q,"uid":%q,"controller":true,"blockOwnerDeletion":true}],"managedFields":[{"manager":"kube-controller-manager","operation":"Update","apiVersion":"apps/v1","time":%q}]},"spec":{"replicas":%d,"selector":{"matchLabels":{"app":%q,"pod-template-hash":%q}},"template":%s},"status":{"replicas":%d,"fullyLabeledReplicas":%d,"readyReplicas":%d,"availableReplicas":%d,"observedGeneration":%d}}`,
		rs.name, d.ns, rs.uid, g.seq+1, d.gen, ts(rs.created), d.name, rs.hash, rs.rev, d.replicas, d.replicas+1, d.name, d.uid, ts(g.now),
		rs.replicas, d.name, rs.hash, fmt.Sprintf(podTemplate, d.name, rs.hash, rs.image), len(rs.pods), len(rs.pods), ready, ready, d.gen)
	return g.emit(out, typ, "apps", "ReplicaSet", d.ns, rs.name, rs.uid, "kube-controller-manager", obj)
}

func (g *benchGen) emitPod(out []*eventlog.Envelope, typ eventlog.EventType, p *bgPod, deleting bool, actor string) []*eventlog.Envelope {
	rs := p.rs
	d := rs.dep
	ready, phase := "False", "Pending"
	if p.node != "" {
		phase = "Running"
	}
	if p.ready {
		ready = "True"
	}
	del := ""
	if deleting {
		del = fmt.Sprintf(`"deletionTimestamp":%q,"deletionGracePeriodSeconds":30,`, ts(g.now.Add(30*time.Second)))
	}
	state := `{"waiting":{"reason":"ContainerCreating"}}`
	if p.node != "" && p.ip != "" {
		state = fmt.Sprintf(`{"running":{"startedAt":%q}}`, ts(p.created.Add(2*time.Second)))
	}
	obj := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q,"generateName":"%s-","namespace":%q,"uid":%q,"resourceVersion":"%d",%s"creationTimestamp":%q,"labels":{"app":%q,"pod-template-hash":%q},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":%q,"uid":%q,"controller":true,"blockOwnerDeletion":true}],"managedFields":[{"manager":"kube-controller-manager","operation":"Update","apiVersion":"v1","time":%q},{"manager":"kubelet","operation":"Update","apiVersion":"v1","time":%q,"subresource":"status"}]},"spec":%s,"status":{"phase":%q,"conditions":[{"type":"PodScheduled","status":"True","lastTransitionTime":%q},{"type":"Initialized","status":"True","lastTransitionTime":%q},{"type":"ContainersReady","status":%q,"lastTransitionTime":%q},{"type":"Ready","status":%q,"lastTransitionTime":%q}],"hostIP":"10.0.0.%d","podIP":%q,"podIPs":[{"ip":%q}],"startTime":%q,"containerStatuses":[{"name":"app","ready":%t,"restartCount":0,"image":"registry.example.com/%s:v%d","imageID":"","containerID":"containerd://%s","started":%t,"state":%s}],"qosClass":"Burstable"}}`,
		p.name, rs.name, d.ns, p.uid, g.seq+1, del, ts(p.created), d.name, rs.hash, rs.name, rs.uid, ts(p.created), ts(g.now),
		podSpec(d.name, rs.image, p.node), phase, ts(p.created), ts(p.created), ready, ts(g.now), ready, ts(g.now),
		len(p.node), p.ip, p.ip, ts(p.created), p.ready, d.name, rs.image, p.uid, p.ready, state)
	return g.emit(out, typ, "", "Pod", d.ns, p.name, p.uid, actor, obj)
}

func podSpec(app string, image int, node string) string {
	return fmt.Sprintf(`{"containers":[{"name":"app","image":"registry.example.com/%s:v%d","ports":[{"containerPort":8080,"protocol":"TCP"}],"resources":{"requests":{"cpu":"100m","memory":"128Mi"},"limits":{"memory":"256Mi"}},"volumeMounts":[{"name":"kube-api-access","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}],"imagePullPolicy":"IfNotPresent"}],"volumes":[{"name":"kube-api-access","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}}],"defaultMode":420}}],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"nodeName":%q,"serviceAccountName":"default","tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}]}`, app, image, node)
}

func (g *benchGen) emitEvent(out []*eventlog.Envelope, ns, kind, group, name, uid, typ, reason, msg, comp string) []*eventlog.Envelope {
	ename := name + "." + g.hex(16)
	api := "v1"
	if group != "" {
		api = group + "/v1"
	}
	obj := fmt.Sprintf(`{"apiVersion":"v1","kind":"Event","metadata":{"name":%q,"namespace":%q,"uid":%q,"resourceVersion":"%d","creationTimestamp":%q},"involvedObject":{"apiVersion":%q,"kind":%q,"namespace":%q,"name":%q,"uid":%q},"reason":%q,"message":%q,"source":{"component":%q},"firstTimestamp":%q,"lastTimestamp":%q,"count":1,"type":%q,"reportingComponent":%q}`,
		ename, ns, g.uid(), g.seq+1, ts(g.now), api, kind, ns, name, uid, reason, msg, comp, ts(g.now), ts(g.now), typ, comp)
	return g.emit(out, eventlog.Added, "", "Event", ns, ename, g.uid(), comp, obj)
}

func (g *benchGen) newRS(d *bgDep, image int) *bgRS {
	rev := 1
	for _, rs := range d.rss {
		rev = max(rev, rs.rev+1)
	}
	hash := g.hex(10)
	rs := &bgRS{name: d.name + "-" + hash, uid: g.uid(), hash: hash, image: image, rev: rev, created: g.now, dep: d}
	d.rss = append(d.rss, rs)
	return rs
}

func (g *benchGen) newPod(out []*eventlog.Envelope, rs *bgRS) ([]*eventlog.Envelope, *bgPod) {
	p := &bgPod{name: rs.name + "-" + g.hex(5), uid: g.uid(), created: g.now, rs: rs}
	rs.pods = append(rs.pods, p)
	out = g.emitPod(out, eventlog.Added, p, false, "kube-controller-manager")
	out = g.emitEvent(out, rs.dep.ns, "ReplicaSet", "apps", rs.name, rs.uid, "Normal", "SuccessfulCreate", "Created pod: "+p.name, "replicaset-controller")
	p.node = benchNodes[g.r.IntN(len(benchNodes))]
	out = g.emitPod(out, eventlog.Modified, p, false, "kube-scheduler")
	out = g.emitEvent(out, rs.dep.ns, "Pod", "", p.name, p.uid, "Normal", "Scheduled", "Successfully assigned "+rs.dep.ns+"/"+p.name+" to "+p.node, "default-scheduler")
	p.ip = fmt.Sprintf("10.%d.%d.%d", 1+g.r.IntN(200), g.r.IntN(256), 1+g.r.IntN(254))
	out = g.emitPod(out, eventlog.Modified, p, false, "kubelet")
	p.ready = true
	out = g.emitPod(out, eventlog.Modified, p, false, "kubelet")
	return out, p
}

func (g *benchGen) deletePod(out []*eventlog.Envelope, p *bgPod) []*eventlog.Envelope {
	rs := p.rs
	out = g.emitPod(out, eventlog.Modified, p, true, "kube-controller-manager")
	out = g.emitEvent(out, rs.dep.ns, "ReplicaSet", "apps", rs.name, rs.uid, "Normal", "SuccessfulDelete", "Deleted pod: "+p.name, "replicaset-controller")
	p.ready = false
	out = g.emitPod(out, eventlog.Deleted, p, true, "kubelet")
	for i, q := range rs.pods {
		if q == p {
			rs.pods = append(rs.pods[:i], rs.pods[i+1:]...)
			break
		}
	}
	return out
}

func (g *benchGen) scale(out []*eventlog.Envelope, rs *bgRS, n int) []*eventlog.Envelope {
	d := rs.dep
	dir := "up"
	if n < rs.replicas {
		dir = "down"
	}
	out = g.emitEvent(out, d.ns, "Deployment", "apps", d.name, d.uid, "Normal", "ScalingReplicaSet",
		fmt.Sprintf("Scaled %s replica set %s from %d to %d", dir, rs.name, rs.replicas, n), "deployment-controller")
	rs.replicas = n
	return g.emitRS(out, eventlog.Modified, rs)
}

// step emits one unit of work: a new Deployment (while fewer than 200), a rollout starting, a
// step of a rollout in progress, or a pod flapping with its Warning Event.
func (g *benchGen) step(out []*eventlog.Envelope) []*eventlog.Envelope {
	switch x := g.r.Float64(); {
	case len(g.deps) < 200:
		ns := fmt.Sprintf("team-%02d", len(g.deps)%20)
		d := &bgDep{ns: ns, name: fmt.Sprintf("svc-%02d", len(g.deps)/20), uid: g.uid(), replicas: 2 + g.r.IntN(7), gen: 1, created: g.now, actor: "kubectl-client-side-apply"}
		g.deps = append(g.deps, d)
		rs := g.newRS(d, 1)
		d.cur = rs
		out = g.emitDep(out, eventlog.Added, d, d.actor, "NewReplicaSetCreated")
		out = g.emitRS(out, eventlog.Added, rs)
		out = g.scale(out, rs, d.replicas)
		for i := 0; i < d.replicas; i++ {
			out, _ = g.newPod(out, rs)
		}
		out = g.emitRS(out, eventlog.Modified, rs)
		return g.emitDep(out, eventlog.Modified, d, "kube-controller-manager", "NewReplicaSetAvailable")
	case x < 0.03 || len(g.roll) == 0:
		d := g.deps[g.r.IntN(len(g.deps))]
		if d.rolling {
			return out
		}
		d.rolling, d.gen = true, d.gen+1
		d.actor = []string{"kubectl-set", "argocd-controller", "helm", "kubectl-client-side-apply"}[g.r.IntN(4)]
		d.old, d.cur = d.cur, g.newRS(d, d.cur.image+1)
		g.roll = append(g.roll, d)
		out = g.emitDep(out, eventlog.Modified, d, d.actor, "ReplicaSetUpdated")
		return g.emitRS(out, eventlog.Added, d.cur)
	case x < 0.75:
		i := g.r.IntN(len(g.roll))
		d := g.roll[i]
		if d.cur.replicas < d.replicas {
			out = g.scale(out, d.cur, d.cur.replicas+1)
			out, _ = g.newPod(out, d.cur)
			out = g.emitRS(out, eventlog.Modified, d.cur)
		}
		if d.old.replicas > 0 {
			out = g.scale(out, d.old, d.old.replicas-1)
			out = g.deletePod(out, d.old.pods[0])
			out = g.emitRS(out, eventlog.Modified, d.old)
		}
		if d.cur.replicas == d.replicas && d.old.replicas == 0 {
			d.rolling = false
			g.roll = append(g.roll[:i], g.roll[i+1:]...)
			return g.emitDep(out, eventlog.Modified, d, "kube-controller-manager", "NewReplicaSetAvailable")
		}
		return g.emitDep(out, eventlog.Modified, d, "kube-controller-manager", "ReplicaSetUpdated")
	default:
		d := g.deps[g.r.IntN(len(g.deps))]
		if len(d.cur.pods) == 0 {
			return out
		}
		p := d.cur.pods[g.r.IntN(len(d.cur.pods))]
		p.ready = false
		out = g.emitPod(out, eventlog.Modified, p, false, "kubelet")
		out = g.emitEvent(out, d.ns, "Pod", "", p.name, p.uid, "Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", "kubelet")
		out = g.emitRS(out, eventlog.Modified, d.cur)
		p.ready = true
		out = g.emitPod(out, eventlog.Modified, p, false, "kubelet")
		return g.emitRS(out, eventlog.Modified, d.cur)
	}
}

// --- the benchmarks ---

// percentiles reports the p50 and p99 of durations in milliseconds.
func percentiles(b *testing.B, ds []time.Duration) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	p := func(q float64) float64 {
		return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))].Microseconds()) / 1000
	}
	b.ReportMetric(p(0.50), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
}

// BenchmarkGetAt measures khist get KIND/NAME --at T: a Deployment or one of its pods at a random
// time of the week. Each iteration runs 200 queries; p50 and p99 are over all of them.
func BenchmarkGetAt(b *testing.B) {
	v, info := loadBench(b)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 7))
	span := info.End.Sub(info.Start)
	var ds []time.Duration
	b.ResetTimer()
	for range b.N {
		for range 200 {
			d := info.Deployments[r.IntN(len(info.Deployments))]
			at := info.Start.Add(time.Duration(r.Int64N(int64(span))))
			obj := "deploy/" + d.Name
			t0 := time.Now()
			err := v.Get(ctx, GetArgs{Object: obj, Namespace: d.Namespace, At: rfc(at), Output: "yaml"}, io.Discard)
			ds = append(ds, time.Since(t0))
			if err != nil && !errors.Is(err, ErrOutOfRange) {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	percentiles(b, ds)
}

// BenchmarkGetPodAt measures khist get pod/NAME --at T for pods (short-lived objects).
func BenchmarkGetPodAt(b *testing.B) {
	v, info := loadBench(b)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(8, 8))
	span := info.End.Sub(info.Start)
	var ds []time.Duration
	b.ResetTimer()
	for range b.N {
		for range 200 {
			ns := info.Namespaces[r.IntN(len(info.Namespaces))]
			at := info.Start.Add(span/10 + time.Duration(r.Int64N(int64(span*9/10))))
			b.StopTimer()
			pods, err := v.DB.StateAt(ctx, projector.StateFilter{Cluster: "bench", Namespaces: []string{ns}, Kinds: []string{"Pod"}, At: at})
			if err != nil || len(pods) == 0 {
				b.Fatalf("no pod in %s at %s: %v", ns, at, err)
			}
			p := pods[r.IntN(len(pods))]
			b.StartTimer()
			t0 := time.Now()
			if err := v.Get(ctx, GetArgs{Object: "pod/" + p.Name, Namespace: ns, At: rfc(at), Output: "yaml"}, io.Discard); err != nil {
				b.Fatal(err)
			}
			ds = append(ds, time.Since(t0))
		}
	}
	b.StopTimer()
	percentiles(b, ds)
}

// BenchmarkStateNamespace measures khist state -n NS --at T (what kubectl get all showed) at a
// random time of the week.
func BenchmarkStateNamespace(b *testing.B) {
	v, info := loadBench(b)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(10, 10))
	span := info.End.Sub(info.Start)
	var ds []time.Duration
	b.ResetTimer()
	for range b.N {
		ns := info.Namespaces[r.IntN(len(info.Namespaces))]
		at := info.Start.Add(span/10 + time.Duration(r.Int64N(int64(span*9/10))))
		t0 := time.Now()
		if err := v.State(ctx, StateArgs{Namespace: ns, At: rfc(at)}, io.Discard); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t0))
	}
	b.StopTimer()
	percentiles(b, ds)
}

// BenchmarkTimelineNamespaceHour measures khist timeline -n NS --since T --until T+1h.
func BenchmarkTimelineNamespaceHour(b *testing.B) {
	v, info := loadBench(b)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(9, 9))
	span := info.End.Sub(info.Start) - time.Hour
	entries := 0
	var ds []time.Duration
	b.ResetTimer()
	for range b.N {
		ns := info.Namespaces[r.IntN(len(info.Namespaces))]
		since := info.Start.Add(time.Duration(r.Int64N(int64(span))))
		var w countWriter
		t0 := time.Now()
		if err := v.Timeline(ctx, TimelineArgs{Namespace: ns, Since: rfc(since), Until: rfc(since.Add(time.Hour)), Output: "table"}, &w); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t0))
		entries += w.lines
	}
	b.StopTimer()
	b.ReportMetric(float64(entries)/float64(b.N), "lines/op")
	percentiles(b, ds)
}

// BenchmarkRolloutsAllWeek measures khist rollouts -A over the whole week.
func BenchmarkRolloutsAllWeek(b *testing.B) {
	v, info := loadBench(b)
	ctx := context.Background()
	var w countWriter
	b.ResetTimer()
	for range b.N {
		w = countWriter{}
		if err := v.Rollouts(ctx, RolloutsArgs{AllNamespaces: true, Since: rfc(info.Start), Until: rfc(info.End.Add(time.Second))}, &w); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(w.lines-1), "rollouts")
}

type countWriter struct{ lines int }

func (c *countWriter) Write(p []byte) (int, error) {
	for _, x := range p {
		if x == '\n' {
			c.lines++
		}
	}
	return len(p), nil
}
