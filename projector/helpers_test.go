package projector

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	bolt "go.etcd.io/bbolt"
)

// MustOpenDB opens a views file on t.TempDir() and, in t.Cleanup, checks its consistency
// (bbolt's tx.Check) and closes it.
func MustOpenDB(t testing.TB) *DB {
	t.Helper()
	return mustOpenDBAt(t, filepath.Join(t.TempDir(), "views.db"), nil)
}

func mustOpenDBAt(t testing.TB, path string, o *Options) *DB {
	t.Helper()
	db, err := Open(path, o)
	if err != nil {
		t.Fatalf("open views: %v", err)
	}
	t.Cleanup(func() { mustCheckAndClose(t, db) })
	return db
}

func mustCheckAndClose(t testing.TB, db *DB) {
	t.Helper()
	db.hmu.RLock()
	closed := db.closed
	db.hmu.RUnlock()
	if closed {
		return
	}
	err := db.view(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("views %s inconsistent: %v", db.path, err)
		}
		return nil
	})
	if err != nil {
		t.Errorf("check views: %v", err)
	}
	db.Close()
}

// loadRecording reads a recorded kubectl watch stream (one file per resource type) and turns
// it into envelopes in resourceVersion order, with sequences from 1 and observed times
// estimated from the timestamps each version carries (running maximum). Objects are sanitized
// as the collector would.
func loadRecording(t testing.TB, dir, cluster string) []*eventlog.Envelope {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("recording %s: no files (%v)", dir, err)
	}
	type rec struct {
		rv  uint64
		env *eventlog.Envelope
		t   time.Time
	}
	var all []rec
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 8<<20)
		for sc.Scan() {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			var w struct {
				Type   string          `json:"type"`
				Object json.RawMessage `json:"object"`
			}
			if err := json.Unmarshal(line, &w); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			m, err := eventlog.ParseMeta(w.Object)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			obj, err := eventlog.Sanitize(m.Kind, w.Object)
			if err != nil {
				t.Fatal(err)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, obj); err != nil {
				t.Fatal(err)
			}
			env := m.Envelope(eventlog.EventType(w.Type), cluster, compact.Bytes())
			env.Source = "test:" + filepath.Base(f)
			rv, err := strconv.ParseUint(m.Metadata.ResourceVersion, 10, 64)
			if err != nil {
				t.Fatalf("%s: resourceVersion %q", f, m.Metadata.ResourceVersion)
			}
			all = append(all, rec{rv: rv, env: env, t: latestTimestamp(w.Object)})
		}
		fh.Close()
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].rv < all[j].rv })
	out := make([]*eventlog.Envelope, len(all))
	var last time.Time
	for i, r := range all {
		if r.t.After(last) {
			last = r.t
		}
		r.env.Observed = last
		r.env.Seq = uint64(i + 1)
		out[i] = r.env
	}
	return out
}

// latestTimestamp is the latest RFC 3339 time among the fields of an object that record when
// something happened (deletionTimestamp is a deadline in the future, so it is not one).
func latestTimestamp(obj []byte) time.Time {
	var v any
	if json.Unmarshal(obj, &v) != nil {
		return time.Time{}
	}
	var best time.Time
	var walk func(k string, v any)
	walk = func(k string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for kk, vv := range x {
				if kk == "template" || kk == "data" || kk == "annotations" {
					continue
				}
				walk(kk, vv)
			}
		case []any:
			for _, vv := range x {
				walk(k, vv)
			}
		case string:
			switch k {
			case "creationTimestamp", "time", "lastTransitionTime", "lastUpdateTime", "lastTimestamp", "firstTimestamp", "eventTime", "startTime", "startedAt":
				if tt, err := time.Parse(time.RFC3339Nano, x); err == nil && tt.After(best) {
					best = tt.UTC()
				}
			}
		}
	}
	walk("", v)
	return best
}

// foldAll applies envelopes in batches of n through DB.Apply.
func foldAll(t testing.TB, db *DB, envs []*eventlog.Envelope, n int) {
	t.Helper()
	for i := 0; i < len(envs); i += n {
		if err := db.Apply(context.Background(), envs[i:min(i+n, len(envs))]); err != nil {
			t.Fatalf("apply: %v", err)
		}
	}
}

// mustOpenLog opens an embedded event log on a temporary directory.
func mustOpenLog(t testing.TB, dir string) *eventlog.Log {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	l, err := eventlog.Open(context.Background(), eventlog.Options{DataDir: dir})
	if err != nil {
		t.Fatalf("open log: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// publishAll publishes envelopes (Seq is ignored) and waits for every acknowledgement.
func publishAll(t testing.TB, l *eventlog.Log, envs []*eventlog.Envelope) eventlog.PublishStats {
	t.Helper()
	p, err := l.NewPublisher(eventlog.PublisherOptions{MaxInFlight: 4096})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, e := range envs {
		if err := p.Publish(ctx, e); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatalf("publish: %v", err)
	}
	return p.Stats()
}

// find returns the envelopes whose String contains s.
func find(envs []*eventlog.Envelope, s string) []*eventlog.Envelope {
	var out []*eventlog.Envelope
	for _, e := range envs {
		if strings.Contains(e.String(), s) {
			out = append(out, e)
		}
	}
	return out
}

// mustDump returns the logical contents of the views with sequences renumbered.
func mustDump(t testing.TB, db *DB) string {
	t.Helper()
	var b strings.Builder
	if err := db.Dump(&b, DumpOptions{Renumber: true}); err != nil {
		t.Fatalf("dump: %v", err)
	}
	return b.String()
}

// firstDiff shows the first differing line of two dumps.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n- " + x + "\n+ " + y
		}
	}
	return "(equal)"
}

var timeZero time.Time
