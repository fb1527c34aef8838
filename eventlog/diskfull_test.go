package eventlog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/test/faults"
	"github.com/nats-io/nats-server/v2/server"
)

// bigEnvelope is event i with about 6 KB of incompressible data.
func bigEnvelope(i int) *Envelope {
	b := make([]byte, 3000)
	rand.Read(b)
	return testEnvelope(i, fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-%d","namespace":"shop","resourceVersion":"%d"},"x":"%s"}`, i, 100+i, hex.EncodeToString(b)))
}

// publishUntilFull publishes events from first on until the publisher fails, and returns the
// error and the events acknowledged.
func publishUntilFull(t *testing.T, l *Log, first, max int) (error, map[string]bool) {
	t.Helper()
	acked := map[string]bool{}
	p, err := l.NewPublisher(PublisherOptions{MaxInFlight: 16, Retries: 2, AckTimeout: 2 * time.Second,
		OnAck: func(e *Envelope, _ uint64, _ bool, err error) {
			if err == nil {
				acked[e.Name] = true
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := first; i < first+max; i++ {
		if err := p.Publish(ctx, bigEnvelope(i)); err != nil {
			break
		}
	}
	return p.Close(ctx), acked
}

// TestFullDiskIsSaid reproduces issue 14, item 9: on a full disk JetStream answered
// "insufficient resources", "context deadline exceeded" or "error creating store for
// consumer", never that the disk is full. Both ways a disk fills are tried: the store reaches
// the limit the embedded server set itself when it started (75% of the space free then), and
// another file takes the last free byte while the server runs. Each must fail with
// ErrDiskFull naming the store and what to do, reads must still work, and every event
// acknowledged before must be there after the space is freed (nothing lost).
func TestFullDiskIsSaid(t *testing.T) {
	for _, c := range []struct {
		name string
		fill bool // fill the disk with another file while the server runs
	}{
		{"store reaches the server's limit", false},
		{"another file fills the disk", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			disk := faults.SmallDisk(t, 4<<20)
			dir := filepath.Join(disk, "data")
			l := mustOpenLog(t, dir)
			// Some events fit.
			err, acked := publishUntilFull(t, l, 0, 40)
			if err != nil || len(acked) != 40 {
				t.Fatalf("the first 40 events: %v (%d stored)", err, len(acked))
			}
			var filler string
			if c.fill {
				filler = faults.Fill(t, disk)
			}
			start := time.Now()
			err, more := publishUntilFull(t, l, 40, 2000)
			took := time.Since(start)
			for k := range more {
				acked[k] = true
			}
			if !errors.Is(err, ErrDiskFull) || !errors.Is(err, ErrPublish) {
				t.Fatalf("publish on a full disk: %v, want ErrDiskFull", err)
			}
			msg := err.Error()
			for _, w := range []string{"disk full", "not stored (it needs ", filepath.Join(dir, "jetstream"), " free", "free space there, or move --data-dir to a larger disk", "nothing stored is lost"} {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q: %s", w, msg)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %s", msg)
			}
			if took > 15*time.Second {
				t.Errorf("failing took %s", took)
			}
			t.Logf("%d events stored, then (after %s): %s", len(acked), took.Round(time.Millisecond), msg)
			// Reads work on the full disk (if the server is still serving).
			if !l.outOfSpace() {
				if got := readAll(t, l, ReadOptions{}); len(got) != len(acked) {
					t.Errorf("read on the full disk: %d events, want %d", len(got), len(acked))
				}
			}
			l.Close()
			if filler != "" {
				os.Remove(filler)
			}
			// Nothing acknowledged is lost.
			l2 := mustOpenLog(t, dir)
			got := readAll(t, l2, ReadOptions{})
			names := map[string]bool{}
			for _, e := range got {
				names[e.Name] = true
			}
			for k := range acked {
				if !names[k] {
					t.Errorf("acknowledged event %s lost", k)
				}
			}
			if len(got) < len(acked) {
				t.Errorf("after the space was freed: %d events, %d were acknowledged", len(got), len(acked))
			}
		})
	}
}

// TestFullExternalStoreIsSaid: an external server whose JetStream storage is full is named as
// such, with what to change in its configuration.
func TestFullExternalStoreIsSaid(t *testing.T) {
	srv := startServer(t, &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, JetStreamMaxStore: 512 << 10, StoreDir: t.TempDir(), MaxPayload: 8 << 20, NoSigs: true, NoLog: true})
	l, err := Open(context.Background(), Options{URL: srv.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err, acked := publishUntilFull(t, l, 0, 1000)
	if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "the NATS server's JetStream storage is full") || !strings.Contains(err.Error(), "max_file_store") {
		t.Fatalf("publish to a full external store: %v, want ErrDiskFull naming max_file_store", err)
	}
	if got := readAll(t, l, ReadOptions{}); len(got) != len(acked) {
		t.Fatalf("read %d events, %d were acknowledged", len(got), len(acked))
	}
}
