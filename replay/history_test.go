package replay

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
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

// TestDecoders: json v2 (decodeJSON's fast path) decodes what extraction reads of every
// version of the recordings as encoding/json does: time clues, pods, ReplicaSets, workload
// status, Events; and a history extracts and replays alike with either.
func TestDecoders(t *testing.T) {
	files, _ := filepath.Glob("../test/fidelity/testdata/*.json.gz")
	files = append(files, "testdata/sample-rolling/pods.json.gz", "testdata/sample-statefulset/events.json.gz")
	both := func(f func() any) (fast, ref any) {
		t.Helper()
		useJSONv2 = true
		fast = f()
		useJSONv2 = false
		ref = f()
		useJSONv2 = true
		return
	}
	n := 0
	for _, file := range files {
		h, err := LoadWatchFiles(file)
		if err != nil {
			t.Fatal(err)
		}
		for i := range h {
			v := &h[i]
			check := func(what string, f func() any) {
				t.Helper()
				if fast, ref := both(f); !reflect.DeepEqual(fast, ref) {
					t.Fatalf("%s seq %d %s: json v2 decodes\n%+v\nencoding/json\n%+v", file, v.Seq, what, fast, ref)
				}
			}
			check("time clues", func() any {
				var c timeClues
				err := parseClues(v.Object, &c)
				return []any{c, err}
			})
			switch v.Kind {
			case "Pod":
				check("pod", func() any { p, err := parsePod(v.Object); return []any{p, err} })
			case "ReplicaSet":
				check("ReplicaSet", func() any { r, err := parseReplicaSet(v.Object, false); return []any{r, err} })
			case KindDeployment, KindStatefulSet, KindDaemonSet:
				check("status", func() any {
					w, err := parseWorkloadStatus(v.Kind, v.Object, &workloadObj{})
					return []any{w, err}
				})
			case "Event":
				check("event", func() any {
					o, ok := parseDeleteEvent(v, map[string]int32{})
					return []any{o, ok}
				})
			}
			n++
		}
	}
	if n < 2000 {
		t.Fatalf("only %d versions checked", n)
	}

	// Whole replays.
	h := sampleRolling.load(t)
	fast, ref := both(func() any {
		res, err := Compare(h, "deployment", "sample-rolling", "checkout", CompareOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return res
	})
	if !reflect.DeepEqual(fast, ref) {
		t.Fatal("the sample replays differently with json v2")
	}
}

// TestObservedFromDeletionRequest: a pod's deletionTimestamp is the end of its grace period;
// the deletion was requested deletionGracePeriodSeconds earlier, which is what the estimate of
// the observed time takes.
func TestObservedFromDeletionRequest(t *testing.T) {
	h := []Version{
		{Seq: 1, Type: Added, Kind: "Pod", Name: "p", UID: "u", ResourceVersion: "1",
			Object: []byte(`{"kind":"Pod","metadata":{"name":"p","uid":"u","creationTimestamp":"2026-11-22T01:00:00Z"}}`)},
		{Seq: 2, Type: Modified, Kind: "Pod", Name: "p", UID: "u", ResourceVersion: "2",
			Object: []byte(`{"kind":"Pod","metadata":{"name":"p","uid":"u","creationTimestamp":"2026-11-22T01:00:00Z","deletionTimestamp":"2026-11-22T01:00:40Z","deletionGracePeriodSeconds":30}}`)},
	}
	EstimateObserved(h)
	if want := time.Date(2026, 11, 22, 1, 0, 10, 0, time.UTC); !h[1].Observed.Equal(want) {
		t.Fatalf("observed %s, want the deletion request %s (deletionTimestamp minus the grace period)", h[1].Observed, want)
	}
}

// TestExtractFromImportedEstimates: a history imported into the event log carries, as observed
// times, estimates from each version's own timestamps (creation, deletion request, managed
// fields); it extracts and replays exactly as the watch files it came from, whose times
// LoadWatchFiles estimates from the whole history.
func TestExtractFromImportedEstimates(t *testing.T) {
	for _, s := range []sample{sampleRolling, sampleStatefulSet} {
		file := s.load(t)
		imported := append([]Version(nil), file...)
		for i := range imported {
			var m objMeta
			if err := json.Unmarshal(imported[i].Object, &m); err != nil {
				t.Fatal(err)
			}
			var own time.Time
			if ts := m.Metadata.CreationTimestamp; ts != nil {
				own = *ts
			}
			if d := m.Metadata.DeletionTimestamp; d != nil {
				g := int64(0)
				if m.Metadata.DeletionGracePeriodSeconds != nil {
					g = *m.Metadata.DeletionGracePeriodSeconds
				}
				own = maxTime(own, d.Add(-time.Duration(g)*time.Second))
			}
			for _, f := range m.Metadata.ManagedFields {
				if f.Time != nil {
					own = maxTime(own, *f.Time)
				}
			}
			imported[i].Observed = own.UTC()
		}
		a, err := Compare(file, s.kind, s.ns, s.name, CompareOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := Compare(imported, s.kind, s.ns, s.name, CompareOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%s: the imported history replays differently from the files", s.dir)
		}
	}
}

// TestNodesOfAnotherRecordingKeepTimes: a data directory that imported two recordings of a
// cluster holds the nodes of both; a workload's history then starts with node versions of the
// recording imported first, observed later than the workload's own. They must not move the
// workload's times: the free run of busy-24's first rollout took no step when they did.
func TestNodesOfAnotherRecordingKeepTimes(t *testing.T) {
	h, err := LoadWatchFiles("../test/fidelity/testdata/busy/busy-24-r1.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	var mixed []Version
	for _, v := range h {
		if v.Kind == "Node" {
			v.Observed = v.Observed.Add(time.Hour)
			v.Seq = uint64(len(mixed) + 1)
			mixed = append(mixed, v)
		}
	}
	base := uint64(len(mixed))
	for _, v := range h {
		v.Seq += base
		mixed = append(mixed, v)
	}
	for _, hist := range []struct {
		name string
		h    []Version
	}{{"alone", h}, {"after another recording's nodes", mixed}} {
		res, err := Compare(hist.h, "deploy", "busy-24", "web", CompareOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Rollouts {
			if r.FreeRun == nil || !r.FreeRun.Match {
				t.Errorf("%s: %s: free run diverges: %+v", hist.name, r.ID, r.FreeRun)
			}
		}
	}
}
