package natscluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Three real nats-server processes form one JetStream: a three-replica stream keeps every
// acknowledged message when its leader is killed, a new leader is elected, and the killed node
// comes back current.
func TestClusterSurvivesLeaderKill(t *testing.T) {
	ctx, c := startTestCluster(t)
	nc, err := nats.Connect(c.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			for {
				// Each attempt has its own deadline: while no leader is elected a publish may
				// get no answer at all.
				pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := js.Publish(pctx, "t.x", []byte(fmt.Sprint(i)), jetstream.WithMsgID(fmt.Sprint(i)))
				pcancel()
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("publish %d: %v", i, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	publish(0, 100)
	leader, err := c.StreamLeader(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.Kill(); err != nil {
		t.Fatal(err)
	}
	publish(100, 200)
	next, err := c.StreamLeader(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	if next == leader {
		t.Errorf("%s still leads after it was killed", leader.Name)
	}
	if err := leader.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitStreamCurrent(ctx, "T"); err != nil {
		t.Fatalf("%v\n%s", err, c.Logs(20))
	}
	st, _ := js.Stream(ctx, "T")
	si, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if si.State.Msgs != 200 {
		t.Errorf("stream holds %d messages, want 200", si.State.Msgs)
	}
	t.Logf("leader %s killed, %s elected, %s back and current", leader.Name, next.Name, leader.Name)
}

// startTestCluster starts three nats-server processes for a test (skipped with -short) and
// returns them with a context of two minutes; they are stopped when the test ends, and their
// logs' last lines printed if it failed.
func startTestCluster(t *testing.T) (context.Context, *Cluster) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts three nats-server processes")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	c, err := Start(ctx, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("nodes' logs:\n%s", c.Logs(40))
		}
		c.Stop()
	})
	return ctx, c
}
