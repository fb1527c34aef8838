package projector

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	bolt "go.etcd.io/bbolt"
)

// applied returns the envelopes the views apply (the others are duplicates or stale), in log
// order: the reference semantics the time index and snapshots are checked against.
func applied(envs []*eventlog.Envelope) []*eventlog.Envelope {
	type st struct {
		rv   string
		gone bool
	}
	seen := map[string]*st{}
	var out []*eventlog.Envelope
	for _, e := range envs {
		k := e.Cluster + "/" + e.UID
		s := seen[k]
		if s != nil {
			if s.gone {
				continue
			}
			c := compareRV(e.ResourceVersion, s.rv)
			if c < 0 || c == 0 && e.Type != eventlog.DeletedUnobserved {
				continue
			}
		} else {
			s = &st{}
			seen[k] = s
		}
		s.rv, s.gone = e.ResourceVersion, e.Type.IsDelete()
		out = append(out, e)
	}
	return out
}

// bruteState is the state at time at by definition: per object, its last applied version in
// log order observed at or before at, unless that is a deletion.
func bruteState(envs []*eventlog.Envelope, at time.Time, namespaces []string) []string {
	last := map[string]*eventlog.Envelope{}
	for _, e := range applied(envs) {
		if e.Observed.After(at) || namespaces != nil && !slices.Contains(namespaces, e.Namespace) {
			continue
		}
		last[e.UID] = e
	}
	var out []string
	for _, e := range last {
		if !e.Type.IsDelete() {
			out = append(out, fmt.Sprintf("%s %s %s %d", e.Namespace, e.Kind, e.Name, e.Seq))
		}
	}
	slices.Sort(out)
	return out
}

func renderState(vs []Version) []string {
	var out []string
	for _, v := range vs {
		out = append(out, fmt.Sprintf("%s %s %s %d", v.Namespace, v.Kind, v.Name, v.Seq))
	}
	slices.Sort(out)
	return out
}

func TestStateAtAndTimeline(t *testing.T) {
	envs := genHistory(genConfig{Seed: 11, Events: 6000, DupRate: 0.05, LateRate: 0.02, Namespaces: 3, Deployments: 2, Replicas: 3})
	db := mustOpenDBAt(t, filepath.Join(t.TempDir(), "v.db"), &Options{SnapshotEvery: 200})
	foldAll(t, db, envs, 97)
	var snaps int
	db.view(func(tx *bolt.Tx) error { snaps = tx.Bucket(bSnapMeta).Stats().KeyN; return nil })
	if snaps < 3 {
		t.Fatalf("only %d snapshots kept", snaps)
	}
	first, last := envs[0].Observed, envs[len(envs)-1].Observed
	for i := 0; i <= 20; i++ {
		at := first.Add(time.Duration(i) * last.Sub(first) / 20).Add(-time.Duration(i%3) * time.Millisecond)
		for _, nss := range [][]string{nil, {"team-1"}, {"team-0", "team-2"}} {
			got, err := db.StateAt(ctx, StateFilter{Cluster: "gen", Namespaces: nss, At: at})
			if err != nil {
				t.Fatal(err)
			}
			if g, w := renderState(got), bruteState(envs, at, nss); !slices.Equal(g, w) {
				t.Fatalf("state at %s of %v: %d objects, want %d\n%s", at, nss, len(g), len(w), firstDiff(fmt.Sprint(w), fmt.Sprint(g)))
			}
			// Of some kinds: the versions of the others after the snapshot are not read.
			kinds := []string{"Pod", "Deployment"}
			got, err = db.StateAt(ctx, StateFilter{Cluster: "gen", Namespaces: nss, Kinds: kinds, At: at})
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, l := range bruteState(envs, at, nss) {
				if slices.Contains(kinds, strings.Fields(l)[1]) {
					want = append(want, l)
				}
			}
			if g := renderState(got); !slices.Equal(g, want) {
				t.Fatalf("state of %v at %s of %v: %d objects, want %d\n%s", kinds, at, nss, len(g), len(want), firstDiff(fmt.Sprint(want), fmt.Sprint(g)))
			}
		}
	}
	// With objects: each is the version's JSON.
	at := first.Add(last.Sub(first) / 2)
	vs, err := db.StateAt(ctx, StateFilter{Cluster: "gen", Namespaces: []string{"team-2"}, Kinds: []string{"Pod"}, At: at, WithObjects: true})
	if err != nil || len(vs) == 0 {
		t.Fatalf("%d pods, %v", len(vs), err)
	}
	for _, v := range vs {
		if v.Kind != "Pod" || !bytes.Equal(v.Object, envs[v.Seq-1].Object) {
			t.Fatalf("state object %d differs", v.Seq)
		}
	}

	// Timelines: the applied versions in the window, by (time, seq).
	from, to := first.Add(last.Sub(first)/3), first.Add(last.Sub(first)/2)
	tl, err := db.Timeline(ctx, TimelineFilter{Cluster: "gen", Namespaces: []string{"team-0"}, Kinds: []string{"Pod", "Deployment"}, From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	var want []*eventlog.Envelope
	for _, e := range applied(envs) {
		if e.Namespace == "team-0" && (e.Kind == "Pod" || e.Kind == "Deployment") && !e.Observed.Before(from) && e.Observed.Before(to) {
			want = append(want, e)
		}
	}
	slices.SortStableFunc(want, func(a, b *eventlog.Envelope) int {
		if c := a.Observed.Compare(b.Observed); c != 0 {
			return c
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	if len(tl) != len(want) || len(want) == 0 {
		t.Fatalf("timeline has %d versions, want %d", len(tl), len(want))
	}
	for i := range tl {
		if tl[i].Seq != want[i].Seq {
			t.Fatalf("timeline[%d] = %d, want %d", i, tl[i].Seq, want[i].Seq)
		}
	}
	all, _ := db.Timeline(ctx, TimelineFilter{Limit: 10})
	if len(all) != 10 || !all[0].Observed.Equal(envs[0].Observed) {
		t.Fatalf("first 10 of everything: %d", len(all))
	}
}

// TestLastObserved: the latest observed time of the applied events, also when the log ends
// with versions re-sent by a relist (skipped), per cluster and over every cluster.
func TestLastObserved(t *testing.T) {
	envs := genHistory(genConfig{Seed: 9, Events: 500})
	last := envs[len(envs)-1].Observed
	for _, e := range envs {
		if e.Observed.After(last) {
			last = e.Observed
		}
	}
	dup := *envs[10]
	dup.Type, dup.Seq = eventlog.Resync, uint64(len(envs)+1)
	dup.Observed = last.Add(time.Hour)
	other := *envs[0]
	other.Cluster, other.Seq, other.Observed = "other", uint64(len(envs)+2), last.Add(-time.Hour)
	db := mustOpenDBAt(t, filepath.Join(t.TempDir(), "v.db"), nil)
	foldAll(t, db, append(envs, &dup, &other), 100)
	ctx := context.Background()
	for _, c := range []struct {
		cluster string
		want    time.Time
	}{{"gen", last}, {"", last}, {"other", other.Observed}, {"none", time.Time{}}} {
		got, err := db.LastObserved(ctx, c.cluster)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("LastObserved(%q) = %v, %v; want %v", c.cluster, got, err, c.want)
		}
	}
}
