package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/khist/khist/projector"
)

// Recordings the tests serve: a Deployment's rollout in namespace sample-rolling, and two
// recorded on a real control plane: one in namespace default-25, a failed rollout rolled back
// in namespace never-ready-undo.
var recordings = []string{
	"../testdata/scenarios/sample-rolling",
	"../../test/fidelity/testdata/default-25.json.gz",
	"../../test/fidelity/testdata/never-ready-undo.json.gz",
}

// testViews folds the recordings into a views file of cluster "default" and returns its path.
func testViews(t testing.TB) string {
	t.Helper()
	envs := recordedEnvelopes(t)
	path := filepath.Join(t.TempDir(), "views.db")
	db, err := projector.Open(path, &projector.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Apply(context.Background(), envs); err != nil {
		t.Fatal(err)
	}
	return path
}

// get does a GET with optional headers and returns the status and body.
func get(t testing.TB, c *http.Client, url string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// testPKI is a CA with a serving certificate for 127.0.0.1 and a client certificate.
type testPKI struct {
	caPEM             []byte
	caFile            string
	certFile, keyFile string
	client            tls.Certificate
	other             tls.Certificate // a client certificate of another CA
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	dir := t.TempDir()
	ca, caKey, caPEM := issue(t, nil, nil, &x509.Certificate{Subject: pkix.Name{CommonName: "test-ca"}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign})
	srv, srvKey, srvPEM := issue(t, ca, caKey, &x509.Certificate{Subject: pkix.Name{CommonName: "khist"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	_ = srv
	p := &testPKI{caPEM: caPEM, caFile: filepath.Join(dir, "ca.crt"), certFile: filepath.Join(dir, "tls.crt"), keyFile: filepath.Join(dir, "tls.key")}
	os.WriteFile(p.caFile, caPEM, 0o600)
	os.WriteFile(p.certFile, srvPEM, 0o600)
	os.WriteFile(p.keyFile, keyPEM(t, srvKey), 0o600)
	_, cKey, cPEM := issue(t, ca, caKey, &x509.Certificate{Subject: pkix.Name{CommonName: "front-proxy"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	p.client, _ = tls.X509KeyPair(cPEM, keyPEM(t, cKey))
	oca, ocaKey, _ := issue(t, nil, nil, &x509.Certificate{Subject: pkix.Name{CommonName: "other-ca"}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign})
	_, oKey, oPEM := issue(t, oca, ocaKey, &x509.Certificate{Subject: pkix.Name{CommonName: "front-proxy"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	p.other, _ = tls.X509KeyPair(oPEM, keyPEM(t, oKey))
	return p
}

// clientWith returns an HTTPS client trusting the CA, presenting cert when given.
func (p *testPKI) clientWith(cert *tls.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.caPEM)
	cfg := &tls.Config{RootCAs: pool}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 30 * time.Second}
}

func issue(t testing.TB, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func keyPEM(t testing.TB, k *ecdsa.PrivateKey) []byte {
	b, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: b})
}

// runServer runs s.Run until the test ends and returns its address.
func runServer(t testing.TB, s *Server) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, func(a string) { addr <- a }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case a := <-addr:
		return a
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	return ""
}
