package natscluster

import (
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/eventlog/importer"
	"github.com/khist/khist/internal/diskuse"
)

var (
	fleetClusters = flag.Int("khist.fleet-clusters", 10, "BenchmarkFleetLog: clusters publishing, each with its own connection as a collector has")
	fleetRate     = flag.Int("khist.fleet-rate", 5000, "BenchmarkFleetLog: events per second, all clusters together")
	fleetDuration = flag.Duration("khist.fleet-duration", 10*time.Minute, "BenchmarkFleetLog: how long they publish")
)

// BenchmarkFleetLog measures a long-running history of a fleet (issue 19, item 5): clusters
// publishing -khist.fleet-rate events per second in total, for -khist.fleet-duration, to a
// three-node JetStream with a three-replica stream, through khist's publisher (the
// collector's), while one reader follows the log as a remote projector does. The bodies are
// the busy recording's objects, each cluster publishing them under its own name. It reports
// the publish latency (send to acknowledgement) p50/p99, the reader's lag (publish to read)
// p50/p99, the bytes on disk per node per event, and fails if an event is missing or twice.
func BenchmarkFleetLog(b *testing.B) {
	if testing.Short() {
		b.Skip("three nats-server processes under load")
	}
	bodies := recordingBodies(b)
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2**fleetDuration+5*time.Minute)
		c, err := Start(ctx, Options{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		open := func() *eventlog.Log {
			l, err := eventlog.Open(ctx, eventlog.Options{URL: c.URL(), Stream: eventlog.StreamConfig{Replicas: 3}})
			if err != nil {
				b.Fatal(err)
			}
			return l
		}
		reader := open()
		var (
			mu      sync.Mutex
			pubLat  []time.Duration
			readLat []time.Duration
			sent    atomic.Int64
			resent  atomic.Int64
		)
		seen := map[uint64]uint8{} // cluster number << 40 | resourceVersion -> times read
		rctx, rcancel := context.WithCancel(ctx)
		readDone := make(chan error, 1)
		go func() {
			readDone <- reader.Read(rctx, eventlog.ReadOptions{Follow: true, Batch: 1000}, func(envs []*eventlog.Envelope) error {
				now := time.Now()
				mu.Lock()
				defer mu.Unlock()
				for _, e := range envs {
					readLat = append(readLat, now.Sub(e.Observed))
					var k, rv uint64
					fmt.Sscanf(e.Cluster, "c%d", &k)
					fmt.Sscanf(e.ResourceVersion, "%d", &rv)
					seen[k<<40|rv]++
				}
				return nil
			})
		}()
		perCluster := max(1, *fleetRate / *fleetClusters)
		began := time.Now()
		var wg sync.WaitGroup
		for k := 0; k < *fleetClusters; k++ {
			l := open()
			sentAt := make(chan time.Time, 1<<16)
			p, err := l.NewPublisher(eventlog.PublisherOptions{OnAck: func(e *eventlog.Envelope, _ uint64, dup bool, err error) {
				t0 := <-sentAt
				if err != nil {
					b.Errorf("cluster %s: %s: %v", e.Cluster, e, err)
					return
				}
				if dup {
					// Acknowledged as a duplicate: a re-send, after an acknowledgement that
					// timed out, of an event the stream had stored. Whether anything is
					// missing or stored twice is the reader's count below.
					resent.Add(1)
				}
				mu.Lock()
				pubLat = append(pubLat, time.Since(t0))
				mu.Unlock()
			}})
			if err != nil {
				b.Fatal(err)
			}
			wg.Go(func() {
				defer l.Close()
				tick := time.NewTicker(10 * time.Millisecond)
				defer tick.Stop()
				n := 0
				for time.Since(began) < *fleetDuration {
					<-tick.C
					// perCluster events a second, in 100 ticks.
					due := int(time.Since(began).Seconds()*float64(perCluster)) - n
					for j := 0; j < due; j++ {
						src := bodies[n%len(bodies)]
						e := *src
						e.Cluster = fmt.Sprintf("c%02d", k)
						e.ResourceVersion = fmt.Sprint(n + 1) // each a new version
						e.Observed = time.Now()
						sentAt <- e.Observed
						if err := p.Publish(ctx, &e); err != nil {
							b.Errorf("publish: %v", err)
							return
						}
						n++
						sent.Add(1)
					}
				}
				if err := p.Close(ctx); err != nil {
					b.Errorf("close publisher: %v", err)
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(began) // until the last acknowledgement
		// The reader catches up.
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
			mu.Lock()
			n := len(seen)
			mu.Unlock()
			if int64(n) >= sent.Load() || time.Now().After(deadline) {
				break
			}
		}
		rcancel()
		<-readDone
		reader.Close()
		mu.Lock()
		twice := 0
		for _, n := range seen {
			if n > 1 {
				twice++
			}
		}
		if int64(len(seen)) != sent.Load() || twice > 0 {
			b.Errorf("sent %d events, the reader read %d distinct, %d twice", sent.Load(), len(seen), twice)
		}
		events := float64(sent.Load())
		b.ReportMetric(events/elapsed.Seconds(), "events/s")
		b.ReportMetric(float64(resent.Load()), "resent")
		b.ReportMetric(ms(pct(pubLat, 0.50)), "publish-p50-ms")
		b.ReportMetric(ms(pct(pubLat, 0.99)), "publish-p99-ms")
		b.ReportMetric(ms(pct(readLat, 0.50)), "reader-lag-p50-ms")
		b.ReportMetric(ms(pct(readLat, 0.99)), "reader-lag-p99-ms")
		mu.Unlock()
		for _, n := range c.Nodes {
			b.ReportMetric(float64(diskuse.DirBytes(filepath.Join(n.Dir, "jetstream")))/events, "disk-B/event-"+n.Name)
		}
		c.Stop()
		cancel()
	}
}

func pct(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// recordingBodies reads the busy recording kept in the repository (20 Deployments x 100
// replicas rolled on the project's control plane), as khist import does.
func recordingBodies(b *testing.B) []*eventlog.Envelope {
	f, err := os.Open("../fidelity/testdata/busy/busy-20x100-r1.json.gz")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	res, err := importer.ReadWatch("c", importer.Input{Name: f.Name(), R: zr})
	if err != nil {
		b.Fatal(err)
	}
	return res.Envelopes
}
