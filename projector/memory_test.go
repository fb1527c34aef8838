package projector

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync/atomic"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
)

// TestFollowMemoryIsFlat follows a log fed as a live collector feeds it (a few events at a
// time, each batch folded in its own small transaction) with the embedded NATS server in the
// same process, and checks that the heap in use after 4N events is about what it is after N:
// the memory of khist collect's pipeline is bounded by caches, not by the events it has
// recorded. The allowance, 4 KB per event, is far below the 125 KB per event that cached head
// blocks kept before they owned their slots (each kept the transaction arenas it took a slot
// from); what remains is noise, caches filling up and JetStream's duplicate window (one message
// id per event published in the last 10 minutes, about 400 B each). KHIST_HEAP_PROFILE=PATH
// writes heap profiles PATH.N after N events.
func TestFollowMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("folds 20000 events in small transactions: not with -short")
	}
	const n = 5000
	const batch = 8
	// Each point is measured one batch after its n events: the fold looks at the file's waste
	// after every compactEvery (20000) events and may compact it then, and a heap measured
	// while that copy runs counts its buffers (up to 50 MB more at 20000 events in some runs).
	envs := genHistory(genConfig{Seed: 3, Events: 4*n + batch, Namespaces: 10, Deployments: 10, Replicas: 10})
	dir := t.TempDir()
	l := mustOpenLog(t, dir)
	db, err := Open(filepath.Join(dir, "views.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, l, db, WithMaxWait(5*time.Millisecond)) }()
	p, err := l.NewPublisher(eventlogPublisherOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	// heap is the least heap in use over a second: what stays, not what a live compaction of
	// the views, running while it is read, holds for its moment (bbolt's nodes of the copy:
	// 18 MB in a heap profile at 20,000 events, which made the growth read 4.5 KB per event).
	heap := func() uint64 {
		least := uint64(math.MaxUint64)
		for i := range 5 {
			if i > 0 {
				time.Sleep(250 * time.Millisecond)
			}
			runtime.GC()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			least = min(least, ms.HeapInuse)
		}
		return least
	}
	var at [5]uint64
	for i := 0; i < len(envs); i += batch {
		for _, e := range envs[i:min(i+batch, len(envs))] {
			if err := p.Publish(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		want := uint64(min(i+batch, len(envs)))
		for {
			if seq, _ := db.Seq(); seq >= want {
				break
			}
			select {
			case err := <-done:
				t.Fatalf("Run stopped: %v", err)
			case <-time.After(time.Millisecond):
			}
		}
		if k := int(want) - batch; k > 0 && k%n == 0 {
			at[k/n] = heap()
			t.Logf("after %5d events: heap in use %4d MB", k, at[k/n]>>20)
			if path := os.Getenv("KHIST_HEAP_PROFILE"); path != "" {
				if f, err := os.Create(fmt.Sprintf("%s.%d", path, k)); err == nil {
					pprof.WriteHeapProfile(f)
					f.Close()
				}
			}
		}
	}
	growth := float64(int64(at[4])-int64(at[1])) / float64(3*n)
	t.Logf("heap growth from %d to %d events: %.0f bytes per event", n, 4*n, growth)
	if growth > 4096 {
		t.Fatalf("the heap grows by %.0f bytes per event folded (from %d MB after %d events to %d MB after %d): something keeps what it folded", growth, at[1]>>20, n, at[4]>>20, 4*n)
	}
}

var eventlogPublisherOptions = eventlog.PublisherOptions{}

// TestLingerGathersLiveEvents: with WithLinger, a log growing a few events at a time is folded
// in transactions that gather what arrives within the linger, and every event is folded.
func TestLingerGathersLiveEvents(t *testing.T) {
	if _, err := buildOptions("", []Option{WithLinger(-time.Second)}); err == nil {
		t.Fatal("a negative linger was accepted")
	}
	envs := genHistory(genConfig{Seed: 5, Events: 40, Namespaces: 1, Deployments: 1, Replicas: 3})
	dir := t.TempDir()
	l := mustOpenLog(t, dir)
	db, err := Open(filepath.Join(dir, "views.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var txs atomic.Int64
	last := uint64(len(envs))
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, l, db, WithLinger(2*time.Second), WithProgress(func(p Progress) {
			txs.Add(1)
			if p.Seq >= last {
				cancel()
			}
		}))
	}()
	p, err := l.NewPublisher(eventlogPublisherOptions)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	for i := 0; i < len(envs); i += 4 { // 4 events every 50 ms: 500 ms in all
		for _, e := range envs[i:min(i+4, len(envs))] {
			if err := p.Publish(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	published := time.Since(began)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s, err := db.Seq(); err != nil || s != last {
		t.Fatalf("views at %d (%v), want %d", s, err, last)
	}
	// Without the linger, each 30 ms fetch commits: 10 or more transactions. Publishing took
	// about 500 ms of the 2 s linger, so one transaction holds them all, unless publishing was
	// slowed past the linger by the machine.
	if n := txs.Load(); n > 2 && published < 1500*time.Millisecond {
		t.Fatalf("%d transactions for %d events published over %s with a 2 s linger, want 1", n, len(envs), published.Round(time.Millisecond))
	}
	t.Logf("%d transaction(s) for %d events published over %s", txs.Load(), len(envs), published.Round(time.Millisecond))
}
