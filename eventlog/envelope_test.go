package eventlog

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestEnvelopeEncoding: every field survives the compact encoding, including spaces, '%',
// non-ASCII and empty values, a zero observed time, cluster-scoped objects and discovery
// records; and the message carries two headers only.
func TestEnvelopeEncoding(t *testing.T) {
	cases := []*Envelope{
		testEnvelope(1, nil),
		{Type: Added, Cluster: "c", Group: "apps", Version: "v1", Kind: "Deployment", Resource: "deployments",
			Namespace: "ns", Name: "web", UID: "u-1", ResourceVersion: "7", Observed: time.Date(2026, 12, 7, 1, 2, 3, 4, time.UTC),
			Source: "import:/tmp/my file 100%.json", Actor: "jane doe (ops) é", Object: []byte(`{}`)},
		{Type: DeletedUnobserved, Cluster: "c", Version: "v1", Kind: "Node", Name: "n1", UID: "", ResourceVersion: "9", Object: []byte(`{}`)},
		{Type: Discovered, Cluster: "prod.eu_1", ResourceVersion: "abc123", Source: "collector", Observed: time.Unix(5, 0).UTC(), Object: []byte(`{"format":1}`)},
		// A record whose subject does not name an object carries its names in the header.
		{Type: Discovered, Cluster: "c", Group: "g.io", Kind: "K", Namespace: "n s", Name: "x%y", ResourceVersion: "h", Object: []byte(`{}`)},
		NewProgress("prod", "apps", "replicasets", "web", "123", "collector"),
		NewProgress("prod", "", "pods", "", "124", "collector"),
	}
	for _, in := range cases {
		m := in.Msg()
		if len(m.Header) != 2 || m.Header.Get(nats.MsgIdHdr) != in.MsgID() || strings.ContainsAny(m.Header.Get(HdrEnvelope), "\r\n") {
			t.Fatalf("%s: headers %v, want %s and %s only", in, m.Header, HdrEnvelope, nats.MsgIdHdr)
		}
		out, err := FromMsg(m.Subject, m.Header, m.Data)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if !out.Observed.Equal(in.Observed) {
			t.Fatalf("%s: observed %v, want %v", in, out.Observed, in.Observed)
		}
		a, b := *out, *in
		a.Observed, b.Observed = time.Time{}, time.Time{}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", a, b)
		}
	}
}

// TestLegacyEnvelope: messages of the first encoding (one Khist-* header per field), which logs
// written before the compact one hold, are still read.
func TestLegacyEnvelope(t *testing.T) {
	in := testEnvelope(3, nil)
	m := nats.NewMsg(Subject(in.Cluster, in.Group, in.Kind, in.Namespace, in.Name))
	for k, v := range map[string]string{
		HdrType: string(in.Type), HdrCluster: in.Cluster, HdrGroup: in.Group, HdrVersion: in.Version, HdrKind: in.Kind,
		HdrResource: in.Resource, HdrNamespace: in.Namespace, HdrName: in.Name, HdrUID: in.UID,
		HdrResourceVersion: in.ResourceVersion, HdrObserved: in.Observed.Format(time.RFC3339Nano),
		HdrSource: in.Source, HdrActor: in.Actor, nats.MsgIdHdr: in.MsgID(),
	} {
		m.Header[k] = []string{v}
	}
	m.Data = in.Object
	l := mustOpenLog(t, "")
	if _, err := l.js.PublishMsg(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	publishAll(t, l, []*Envelope{testEnvelope(4, nil)}) // and one of the compact encoding after it
	out := readAll(t, l, ReadOptions{})
	if len(out) != 2 {
		t.Fatalf("read %d envelopes, want 2", len(out))
	}
	got := *out[0]
	want := *in
	want.Seq = 1
	if !got.Observed.Equal(want.Observed) {
		t.Fatalf("observed %v, want %v", got.Observed, want.Observed)
	}
	got.Observed, want.Observed = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("legacy message:\n got %+v\nwant %+v", got, want)
	}
	if out[1].Name != testEnvelope(4, nil).Name {
		t.Fatalf("second envelope %s", out[1])
	}
	// An encoding this khist does not know is a clear error, not a wrong envelope.
	m2 := testEnvelope(5, nil).Msg()
	m2.Header[HdrEnvelope] = []string{"2 " + strings.TrimPrefix(m2.Header.Get(HdrEnvelope), "1 ")}
	if _, err := FromMsg(m2.Subject, m2.Header, m2.Data); err == nil || !strings.Contains(err.Error(), "newer khist") {
		t.Fatalf("unknown encoding: %v", err)
	}
}

// TestProgressRecord: a progress record has a subject of its own per watch, which no object
// filter matches and the cluster's progress filter does; its message id changes with its
// resourceVersion only; it validates, and it is not an object version.
func TestProgressRecord(t *testing.T) {
	a := NewProgress("prod", "apps", "replicasets", "web", "123", "collector")
	b := NewProgress("prod", "apps", "replicasets", "", "123", "collector")
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	if a.Type.IsObject() || !Added.IsObject() {
		t.Error("IsObject")
	}
	sa, sb := a.Msg().Subject, b.Msg().Subject
	if sa == sb || sa != ProgressSubject("prod", "apps", "replicasets", "web") {
		t.Errorf("subjects %q %q", sa, sb)
	}
	if got := strings.Count(sa, "."); got != 4 {
		t.Errorf("%q has %d dots, want 4 (object subjects have 6)", sa, got)
	}
	if !subjectMatches(ProgressFilter("prod"), sa) || subjectMatches(Filter("prod", "*", "*", "*"), sa) || subjectMatches(ProgressFilter("stage"), sa) {
		t.Errorf("filters: %q", sa)
	}
	if a.MsgID() == b.MsgID() || a.MsgID() == NewProgress("prod", "apps", "replicasets", "web", "124", "collector").MsgID() {
		t.Error("message ids collide")
	}
	if a.MsgID() != NewProgress("prod", "apps", "replicasets", "web", "123", "collector").MsgID() {
		t.Error("the same progress twice has two message ids")
	}
	bad := NewProgress("prod", "", "", "", "1", "collector")
	if err := bad.Validate(); err == nil {
		t.Error("a progress record without a resource validates")
	}
}

// subjectMatches reports whether a NATS subject filter (with * and > wildcards) matches subj.
func subjectMatches(filter, subj string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subj, ".")
	for i, t := range f {
		if t == ">" {
			return len(s) > i
		}
		if i >= len(s) || t != "*" && t != s[i] {
			return false
		}
	}
	return len(f) == len(s)
}
