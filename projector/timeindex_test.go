package projector

import (
	"cmp"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	bolt "go.etcd.io/bbolt"
)

// TestTimeIndexRuns: timelines read from the packed runs of the time index equal the brute
// force over the log when observed times go back and forth (imports of older recordings, jumps
// longer and shorter than a run's span) and transactions cut the runs anywhere.
func TestTimeIndexRuns(t *testing.T) {
	envs := genHistory(genConfig{Seed: 5, Events: 5000, DupRate: 0.03, Namespaces: 2, Deployments: 2, Replicas: 3})
	rng := rand.New(rand.NewPCG(5, 5))
	at := envs[0].Observed
	for _, e := range envs {
		switch r := rng.IntN(100); {
		case r < 1:
			at = at.Add(-time.Duration(rng.IntN(300)) * time.Second) // back, up to 5 minutes
		case r < 2:
			at = at.Add(time.Duration(rng.IntN(300)) * time.Second)
		case r < 10:
			// the same instant as the previous event
		default:
			at = at.Add(time.Duration(rng.IntN(900)) * time.Millisecond)
		}
		e.Observed = at
	}
	for _, batch := range []int{1, 7, 500} {
		db := mustOpenDBAt(t, filepath.Join(t.TempDir(), "v.db"), nil)
		foldAll(t, db, envs, batch)
		var runs, entries int
		db.view(func(tx *bolt.Tx) error {
			c := tx.Bucket(bTimeNS).Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				runs++
				timeRunEntries(k, v, func(timeEntry) bool { entries++; return true })
			}
			return nil
		})
		if want := len(applied(envs)); entries != want {
			t.Fatalf("batch %d: %d entries in the time index, want %d", batch, entries, want)
		}
		if batch > 1 && runs > entries/20 {
			t.Errorf("batch %d: %d runs for %d entries: runs do not pack", batch, runs, entries)
		}
		lo, hi := envs[0].Observed, envs[0].Observed
		for _, e := range envs {
			lo, hi = minTime(lo, e.Observed), maxTime(hi, e.Observed)
		}
		for i := 0; i < 40; i++ {
			from := lo.Add(time.Duration(rng.Int64N(int64(hi.Sub(lo)))))
			to := from.Add(time.Duration(rng.Int64N(int64(10 * time.Minute))))
			if i%10 == 0 {
				to = time.Time{}
			}
			ns := []string{"team-0", "team-1"}[i%2 : i%2+1]
			limit := []int{0, 5}[i%2]
			got, err := db.Timeline(ctx, TimelineFilter{Cluster: "gen", Namespaces: ns, From: from, To: to, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			var want []*eventlog.Envelope
			for _, e := range applied(envs) {
				if e.Namespace == ns[0] && !e.Observed.Before(from) && (to.IsZero() || e.Observed.Before(to)) {
					want = append(want, e)
				}
			}
			slices.SortStableFunc(want, func(a, b *eventlog.Envelope) int {
				if c := a.Observed.Compare(b.Observed); c != 0 {
					return c
				}
				return cmp.Compare(a.Seq, b.Seq)
			})
			if limit > 0 && len(want) > limit {
				want = want[:limit]
			}
			if len(got) != len(want) {
				t.Fatalf("batch %d, %s [%s, %s) limit %d: %d versions, want %d", batch, ns[0], from, to, limit, len(got), len(want))
			}
			for j := range got {
				if got[j].Seq != want[j].Seq {
					t.Fatalf("batch %d, window %d: timeline[%d] = %d, want %d", batch, i, j, got[j].Seq, want[j].Seq)
				}
			}
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
