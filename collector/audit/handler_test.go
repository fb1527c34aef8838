package audit

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/test/cluster"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// startWebhook runs a Server on a free port of loopback, publishing to a new embedded log,
// and returns its URL, a client configured as the API server's webhook kubeconfig makes it,
// the log and the metrics.
func startWebhook(t *testing.T, clientCA bool) (string, *http.Client, *eventlog.Log, *prometheus.Registry) {
	t.Helper()
	ctx := t.Context()
	l, err := eventlog.Open(ctx, eventlog.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	reg := prometheus.NewRegistry()
	h, err := NewHandler(l, Options{Cluster: "c1", Registerer: reg, AckTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The files are made for a URL that is known only once the server listens; the
	// kubeconfig is rewritten below with the right one.
	files, err := cluster.NewAuditWebhook(dir, "https://127.0.0.1:1/")
	if err != nil {
		t.Fatal(err)
	}
	tf := TLSFiles{Cert: files.Cert, Key: files.Key}
	if clientCA {
		tf.ClientCA = files.CA
	}
	cfg, err := tf.Config()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Listen("127.0.0.1:0", cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start: %v", err)
		}
	})
	rc, err := clientcmd.BuildConfigFromFlags("", files.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := rest.TLSConfigFor(rc)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 10 * time.Second}
	return "https://" + srv.Addr() + "/", client, l, reg
}

func post(t *testing.T, c *http.Client, url string, body []byte) int {
	t.Helper()
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A real batch (the API server's audit events of a test namespace at Metadata level: two
// users, an impersonation, kwok's pod updates) over mutual TLS: answered 200 once stored, each
// write request once however often the batch comes; a client without a certificate of the
// CA is refused; a body that is not audit JSON is answered 400 and counted.
func TestHandlerStoresBatch(t *testing.T) {
	url, client, l, reg := startWebhook(t, true)
	batch, err := os.ReadFile("testdata/eventlist.json")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if code := post(t, client, url, batch); code != http.StatusOK {
			t.Fatalf("POST batch: %d", code)
		}
	}
	st, err := l.State(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// 36 events, of which 5 are kwok's deletions of pods already gone (404).
	if st.Msgs != 31 {
		t.Errorf("the log holds %d messages, want the batch's 31 successful write requests once", st.Msgs)
	}
	users := map[string]int{}
	impersonated := ""
	err = l.Read(t.Context(), eventlog.ReadOptions{}, func(b []*eventlog.Envelope) error {
		for _, e := range b {
			r, err := eventlog.DecodeAudit(e.Object)
			if err != nil {
				return err
			}
			users[r.User]++
			if r.Impersonator != "" {
				impersonated = r.User + " by " + r.Impersonator + " as " + r.Manager
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if users["alice"] != 2 || users["bob"] != 3 || users["system:kwok-controller"] != 23 || impersonated != "carol by kubernetes-admin as kubectl-set" {
		t.Errorf("users %v, impersonation %q", users, impersonated)
	}
	if got := testutil.ToFloat64(mustMetric(t, reg, "khist_audit_records_published_total")); got != 62 {
		t.Errorf("published = %v, want 62 (the batch twice)", got)
	}

	if code := post(t, client, url, []byte(`{"kind":"Deployment","apiVersion":"apps/v1"}`)); code != http.StatusBadRequest {
		t.Errorf("POST a Deployment: %d, want 400", code)
	}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: client.Transport.(*http.Transport).TLSClientConfig.Clone()}}
	anon.Transport.(*http.Transport).TLSClientConfig.Certificates = nil
	anon.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = nil
	if resp, err := anon.Post(url, "application/json", bytes.NewReader(batch)); err == nil {
		resp.Body.Close()
		t.Errorf("a client without a certificate: %d, want a refused handshake", resp.StatusCode)
	}
	if got := testutil.ToFloat64(mustMetric(t, reg, "khist_audit_batches_received_total")); got != 3 {
		t.Errorf("batches received = %v, want 3 (neither the GET nor the refused client are batches)", got)
	}
	if got := testutil.ToFloat64(mustMetric(t, reg, "khist_audit_events_rejected_total")); got != 10 {
		t.Errorf("events rejected = %v, want 10 (the 404s, twice)", got)
	}
}

// When the log does not store a batch, the answer is 503 (the API server sends it again) and
// the batch and its records are counted as failed.
func TestHandlerLogDown(t *testing.T) {
	url, client, l, reg := startWebhook(t, false)
	batch, err := os.ReadFile("testdata/eventlist.json")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if code := post(t, client, url, batch); code != http.StatusServiceUnavailable {
		t.Fatalf("POST with the log closed: %d, want 503", code)
	}
	if got := testutil.ToFloat64(mustMetric(t, reg, "khist_audit_records_failed_total")); got != 31 {
		t.Errorf("records failed = %v, want 31", got)
	}
}

func TestTLSFilesErrors(t *testing.T) {
	for _, f := range []TLSFiles{{}, {Cert: "x.crt"}, {Cert: "missing.crt", Key: "missing.key"}} {
		if _, err := f.Config(); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%+v: %v", f, err)
		}
	}
}

// mustMetric returns the registered collector of a metric family, summed over its labels.
func mustMetric(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	found := false
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		found = true
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	if !found {
		t.Fatalf("no metric %s", name)
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name})
	c.Add(sum)
	return c
}

// A batch over MaxBatchBytes is answered 413 without being read whole.
func TestHandlerBatchTooLarge(t *testing.T) {
	l, err := eventlog.Open(t.Context(), eventlog.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	reg := prometheus.NewRegistry()
	h, err := NewHandler(l, Options{Cluster: "c1", Registerer: reg, MaxBatchBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := os.ReadFile("testdata/eventlist.json")
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(batch)))
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("a %d-byte batch over a 1024-byte limit: %d, want 413", len(batch), w.Code)
	}
	if got := testutil.ToFloat64(mustMetric(t, reg, "khist_audit_batches_failed_total")); got != 1 {
		t.Errorf("batches failed = %v, want 1", got)
	}
	if _, err := NewHandler(l, Options{}); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("NewHandler without a cluster: %v", err)
	}
}
