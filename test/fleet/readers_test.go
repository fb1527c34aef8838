package fleet

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"

	"github.com/khist/khist/test/internal/khistbin"
)

// Readers anywhere: two `khist project` processes, each with its own data directory (as on
// other machines), follow the clustered log that `khist collect` records into, each with a
// durable consumer of its own; once they have folded the whole log they answer
// `rollouts -A -o json` and `replay all -A -o json` exactly as the collector's host does.
func TestReadersAnywhere(t *testing.T) {
	c, cs := needCluster(t)
	bin := khistbin.Build(t)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	nc := startNATS(t)
	ns := createNamespace(t, c, "readers")
	host := t.TempDir()
	col := startProc(t, "khist collect", bin, collectArgs(c, nc.URL(), host, ns)...)
	col.waitLogged("initial lists recorded", 2*time.Minute)

	type reader struct {
		dir string
		p   *proc
		url string
	}
	var readers []reader
	for i := 1; i <= 2; i++ {
		dir := t.TempDir()
		addr := freeAddr(t)
		p := startProc(t, fmt.Sprintf("khist project (reader %d)", i), bin, "project", "--cluster", "fleet",
			"--data-dir", dir, "--nats-url", nc.URL(), "--metrics-addr", addr)
		p.metricsURL = "http://" + addr + "/metrics"
		readers = append(readers, reader{dir: dir, p: p})
	}

	if err := c.Apply(ctx, webDeployment(ns, 3, time.Second)); err != nil {
		t.Fatal(err)
	}
	rolloutDone(ctx, t, c, ns)
	for _, image := range []string{"nginx:2.0", "nginx:3.0"} {
		rollTo(ctx, t, c, cs, ns, image)
		rolloutDone(ctx, t, c, ns)
	}

	// Wait until the collector's views and both readers' have folded the whole log.
	l, err := eventlog.Open(ctx, eventlog.Options{URL: nc.URL(), Name: "khist-fleet-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	time.Sleep(2 * time.Second) // the last changes reach the log
	last, err := l.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for _, p := range append([]*proc{col}, readers[0].p, readers[1].p) {
		for {
			pos, err := p.metric(ctx, "khist_projector_position")
			if err == nil && uint64(pos) >= last {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s's views at %v (%v), the log at %d", p.name, pos, err, last)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// Each reader follows with a durable consumer of its own.
	names := map[string]string{}
	for _, dir := range []string{host, readers[0].dir, readers[1].dir} {
		b, err := os.ReadFile(filepath.Join(dir, "views.db.consumer"))
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSpace(string(b))
		if prev, ok := names[name]; ok {
			t.Errorf("%s and %s follow the log with the same consumer %s", prev, dir, name)
		}
		names[name] = dir
	}

	for _, q := range [][]string{
		{"rollouts", "-A", "-o", "json"},
		{"replay", "all", "-A", "-o", "json"},
	} {
		want := khist(ctx, t, bin, append(q, "--cluster", "fleet", "--data-dir", host, "--nats-url", nc.URL())...)
		if q[0] == "rollouts" {
			if n := countRollouts(t, want); n != 3 {
				t.Errorf("the collector's host lists %d rollouts, want 3\n%.2000s", n, want)
			}
		}
		for i, r := range readers {
			got := khist(ctx, t, bin, append(q, "--cluster", "fleet", "--data-dir", r.dir, "--nats-url", nc.URL())...)
			if !bytes.Equal(got, want) {
				t.Errorf("khist %s: reader %d differs from the collector's host\nreader: %.2000s\nhost:   %.2000s", strings.Join(q, " "), i+1, got, want)
			}
		}
		t.Logf("khist %s: the same %d bytes from the collector's host and both readers", strings.Join(q, " "), len(want))
	}
	for _, r := range readers {
		if !r.p.running() {
			t.Errorf("%s exited", r.p.name)
		}
	}
}

// freeAddr returns a free 127.0.0.1:PORT.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
