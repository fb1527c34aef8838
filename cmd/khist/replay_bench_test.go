package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/khist/khist/replay"
	"github.com/khist/khist/test/fidelity"
)

// Benchmarks: go test -run x -bench ReplayAll -benchtime 3x ./cmd/khist/
// KHIST_BENCH_COPIES sets the size of the history (default 20 copies of the 16 recordings).

// BenchmarkReplayAll runs khist replay all -A, as the binary would, over a large history: the
// 16 rollout recordings of test/fidelity (35 rollouts), each copied into KHIST_BENCH_COPIES
// namespaces of one cluster, one copy after the other (resourceVersions, uids, node and volume
// names made unique per copy), imported into an embedded log and folded into the views. It
// reports rollouts replayed and compared per second, the history read from the views included.
func BenchmarkReplayAll(b *testing.B) {
	copies := 20
	if s := os.Getenv("KHIST_BENCH_COPIES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("KHIST_BENCH_COPIES=%q: use a positive number", s)
		}
		copies = n
	}
	dir := b.TempDir()
	files, events := writeCopies(b, filepath.Join(dir, "in"), copies)
	data := filepath.Join(dir, "data")
	start := time.Now()
	if out, err := runTB(b, data, append([]string{"import"}, files...)...); err != nil {
		b.Fatalf("import: %v\n%s", err, out)
	}
	b.Logf("imported and folded %d events in %s", events, time.Since(start).Round(time.Millisecond))

	b.ResetTimer()
	start, cpu := time.Now(), cpuTime()
	var res replay.SurveyResult
	for i := 0; i < b.N; i++ {
		out, err := runTB(b, data, "replay", "all", "-A", "-o", "json")
		if err != nil {
			b.Fatalf("replay all: %v\n%s", err, out)
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			b.Fatal(err)
		}
	}
	elapsed, cpuUsed := time.Since(start), cpuTime()-cpu
	b.StopTimer()
	if want := 35 * copies; res.Rollouts != want || res.Matched != want {
		b.Fatalf("%d of %d rollouts matched, want %d of %d", res.Matched, res.Rollouts, want, want)
	}
	n := float64(res.Rollouts * b.N)
	b.ReportMetric(n/elapsed.Seconds(), "rollouts/s")
	b.ReportMetric(n/cpuUsed.Seconds(), "rollouts/cpu-s")
	b.ReportMetric(float64(res.Rollouts), "rollouts")
	b.ReportMetric(float64(res.Workloads), "workloads")
	b.ReportMetric(float64(events), "recorded-events")
}

// BenchmarkReplayAllBusy runs khist replay all -A over the busiest recording of the busy
// suite (test/fidelity/testdata/busy/busy-20x100-r1.json.gz: 20 Deployments of 100 replicas,
// three rollouts each, rolling at once), imported and folded first: the decision audit (the
// default) and the free run alone (--free-run), in the same run.
func BenchmarkReplayAllBusy(b *testing.B) {
	path := fidelity.BusyFixturePath(fidelityDir, "busy-20x100", 1)
	if _, err := os.Stat(path); err != nil {
		b.Skipf("no busy recording: %v", err)
	}
	data := filepath.Join(b.TempDir(), "data")
	start := time.Now()
	if out, err := runTB(b, data, "import", path); err != nil {
		b.Fatalf("import: %v\n%s", err, out)
	}
	b.Logf("imported and folded %s in %s", path, time.Since(start).Round(time.Millisecond))
	for _, mode := range []struct {
		name string
		args []string
	}{{"audit", nil}, {"free-run", []string{"--free-run"}}} {
		b.Run(mode.name, func(b *testing.B) {
			start, cpu := time.Now(), cpuTime()
			var res replay.SurveyResult
			for i := 0; i < b.N; i++ {
				out, err := runTB(b, data, append([]string{"replay", "all", "-A", "-o", "json"}, mode.args...)...)
				if err != nil {
					b.Fatalf("replay all: %v\n%s", err, out)
				}
				if err := json.Unmarshal([]byte(out), &res); err != nil {
					b.Fatal(err)
				}
			}
			elapsed, cpuUsed := time.Since(start), cpuTime()-cpu
			b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/replay-all")
			b.ReportMetric(cpuUsed.Seconds()/float64(b.N), "cpu-s/replay-all")
			b.ReportMetric(float64(res.Rollouts), "rollouts")
			b.ReportMetric(float64(res.Matched), "matched")
			b.ReportMetric(float64(res.Decisions), "decisions")
		})
	}
}

var (
	uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	rvRE   = regexp.MustCompile(`"resourceVersion":"([0-9]+)"`)
)

// writeCopies writes copies of the fidelity recordings as plain watch files, copy k of
// scenario s in namespace s-k: every occurrence of the scenario's name (namespace, volume and
// storage class names), node names and uids made unique per copy, and resourceVersions moved
// to a range of their own after the previous copy's, so that the log is one consistent
// history. It returns the files and the number of events.
func writeCopies(b *testing.B, dir string, copies int) ([]string, int) {
	b.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	type rec struct {
		name  string
		lines [][]byte
	}
	var recs []rec
	for _, s := range fidelity.Scenarios {
		f, err := os.Open(fidelity.FixturePath(fidelityDir, s.Name))
		if err != nil {
			b.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			b.Fatal(err)
		}
		raw, err := io.ReadAll(zr)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		r := rec{name: s.Name}
		sc := bufio.NewScanner(bytes.NewReader(raw))
		sc.Buffer(make([]byte, 0, 1<<20), 4<<20)
		for sc.Scan() {
			r.lines = append(r.lines, append([]byte(nil), sc.Bytes()...))
		}
		if err := sc.Err(); err != nil {
			b.Fatal(err)
		}
		recs = append(recs, r)
	}
	var files []string
	events := 0
	for k := 0; k < copies; k++ {
		for fi, r := range recs {
			base := uint64(k*len(recs)+fi+1) * 100_000 // each recording's versions are below 100000
			ns := fmt.Sprintf("%s-%d", r.name, k)
			var out bytes.Buffer
			for _, l := range r.lines {
				l = bytes.ReplaceAll(l, []byte(r.name), []byte(ns))
				// Nodes per recording and copy: the recordings come from separate control
				// planes, and nodes of one mixed into the history of another would carry
				// timestamps from another time.
				l = bytes.ReplaceAll(l, []byte("kwok-node-"), []byte("kwok-node-"+ns+"-"))
				l = uuidRE.ReplaceAllFunc(l, func(u []byte) []byte {
					return append(append([]byte(nil), u[:len(u)-4]...), fmt.Sprintf("%04x", k)...)
				})
				l = rvRE.ReplaceAllFunc(l, func(m []byte) []byte {
					n, _ := strconv.ParseUint(string(rvRE.FindSubmatch(m)[1]), 10, 64)
					return []byte(fmt.Sprintf(`"resourceVersion":"%d"`, base+n))
				})
				out.Write(l)
				out.WriteByte('\n')
				events++
			}
			path := filepath.Join(dir, ns+".json")
			if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
				b.Fatal(err)
			}
			files = append(files, path)
		}
	}
	return files, events
}

// runTB is run for benchmarks.
func runTB(tb testing.TB, dataDir string, args ...string) (string, error) {
	tb.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append([]string{"--data-dir", dataDir}, args...))
	err := cmd.Execute()
	if err != nil {
		return out.String() + errOut.String(), err
	}
	return out.String(), nil
}

// cpuTime is the CPU time the process used (user and system), which, unlike ns/op, does not
// grow when other processes compete for the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
