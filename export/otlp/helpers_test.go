package otlp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/internal/recording"
	"github.com/khist/khist/projector"
)

// recordings are rollouts recorded on a real control plane: complete ones in namespace
// default-25, a failed rollout rolled back in never-ready-undo.
var recordings = []string{
	"../../test/fidelity/testdata/default-25.json.gz",
	"../../test/fidelity/testdata/never-ready-undo.json.gz",
}

// recorded reads the recordings as the log's events, numbered from 1.
func recorded(t testing.TB) []*eventlog.Envelope {
	t.Helper()
	es, err := recording.Envelopes("default", recordings...)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// emptyDB opens a new views file.
func emptyDB(t testing.TB) *projector.DB {
	t.Helper()
	db, err := projector.Open(filepath.Join(t.TempDir(), "views.db"), &projector.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// testDB folds the recordings into a views file of cluster "default".
func testDB(t testing.TB) *projector.DB {
	t.Helper()
	db := emptyDB(t)
	if err := db.Apply(context.Background(), recorded(t)); err != nil {
		t.Fatal(err)
	}
	return db
}

// jaegerVersion is the Jaeger release the tests send traces to; test/setup.sh builds it under
// the cache directory.
const jaegerVersion = "v1.75.0"

// jaegerBinary returns the path of Jaeger v2: $KHIST_JAEGER, or the one test/setup.sh builds.
func jaegerBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("KHIST_JAEGER"); p != "" {
		return p
	}
	if cache, err := os.UserCacheDir(); err == nil {
		p := filepath.Join(cache, "khist", "tools", "jaeger-"+jaegerVersion, "jaeger")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if testing.Short() {
		t.Skip("jaeger is not installed (test/setup.sh builds it); skipped with -short")
	}
	t.Fatal("jaeger is not installed: run test/setup.sh (it builds Jaeger " + jaegerVersion + " from the Go module proxy), set KHIST_JAEGER, or use -short to skip this test")
	return ""
}

// freePort returns a loopback port nothing listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// jaeger is a running Jaeger v2 with an in-memory store.
type jaeger struct {
	otlp  string // the OTLP/HTTP receiver, HOST:PORT
	query string // the query API's base URL
}

// startJaeger runs Jaeger v2 (its OTLP/HTTP receiver and query API on free loopback ports, an
// in-memory store) until the test ends.
func startJaeger(t testing.TB) *jaeger {
	t.Helper()
	bin := jaegerBinary(t)
	otlpPort, httpPort, grpcPort := freePort(t), freePort(t), freePort(t)
	cfg := fmt.Sprintf(`service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:%d
    grpc:
      endpoint: 127.0.0.1:%d
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%d
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`, httpPort, grpcPort, otlpPort)
	path := filepath.Join(t.TempDir(), "jaeger.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--config", path)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	j := &jaeger{otlp: "127.0.0.1:" + strconv.Itoa(otlpPort), query: "http://127.0.0.1:" + strconv.Itoa(httpPort)}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("jaeger exited:\n%s", logs.String())
		default:
		}
		resp, err := http.Get(j.query + "/api/services")
		if err == nil {
			resp.Body.Close()
			c, err := net.DialTimeout("tcp", j.otlp, time.Second)
			if resp.StatusCode == 200 && err == nil {
				c.Close()
				return j
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("jaeger did not answer within 60s:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// jaegerTrace is a trace as Jaeger's HTTP API answers it.
type jaegerTrace struct {
	TraceID string       `json:"traceID"`
	Spans   []jaegerSpan `json:"spans"`
}

type jaegerSpan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	StartTime int64       `json:"startTime"` // microseconds
	Duration  int64       `json:"duration"`
	Tags      []jaegerTag `json:"tags"`
	Logs      []struct {
		Timestamp int64       `json:"timestamp"`
		Fields    []jaegerTag `json:"fields"`
	} `json:"logs"`
	ProcessID string `json:"processID"`
}

type jaegerTag struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// tag returns a tag's value as text ("" when absent).
func tag(tags []jaegerTag, key string) string {
	for _, t := range tags {
		if t.Key == key {
			switch v := t.Value.(type) {
			case float64:
				return strconv.FormatFloat(v, 'f', -1, 64)
			default:
				return fmt.Sprint(v)
			}
		}
	}
	return ""
}

// get reads a Jaeger API answer's data.
func (j *jaeger) get(t testing.TB, path string) ([]jaegerTrace, int) {
	t.Helper()
	resp, err := http.Get(j.query + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusNotFound {
		return nil, resp.StatusCode
	}
	var out struct {
		Data []jaegerTrace `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v %s", path, resp.StatusCode, err, b)
	}
	return out.Data, resp.StatusCode
}
