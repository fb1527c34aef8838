package projector

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	bolt "go.etcd.io/bbolt"
)

var (
	benchEvents   = flag.Int("khist.events", 50000, "events in the end-to-end and disk benchmarks")
	rebuildEvents = flag.Int("khist.rebuild-events", 200000, "events in the rebuild benchmark (the target is for 1000000)")
)

var (
	benchOnce sync.Once
	benchLog  []*eventlog.Envelope
)

// benchHistory is a realistic log: a busy cluster, mostly pod status churn.
func benchHistory(n int) []*eventlog.Envelope {
	benchOnce.Do(func() {
		benchLog = genHistory(genConfig{Seed: 42, Events: max(n, *benchEvents), Namespaces: 10, Deployments: 10, Replicas: 5})
	})
	if n > len(benchLog) {
		benchLog = genHistory(genConfig{Seed: 42, Events: n, Namespaces: 10, Deployments: 10, Replicas: 5})
	}
	return benchLog[:n]
}

func rawBytes(envs []*eventlog.Envelope) int64 {
	var n int64
	for _, e := range envs {
		n += int64(len(e.Object))
	}
	return n
}

// publishConcurrently publishes envs from a goroutine; the returned channel yields its error.
func publishConcurrently(b *testing.B, l *eventlog.Log, envs []*eventlog.Envelope) <-chan error {
	done := make(chan error, 1)
	go func() {
		p, err := l.NewPublisher(eventlog.PublisherOptions{MaxInFlight: 4096})
		if err != nil {
			done <- err
			return
		}
		ctx := context.Background()
		for _, e := range envs {
			if err := p.Publish(ctx, e); err != nil {
				done <- err
				return
			}
		}
		done <- p.Close(ctx)
	}()
	return done
}

// BenchmarkPipeline measures events entering the log through to committed views (publish and
// fold run concurrently; an op is the whole log), beside its baseline: the same bytes
// published, fetched and written to bbolt in batches with no JSON work.
func BenchmarkPipeline(b *testing.B) {
	envs := benchHistory(*benchEvents)
	for _, mode := range []string{"baseline", "projector", "baseline", "projector"} {
		b.Run(mode, func(b *testing.B) {
			var elapsed, cpu time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				l := mustOpenLog(b, "")
				path := filepath.Join(b.TempDir(), "views.db")
				b.StartTimer()
				start, c0 := time.Now(), processCPU()
				pub := publishConcurrently(b, l, envs)
				var err error
				if mode == "baseline" {
					err = rawFold(l, path, uint64(len(envs)))
				} else {
					err = followUntil(l, path, uint64(len(envs)))
				}
				if err != nil {
					b.Fatal(err)
				}
				if err := <-pub; err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
				cpu += processCPU() - c0
				b.StopTimer()
				l.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(len(envs)*b.N)/elapsed.Seconds(), "events/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(len(envs)*b.N), "cpu-us/event")
		})
	}
}

// followUntil runs the projector on the log until the views hold seq last.
func followUntil(l *eventlog.Log, path string, last uint64) error {
	db, err := Open(path, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, l, db) }()
	for {
		s, err := db.Seq()
		if err != nil {
			return err
		}
		if s >= last {
			cancel()
			return <-done
		}
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// rawFold is the decode-free baseline: fetch the log in batches and write each message's
// bytes to bbolt under its sequence, one transaction per batch, with the position.
func rawFold(l *eventlog.Log, path string, last uint64) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType, InitialMmapSize: 256 << 20})
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen uint64
	err = l.Read(ctx, eventlog.ReadOptions{StartSeq: 1, Durable: "baseline", Batch: 500, MaxWait: 30 * time.Millisecond, Follow: true}, func(batch []*eventlog.Envelope) error {
		if err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("raw"))
			if err != nil {
				return err
			}
			bk.FillPercent = 0.9
			for _, e := range batch {
				if err := bk.Put(be8(e.Seq), e.Object); err != nil {
					return err
				}
			}
			m, err := tx.CreateBucketIfNotExists([]byte("meta"))
			if err != nil {
				return err
			}
			return m.Put([]byte("seq"), be8(batch[len(batch)-1].Seq))
		}); err != nil {
			return err
		}
		seen = batch[len(batch)-1].Seq
		if seen >= last {
			cancel()
		}
		return nil
	})
	if seen >= last {
		return nil
	}
	return err
}

// BenchmarkDisk measures the bytes on disk (stream + views) per event against the raw JSON
// of the same events, on a realistic log with pod status churn.
func BenchmarkDisk(b *testing.B) {
	envs := benchHistory(*benchEvents)
	raw := rawBytes(envs)
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		l := mustOpenLog(b, filepath.Join(dir, "log"))
		publishAll(b, l, envs)
		path := filepath.Join(dir, "views.db")
		db, err := Open(path, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := CatchUp(context.Background(), l, db); err != nil {
			b.Fatal(err)
		}
		var used int64
		db.bolt.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil })
		sizes := bucketSizes(db)
		db.Close()
		st, _ := l.State(context.Background())
		l.Close()
		stream := dirSize(filepath.Join(dir, "log", "jetstream"))
		b.ReportMetric(float64(raw)/float64(len(envs)), "raw-B/event")
		b.ReportMetric(float64(stream)/float64(len(envs)), "stream-B/event")
		b.ReportMetric(float64(st.Bytes)/float64(len(envs)), "stream-logical-B/event")
		b.ReportMetric(float64(used)/float64(len(envs)), "views-B/event")
		b.ReportMetric(100*float64(stream+used)/float64(raw), "disk-%-of-raw")
		if i == 0 {
			for _, s := range sizes {
				fmt.Printf("bucket %-9s %7d keys %10d bytes of keys+values %6d leaf pages %3.0f%% full\n", s.name, s.keys, s.kv, s.pages, 100*s.fill)
			}
		}
	}
}

type bucketSize struct {
	name            string
	keys, kv, pages int
	fill            float64
}

func bucketSizes(db *DB) []bucketSize {
	var out []bucketSize
	db.bolt.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, bk *bolt.Bucket) error {
			st := bk.Stats()
			out = append(out, bucketSize{string(name), st.KeyN, st.LeafInuse, st.LeafPageN + st.LeafOverflowN, float64(st.LeafInuse) / float64(max(1, (st.LeafPageN+st.LeafOverflowN)*4096))})
			return nil
		})
	})
	return out
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// BenchmarkRebuild rebuilds the views of a log of -khist.rebuild-events events (default
// 200000; the target, under 2 minutes, is for 1000000: see the extrapolated metric).
func BenchmarkRebuild(b *testing.B) {
	n := *rebuildEvents
	envs := genHistory(genConfig{Seed: 7, Events: n, Namespaces: 20, Deployments: 10, Replicas: 5})
	l := mustOpenLog(b, "")
	publishAll(b, l, envs)
	path := filepath.Join(b.TempDir(), "views.db")
	b.ResetTimer()
	var elapsed, cpu time.Duration
	for i := 0; i < b.N; i++ {
		c0 := processCPU()
		st, err := Rebuild(context.Background(), l, path)
		if err != nil {
			b.Fatal(err)
		}
		cpu += processCPU() - c0
		elapsed += st.Elapsed
	}
	per := elapsed.Seconds() / float64(b.N)
	b.ReportMetric(float64(n)/per, "events/s")
	b.ReportMetric(per*1e6/float64(n), "s-per-1M-events")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n*b.N), "cpu-us/event")
}

// processCPU is the CPU time (user and system) this process has used: the embedded
// nats-server's share included. Unlike wall time it does not depend on what else the machine
// runs.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
