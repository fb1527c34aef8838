package projector

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
)

// Table tests per view: a list of events in, the view's contents out (rendered as lines).

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// o builds an object's JSON: meta and body are extra JSON members of metadata and of the
// object ("" for none).
func o(apiVersion, kind, ns, name, uid, meta, body string) string {
	m := fmt.Sprintf(`"name":%q,"uid":%q`, name, uid)
	if ns != "" {
		m += fmt.Sprintf(`,"namespace":%q`, ns)
	}
	if meta != "" {
		m += "," + meta
	}
	s := fmt.Sprintf(`{"apiVersion":%q,"kind":%q,"metadata":{%s}`, apiVersion, kind, m)
	if body != "" {
		s += "," + body
	}
	return s + "}"
}

func owner(kind, name, uid string) string {
	return fmt.Sprintf(`"ownerReferences":[{"apiVersion":"apps/v1","kind":%q,"name":%q,"uid":%q,"controller":true}]`, kind, name, uid)
}

// ev is one event of a table: type, resourceVersion, seconds after t0, object.
type ev struct {
	typ eventlog.EventType
	rv  int
	at  float64
	obj string
}

// envelopes turns table events into envelopes with sequences from 1.
func envelopes(t *testing.T, evs []ev) []*eventlog.Envelope {
	t.Helper()
	var out []*eventlog.Envelope
	for i, e := range evs {
		obj := strings.Replace(e.obj, `"metadata":{`, fmt.Sprintf(`"metadata":{"resourceVersion":"%d",`, e.rv), 1)
		m, err := eventlog.ParseMeta([]byte(obj))
		if err != nil {
			t.Fatalf("event %d: %v\n%s", i, err, obj)
		}
		env := m.Envelope(e.typ, "c", []byte(obj))
		env.Observed = t0.Add(time.Duration(e.at * float64(time.Second)))
		env.Actor = "test"
		env.Seq = uint64(i + 1)
		out = append(out, env)
	}
	return out
}

func foldTable(t *testing.T, evs []ev) *DB {
	t.Helper()
	db := MustOpenDB(t)
	foldAll(t, db, envelopes(t, evs), 3)
	return db
}

func check(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("got:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

func sec(tt time.Time) string {
	if tt.IsZero() {
		return "-"
	}
	return fmt.Sprint(tt.Sub(t0).Seconds())
}

var ctx = context.Background()

func pod(name, uid, meta, body string) string { return o("v1", "Pod", "ns", name, uid, meta, body) }

func TestVersionsView(t *testing.T) {
	p := func(phase string) string { return pod("web-0", "u1", "", `"status":{"phase":"`+phase+`"}`) }
	for _, tc := range []struct {
		name string
		evs  []ev
		want []string
	}{
		{"lifecycle", []ev{{"ADDED", 10, 0, p("Pending")}, {"MODIFIED", 11, 1, p("Running")}, {"DELETED", 12, 2, p("Running")}},
			[]string{"1 ADDED 10", "2 MODIFIED 11", "3 DELETED 12"}},
		{"relist resends the same version", []ev{{"ADDED", 10, 0, p("Pending")}, {"RESYNC", 10, 5, p("Pending")}, {"MODIFIED", 11, 6, p("Running")}, {"RESYNC", 11, 7, p("Running")}},
			[]string{"1 ADDED 10", "3 MODIFIED 11"}},
		{"an older version arriving late changes nothing", []ev{{"ADDED", 10, 0, p("Pending")}, {"MODIFIED", 12, 1, p("Running")}, {"MODIFIED", 11, 2, p("Pending")}},
			[]string{"1 ADDED 10", "2 MODIFIED 12"}},
		{"relist finds it missing", []ev{{"ADDED", 10, 0, p("Pending")}, {"DELETED_UNOBSERVED", 10, 9, p("Pending")}, {"DELETED", 13, 10, p("Pending")}},
			[]string{"1 ADDED 10", "2 DELETED_UNOBSERVED 10"}},
		{"first seen on a relist", []ev{{"RESYNC", 20, 0, p("Running")}, {"MODIFIED", 21, 1, p("Succeeded")}},
			[]string{"1 RESYNC 20", "2 MODIFIED 21"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := foldTable(t, tc.evs)
			vs, err := db.Versions(ctx, ObjectRef{Cluster: "c", Kind: "Pod", Namespace: "ns", Name: "web-0"})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range vs {
				got = append(got, fmt.Sprintf("%d %s %s", v.Seq, v.Type, v.ResourceVersion))
				if !strings.Contains(string(v.Object), `"resourceVersion":"`+v.ResourceVersion+`"`) {
					t.Errorf("version %d holds %s", v.Seq, v.Object)
				}
			}
			check(t, got, tc.want)
		})
	}
}

func TestNamesView(t *testing.T) {
	for _, tc := range []struct {
		name string
		evs  []ev
		want []string
	}{
		{"a name reused by a new object", []ev{
			{"ADDED", 10, 0, pod("web-0", "a", "", "")},
			{"DELETED", 11, 5, pod("web-0", "a", "", "")},
			{"ADDED", 12, 6, pod("web-0", "b", "", "")},
		}, []string{"a 0..5", "b 6..-"}},
		{"two names", []ev{
			{"ADDED", 10, 0, pod("web-0", "a", "", "")},
			{"ADDED", 11, 1, pod("web-1", "b", "", "")},
		}, []string{"a 0..-"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := foldTable(t, tc.evs)
			lts, err := db.Lifetimes(ctx, ObjectRef{Cluster: "c", Kind: "Pod", Namespace: "ns", Name: "web-0"})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, lt := range lts {
				got = append(got, fmt.Sprintf("%s %s..%s", lt.UID, sec(lt.FirstSeen), sec(lt.Gone)))
			}
			check(t, got, tc.want)
		})
	}
	db := foldTable(t, []ev{
		{"ADDED", 1, 0, pod("web-0", "a", "", "")},
		{"ADDED", 2, 0, o("v1", "Node", "", "n1", "n", "", "")},
		{"ADDED", 3, 0, o("apps/v1", "Deployment", "shop", "web", "d", "", "")},
		{"ADDED", 4, 0, o("v1", "Event", "shop", "web.1", "e1", "", "")},
		{"ADDED", 5, 0, o("events.k8s.io/v1", "Event", "shop", "web.2", "e2", "", "")},
	})
	cl, _ := db.Clusters(ctx)
	kinds, _ := db.Kinds(ctx, "c")
	nss, _ := db.Namespaces(ctx, "c")
	names, _ := db.Names(ctx, "c", "", "Event", "shop")
	check(t, []string{fmt.Sprint(cl), fmt.Sprint(kinds), fmt.Sprint(nss), fmt.Sprint(names)},
		[]string{"[c]", "[{apps Deployment} { Event} {events.k8s.io Event} { Node} { Pod}]", "[ ns shop]", "[web.1 web.2]"})
}

func TestPodsView(t *testing.T) {
	rs := owner("ReplicaSet", "web-abc", "rs1")
	p := func(meta, spec, status string) string {
		return pod("web-abc-x", "p1", rs+`,"labels":{"pod-template-hash":"abc"}`+meta, `"spec":{`+spec+`},"status":{`+status+`}`)
	}
	ready := func(v string) string {
		return `"phase":"Running","podIP":"10.0.0.1","conditions":[{"type":"Ready","status":"` + v + `"}]`
	}
	del := `,"deletionTimestamp":"2026-11-20T10:01:00Z"`
	for _, tc := range []struct {
		name string
		evs  []ev
		want []string
	}{
		{"full life", []ev{
			{"ADDED", 10, 0, o("apps/v1", "ReplicaSet", "ns", "web-abc", "rs1", owner("Deployment", "web", "d1"), "")},
			{"ADDED", 11, 1, p("", `"containers":[{"name":"a","image":"img:1"}]`, `"phase":"Pending"`)},
			{"MODIFIED", 12, 2, p("", `"nodeName":"n1"`, `"phase":"Pending"`)},
			{"MODIFIED", 13, 3, p("", `"nodeName":"n1"`, ready("False"))},
			{"MODIFIED", 14, 4, p("", `"nodeName":"n1"`, ready("True"))},
			{"MODIFIED", 15, 5, p("", `"nodeName":"n1"`, ready("True"))}, // churn: no change
			{"MODIFIED", 16, 6, p("", `"nodeName":"n1"`, ready("False"))},
			{"MODIFIED", 17, 7, p("", `"nodeName":"n1"`, ready("True"))},
			{"MODIFIED", 18, 8, p(del, `"nodeName":"n1"`, ready("True"))},
			{"MODIFIED", 19, 9, p(del, `"nodeName":"n1"`, ready("False"))},
			{"DELETED", 20, 10, p(del, `"nodeName":"n1"`, ready("False"))},
		}, []string{"web-abc-x owner=ReplicaSet/web-abc workload=Deployment/web rev=abc images=[img:1] observed=true node=n1@2 ip=10.0.0.1@3 phase=Running ready=[+4 -6 +7 -9] deleting=8 gone=10"}},
		{"seen first on a relist, never ready, found gone", []ev{
			{"RESYNC", 30, 0, p("", `"nodeName":"n2"`, ready("False"))},
			{"DELETED_UNOBSERVED", 30, 4, p("", `"nodeName":"n2"`, ready("False"))},
		}, []string{"web-abc-x owner=ReplicaSet/web-abc workload=ReplicaSet/web-abc rev=abc images=[] observed=false node=n2@0 ip=10.0.0.1@0 phase=Running ready=[] deleting=4 gone=4 unobserved"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := foldTable(t, tc.evs)
			pods, err := db.Pods(ctx, PodFilter{Cluster: "c", Namespace: "ns"})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range pods {
				var rd []string
				for _, r := range p.Ready {
					sign := "-"
					if r.Ready {
						sign = "+"
					}
					rd = append(rd, sign+sec(r.At))
				}
				s := fmt.Sprintf("%s owner=%s/%s workload=%s/%s rev=%s images=%v observed=%v node=%s@%s ip=%s@%s phase=%s ready=%v deleting=%s gone=%s",
					p.Name, p.Owner.Kind, p.Owner.Name, p.Workload.Kind, p.Workload.Name, p.Revision, p.Images, p.Observed, p.Node, sec(p.Scheduled), p.IP, sec(p.IPAt), p.Phase, rd, sec(p.DeletionRequested), sec(p.Gone))
				if s = strings.Replace(s, "images=[]", "images=[]", 1); p.GoneUnobserved {
					s += " unobserved"
				}
				got = append(got, s)
			}
			check(t, got, tc.want)
		})
	}
}

func renderSteps(steps []Step) []string {
	var out []string
	for _, s := range steps {
		x := fmt.Sprintf("%d %s %s/%s by %s/%s", s.Seq, s.Action, s.Target.Kind, s.Target.Name, s.Owner.Kind, s.Owner.Name)
		if s.Workload != s.Owner {
			x += " for " + s.Workload.Kind + "/" + s.Workload.Name
		}
		if s.From != nil {
			x += fmt.Sprintf(" %d->%d", *s.From, *s.To)
		}
		if s.Ordinal != nil {
			x += fmt.Sprintf(" #%d", *s.Ordinal)
		}
		if s.Node != "" {
			x += " node=" + s.Node
		}
		if s.Volume != "" {
			x += " volume=" + s.Volume
		}
		if s.Event != nil {
			x += fmt.Sprintf(" [%d %s x%d]", s.Event.Seq, s.Event.Reason, s.Event.Count)
		}
		out = append(out, x)
	}
	return out
}

func kevent(name, uid, kind, objName, reason, msg string, count int) string {
	return o("v1", "Event", "ns", name, uid, "", fmt.Sprintf(`"involvedObject":{"kind":%q,"name":%q,"namespace":"ns"},"reason":%q,"message":%q,"count":%d,"source":{"component":"test-controller"}`, kind, objName, reason, msg, count))
}

func TestStepsView(t *testing.T) {
	rs := func(name, uid string, n int) string {
		return o("apps/v1", "ReplicaSet", "ns", name, uid, owner("Deployment", "web", "d1"), fmt.Sprintf(`"spec":{"replicas":%d}`, n))
	}
	dsPod := func(name, uid, node string) string {
		return pod(name, uid, owner("DaemonSet", "agent", "ds1"), `"spec":{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchFields":[{"key":"metadata.name","operator":"In","values":["`+node+`"]}]}]}}}}`)
	}
	sts := o("apps/v1", "StatefulSet", "ns", "db", "s1", "", `"spec":{"replicas":1,"template":{"spec":{}},"volumeClaimTemplates":[{"metadata":{"name":"data"}}]}`)
	pvc := func(phase, vol string) string {
		return o("v1", "PersistentVolumeClaim", "ns", "data-db-0", "c1", "", `"spec":{"volumeName":"`+vol+`"},"status":{"phase":"`+phase+`"}`)
	}
	for _, tc := range []struct {
		name string
		evs  []ev
		want []string
	}{
		{"scale announced after, before, and in the old format", []ev{
			{"ADDED", 10, 0, rs("web-1", "r1", 3)},
			{"ADDED", 11, 0, kevent("web.a", "e1", "Deployment", "web", "ScalingReplicaSet", "Scaled up replica set web-1 from 0 to 3", 1)},
			{"ADDED", 12, 1, kevent("web.b", "e2", "Deployment", "web", "ScalingReplicaSet", "Scaled down replica set web-1 from 3 to 1", 1)},
			{"MODIFIED", 13, 1, rs("web-1", "r1", 1)},
			{"MODIFIED", 14, 2, rs("web-1", "r1", 2)},
			{"ADDED", 15, 2, kevent("web.c", "e3", "Deployment", "web", "ScalingReplicaSet", "Scaled up replica set web-1 to 2", 1)},
			{"MODIFIED", 16, 3, rs("web-1", "r1", 2)}, // status only: no step
		}, []string{
			"1 scale ReplicaSet/web-1 by Deployment/web 0->3 [2 ScalingReplicaSet x1]",
			"4 scale ReplicaSet/web-1 by Deployment/web 3->1 [3 ScalingReplicaSet x1]",
			"5 scale ReplicaSet/web-1 by Deployment/web 1->2 [6 ScalingReplicaSet x1]",
		}},
		{"a repeated Event announces again", []ev{
			{"ADDED", 10, 0, sts},
			{"ADDED", 11, 1, pod("db-0", "p1", owner("StatefulSet", "db", "s1"), "")},
			{"ADDED", 12, 1, kevent("db.a", "e1", "StatefulSet", "db", "SuccessfulCreate", "create Pod db-0 in StatefulSet db successful", 1)},
			{"DELETED", 13, 2, pod("db-0", "p1", owner("StatefulSet", "db", "s1"), "")},
			{"ADDED", 14, 3, pod("db-0", "p2", owner("StatefulSet", "db", "s1"), "")},
			{"MODIFIED", 15, 3, kevent("db.a", "e1", "StatefulSet", "db", "SuccessfulCreate", "create Pod db-0 in StatefulSet db successful", 2)},
			{"MODIFIED", 16, 4, kevent("db.a", "e1", "StatefulSet", "db", "SuccessfulCreate", "create Pod db-0 in StatefulSet db successful", 2)},
		}, []string{
			"2 create-pod Pod/db-0 by StatefulSet/db #0 [3 SuccessfulCreate x1]",
			"4 delete-pod Pod/db-0 by StatefulSet/db #0",
			"5 create-pod Pod/db-0 by StatefulSet/db #0 [6 SuccessfulCreate x2]",
		}},
		{"DaemonSet pods by node", []ev{
			{"ADDED", 10, 0, dsPod("agent-x", "p1", "n1")},
			{"ADDED", 11, 0, kevent("agent.a", "e1", "DaemonSet", "agent", "SuccessfulCreate", "Created pod: agent-x", 1)},
		}, []string{"1 create-pod Pod/agent-x by DaemonSet/agent node=n1 [2 SuccessfulCreate x1]"}},
		{"a claim by its name, created and bound", []ev{
			{"ADDED", 10, 0, sts},
			{"ADDED", 11, 1, pvc("Pending", "")},
			{"MODIFIED", 12, 2, pvc("Pending", "pv-7")},
			{"MODIFIED", 13, 3, pvc("Bound", "pv-7")},
			{"MODIFIED", 14, 4, pvc("Bound", "pv-7")},
			{"ADDED", 15, 4, kevent("db.c", "e1", "StatefulSet", "db", "SuccessfulCreate", "create Claim data-db-0 Pod db-0 in StatefulSet db success", 1)},
		}, []string{
			"2 create-claim PersistentVolumeClaim/data-db-0 by StatefulSet/db #0 [6 SuccessfulCreate x1]",
			"4 bind-claim PersistentVolumeClaim/data-db-0 by StatefulSet/db #0 volume=pv-7",
		}},
		{"pods of a ReplicaSet count for its Deployment", []ev{
			{"ADDED", 10, 0, rs("web-1", "r1", 1)},
			{"ADDED", 11, 1, pod("web-1-x", "p1", owner("ReplicaSet", "web-1", "r1"), "")},
			{"MODIFIED", 12, 2, pod("web-1-x", "p1", owner("ReplicaSet", "web-1", "r1")+`,"deletionTimestamp":"2026-11-20T10:00:30Z"`, "")},
			{"DELETED", 13, 3, pod("web-1-x", "p1", owner("ReplicaSet", "web-1", "r1")+`,"deletionTimestamp":"2026-11-20T10:00:30Z"`, "")},
		}, []string{
			"1 scale ReplicaSet/web-1 by Deployment/web 0->1",
			"2 create-pod Pod/web-1-x by ReplicaSet/web-1 for Deployment/web",
			"3 delete-pod Pod/web-1-x by ReplicaSet/web-1 for Deployment/web",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := foldTable(t, tc.evs)
			steps, err := db.Steps(ctx, StepFilter{Cluster: "c"})
			if err != nil {
				t.Fatal(err)
			}
			check(t, renderSteps(steps), tc.want)
		})
	}
}

// deploy is a Deployment version: generation, template image, paused, status (available,
// replicas, observedGeneration) and its Progressing condition's status and reason.
func deploy(gen int, image string, paused bool, avail, pods, observed int, progStatus, progReason string) string {
	return o("apps/v1", "Deployment", "ns", "web", "d1", fmt.Sprintf(`"generation":%d,"annotations":{"kubernetes.io/change-cause":"set %s"}`, gen, image),
		fmt.Sprintf(`"spec":{"replicas":3,"paused":%v,"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%%","maxUnavailable":1}},"template":{"spec":{"containers":[{"name":"a","image":%q}]}}},"status":{"observedGeneration":%d,"replicas":%d,"availableReplicas":%d,"conditions":[{"type":"Progressing","status":%q,"reason":%q}]}`,
			paused, image, observed, pods, avail, progStatus, progReason))
}

// rsRev is a ReplicaSet of Deployment web with a revision number.
func rsRev(hash, uid string, rev, replicas int, image string) string {
	return o("apps/v1", "ReplicaSet", "ns", "web-"+hash, uid, owner("Deployment", "web", "d1")+fmt.Sprintf(`,"labels":{"pod-template-hash":%q},"annotations":{"deployment.kubernetes.io/revision":"%d","kubernetes.io/change-cause":"set %s"}`, hash, rev, image),
		fmt.Sprintf(`"spec":{"replicas":%d,"template":{"spec":{"containers":[{"name":"a","image":%q}]}}}`, replicas, image))
}

func renderRollouts(ros []Rollout) []string {
	var out []string
	for _, r := range ros {
		x := fmt.Sprintf("%s %d(%s)->%d(%s) %s..%s %s min=%d/%d peak=%d", r.Kind, r.FromRevision, r.FromHash, r.ToRevision, r.ToHash, sec(r.Start), sec(r.End), r.Outcome, r.MinAvailable, r.Desired, r.PeakPods)
		if r.Initial {
			x += " initial"
		}
		if r.Rollback {
			x += " rollback"
		}
		if !r.FailedAt.IsZero() {
			x += " failed@" + sec(r.FailedAt)
		}
		out = append(out, x)
	}
	return out
}

func TestRolloutsView(t *testing.T) {
	avail := func(s, r string) (string, string) { return s, r }
	_ = avail
	for _, tc := range []struct {
		name string
		evs  []ev
		want []string
	}{
		{"created, updated, complete", []ev{
			{"ADDED", 10, 0, deploy(1, "img:1", false, 0, 0, 0, "True", "NewReplicaSetCreated")},
			{"ADDED", 11, 1, rsRev("h1", "r1", 1, 3, "img:1")},
			{"MODIFIED", 12, 5, deploy(1, "img:1", false, 3, 3, 1, "True", "NewReplicaSetAvailable")},
			{"MODIFIED", 13, 10, deploy(2, "img:2", false, 3, 3, 1, "True", "NewReplicaSetAvailable")},
			{"ADDED", 14, 11, rsRev("h2", "r2", 2, 1, "img:2")},
			{"MODIFIED", 15, 12, deploy(2, "img:2", false, 2, 4, 2, "True", "ReplicaSetUpdated")},
			{"MODIFIED", 16, 13, deploy(2, "img:2", false, 3, 3, 2, "True", "ReplicaSetUpdated")},
			{"MODIFIED", 17, 20, deploy(2, "img:2", false, 3, 3, 2, "True", "NewReplicaSetAvailable")},
		}, []string{
			"Deployment 0()->1(h1) 0..5 complete min=0/3 peak=3 initial",
			"Deployment 1(h1)->2(h2) 10..20 complete min=2/3 peak=4",
		}},
		{"superseded, then rolled back", []ev{
			{"ADDED", 10, 0, deploy(1, "img:1", false, 0, 0, 0, "True", "NewReplicaSetCreated")},
			{"ADDED", 11, 0, rsRev("h1", "r1", 1, 3, "img:1")},
			{"MODIFIED", 12, 1, deploy(1, "img:1", false, 3, 3, 1, "True", "NewReplicaSetAvailable")},
			{"MODIFIED", 13, 10, deploy(2, "img:2", false, 3, 3, 1, "True", "NewReplicaSetAvailable")},
			{"ADDED", 14, 11, rsRev("h2", "r2", 2, 1, "img:2")},
			{"MODIFIED", 15, 12, deploy(2, "img:2", false, 3, 4, 2, "True", "ReplicaSetUpdated")},
			{"MODIFIED", 16, 15, deploy(3, "img:1", false, 3, 4, 2, "True", "ReplicaSetUpdated")}, // kubectl rollout undo
			{"MODIFIED", 17, 16, rsRev("h1", "r1", 3, 3, "img:1")},
			{"MODIFIED", 18, 17, rsRev("h2", "r2", 2, 0, "img:2")},
			{"MODIFIED", 19, 18, deploy(3, "img:1", false, 3, 3, 3, "True", "NewReplicaSetAvailable")},
		}, []string{
			"Deployment 0()->1(h1) 0..1 complete min=0/3 peak=3 initial",
			"Deployment 1(h1)->2(h2) 10..15 rolled-back min=3/3 peak=4",
			"Deployment 2(h2)->3(h1) 15..18 complete min=3/3 peak=4 rollback",
		}},
		{"paused, then failed, still progressing at the end", []ev{
			{"RESYNC", 10, 0, deploy(1, "img:1", false, 3, 3, 1, "True", "NewReplicaSetAvailable")},
			{"RESYNC", 11, 0, rsRev("h1", "r1", 1, 3, "img:1")},
			{"MODIFIED", 12, 10, deploy(2, "img:2", true, 3, 3, 1, "True", "NewReplicaSetAvailable")},
			{"MODIFIED", 13, 20, deploy(2, "img:2", false, 3, 3, 1, "True", "NewReplicaSetAvailable")},
			{"ADDED", 14, 21, rsRev("h2", "r2", 2, 1, "img:2")},
			{"MODIFIED", 15, 30, deploy(2, "img:2", false, 2, 4, 2, "False", "ProgressDeadlineExceeded")},
			{"MODIFIED", 16, 40, deploy(3, "img:3", true, 2, 4, 2, "False", "ProgressDeadlineExceeded")},
		}, []string{
			"Deployment 1(h1)->2(h2) 10..40 superseded min=2/3 peak=4 failed@30",
			"Deployment 2(h2)->0() 40..- paused min=2/3 peak=4",
		}},
		{"DaemonSet", []ev{
			{"ADDED", 10, 0, o("apps/v1", "DaemonSet", "ns", "agent", "ds1", `"generation":1`, `"spec":{"template":{"spec":{"containers":[{"image":"a:1"}]}}},"status":{}`)},
			{"ADDED", 11, 1, o("apps/v1", "ControllerRevision", "ns", "agent-1", "cr1", owner("DaemonSet", "agent", "ds1"), `"revision":1,"data":{"spec":{"template":{"spec":{"containers":[{"image":"a:1"}]}}}}`)},
			{"MODIFIED", 12, 1, o("apps/v1", "DaemonSet", "ns", "agent", "ds1", `"generation":1`, `"spec":{"template":{"spec":{"containers":[{"image":"a:1"}]}}},"status":{"observedGeneration":1,"desiredNumberScheduled":2,"numberAvailable":0,"currentNumberScheduled":2,"updatedNumberScheduled":2}`)},
			{"MODIFIED", 13, 2, o("apps/v1", "DaemonSet", "ns", "agent", "ds1", `"generation":1`, `"spec":{"template":{"spec":{"containers":[{"image":"a:1"}]}}},"status":{"observedGeneration":1,"desiredNumberScheduled":2,"numberAvailable":2,"currentNumberScheduled":2,"updatedNumberScheduled":2}`)},
		}, []string{"DaemonSet 0()->1(agent-1) 0..2 complete min=0/2 peak=2 initial"}},
		// First seen already reconciled (the ADDED of a watch file's initial list): created
		// before the history, so no initial rollout; the template change is the first rollout,
		// as the replay numbers it.
		{"DaemonSetSeenReconciled", []ev{
			{"ADDED", 10, 0, o("apps/v1", "DaemonSet", "ns", "agent", "ds1", `"generation":1`, `"spec":{"template":{"spec":{"containers":[{"image":"a:1"}]}}},"status":{"observedGeneration":1,"desiredNumberScheduled":2,"numberAvailable":2,"currentNumberScheduled":2,"updatedNumberScheduled":2}`)},
			{"ADDED", 11, 0, o("apps/v1", "ControllerRevision", "ns", "agent-1", "cr1", owner("DaemonSet", "agent", "ds1"), `"revision":1,"data":{"spec":{"template":{"spec":{"containers":[{"image":"a:1"}]}}}}`)},
			{"MODIFIED", 12, 5, o("apps/v1", "DaemonSet", "ns", "agent", "ds1", `"generation":2`, `"spec":{"template":{"spec":{"containers":[{"image":"a:2"}]}}},"status":{"observedGeneration":1,"desiredNumberScheduled":2,"numberAvailable":2,"currentNumberScheduled":2,"updatedNumberScheduled":2}`)},
			{"ADDED", 13, 5, o("apps/v1", "ControllerRevision", "ns", "agent-2", "cr2", owner("DaemonSet", "agent", "ds1"), `"revision":2,"data":{"spec":{"template":{"spec":{"containers":[{"image":"a:2"}]}}}}`)},
			{"MODIFIED", 14, 6, o("apps/v1", "DaemonSet", "ns", "agent", "ds1", `"generation":2`, `"spec":{"template":{"spec":{"containers":[{"image":"a:2"}]}}},"status":{"observedGeneration":2,"desiredNumberScheduled":2,"numberAvailable":1,"currentNumberScheduled":2,"updatedNumberScheduled":1}`)},
			{"MODIFIED", 15, 7, o("apps/v1", "DaemonSet", "ns", "agent", "ds1", `"generation":2`, `"spec":{"template":{"spec":{"containers":[{"image":"a:2"}]}}},"status":{"observedGeneration":2,"desiredNumberScheduled":2,"numberAvailable":2,"currentNumberScheduled":2,"updatedNumberScheduled":2}`)},
		}, []string{"DaemonSet 1(agent-1)->2(agent-2) 5..7 complete min=1/2 peak=2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := foldTable(t, tc.evs)
			ros, err := db.Rollouts(ctx, RolloutFilter{Cluster: "c"})
			if err != nil {
				t.Fatal(err)
			}
			check(t, renderRollouts(ros), tc.want)
		})
	}
}

func TestRevisionsView(t *testing.T) {
	db := foldTable(t, []ev{
		{"ADDED", 10, 0, deploy(1, "img:1", false, 0, 0, 0, "True", "NewReplicaSetCreated")},
		{"ADDED", 11, 0, rsRev("h1", "r1", 1, 3, "img:1")},
		{"MODIFIED", 13, 10, deploy(2, "img:2", false, 3, 3, 1, "True", "NewReplicaSetAvailable")},
		{"ADDED", 14, 11, rsRev("h2", "r2", 2, 1, "img:2")},
		{"MODIFIED", 16, 15, deploy(3, "img:1", false, 3, 4, 2, "True", "ReplicaSetUpdated")},
		{"MODIFIED", 17, 16, rsRev("h1", "r1", 3, 3, "img:1")},
		{"ADDED", 18, 17, pod("web-h1-a", "p1", owner("ReplicaSet", "web-h1", "r1")+`,"labels":{"pod-template-hash":"h1"}`, "")},
		{"DELETED", 19, 18, rsRev("h2", "r2", 2, 0, "img:2")},
	})
	revs, err := db.Revisions(ctx, WorkloadRef{Cluster: "c", Kind: "Deployment", Namespace: "ns", Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range revs {
		var nums, cur []string
		for _, n := range r.Numbers {
			nums = append(nums, fmt.Sprintf("%d@%s", n.Number, sec(n.At)))
		}
		for _, p := range r.Current {
			cur = append(cur, sec(p.From)+".."+sec(p.To))
		}
		got = append(got, fmt.Sprintf("%s %s numbers=%v current=%v images=%v cause=%q actor=%s pods=%d deleted=%s", r.Hash, r.Object.Name, nums, cur, r.Images, r.ChangeCause, r.Actor, len(r.Pods), sec(r.Deleted)))
	}
	check(t, got, []string{
		`h2 web-h2 numbers=[2@11] current=[11..16] images=[img:2] cause="set img:2" actor=test pods=0 deleted=18`,
		`h1 web-h1 numbers=[1@0 3@16] current=[0..11 16..-] images=[img:1] cause="set img:1" actor=test pods=1 deleted=-`,
	})
}

func TestEndpointsView(t *testing.T) {
	slice := func(name, uid, eps string) string {
		return o("discovery.k8s.io/v1", "EndpointSlice", "ns", name, uid, `"labels":{"kubernetes.io/service-name":"web"}`, `"addressType":"IPv4","endpoints":[`+eps+`]`)
	}
	e := func(ip, pod string, ready string) string {
		r := ""
		if ready != "" {
			r = `"ready":` + ready
		}
		return fmt.Sprintf(`{"addresses":[%q],"conditions":{%s},"targetRef":{"kind":"Pod","name":%q},"nodeName":"n1"}`, ip, r, pod)
	}
	db := foldTable(t, []ev{
		{"ADDED", 10, 0, slice("web-a", "s1", "")},
		{"MODIFIED", 11, 1, slice("web-a", "s1", e("10.0.0.1", "p1", "false"))},
		{"MODIFIED", 12, 2, slice("web-a", "s1", e("10.0.0.1", "p1", "true"))},
		{"ADDED", 13, 3, slice("web-b", "s2", e("10.0.0.2", "p2", ""))}, // ready unset counts as ready
		{"MODIFIED", 14, 4, slice("web-a", "s1", e("10.0.0.1", "p1", "true"))},
		{"DELETED", 15, 5, slice("web-a", "s1", e("10.0.0.1", "p1", "true"))},
	})
	chs, err := db.Endpoints(ctx, ServiceRef{Cluster: "c", Namespace: "ns", Name: "web"}, timeZero, timeZero)
	if err != nil {
		t.Fatal(err)
	}
	check(t, renderEndpoints(chs), []string{"0 [] +0 -0", "2 [10.0.0.1/p1] +1 -0", "3 [10.0.0.1/p1 10.0.0.2/p2] +1 -0", "5 [10.0.0.2/p2] +0 -1"})
	// From a time on: the state then, and the changes after.
	chs, _ = db.Endpoints(ctx, ServiceRef{Cluster: "c", Namespace: "ns", Name: "web"}, t0.Add(2500*time.Millisecond), timeZero)
	if len(chs) != 3 || sec(chs[0].At) != "2" {
		t.Errorf("from 2.5s: %+v", chs)
	}
}

// readyNames lists a change's ready addresses as IP/pod.
func readyNames(c EndpointsChange) []string {
	var out []string
	for _, a := range c.Ready {
		out = append(out, a.IP+"/"+a.Pod)
	}
	return out
}

// renderEndpoints renders changes as "seconds [IP/pod ...] +added -removed".
func renderEndpoints(chs []EndpointsChange) []string {
	var out []string
	for _, c := range chs {
		out = append(out, fmt.Sprintf("%s %v +%d -%d", sec(c.At), readyNames(c), len(c.Added), len(c.Removed)))
	}
	return out
}
