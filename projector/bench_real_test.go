package projector

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/eventlog/importer"
)

// benchRecording is a real recording kept in the repository, so that a fresh clone runs the
// benchmarks on it: 20 Deployments of 100 replicas rolled three times at once on the project's
// control plane (test/fidelity's busy suite), 56,409 events in 133 MB of watch JSON.
const benchRecording = "../test/fidelity/testdata/busy/busy-20x100-r1.json.gz"

// loadWatchRecording reads a gzipped watch recording as khist import does, and returns its envelopes and
// the bytes of watch JSON they came from.
func loadWatchRecording(b *testing.B, path string) ([]*eventlog.Envelope, int64) {
	f, err := os.Open(path)
	if err != nil {
		b.Skipf("no recording: %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		b.Fatal(err)
	}
	res, err := importer.ReadWatch("default", importer.Input{Name: filepath.Base(path), R: bytes.NewReader(raw), Size: int64(len(raw))})
	if err != nil {
		b.Fatal(err)
	}
	for i, e := range res.Envelopes {
		e.Seq = uint64(i + 1) // as the log would number them
	}
	return res.Envelopes, int64(len(raw))
}

// BenchmarkRecordingVsGenerator runs the disk and fold benchmarks on the real recording and on
// the generator's history of as many events, side by side (issue 13, item 2): the generator
// stands in for real histories only where both give the same figures.
func BenchmarkRecordingVsGenerator(b *testing.B) {
	real, realWatch := loadWatchRecording(b, benchRecording)
	gen := benchHistory(len(real))
	var genWatch int64
	for _, n := range benchRaw[:len(gen)] {
		genWatch += int64(n)
	}
	for _, h := range []struct {
		name  string
		envs  []*eventlog.Envelope
		watch int64
	}{{"recording", real, realWatch}, {"generator", gen, genWatch}} {
		b.Run(h.name+"/disk", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				measureDisk(b, h.envs, h.watch, false)
			}
		})
		b.Run(h.name+"/fold", func(b *testing.B) { measureFold(b, h.envs) })
	}
}

// BenchmarkFollowLive measures the fold as khist collect runs it: following a log that grows at
// a live cluster's pace (-khist.live-rate events/s of the real recording, published as they
// come), under collect's default memory limit. It compares committing each fetch (linger 0,
// transactions of a few events) with gathering -khist.live-linger of events per transaction
// (WithLinger), in alternating order. The metrics are the process's CPU per event (publishing
// and the embedded server included, the same in both modes), and events per transaction.
func BenchmarkFollowLive(b *testing.B) {
	if testing.Short() {
		b.Skip("publishes at a live pace: not with -short")
	}
	real, _ := loadWatchRecording(b, benchRecording)
	// Keep only the events published, each body copied out of the recording's buffers: the
	// whole recording held in memory would be most of the heap under the limit.
	envs := make([]*eventlog.Envelope, min(len(real), *liveEvents))
	for i := range envs {
		e := *real[i]
		e.Object = bytes.Clone(e.Object)
		envs[i] = &e
	}
	real = nil
	runtime.GC()
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(192 << 20)) // collect's --memory-limit default
	run := func(linger time.Duration) (cpu time.Duration, txs int) {
		l := mustOpenLog(b, "")
		db, err := Open(filepath.Join(b.TempDir(), "views.db"), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		p, err := l.NewPublisher(eventlog.PublisherOptions{})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		last := uint64(len(envs))
		done := make(chan error, 1)
		c0 := processCPU()
		go func() {
			done <- Run(ctx, l, db, WithLinger(linger), WithProgress(func(pr Progress) {
				txs++
				if pr.Seq >= last {
					cancel()
				}
			}))
		}()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		per := max(1, *liveRate/100)
		for i := 0; i < len(envs); i += per {
			<-tick.C
			for _, e := range envs[i:min(i+per, len(envs))] {
				if err := p.Publish(ctx, e); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := p.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		cpu = processCPU() - c0
		if s, err := db.Seq(); err != nil || s != last {
			b.Fatalf("views at %d (%v), want %d", s, err, last)
		}
		return cpu, txs
	}
	var cpu [2]time.Duration
	var txs [2]int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := 0; k < 2; k++ {
			mode := (i + k) % 2 // 0: linger 0, 1: -khist.live-linger
			linger := time.Duration(0)
			if mode == 1 {
				linger = *liveLinger
			}
			c, t := run(linger)
			cpu[mode] += c
			txs[mode] += t
		}
	}
	events := float64(len(envs) * b.N)
	b.ReportMetric(float64(cpu[0].Microseconds())/events, "cpu-us/event-linger=0")
	b.ReportMetric(float64(cpu[1].Microseconds())/events, "cpu-us/event-linger")
	b.ReportMetric(float64(cpu[1])/float64(cpu[0]), "cpu-ratio")
	b.ReportMetric(events/float64(txs[0]), "events/tx-linger=0")
	b.ReportMetric(events/float64(txs[1]), "events/tx-linger")
}

var (
	liveEvents = flag.Int("khist.live-events", 4000, "BenchmarkFollowLive: events of the real recording to publish")
	liveRate   = flag.Int("khist.live-rate", 200, "BenchmarkFollowLive: events per second")
	liveLinger = flag.Duration("khist.live-linger", 250*time.Millisecond, "BenchmarkFollowLive: the linger compared with none")
)
