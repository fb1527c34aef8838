package projector

import (
	"context"
	"errors"
	"flag"
	"github.com/khist/khist/eventlog"
	"maps"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestPrunePendingFromCache folds a history of many hours, in which prunePending runs and drops
// announcements and waiting steps older than an hour, twice: once in one DB, whose prunes find
// the observed times in the fold's cache (pendTimes), and once with the DB closed and opened
// again before every transaction, so that every prune reads the times from the versions, as it
// did before the cache. The views must be the same.
func TestPrunePendingFromCache(t *testing.T) {
	n := 40000
	if testing.Short() {
		n = 21000
	}
	all := genHistory(genConfig{Seed: 13, Events: n, LateRate: 0.05, RolloutRate: 0.03})
	// Leave out every third Event, as the API server's event aggregation does, so that steps
	// wait for an announcement that never comes.
	var envs []*eventlog.Envelope
	events := 0
	for _, e := range all {
		if e.Kind == "Event" {
			if events++; events%3 == 0 {
				continue
			}
		}
		e.Seq = uint64(len(envs) + 1)
		envs = append(envs, e)
	}
	// Stretch the observed times 100-fold (0.5-2.5 s between events) so that the history spans
	// hours and the prunes every 10,000 events drop entries as well as keep them.
	t0 := envs[0].Observed
	for _, e := range envs {
		e.Observed = t0.Add(100 * e.Observed.Sub(t0))
	}
	if span := envs[len(envs)-1].Observed.Sub(t0); span < 3*pendingTTL {
		t.Fatalf("history spans %v, want more than %v", span, 3*pendingTTL)
	}

	warm := MustOpenDB(t)
	foldAll(t, warm, envs, 500)
	if len(warm.pendAt.m) == 0 {
		t.Fatal("the fold's cache of pending times is empty: the prunes did not use it")
	}

	path := filepath.Join(t.TempDir(), "views.db")
	for i := 0; i < len(envs); i += 500 {
		cold, err := Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		foldAll(t, cold, envs[i:min(i+500, len(envs))], 500)
		if err := cold.Close(); err != nil {
			t.Fatal(err)
		}
	}
	cold := mustOpenDBAt(t, path, nil)
	if a, b := mustDump(t, warm), mustDump(t, cold); a != b {
		t.Fatalf("views differ between a fold with the cache and one that reads the versions: %s", firstDiff(b, a))
	}

	// The prunes did drop steps' waits: every unpaired step of a pod waits in "await" unless
	// pruned.
	unpaired, waiting := 0, 0
	err := warm.view(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bSteps).ForEach(func(k, v []byte) error {
			var s Step
			if err := unmarshalRecord(v, &s); err != nil {
				return err
			}
			if s.Event == nil && s.Action != ActionBindClaim {
				unpaired++
			}
			return nil
		}); err != nil {
			return err
		}
		waiting = tx.Bucket(bAwait).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if waiting == 0 || waiting >= unpaired {
		t.Fatalf("%d steps wait for their Event of %d unpaired: want some pruned and some kept", waiting, unpaired)
	}
	t.Logf("%d events over %v: %d unpaired steps, %d still waiting, %d pending times cached", len(envs), envs[len(envs)-1].Observed.Sub(t0), unpaired, waiting, len(warm.pendAt.m))
}

// BenchmarkPrunePending measures one prunePending on views where many steps wait for an Event
// (a generated history of -khist.prune-events events, 15 ms apart on average, without its
// Events, so that every pod's step waits), as the soak's views at 30 minutes had them: with the
// observed times from the fold's cache, and reading each from its version, as before the
// cache ("versions"). The caches have collect's budget (under its 192 MiB memory limit).
func BenchmarkPrunePending(b *testing.B) {
	var envs []*eventlog.Envelope
	for _, e := range genHistory(genConfig{Seed: 5, Events: *pruneEvents, RolloutRate: 0.05}) {
		if e.Kind != "Event" {
			e.Seq = uint64(len(envs) + 1)
			envs = append(envs, e)
		}
	}
	db := mustOpenDBAt(b, filepath.Join(b.TempDir(), "views.db"), &Options{CacheBytes: cacheBudget(192 << 20)})
	foldAll(b, db, envs, 50)
	now := envs[len(envs)-1].Observed
	cached := db.pendAt.m
	errRollback := errors.New("rolled back")
	waiting := 0
	for _, mode := range []string{"cache", "versions"} {
		b.Run(mode, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				db.pendAt.m = nil
				if mode == "cache" {
					db.pendAt.m = maps.Clone(cached)
				}
				err := db.update(context.Background(), 0, false, func(tx *bolt.Tx) error {
					waiting = tx.Bucket(bAwait).Stats().KeyN + tx.Bucket(bAnn).Stats().KeyN
					if err := prunePending(db.newTxn(tx), now); err != nil {
						return err
					}
					return errRollback
				})
				if !errors.Is(err, errRollback) {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/prune")
			b.ReportMetric(float64(waiting), "entries")
		})
	}
}

var pruneEvents = flag.Int("khist.prune-events", 40000, "BenchmarkPrunePending: events of the generated history")
