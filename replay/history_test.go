package replay

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadWatchFiles(t *testing.T) {
	h := sampleRolling.load(t)
	if len(h) != 188 {
		t.Fatalf("%d versions, want 188", len(h))
	}
	var prevRV uint64
	for i, v := range h {
		if v.Seq != uint64(i+1) {
			t.Fatalf("version %d has Seq %d", i, v.Seq)
		}
		rv := mustUint(t, v.ResourceVersion)
		if rv <= prevRV {
			t.Fatalf("seq %d: resourceVersion %d after %d", v.Seq, rv, prevRV)
		}
		prevRV = rv
		if i > 0 && v.Observed.Before(h[i-1].Observed) {
			t.Fatalf("seq %d: Observed runs backwards", v.Seq)
		}
		if v.Observed.IsZero() || v.Kind == "" || v.UID == "" || len(v.Object) == 0 {
			t.Fatalf("seq %d: incomplete version %+v", v.Seq, v)
		}
	}
	// The image change: generation 2 of the Deployment, by kubectl set image.
	var actor string
	for _, v := range h {
		if v.Kind == KindDeployment && strings.Contains(string(v.Object), `"generation":2`) && actor == "" {
			actor = v.Actor
		}
	}
	if actor != "kubectl-set" {
		t.Errorf("actor of the image change = %q, want kubectl-set", actor)
	}
	// Event names carry a sub-second clock: the scale-up of the new ReplicaSet was emitted
	// at 00:11:33.833818.
	for _, v := range h {
		if v.Kind == "Event" && v.Name == "checkout.18ea358ff2fce04c" {
			want := time.Date(2026, 11, 22, 0, 11, 33, 833818000, time.UTC)
			if d := v.Observed.Sub(want); d < 0 || d > time.Millisecond {
				t.Errorf("event observed at %s, want %s", v.Observed, want)
			}
		}
	}
}

func mustUint(t *testing.T, s string) uint64 {
	t.Helper()
	var n uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("%q is not a number", s)
		}
		n = n*10 + uint64(c-'0')
	}
	return n
}

func TestLoadWatchFilesErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pod := func(rv string) string {
		return `{"kind":"Pod","metadata":{"name":"p","namespace":"n","uid":"u","resourceVersion":"` + rv + `"}}`
	}
	for _, c := range []struct {
		name, content, want string
	}{
		{"garbage.json", "not json", "expected the output of kubectl get --watch"},
		{"type.json", `{"type":"CHANGED","object":` + pod("1") + `}`, `unknown event type "CHANGED"`},
		{"rv.json", `{"type":"ADDED","object":` + pod("abc") + `}`, "is not a number"},
		{"empty.json", "", "no object version"},
	} {
		_, err := LoadWatchFiles(write(c.name, c.content))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := LoadWatchFiles(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing file: no error")
	}
	// Files merge by resourceVersion; bookmarks are skipped, duplicates kept once; documents
	// may span lines.
	a := write("a.json", `{"type":"ADDED","object":`+pod("10")+"}\n"+`{"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"11"}}}`)
	b := write("b.json", "{\n \"type\": \"MODIFIED\",\n \"object\": "+pod("9")+"\n}\n"+`{"type":"ADDED","object":`+pod("10")+`}`)
	h, err := LoadWatchFiles(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].ResourceVersion != "9" || h[1].ResourceVersion != "10" || h[1].Seq != 2 {
		t.Fatalf("merged history: %+v", h)
	}
}
