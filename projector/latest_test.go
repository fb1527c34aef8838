package projector

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	bolt "go.etcd.io/bbolt"
)

// TestStateAtLatestCopies: a state read with objects gives, object by object, the version the
// log recorded (JSON, type, resourceVersion, time, generation and actor), whether it comes from
// the object's latest copy (bucket "vlast") or from its delta chain; and the bucket holds one
// copy per live object of more than one version, of its latest version, and none of a deleted
// object, whether the log is folded in batches or one event per transaction. Besides the
// generated rollouts (pods deleted, ReplicaSets scaled to zero and left), a StatefulSet's pod
// web-0 changes across several snapshots with full copies every 3 versions (its chains cross
// snapshots), is deleted, and its name comes back as another object.
func TestStateAtLatestCopies(t *testing.T) {
	envs := genHistory(genConfig{Seed: 23, Events: 3000, DupRate: 0.05, LateRate: 0.02, Namespaces: 2, Deployments: 2, Replicas: 3, RolloutRate: 0.03})
	last := envs[len(envs)-1].Observed
	add := func(typ eventlog.EventType, uid string, rv int, phase string, obs time.Time) {
		obj := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-0","namespace":"sts","uid":%q,"resourceVersion":"%d","creationTimestamp":"2026-11-01T00:00:00Z"},"status":{"phase":%q,"note":"%s"}}`,
			uid, rv, phase, bytes.Repeat([]byte("x"), 200+rv%7))
		envs = append(envs, &eventlog.Envelope{Type: typ, Cluster: "gen", Version: "v1", Kind: "Pod", Namespace: "sts", Name: "web-0", UID: uid,
			ResourceVersion: strconv.Itoa(rv), Observed: obs, Source: "gen", Actor: "kubelet", Object: []byte(obj), Seq: uint64(len(envs) + 1)})
	}
	rv := 1_000_000
	obs := last
	for i := range 40 {
		obs, rv = obs.Add(time.Second), rv+1
		typ := eventlog.Modified
		if i == 0 {
			typ = eventlog.Added
		}
		add(typ, "web-0-a", rv, "Running"+strconv.Itoa(i), obs)
		// Other objects' events between its versions, so that snapshots fall among them.
		for j := range 30 {
			e := *envs[len(envs)-40+j%10]
			if e.Kind == "Pod" && e.Namespace == "sts" {
				continue
			}
			obs, rv = obs.Add(10*time.Millisecond), rv+1
			e.Type, e.ResourceVersion, e.Observed, e.Seq = eventlog.Resync, strconv.Itoa(rv), obs, uint64(len(envs)+1)
			envs = append(envs, &e)
		}
	}
	obs, rv = obs.Add(time.Second), rv+1
	add(eventlog.Deleted, "web-0-a", rv, "Running", obs)
	for i := range 5 {
		obs, rv = obs.Add(time.Second), rv+1
		typ := eventlog.Modified
		if i == 0 {
			typ = eventlog.Added
		}
		add(typ, "web-0-b", rv, "Pending"+strconv.Itoa(i), obs)
	}
	first := envs[0].Observed
	last = obs

	for _, batch := range []int{97, 1} {
		t.Run(fmt.Sprintf("batches of %d", batch), func(t *testing.T) {
			db := mustOpenDBAt(t, filepath.Join(t.TempDir(), "v.db"), &Options{SnapshotEvery: 300, FullEvery: 3})
			foldAll(t, db, envs, batch)
			checkLatestCopies(t, db)
			fromCopy, fromChain := 0, 0
			for i := 0; i <= 60; i++ {
				at := first.Add(time.Duration(i) * last.Sub(first) / 60)
				if i == 60 {
					at = last.Add(time.Hour)
				}
				got, err := db.StateAt(context.Background(), StateFilter{Cluster: "gen", At: at, WithObjects: true})
				if err != nil {
					t.Fatal(err)
				}
				if g, w := renderState(got), bruteState(envs, at, nil); !slices.Equal(g, w) {
					t.Fatalf("state at %s: %d objects, want %d\n%s", at, len(g), len(w), firstDiff(fmt.Sprint(w), fmt.Sprint(g)))
				}
				err = db.view(func(tx *bolt.Tx) error {
					ver := versOf(tx)
					for _, v := range got {
						e := envs[v.Seq-1]
						r, err := decodeVer(ver.get(v.Seq), v.Seq)
						if err != nil {
							return err
						}
						if !bytes.Equal(v.Object, e.Object) || v.Type != string(e.Type) || v.ResourceVersion != e.ResourceVersion ||
							!v.Observed.Equal(e.Observed) || v.Actor != r.Actor || v.Generation != r.Generation || v.UID != e.UID {
							return fmt.Errorf("state at %s: %s %s/%s version %d differs from the log's", at, v.Kind, v.Namespace, v.Name, v.Seq)
						}
						h, err := headByID(tx, r.ID)
						if err != nil {
							return err
						}
						if h.LastSeq == v.Seq && h.Versions > 1 {
							fromCopy++
						} else {
							fromChain++
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if fromCopy == 0 || fromChain == 0 {
				t.Fatalf("%d objects read from their latest copy, %d from their chain: both paths must be checked", fromCopy, fromChain)
			}
			// web-0 between its two lives: the first one's last version, then nothing, then the
			// second one.
			n := len(envs)
			for _, c := range []struct {
				at   time.Time
				want string
			}{
				{envs[n-7].Observed, "web-0-a Running39"},
				{envs[n-6].Observed, ""},
				{envs[n-1].Observed, "web-0-b Pending4"},
			} {
				got, err := db.StateAt(context.Background(), StateFilter{Cluster: "gen", Namespaces: []string{"sts"}, Kinds: []string{"Pod"}, At: c.at, WithObjects: true})
				if err != nil {
					t.Fatal(err)
				}
				var s string
				for _, v := range got {
					s = v.UID + " " + string(bytes.Split(bytes.Split(v.Object, []byte(`"phase":"`))[1], []byte(`"`))[0])
				}
				if len(got) > 1 || s != c.want {
					t.Errorf("web-0 at %s: %d objects, %q; want %q", c.at, len(got), s, c.want)
				}
			}
		})
	}
}

// checkLatestCopies checks bucket "vlast" against the heads and the versions view, and
// headOfKind against each head.
func checkLatestCopies(t *testing.T, db *DB) {
	t.Helper()
	err := db.view(func(tx *bolt.Tx) error {
		ver := versOf(tx)
		wanted := 0
		for id := uint64(1); id < getU64(tx.Bucket(bMeta), mNextID); id++ {
			h, err := headsOf(tx).get(id)
			if err != nil || h == nil {
				return fmt.Errorf("object %d: no head (%v)", id, err)
			}
			if ok, err := headOfKind(tx, id, []string{"Other", h.Kind}); !ok || err != nil {
				return fmt.Errorf("object %d: headOfKind does not read its kind %s (%v)", id, h.Kind, err)
			}
			if ok, err := headOfKind(tx, id, []string{h.Kind + "s", h.Namespace, h.APIVersion}); ok || err != nil {
				return fmt.Errorf("object %d: headOfKind reads kind %s as another (%v)", id, h.Kind, err)
			}
			v := tx.Bucket(bLatest).Get(be8(id))
			want := !h.Gone && h.Versions > 1
			if !want {
				if v != nil {
					return fmt.Errorf("%s %s/%s (gone %v, %d versions) has a latest copy", h.Kind, h.Namespace, h.Name, h.Gone, h.Versions)
				}
				continue
			}
			wanted++
			r, ok, err := latestOf(tx, id, h.LastSeq)
			if err != nil || !ok {
				return fmt.Errorf("%s %s/%s: no latest copy of version %d (%v)", h.Kind, h.Namespace, h.Name, h.LastSeq, err)
			}
			js, rec, err := loadVersion(ver, h.LastSeq)
			if err != nil {
				return err
			}
			if !bytes.Equal(r.Payload, js) || r.Type != rec.Type || r.RV != rec.RV || !r.Observed.Equal(rec.Observed) ||
				r.Actor != rec.Actor || r.Generation != rec.Generation || r.Prev != rec.Prev {
				return fmt.Errorf("%s %s/%s: the latest copy differs from version %d", h.Kind, h.Namespace, h.Name, h.LastSeq)
			}
		}
		if n := tx.Bucket(bLatest).Stats().KeyN; n != wanted || wanted == 0 {
			return fmt.Errorf("%d latest copies, want %d", n, wanted)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
