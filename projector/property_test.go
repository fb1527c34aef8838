package projector

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/khist/khist/eventlog"
)

// Properties of the fold over generated histories (and the recordings):
//
//  1. Apply is deterministic and the views hold all the fold's state: folding the whole log
//     equals folding a prefix, taking a Snapshot, Restoring it into a new file and folding the
//     rest there (raft's FSM contract), whatever the batch sizes.
//  2. Exactly once per version: folding a log in which every event is duplicated (the same
//     version again, or re-sent as RESYNC) equals folding it once.
func TestPropertyFold(t *testing.T) {
	histories := map[string][]*eventlog.Envelope{
		"rolling":     loadRecording(t, "testdata/sample-rolling", "r"),
		"statefulset": loadRecording(t, "testdata/sample-statefulset", "s"),
	}
	n := 5
	if testing.Short() {
		n = 3
	}
	for seed := 1; seed <= n; seed++ {
		r := rand.New(rand.NewPCG(uint64(seed), 99))
		histories[fmt.Sprintf("gen-%d", seed)] = genHistory(genConfig{
			Seed: uint64(seed), Events: 1000 + r.IntN(2000), Namespaces: 1 + r.IntN(3), Deployments: 1 + r.IntN(3), Replicas: 1 + r.IntN(4),
			RolloutRate: 0.005 + r.Float64()*0.03, DupRate: r.Float64() * 0.1, LateRate: r.Float64() * 0.05,
		})
	}
	opts := &Options{SnapshotEvery: 150, FullEvery: 5}
	for name, envs := range histories {
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(len(envs)), 7))
			dir := t.TempDir()
			whole := mustOpenDBAt(t, filepath.Join(dir, "whole.db"), opts)
			foldAll(t, whole, envs, 1+r.IntN(200))
			want := mustDump(t, whole)

			// 1. Snapshot of a prefix, restored, then the rest.
			for _, cut := range []int{1, r.IntN(len(envs)), len(envs) - 1} {
				pre := mustOpenDBAt(t, filepath.Join(dir, fmt.Sprintf("pre%d.db", cut)), opts)
				foldAll(t, pre, envs[:cut], 1+r.IntN(100))
				var snap bytes.Buffer
				if err := pre.Snapshot(&snap); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(dir, fmt.Sprintf("restored%d.db", cut))
				if err := Restore(path, &snap); err != nil {
					t.Fatal(err)
				}
				rest := mustOpenDBAt(t, path, nil)
				foldAll(t, rest, envs[cut:], 1+r.IntN(300))
				if got := mustDump(t, rest); got != want {
					t.Fatalf("prefix of %d + snapshot + rest differs from the whole fold:\n%s", cut, firstDiff(want, got))
				}
				// Re-delivering what was folded already changes nothing either.
				foldAll(t, rest, envs[len(envs)/2:], 64)
				if got := mustDump(t, rest); got != want {
					t.Fatalf("redelivery changed the views:\n%s", firstDiff(want, got))
				}
			}

			// 2. Every event duplicated, as is or as a RESYNC, adjacent or a log apart.
			var dup []*eventlog.Envelope
			add := func(e *eventlog.Envelope, typ eventlog.EventType) {
				c := *e
				c.Seq = uint64(len(dup) + 1)
				if typ != "" && !c.Type.IsDelete() {
					c.Type = typ
				}
				dup = append(dup, &c)
			}
			for _, e := range envs {
				add(e, "")
				if r.IntN(2) == 0 {
					add(e, eventlog.Resync)
				} else {
					add(e, "")
				}
			}
			for _, e := range envs[:len(envs)/3] {
				add(e, eventlog.Resync)
			}
			twice := mustOpenDBAt(t, filepath.Join(dir, "dup.db"), opts)
			foldAll(t, twice, dup, 1+r.IntN(200))
			if got := mustDump(t, twice); got != want {
				t.Fatalf("folding duplicates differs from folding once:\n%s", firstDiff(want, got))
			}
		})
	}
}
