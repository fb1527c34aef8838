package importer

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
)

func TestReadAudit(t *testing.T) {
	f, err := os.Open("testdata/audit.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := ReadAudit("c1", Input{Name: "testdata/audit.jsonl", R: f})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range res.Envelopes {
		got = append(got, fmt.Sprintf("%s %s/%s %s rv=%s by %s", e.Type, e.Group, e.Kind, e.Name, e.ResourceVersion, e.Actor))
		if err := e.Validate(); err != nil {
			t.Error(err)
		}
		if e.Cluster != "c1" || e.Source != "audit:testdata/audit.jsonl" {
			t.Errorf("%s: cluster %q source %q", e, e.Cluster, e.Source)
		}
		if bytes.Contains(e.Object, []byte("fieldsV1")) {
			t.Errorf("%s: field sets kept", e)
		}
	}
	want := []string{
		"ADDED apps/Deployment web rv=100 by kubernetes-admin",
		"MODIFIED apps/ReplicaSet web-abc rv=103 by system:kube-controller-manager",
		"MODIFIED apps/Deployment web rv=105 by alice",
		"ADDED /Secret db rv=107 by kubernetes-admin",
		"MODIFIED /Pod web-1 rv=108 by bob",
		"DELETED /Pod web-1 rv=109 by system:kwok-controller",
		"DELETED /ConfigMap gone rv=111 by kubernetes-admin",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("envelopes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantRejected := map[string]int{
		rejectStage:       1,
		rejectReadOnly:    2, // a get of a pod, a get of /healthz
		rejectScale:       1,
		rejectStatus:      1,
		rejectFailed:      1,
		rejectNoResponse:  1,
		rejectDryRun:      1,
		rejectSameVersion: 1,
	}
	if fmt.Sprint(res.Rejected) != fmt.Sprint(wantRejected) {
		t.Errorf("rejected %v\nwant %v", res.Rejected, wantRejected)
	}
	for _, e := range res.Envelopes {
		if e.Kind == "Secret" && bytes.Contains(e.Object, []byte("aHVudGVyMg==")) {
			t.Errorf("secret value recorded: %s", e.Object)
		}
		if e.Name == "web" && e.ResourceVersion == "105" && !e.Observed.Equal(time.Date(2026, 1, 10, 10, 0, 5, 0, time.UTC)) {
			t.Errorf("observed %s, want the stageTimestamp", e.Observed)
		}
		if e.Kind == "Deployment" && e.Resource != "deployments" {
			t.Errorf("resource %q", e.Resource)
		}
	}
}

func TestReadAuditEventList(t *testing.T) {
	line := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[` +
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","stage":"ResponseComplete","verb":"create","user":{"username":"u"},"objectRef":{"resource":"configmaps","namespace":"n","name":"a"},"responseStatus":{"code":201},"responseObject":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","namespace":"n","uid":"ua","resourceVersion":"5"}},"stageTimestamp":"2026-01-10T10:00:00Z"},` +
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","stage":"ResponseComplete","verb":"create","user":{"username":"u"},"objectRef":{"resource":"configmaps","namespace":"n","name":"b"},"responseStatus":{"code":201},"stageTimestamp":"2026-01-10T10:00:00Z"}]}`
	res, err := ReadAudit("c", Input{Name: "batch", R: strings.NewReader(line)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Envelopes) != 1 || res.Envelopes[0].Actor != "u" || res.Rejected[rejectNoResponse] != 1 {
		t.Errorf("envelopes %v rejected %v", res.Envelopes, res.Rejected)
	}
}

func TestReadAuditErrors(t *testing.T) {
	good := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"RequestReceived","verb":"get"}`
	for _, c := range []struct{ name, in, want string }{
		{"empty", "\n\n", "import: f:1: empty file"},
		{"truncated", good + "\n" + good + "\n" + `{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":`, "import: f:3: truncated JSON"},
		{"text", good + "\nI0110 10:00:00 audit: verb=get\n", "import: f:2: expected a JSON object"},
		{"watch file", `{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","resourceVersion":"1"}}}`, "import: f:1: expected an audit.k8s.io/v1 Event"},
		{"other kind", `{"kind":"Policy","apiVersion":"audit.k8s.io/v1"}`, `import: f:1: expected an audit Event or EventList, found kind "Policy"`},
	} {
		_, err := ReadAudit("c", Input{Name: "f", R: strings.NewReader(c.in)})
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: error %v, want prefix %q", c.name, err, c.want)
		}
	}
}

// Imported audit versions are published like any import: a second import of the same file
// stores nothing new.
func TestReadAuditPublish(t *testing.T) {
	l, err := eventlog.Open(t.Context(), eventlog.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i, wantNew := range []int{7, 0} {
		f, err := os.Open("testdata/audit.jsonl")
		if err != nil {
			t.Fatal(err)
		}
		res, err := ReadAudit("c1", Input{Name: "audit.jsonl", R: f})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		st, err := Publish(t.Context(), l, res)
		if err != nil {
			t.Fatal(err)
		}
		if st.Published != wantNew {
			t.Errorf("import %d: published %d, want %d (%+v)", i+1, st.Published, wantNew, st)
		}
	}
	last, err := l.LastOf(t.Context(), eventlog.Subject("c1", "apps", "Deployment", "default", "web"))
	if err != nil || last == nil || last.Actor != "alice" || last.ResourceVersion != "105" {
		t.Errorf("last of web: %v %v", last, err)
	}
}
