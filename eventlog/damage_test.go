package eventlog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/khist/khist/test/faults"
	"github.com/nats-io/nats.go/jetstream"
)

// damageEvents is how many events makeDamageable writes: with 6 KB of incompressible JSON
// each, they fill three message blocks of the store (8 MB each).
const damageEvents = 3000

// makeDamageable writes damageEvents events into a new embedded log and closes it. The
// de-duplication window is short so that the server, when it starts again, does not load
// every recent event to rebuild it (which takes ~10ms per event of a damaged block).
func makeDamageable(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(context.Background(), Options{DataDir: dir, Stream: StreamConfig{Duplicates: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	envs := make([]*Envelope, damageEvents)
	for i := range envs {
		b := make([]byte, 3000)
		rand.Read(b)
		envs[i] = testEnvelope(i, fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-%d","namespace":"shop","resourceVersion":"%d"},"x":"%s"}`, i, 100+i, hex.EncodeToString(b)))
	}
	publishAll(t, l, envs)
	l.Close()
	time.Sleep(200 * time.Millisecond)
	if n := len(faults.Blocks(t, dir, DefaultStream)); n < 3 {
		t.Fatalf("%d message blocks, want 3 or more", n)
	}
	return dir
}

// TestDamagedLogIsReported: a deleted, truncated or overwritten message block, or a purge,
// makes every read of the log end within seconds with a *DamageError that names exactly the
// events it cannot deliver; with SkipDamage the read delivers all the others first.
func TestDamagedLogIsReported(t *testing.T) {
	base := makeDamageable(t)
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		kind   string
	}{
		{"delete middle block", func(t *testing.T, dir string) { faults.Remove(t, faults.Blocks(t, dir, DefaultStream)[1]) }, Missing},
		{"delete first block", func(t *testing.T, dir string) { faults.Remove(t, faults.Blocks(t, dir, DefaultStream)[0]) }, Missing},
		{"truncate last block", func(t *testing.T, dir string) {
			b := faults.Blocks(t, dir, DefaultStream)
			faults.Truncate(t, b[len(b)-1], 0.5)
		}, Missing},
		{"overwrite 4 KB of middle block", func(t *testing.T, dir string) { faults.Overwrite(t, faults.Blocks(t, dir, DefaultStream)[1], 4096) }, Unreadable},
		{"overwrite 4 KB of first block", func(t *testing.T, dir string) { faults.Overwrite(t, faults.Blocks(t, dir, DefaultStream)[0], 4096) }, Unreadable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(base)); err != nil {
				t.Fatal(err)
			}
			c.damage(t, dir)
			began := time.Now()
			// The embedded server's warnings and errors reach khist's log.
			var serverLog syncBuffer
			l, err := Open(context.Background(), Options{DataDir: dir, Logger: slog.New(slog.NewTextHandler(&serverLog, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			// Each read must end within 10 seconds.
			var timings []string
			within := func(what string, read func(ctx context.Context) error) error {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				t0 := time.Now()
				err := read(ctx)
				timings = append(timings, fmt.Sprintf("%s %s", what, time.Since(t0).Round(time.Millisecond)))
				if errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("%s: did not end within 10s", what)
				}
				return err
			}
			err = within("read", func(ctx context.Context) error {
				return l.Read(ctx, ReadOptions{}, func([]*Envelope) error { return nil })
			})
			var de *DamageError
			if !errors.As(err, &de) || !errors.Is(err, ErrDamaged) {
				t.Fatalf("read: %v, want a DamageError", err)
			}
			for _, r := range de.Ranges {
				if r.Kind != c.kind {
					t.Errorf("range %v, want %s", r, c.kind)
				}
			}
			// With SkipDamage every other event is delivered, once and in order.
			seen := map[uint64]bool{}
			var prev uint64
			err = within("skip", func(ctx context.Context) error {
				return l.Read(ctx, ReadOptions{SkipDamage: true}, func(b []*Envelope) error {
					for _, e := range b {
						if e.Seq <= prev {
							return fmt.Errorf("seq %d after %d", e.Seq, prev)
						}
						prev = e.Seq
						seen[e.Seq] = true
					}
					return nil
				})
			})
			var de2 *DamageError
			if !errors.As(err, &de2) || de2.Error() != de.Error() {
				t.Fatalf("read with SkipDamage: %v, want %v", err, de)
			}
			for s := uint64(1); s <= damageEvents; s++ {
				in := false
				for _, r := range de.Ranges {
					in = in || r.First <= s && s <= r.Last
				}
				if in == seen[s] {
					t.Fatalf("seq %d: delivered %v, in the damaged ranges %v", s, seen[s], in)
				}
			}
			// A filtered read and a follower end the same way.
			err = within("filtered", func(ctx context.Context) error {
				return l.Read(ctx, ReadOptions{Filters: []string{Filter("prod.eu-1", "", "Pod", "shop")}, SkipDamage: true}, func([]*Envelope) error { return nil })
			})
			if !errors.As(err, &de2) || de2.Error() != de.Error() {
				t.Fatalf("filtered read: %v, want %v", err, de)
			}
			err = within("follow", func(ctx context.Context) error {
				return l.Read(ctx, ReadOptions{Follow: true}, func([]*Envelope) error { return nil })
			})
			if !errors.As(err, &de2) || de2.Ranges[0] != de.Ranges[0] {
				t.Fatalf("follow: %v, want %v", err, de)
			}
			var rep Report
			err = within("verify", func(ctx context.Context) (err error) {
				rep, err = l.Verify(ctx)
				return err
			})
			if err != nil || l.DamageErr(rep).Error() != de.Error() || rep.Readable != uint64(len(seen)) {
				t.Fatalf("verify: %+v %v, want %v and %d readable", rep.Damage, err, de, len(seen))
			}
			if !strings.Contains(serverLog.String(), "embedded NATS: ") {
				t.Errorf("the server logged nothing about the damage")
			}
			t.Logf("%s: %s; server: %s", c.name, strings.Join(timings, ", "), firstLine(serverLog.String()))
			t.Logf("%s: %v (%d delivered, %s)", c.name, de, len(seen), time.Since(began).Round(time.Millisecond))
		})
	}
}

// TestPurgedHeadIsDamage: without a retention limit, events gone from the head of the stream
// (a purge) are damage; with one, they are the retention's doing.
func TestPurgedHeadIsDamage(t *testing.T) {
	for _, limit := range []bool{false, true} {
		dir := t.TempDir()
		cfg := StreamConfig{}
		if limit {
			cfg.MaxAge = time.Hour
		}
		l, err := Open(context.Background(), Options{DataDir: dir, Stream: cfg})
		if err != nil {
			t.Fatal(err)
		}
		var envs []*Envelope
		for i := 0; i < 50; i++ {
			envs = append(envs, testEnvelope(i, nil))
		}
		publishAll(t, l, envs)
		ctx := context.Background()
		st, _ := l.JetStream().Stream(ctx, l.StreamName())
		if err := st.Purge(ctx, jetstream.WithPurgeSequence(21)); err != nil {
			t.Fatal(err)
		}
		var n int
		err = l.Read(ctx, ReadOptions{}, func(b []*Envelope) error { n += len(b); return nil })
		if limit {
			if err != nil || n != 30 {
				t.Fatalf("with a retention limit: read %d, %v", n, err)
			}
		} else if !errors.Is(err, ErrDamaged) || err.Error() != "event log damaged: events 1-20 missing (20 events, stream KHIST in "+filepath.Join(dir, "jetstream")+"): run khist doctor" {
			t.Fatalf("without a retention limit: read %d, %v", n, err)
		}
		l.Close()
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
