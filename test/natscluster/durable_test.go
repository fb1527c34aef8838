package natscluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/khist/khist/eventlog"
)

// A reader's durable consumer (eventlog.ReadOptions.Durable: no acknowledgements; on a
// replicated stream its state on the servers' disks) on a three-replica stream: created, read,
// then its leader and another of its servers killed at once (no quorum) and restarted; every
// server becomes healthy again, and the reader reads on from its position with the same name,
// as a projector following a fleet's log does. With the consumer's state in memory, the two
// servers came back without it and the consumer's group stayed unhealthy (TestClusteredLogFaults
// in test/fleet saw /healthz fail for two minutes).
func TestDurableSurvivesQuorumLoss(t *testing.T) {
	_, c := startTestCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	l, err := eventlog.Open(ctx, eventlog.Options{URL: c.URL(), Name: "durable-test", Stream: eventlog.StreamConfig{Replicas: 3}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p, err := l.NewPublisher(eventlog.PublisherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			e := &eventlog.Envelope{
				Type: eventlog.Added, Cluster: "c1", Version: "v1", Kind: "ConfigMap", Resource: "configmaps",
				Namespace: "ns", Name: fmt.Sprint("cm-", i), UID: fmt.Sprint("uid-", i), ResourceVersion: fmt.Sprint(100 + i),
				Observed: time.Date(2026, 12, 7, 10, 0, 0, i, time.UTC), Source: "test",
				Object: []byte(fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-%d","namespace":"ns","uid":"uid-%d","resourceVersion":"%d"}}`, i, i, 100+i)),
			}
			if err := p.Publish(ctx, e); err != nil {
				t.Fatalf("publish %d: %v", i, err)
			}
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	read := func(start uint64) (n int, first uint64) {
		err := l.Read(ctx, eventlog.ReadOptions{Durable: "views", StartSeq: start}, func(b []*eventlog.Envelope) error {
			if n == 0 {
				first = b[0].Seq
			}
			n += len(b)
			return nil
		})
		if err != nil {
			t.Fatalf("read from %d: %v", start, err)
		}
		return n, first
	}
	publish(0, 100)
	if n, first := read(1); n != 100 || first != 1 {
		t.Fatalf("first read: %d events from %d, want 100 from 1", n, first)
	}
	nc, err := nats.Connect(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	cons, err := js.Consumer(ctx, eventlog.DefaultStream, "views")
	if err != nil {
		t.Fatal(err)
	}
	info := cons.CachedInfo()
	if info.Config.MemoryStorage || info.Config.AckPolicy != jetstream.AckNonePolicy || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("durable consumer: memory %v, ack %v, cluster %+v; want state on disk, no acks, 3 replicas", info.Config.MemoryStorage, info.Config.AckPolicy, info.Cluster)
	}
	leader := c.Node(info.Cluster.Leader)
	if leader == nil {
		t.Fatalf("no node named %q", info.Cluster.Leader)
	}
	gone := []*Node{leader}
	for _, n := range c.Nodes {
		if n != leader {
			gone = append(gone, n)
			break
		}
	}
	for _, n := range gone {
		if err := n.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(3 * time.Second)
	for _, n := range gone {
		hctx, hcancel := context.WithTimeout(ctx, time.Minute)
		err := n.Start(hctx)
		hcancel()
		if err != nil {
			t.Fatalf("restart after the loss of quorum: %v", err)
		}
	}
	publish(100, 150)
	// The views (the caller) are at 100: read on from 101, whichever node now leads.
	var n int
	var first uint64
	for {
		rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
		n, first = 0, 0
		err := l.Read(rctx, eventlog.ReadOptions{Durable: "views", StartSeq: 101}, func(b []*eventlog.Envelope) error {
			if n == 0 {
				first = b[0].Seq
			}
			n += len(b)
			return nil
		})
		rcancel()
		if err == nil {
			break
		}
		if !eventlog.Unavailable(err) || ctx.Err() != nil {
			t.Fatalf("read after the leader's kill: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n != 50 || first != 101 {
		t.Fatalf("read after the leader's kill: %d events from %d, want 50 from 101", n, first)
	}
}
