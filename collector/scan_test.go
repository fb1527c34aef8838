package collector

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/khist/khist/eventlog"
)

func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, b)
	}
	return v
}

// The bytes the collector records are, as JSON, what eventlog.Sanitize makes of the object, and
// the identity it reads is what eventlog.ParseMeta reads.
func TestScanMatchesSanitize(t *testing.T) {
	cases := map[string][]byte{
		"pod":    fakePod(7, "default", 1234),
		"node":   readFixture(t, "node.json"),
		"lease":  readFixture(t, "lease.json"),
		"widget": readFixture(t, "widget.json"),
		"pretty": readFixture(t, "pretty.json"),
		"nomf":   []byte(`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"x","uid":"u","resourceVersion":"1"},"data":{"a":"b"}}`),
		"nullmf": []byte(`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"x","uid":"u","resourceVersion":"1","managedFields":null}}`),
		"allcut": []byte(`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"x","uid":"u","resourceVersion":"1","managedFields":[{"fieldsType":"FieldsV1","fieldsV1":{}},{"fieldsV1":{}}]}}`),
	}
	s := newScanner()
	for name, obj := range cases {
		t.Run(name, func(t *testing.T) {
			var o scanned
			m, err := eventlog.ParseMeta(obj)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.object(obj, heartbeatOf(func() string { g, _ := m.GroupVersion(); return g }(), m.Kind), &o); err != nil {
				t.Fatal(err)
			}
			got := assemble(obj, &o, nil)
			want, err := eventlog.Sanitize(m.Kind, obj)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(decodeAny(t, got), decodeAny(t, want)) {
				t.Errorf("recorded body differs from eventlog.Sanitize:\n got %s\nwant %s", got, want)
			}
			if bytes.Contains(got, []byte("fieldsV1")) || bytes.Contains(got, []byte("fieldsType")) {
				t.Errorf("field sets left in %s", got)
			}
			for field, pair := range map[string][2]string{
				"name":      {string(o.name), m.Metadata.Name},
				"namespace": {string(o.namespace), m.Metadata.Namespace},
				"uid":       {string(o.uid), m.Metadata.UID},
				"rv":        {string(o.rv), m.Metadata.ResourceVersion},
				"kind":      {string(o.kind), m.Kind},
				"actor":     {string(o.actor), m.Actor()},
			} {
				if pair[0] != pair[1] {
					t.Errorf("%s = %q, want %q", field, pair[0], pair[1])
				}
			}
		})
	}
}

func TestScanListItemGetsKind(t *testing.T) {
	item := stripKind(fakePod(1, "ns", 5))
	if bytes.Contains(item[:20], []byte(`"kind"`)) {
		t.Fatalf("stripKind left the kind: %.40s", item)
	}
	s := newScanner()
	var o scanned
	if err := s.object(item, hbNone, &o); err != nil {
		t.Fatal(err)
	}
	if o.kind != nil || o.apiVersion != nil {
		t.Fatalf("kind %q apiVersion %q in a List item", o.kind, o.apiVersion)
	}
	got := assemble(item, &o, typePrefix("v1", "Pod"))
	m, err := eventlog.ParseMeta(got)
	if err != nil {
		t.Fatalf("%v: %s", err, got)
	}
	if m.Kind != "Pod" || m.APIVersion != "v1" || m.Metadata.Name != "nginx-deployment-7d9c6b8f5d-00001" {
		t.Errorf("got %+v", m)
	}
	// An empty object gets the members without a trailing comma.
	if err := s.object([]byte(`{}`), hbNone, &o); err != nil {
		t.Fatal(err)
	}
	if got := assemble([]byte(`{}`), &o, typePrefix("v1", "Pod")); string(got) != `{"kind":"Pod","apiVersion":"v1"}` {
		t.Errorf("empty object: %s", got)
	}
}

func TestScanEvent(t *testing.T) {
	pod := fakePod(3, "ns", 99)
	s := newScanner()
	var o scanned
	for _, ev := range []string{
		`{"type":"MODIFIED","object":` + string(pod) + `}`,
		"{ \"object\" : " + string(pod) + " ,\n \"type\" : \"MODIFIED\" }",
	} {
		typ, err := s.event([]byte(ev), hbNone, &o)
		if err != nil {
			t.Fatal(err)
		}
		if string(typ) != "MODIFIED" || string(o.rv) != "99" || string(o.namespace) != "ns" {
			t.Errorf("type %s rv %s ns %s", typ, o.rv, o.namespace)
		}
		if got := []byte(ev)[o.start:o.end]; !bytes.Equal(got, pod) {
			t.Errorf("object span is wrong: %.60s...", got)
		}
	}
	typ, err := s.event([]byte(`{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"12345","annotations":{"k8s.io/initial-events-end":"true"}}}}`), hbNone, &o)
	if err != nil || string(typ) != "BOOKMARK" || string(o.rv) != "12345" {
		t.Errorf("bookmark: %s %s %v", typ, o.rv, err)
	}
	for _, bad := range []string{`{"type":"ADDED"}`, `{"type":"ADDED","object":[]}`, `{"type":"ADDED","object":{"metadata":`, `[1]`} {
		if _, err := s.event([]byte(bad), hbNone, &o); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// Heartbeat hashes ignore exactly the heartbeat fields, resourceVersion and managedFields.
func TestHeartbeatHash(t *testing.T) {
	node := string(readFixture(t, "node.json"))
	lease := string(readFixture(t, "lease.json"))
	cases := []struct {
		name   string
		hb     heartbeat
		a, b   string
		sameAs bool
	}{
		{"node heartbeat", hbNode, node, strings.NewReplacer(
			`"lastHeartbeatTime":"2026-01-10T10:05:20Z"`, `"lastHeartbeatTime":"2026-01-10T10:06:20Z"`,
			`"resourceVersion":"1042"`, `"resourceVersion":"1101"`,
			`"time":"2026-01-10T10:05:20Z"`, `"time":"2026-01-10T10:06:20Z"`).Replace(node), true},
		{"node transition", hbNode, node, strings.Replace(node, `"status":"True"`, `"status":"False"`, 1), false},
		{"node label", hbNode, node, strings.Replace(node, `"type":"kwok"`, `"type":"other"`, 1), false},
		{"node transition time", hbNode, node, strings.Replace(node, `"lastTransitionTime":"2026-01-10T10:00:01Z"`, `"lastTransitionTime":"2026-01-10T10:06:01Z"`, 1), false},
		{"lease renew", hbLease, lease, strings.NewReplacer(
			`"renewTime":"2026-01-10T10:05:21.123456Z"`, `"renewTime":"2026-01-10T10:05:31.654321Z"`,
			`"resourceVersion":"1050"`, `"resourceVersion":"1090"`).Replace(lease), true},
		{"lease holder", hbLease, lease, strings.Replace(lease, `"holderIdentity":"kwok-node-0"`, `"holderIdentity":"kwok-node-1"`, 1), false},
	}
	s := newScanner()
	for _, c := range cases {
		var a, b scanned
		if err := s.object([]byte(c.a), c.hb, &a); err != nil {
			t.Fatal(err)
		}
		if err := s.object([]byte(c.b), c.hb, &b); err != nil {
			t.Fatal(err)
		}
		if a.hash == 0 || b.hash == 0 {
			t.Fatalf("%s: zero hash", c.name)
		}
		if (a.hash == b.hash) != c.sameAs {
			t.Errorf("%s: same hash = %v, want %v", c.name, a.hash == b.hash, c.sameAs)
		}
	}
	var o scanned
	if err := s.object([]byte(node), hbNone, &o); err != nil || o.hash != 0 {
		t.Errorf("hash without heartbeat rule: %d %v", o.hash, err)
	}
}

func TestSecretEnvelopeHasNoValues(t *testing.T) {
	obj := readFixture(t, "secret.json")
	c := &Collector{opts: Options{Cluster: "c", Source: "collector"}, state: newState()}
	w := &watcher{c: c, res: apiResource{version: "v1", resource: "secrets", kind: "Secret", namespaced: true}, s: newScanner()}
	if err := w.s.object(obj, hbNone, &w.o); err != nil {
		t.Fatal(err)
	}
	e, err := w.envelope(eventlog.Modified, obj)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"aHVudGVyMg==", "hunter2"} {
		if bytes.Contains(e.Object, []byte(secret)) {
			t.Errorf("secret value %q recorded: %s", secret, e.Object)
		}
	}
	if !bytes.Contains(e.Object, []byte(`"password"`)) {
		t.Errorf("key name lost: %s", e.Object)
	}
	if e.Actor != "kubectl-client-side-apply" || e.UID != "2b7e1516-28ae-4d2a-a6f7-15887a09cf4f" || e.ResourceVersion != "2001" || e.Namespace != "default" {
		t.Errorf("envelope %+v", e)
	}
	if err := e.Validate(); err != nil {
		t.Error(err)
	}
}
