package projector

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/eventlog/importer"
	"github.com/nats-io/nats.go"
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
// come), under collect's default memory limit. It compares a baseline, by default committing
// each fetch (-khist.live-base=0, transactions of a few events), with gathering
// -khist.live-linger of events per transaction (WithLinger), in alternating order. The
// metrics are the process's CPU per event (publishing and the embedded server included, the
// same in both modes), and events per transaction.
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
			mode := (i + k) % 2 // 0: -khist.live-base, 1: -khist.live-linger
			linger := *liveBase
			if mode == 1 {
				linger = *liveLinger
			}
			c, t := run(linger)
			cpu[mode] += c
			txs[mode] += t
		}
	}
	events := float64(len(envs) * b.N)
	b.ReportMetric(float64(cpu[0].Microseconds())/events, "cpu-us/event-base")
	b.ReportMetric(float64(cpu[1].Microseconds())/events, "cpu-us/event-linger")
	b.ReportMetric(float64(cpu[1])/float64(cpu[0]), "cpu-ratio")
	b.ReportMetric(events/float64(txs[0]), "events/tx-base")
	b.ReportMetric(events/float64(txs[1]), "events/tx-linger")
}

var (
	liveEvents = flag.Int("khist.live-events", 4000, "BenchmarkFollowLive: events of the real recording to publish")
	liveRate   = flag.Int("khist.live-rate", 200, "BenchmarkFollowLive: events per second")
	liveLinger = flag.Duration("khist.live-linger", 250*time.Millisecond, "BenchmarkFollowLive: the linger compared with the baseline's")
	liveBase   = flag.Duration("khist.live-base", 0, "BenchmarkFollowLive: the baseline's linger (0: commit each fetch)")
)

// BenchmarkEnvelopeEncoding publishes the real recording into a new log in each of the log's
// encodings (the first one, a Khist-* header per field, and the compact one, see
// eventlog.HdrEnvelope) and reports the stream's bytes per event: logical (the messages as the
// server counts them) and compressed, in the store's sealed blocks. The block being written is
// not compressed until it is full (8 MB): on a log of this size it is most of the difference
// between two runs' directories, so it is left out of the compressed figure.
func BenchmarkEnvelopeEncoding(b *testing.B) {
	envs, _ := loadWatchRecording(b, benchRecording)
	for _, enc := range []string{"first", "compact"} {
		b.Run(enc, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				dir := b.TempDir()
				l := mustOpenLog(b, dir)
				js := l.JetStream()
				ctx := context.Background()
				for j, e := range envs {
					if j%1000 == 999 {
						<-js.PublishAsyncComplete()
					}
					m := e.Msg()
					if enc == "first" {
						m = firstEncodingMsg(e)
					}
					if _, err := js.PublishMsgAsync(m); err != nil {
						b.Fatal(err)
					}
				}
				select {
				case <-js.PublishAsyncComplete():
				case <-time.After(time.Minute):
					b.Fatal("publish did not complete")
				}
				st, err := l.State(ctx)
				if err != nil || st.Msgs != uint64(len(envs)) {
					b.Fatalf("stream holds %d messages (%v), want %d", st.Msgs, err, len(envs))
				}
				l.Close()
				sealed, last := blockSizes(b, dir)
				n := float64(len(envs))
				logical := float64(st.Bytes) / n
				b.ReportMetric(logical, "logical-B/event")
				b.ReportMetric(logical*float64(sealed)/float64(int64(st.Bytes)-last), "sealed-B/event")
			}
		})
	}
}

// blockSizes returns the bytes of the stream's sealed (compressed) message blocks and of the
// last one, which is still being written.
func blockSizes(b *testing.B, dir string) (sealed, last int64) {
	blks, err := filepath.Glob(filepath.Join(dir, "jetstream", "jetstream", "*", "streams", "*", "msgs", "*.blk"))
	if err != nil || len(blks) == 0 {
		b.Fatalf("no message blocks under %s (%v)", dir, err)
	}
	var lastN int
	for _, p := range blks {
		var n int
		fmt.Sscanf(filepath.Base(p), "%d.blk", &n)
		fi, err := os.Stat(p)
		if err != nil {
			b.Fatal(err)
		}
		sealed += fi.Size()
		if n > lastN {
			lastN, last = n, fi.Size()
		}
	}
	return sealed - last, last
}

// firstEncodingMsg is e as the log's first encoding wrote it, one Khist-* header per field.
func firstEncodingMsg(e *eventlog.Envelope) *nats.Msg {
	m := nats.NewMsg(eventlog.Subject(e.Cluster, e.Group, e.Kind, e.Namespace, e.Name))
	for k, v := range map[string]string{
		eventlog.HdrType: string(e.Type), eventlog.HdrCluster: e.Cluster, eventlog.HdrGroup: e.Group,
		eventlog.HdrVersion: e.Version, eventlog.HdrKind: e.Kind, eventlog.HdrNamespace: e.Namespace,
		eventlog.HdrName: e.Name, eventlog.HdrUID: e.UID, eventlog.HdrResourceVersion: e.ResourceVersion,
		eventlog.HdrObserved: e.Observed.UTC().Format(time.RFC3339Nano), nats.MsgIdHdr: e.MsgID(),
	} {
		m.Header[k] = []string{v}
	}
	for k, v := range map[string]string{eventlog.HdrResource: e.Resource, eventlog.HdrSource: e.Source, eventlog.HdrActor: e.Actor} {
		if v != "" {
			m.Header[k] = []string{v}
		}
	}
	m.Data = e.Object
	return m
}

// BenchmarkFoldLiveTx folds the whole real recording as a live collect does, without the log:
// in transactions of -khist.live-tx events (what WithLinger gathers at 100 events/s), with
// the caches of collect's budget (under its 192 MiB memory limit; the limit itself is not set,
// as the recording held in memory would be most of the heap under it). It reports the
// process's CPU per event and the bytes allocated per event.
func BenchmarkFoldLiveTx(b *testing.B) {
	envs, _ := loadWatchRecording(b, benchRecording)
	runtime.GC()
	var cpu time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db, err := Open(filepath.Join(b.TempDir(), "views.db"), &Options{CacheBytes: cacheBudget(192 << 20)})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		c0 := processCPU()
		foldAll(b, db, envs, *liveTx)
		cpu += processCPU() - c0
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(envs)*b.N), "cpu-us/event")
}

var liveTx = flag.Int("khist.live-tx", 48, "BenchmarkFoldLiveTx: events per transaction")
