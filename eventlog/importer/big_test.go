package importer

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
)

// writeWatchFile writes about size bytes of `kubectl get pods --watch --output-watch-events
// -o json` output, as a real watch prints it: first the pods that exist (ADDED, in name order,
// so their resourceVersions are out of order), then changes in resourceVersion order. Pods carry
// managedFields with field sets (which the import strips) and a padding annotation that makes
// each event about 10 KB. It returns the number of events written.
func writeWatchFile(w io.Writer, size int64) (int, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	pad := strings.Repeat("x", 9000)
	const pods = 4000
	rnd := rand.New(rand.NewPCG(1, 2))
	perm := rnd.Perm(pods)
	var written int64
	n := 0
	event := func(typ string, pod, rv int) error {
		c, err := fmt.Fprintf(bw, `{"type":%q,"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-%d","namespace":"shop","uid":"uid-%d","resourceVersion":"%d","creationTimestamp":"2026-11-20T10:00:00Z","labels":{"app":"web","pod-template-hash":"6f9c7d"},"annotations":{"pad":"%s"},"managedFields":[{"manager":"kube-controller-manager","operation":"Update","apiVersion":"v1","time":"2026-11-20T10:%02d:%02dZ","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{}}}}}}]},"spec":{"nodeName":"node-%d","containers":[{"name":"web","image":"nginx:1.%d"}]},"status":{"phase":"Running"}}}`+"\n",
			typ, pod, pod, rv, pad, rv/60%60, rv%60, pod%30, rv%7)
		written += int64(c)
		n++
		return err
	}
	for i := 0; i < pods; i++ {
		if err := event("ADDED", i, perm[i]+1); err != nil {
			return n, err
		}
	}
	rv := pods
	for written < size {
		rv++
		if err := event("MODIFIED", rv%pods, rv); err != nil {
			return n, err
		}
	}
	return n, bw.Flush()
}

// TestWriteWatchFile writes the file of the import benchmark when KHIST_WRITE_WATCH_FILE is
// PATH:BYTES (see BENCHMARKS.md).
func TestWriteWatchFile(t *testing.T) {
	spec := os.Getenv("KHIST_WRITE_WATCH_FILE")
	if spec == "" {
		t.Skip("set KHIST_WRITE_WATCH_FILE=PATH:BYTES to write a watch file")
	}
	path, sz, _ := strings.Cut(spec, ":")
	size, err := strconv.ParseInt(sz, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := writeWatchFile(f, size)
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d events", path, n)
}

// TestImportOneGigabyteInBoundedMemory imports a 1 GB watch file, written on the fly, in a child
// process (so that its peak RSS is the import's own, embedded NATS server included) and checks
// that the peak stays under 256 MB and that every event is in the log, in order.
func TestImportOneGigabyteInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 1 GB: not with -short")
	}
	dir := t.TempDir()
	path := dir + "/pods.json"
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := writeWatchFile(f, 1<<30)
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	cmd := exec.Command(os.Args[0], "-test.run=^TestImportChild$", "-test.v")
	cmd.Env = append(os.Environ(), "KHIST_IMPORT_CHILD="+path, "KHIST_IMPORT_CHILD_DATA="+dir+"/data")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var published, hwm int64
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "CHILD "); ok {
			fmt.Sscanf(rest, "published=%d peak_rss_kb=%d", &published, &hwm)
		}
	}
	t.Logf("%d events (%d MB) imported in %s, peak RSS %d MB", n, 1<<30>>20, time.Since(began).Round(time.Second), hwm>>10)
	if published != int64(n) {
		t.Fatalf("published %d events, want %d\n%s", published, n, out)
	}
	if hwm == 0 || hwm > 256<<10 {
		t.Fatalf("peak RSS %d kB, want at most 256 MB", hwm)
	}
	l, err := eventlog.Open(context.Background(), eventlog.Options{DataDir: dir + "/data"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var prev uint64
	seen := 0
	err = l.Read(context.Background(), eventlog.ReadOptions{}, func(b []*eventlog.Envelope) error {
		for _, e := range b {
			rv, _ := strconv.ParseUint(e.ResourceVersion, 10, 64)
			if rv != prev+1 {
				return fmt.Errorf("event %d: resourceVersion %d after %d", seen, rv, prev)
			}
			prev = rv
			seen++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != n {
		t.Fatalf("the log holds %d events, want %d", seen, n)
	}
}

// TestImportChild is the child process of TestImportOneGigabyteInBoundedMemory.
func TestImportChild(t *testing.T) {
	path := os.Getenv("KHIST_IMPORT_CHILD")
	if path == "" {
		t.Skip("child process of TestImportOneGigabyteInBoundedMemory")
	}
	// khist import's default --memory-limit (cmd/khist/debug.go): without it the heap may
	// grow to twice its live size (about 100 MB here) before Go collects.
	debug.SetMemoryLimit(192 << 20)
	ctx := context.Background()
	l, err := eventlog.Open(ctx, eventlog.Options{DataDir: os.Getenv("KHIST_IMPORT_CHILD_DATA")})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, st, err := Import(ctx, l, FormatWatch, "c1", Options{}, Input{Name: path, R: f})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	fmt.Printf("CHILD published=%d peak_rss_kb=%d\n", st.Published, peakRSS(t))
}

// peakRSS is the process's peak resident set size in kB (VmHWM).
func peakRSS(t *testing.T) int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status: cannot measure RSS here")
	}
	for _, line := range bytes.Split(status, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(rest)), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}
