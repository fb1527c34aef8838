package projector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	bolt "go.etcd.io/bbolt"
)

func TestVersionsRebuildEveryVersion(t *testing.T) {
	envs := loadRecording(t, "testdata/sample-rolling", "test")
	for _, fullEvery := range []int{1, 3, 32} {
		db := mustOpenDBAt(t, filepath.Join(t.TempDir(), "v.db"), &Options{FullEvery: fullEvery})
		foldAll(t, db, envs, 50)
		ctx := context.Background()
		for _, e := range envs {
			v, err := db.VersionBySeq(ctx, e.Seq)
			if err != nil {
				t.Fatalf("FullEvery %d: seq %d: %v", fullEvery, e.Seq, err)
			}
			if !bytes.Equal(v.Object, e.Object) {
				t.Fatalf("FullEvery %d: seq %d (%s): rebuilt object differs", fullEvery, e.Seq, e)
			}
			if v.ResourceVersion != e.ResourceVersion || v.Type != string(e.Type) || !v.Observed.Equal(e.Observed) || v.Kind != e.Kind || v.Name != e.Name || !actorOf(v.Actor, e) {
				t.Fatalf("FullEvery %d: seq %d: metadata %+v, want %s", fullEvery, e.Seq, v, e)
			}
		}
		c, err := db.Counts()
		if err != nil || c.Applied != uint64(len(envs)) || c.Seq != uint64(len(envs)) {
			t.Fatalf("counts %+v, %v", c, err)
		}
	}
}

func TestVersionsOfObject(t *testing.T) {
	envs := loadRecording(t, "testdata/sample-rolling", "test")
	db := MustOpenDB(t)
	foldAll(t, db, envs, 7)
	ctx := context.Background()
	ref := ObjectRef{Cluster: "test", Group: "apps", Kind: "Deployment", Namespace: "sample-rolling", Name: "checkout"}
	vs, err := db.Versions(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	want := find(envs, "Deployment sample-rolling/checkout ")
	if len(vs) != len(want) || len(want) != 29 {
		t.Fatalf("got %d versions, want %d (29)", len(vs), len(want))
	}
	for i := range vs {
		if vs[i].Seq != want[i].Seq || !bytes.Equal(vs[i].Object, want[i].Object) {
			t.Fatalf("version %d: seq %d, want %d", i, vs[i].Seq, want[i].Seq)
		}
	}
	// Group "" finds the kind in any group.
	ref.Group = ""
	if vs2, err := db.Versions(ctx, ref); err != nil || len(vs2) != len(vs) {
		t.Fatalf("any group: %d versions, %v", len(vs2), err)
	}
	// At a time: the last version observed at or before it.
	mid := want[10]
	v, err := db.VersionAt(ctx, ref, mid.Observed)
	if err != nil {
		t.Fatal(err)
	}
	var exp *eventlog.Envelope
	for _, e := range want {
		if !e.Observed.After(mid.Observed) {
			exp = e
		}
	}
	if v.Seq != exp.Seq || !bytes.Equal(v.Object, exp.Object) {
		t.Fatalf("VersionAt: seq %d, want %d", v.Seq, exp.Seq)
	}
	if _, err := db.VersionAt(ctx, ref, want[0].Observed.Add(-time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("before creation: %v, want ErrNotFound", err)
	}
	pod := ObjectRef{Cluster: "test", Kind: "Pod", Namespace: "sample-rolling", Name: "checkout-59b467b7d8-fdv7k"}
	gone := find(envs, "DELETED Pod sample-rolling/checkout-59b467b7d8-fdv7k")[0]
	if _, err := db.VersionAt(ctx, pod, gone.Observed.Add(time.Second)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after deletion: %v, want ErrNotFound", err)
	}
}

func TestDuplicatesChangeNothing(t *testing.T) {
	envs := loadRecording(t, "testdata/sample-rolling", "test")
	once := MustOpenDB(t)
	foldAll(t, once, envs, 100)
	// The same versions again, as a relist would re-send them (RESYNC), then the log again.
	var twice []*eventlog.Envelope
	seq := uint64(0)
	add := func(e *eventlog.Envelope, typ eventlog.EventType) {
		c := *e
		seq++
		c.Seq = seq
		if typ != "" {
			c.Type = typ
		}
		twice = append(twice, &c)
	}
	for _, e := range envs {
		add(e, "")
		add(e, eventlog.Resync)
	}
	for _, e := range envs {
		add(e, "")
	}
	db := MustOpenDB(t)
	foldAll(t, db, twice, 64)
	c, _ := db.Counts()
	if c.Applied != uint64(len(envs)) || c.Skipped != uint64(2*len(envs)) {
		t.Fatalf("counts %+v: want %d applied, %d skipped", c, len(envs), 2*len(envs))
	}
	a, b := mustDump(t, once), mustDump(t, db)
	if a != b {
		t.Fatalf("folding duplicates changed the views:\n%s", firstDiff(a, b))
	}
}

// TestVersionsRebuildGenerated rebuilds every version of a generated history whose full
// copies are mostly stored against other objects' copies (bodyXDelta), and checks that the
// encodings it means to exercise are all there.
func TestVersionsRebuildGenerated(t *testing.T) {
	envs := genHistory(genConfig{Seed: 5, Events: 20000, Namespaces: 3, Deployments: 4, Replicas: 4, RolloutRate: 0.02})
	db := mustOpenDBAt(t, filepath.Join(t.TempDir(), "v.db"), &Options{FullEvery: 8})
	foldAll(t, db, envs, 500)
	ctx := context.Background()
	for _, e := range envs {
		v, err := db.VersionBySeq(ctx, e.Seq)
		if err != nil {
			t.Fatalf("seq %d: %v", e.Seq, err)
		}
		if !bytes.Equal(v.Object, e.Object) {
			t.Fatalf("seq %d (%s): rebuilt object differs", e.Seq, e)
		}
	}
	bodies := map[byte]int{}
	var segs, loose int
	db.view(func(tx *bolt.Tx) error {
		segs, loose = tx.Bucket(bVerSeg).Stats().KeyN, tx.Bucket(bVer).Stats().KeyN
		return versOf(tx).each(func(seq uint64, v []byte) error {
			r, err := decodeVer(v, seq)
			if err != nil {
				return err
			}
			bodies[r.Body]++
			return nil
		})
	})
	if segs == 0 || loose >= segRecords {
		t.Errorf("%d segments and %d loose records: want segments and fewer than %d loose", segs, loose, segRecords)
	}
	for _, b := range []byte{bodyFull, bodyDelta, bodyXDelta} {
		if bodies[b] == 0 {
			t.Errorf("no version stored with body encoding %d: %v", b, bodies)
		}
	}
	t.Logf("versions by body encoding: %v", bodies)
}

// TestGeneratedRawSizes checks the generator's account of what the watch delivered: the API
// server's JSON (with field sets) sanitized as the collector does gives the generated object,
// and its size is the one counted.
func TestGeneratedRawSizes(t *testing.T) {
	envs, raw := genHistoryRaw(genConfig{Seed: 3, Events: 3000})
	kinds := map[string]int{}
	for i, e := range envs {
		full := withFieldSets(e.Kind, e.Object)
		if len(full) != raw[i] {
			t.Fatalf("seq %d: raw size %d, built %d", e.Seq, raw[i], len(full))
		}
		if e.Kind != "Event" && len(full) <= len(e.Object) {
			t.Fatalf("seq %d (%s): no field set added", e.Seq, e.Kind)
		}
		if kinds[e.Kind] > 20 {
			continue
		}
		kinds[e.Kind]++
		got, err := eventlog.Sanitize(e.Kind, full)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(e.Object, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("seq %d (%s): sanitized raw JSON differs from the generated object:\n%s\n%s", e.Seq, e.Kind, got, e.Object)
		}
	}
}

// actorOf says whether actor may be the writer of e: the log's actor, or one of the object's
// field managers (writer refines the first with the second).
func actorOf(actor string, e *eventlog.Envelope) bool {
	if actor == e.Actor {
		return true
	}
	var o Object
	if DecodeObject(e.Object, &o) != nil {
		return false
	}
	for _, f := range o.Metadata.ManagedFields {
		if f.Manager == actor {
			return true
		}
	}
	return false
}

func TestWriter(t *testing.T) {
	apply := ManagedField{"kubectl-client-side-apply", "Update", "", "2026-11-22T00:11:31Z"}
	set := ManagedField{"kubectl-set", "Update", "", "2026-11-22T00:11:40Z"}
	status := func(at string) ManagedField { return ManagedField{"kube-controller-manager", "Update", "status", at} }
	sig := func(mf ...ManagedField) []uint32 { _, s := writer("x", mf, nil, false); return s }
	for _, c := range []struct {
		name       string
		logActor   string
		mf         []ManagedField
		prev       []uint32
		genChanged bool
		want       string
	}{
		{"first version: the log's actor", "kubectl-client-side-apply", []ManagedField{apply}, nil, false, "kubectl-client-side-apply"},
		{"a new entry in the same second as the latest", "kubectl-client-side-apply", []ManagedField{status("2026-11-22T00:11:31Z"), apply}, sig(apply), false, "kube-controller-manager"},
		{"the entry whose time moved", "kubectl-set", []ManagedField{apply, status("2026-11-22T00:11:40Z"), set}, sig(apply, status("2026-11-22T00:11:39Z"), set), false, "kube-controller-manager"},
		{"a spec edit in the controller's second", "kube-controller-manager", []ManagedField{apply, status("2026-11-22T00:11:40Z"), set}, sig(apply, status("2026-11-22T00:11:40Z"), ManagedField{"kubectl-set", "Update", "", "2026-11-22T00:11:35Z"}), true, "kubectl-set"},
		{"nothing moved, generation unchanged: the status writer", "kubectl-set", []ManagedField{apply, status("2026-11-22T00:11:40Z"), set}, sig(apply, status("2026-11-22T00:11:40Z"), set), false, "kube-controller-manager"},
		{"nothing moved, generation changed: the spec writer", "kube-controller-manager", []ManagedField{apply, status("2026-11-22T00:11:40Z"), set}, sig(apply, status("2026-11-22T00:11:40Z"), set), true, "kubectl-set"},
		{"an audit log's user stands", "alice@example.com", []ManagedField{apply, status("2026-11-22T00:11:40Z")}, sig(apply), false, "alice@example.com"},
		{"no managedFields", "kubelet", nil, sig(apply), false, "kubelet"},
	} {
		if got, _ := writer(c.logActor, c.mf, c.prev, c.genChanged); got != c.want {
			t.Errorf("%s: writer = %q, want %q", c.name, got, c.want)
		}
	}
}

// TestVersionAtUsesTimeIndex checks VersionAt, which reads the per-object time index, against
// a walk through every version, on objects of 1 to 150 versions whose observed times go back
// now and then (the index keeps each block's least time), folded in batches of several sizes.
func TestVersionAtUsesTimeIndex(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var envs []*eventlog.Envelope
	obs := t0
	for i := 0; i < 600; i++ {
		n := i % 4 // four objects, changed in turn
		name := "web-" + string(rune('a'+n))
		if n == 3 && i > 12 {
			continue // the fourth one has 4 versions
		}
		step := time.Duration(1+i%7) * time.Second
		if i%11 == 5 {
			step = -3 * time.Second // observed before the version before it
		}
		obs = obs.Add(step)
		typ := eventlog.Modified
		if i < 4 {
			typ = eventlog.Added
		}
		if n == 2 && i == 598 {
			typ = eventlog.Deleted
		}
		seq := uint64(len(envs) + 1)
		obj := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"` + name + `","namespace":"ns","uid":"0000000` + string(rune('a'+n)) + `-0000-0000-0000-000000000000","resourceVersion":"` + strconv.Itoa(int(seq)) + `","generation":` + strconv.Itoa(i) + `},"spec":{"replicas":` + strconv.Itoa(i%9) + `}}`
		envs = append(envs, &eventlog.Envelope{Type: typ, Cluster: "c", Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "ns", Name: name,
			UID: "0000000" + string(rune('a'+n)) + "-0000-0000-0000-000000000000", ResourceVersion: strconv.Itoa(int(seq)), Observed: obs, Source: "test", Object: []byte(obj), Seq: seq})
	}
	ctx := context.Background()
	for _, batch := range []int{1, 7, 1000} {
		db := mustOpenDBAt(t, filepath.Join(t.TempDir(), "v.db"), nil)
		foldAll(t, db, envs, batch)
		for _, name := range []string{"web-a", "web-b", "web-c", "web-d"} {
			var mine []*eventlog.Envelope
			for _, e := range envs {
				if e.Name == name {
					mine = append(mine, e)
				}
			}
			var ats []time.Time
			for _, e := range mine {
				ats = append(ats, e.Observed.Add(-time.Nanosecond), e.Observed, e.Observed.Add(time.Nanosecond))
			}
			ats = append(ats, t0, obs.Add(time.Hour))
			for _, at := range ats {
				var want *eventlog.Envelope
				for i := len(mine) - 1; i >= 0; i-- {
					if !mine[i].Observed.After(at) {
						if !mine[i].Type.IsDelete() || mine[i].Observed.Equal(at) {
							want = mine[i]
						}
						break
					}
				}
				got, err := db.VersionAt(ctx, ObjectRef{Cluster: "c", Group: "apps", Kind: "Deployment", Namespace: "ns", Name: name}, at)
				switch {
				case want == nil && !errors.Is(err, ErrNotFound):
					t.Fatalf("batch %d: %s at %s: got seq %d (%v), want none", batch, name, at, got.Seq, err)
				case want != nil && err != nil:
					t.Fatalf("batch %d: %s at %s: %v, want seq %d", batch, name, at, err, want.Seq)
				case want != nil && (got.Seq != want.Seq || !bytes.Equal(got.Object, want.Object)):
					t.Fatalf("batch %d: %s at %s: got seq %d, want %d", batch, name, at, got.Seq, want.Seq)
				}
			}
		}
		var entries int
		db.view(func(tx *bolt.Tx) error { entries = tx.Bucket(bVerTime).Stats().KeyN; return nil })
		if entries != 3*(150/timeIdxEvery) {
			t.Fatalf("batch %d: %d time index entries, want %d", batch, entries, 3*(150/timeIdxEvery))
		}
	}
}
