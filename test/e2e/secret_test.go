package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
)

func randomValue(prefix string) string {
	b := make([]byte, 12)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// The raw bytes of the JetStream store (uncompressed, so that a value would show) hold no
// Secret value the test wrote, in any form: created, applied (with kubectl's last-applied
// annotation) or patched. A ConfigMap value written alongside is found, which shows the search
// works. By default the collector watches Secrets as metadata only: no response the API server
// sends it holds a value (but the one kubectl apply copies into its annotation), nor the key
// names; with SecretKeyNames it records the key names.
func TestNoSecretValueInStore(t *testing.T) {
	for _, keys := range []bool{false, true} {
		name := "metadata-only"
		if keys {
			name = "key-names"
		}
		t.Run(name, func(t *testing.T) { testNoSecretValueInStore(t, keys) })
	}
}

// teeTransport keeps what the API server sends to the collector about Secrets.
type teeTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
	got  bytes.Buffer
}

func (tt *teeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := tt.next.RoundTrip(r)
	if err != nil || !strings.Contains(r.URL.Path, "/secrets") {
		return resp, err
	}
	resp.Body = &teeBody{ReadCloser: resp.Body, tt: tt}
	return resp, nil
}

type teeBody struct {
	io.ReadCloser
	tt *teeTransport
}

func (b *teeBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.tt.mu.Lock()
	b.tt.got.Write(p[:n])
	b.tt.mu.Unlock()
	return n, err
}

func testNoSecretValueInStore(t *testing.T, keyNames bool) {
	c, _ := needCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	tee := &teeTransport{}
	r := StartRecorder(t, c, RecorderOptions{DataDir: dir, NoCompress: true, SecretKeyNames: keyNames,
		WrapTransport: func(next http.RoundTripper) http.RoundTripper { tee.next = next; return tee }})
	ns := createNamespace(t, c, "secrets-"+map[bool]string{false: "meta", true: "keys"}[keyNames])
	created, applied, patched := randomValue("created-"), randomValue("applied-"), randomValue("patched-")
	visible := randomValue("visible-")
	steps := [][]string{
		{"-n", ns, "create", "secret", "generic", "plain", "--from-literal=password=" + created},
		{"-n", ns, "patch", "secret", "plain", "-p", `{"stringData":{"password":"` + patched + `"}}`},
		{"-n", ns, "create", "configmap", "control", "--from-literal=value=" + visible},
	}
	for _, s := range steps {
		if _, err := c.Kubectl(ctx, s...); err != nil {
			t.Fatal(err)
		}
	}
	manifest := "apiVersion: v1\nkind: Secret\nmetadata: {name: applied, namespace: " + ns + "}\nstringData: {token: " + applied + "}\n"
	if err := c.Apply(ctx, []byte(manifest)); err != nil {
		t.Fatal(err)
	}
	envs, err := r.Envelopes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var secrets []*eventlog.Envelope
	for _, e := range envs {
		if e.Namespace == ns && e.Kind == "Secret" {
			secrets = append(secrets, e)
		}
	}
	if len(secrets) != 3 {
		t.Errorf("%d Secret versions in the log, want 3 (create, patch, apply)", len(secrets))
	}
	for _, e := range secrets {
		hasKey := bytes.Contains(e.Object, []byte(`"password"`)) || bytes.Contains(e.Object, []byte(`"token"`))
		if keyNames && !hasKey {
			t.Errorf("%s: key name missing: %s", e, e.Object)
		}
		if !keyNames && hasKey {
			t.Errorf("%s: key name recorded from a metadata-only watch: %s", e, e.Object)
		}
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}

	// Every form a value could take in the store.
	forbidden := map[string]string{}
	for _, v := range []string{created, applied, patched} {
		forbidden[v] = v
		forbidden[base64.StdEncoding.EncodeToString([]byte(v))] = v + " (base64)"
		// Inside a JSON string, as in the last-applied annotation.
		forbidden[strings.TrimSuffix(base64.StdEncoding.EncodeToString([]byte(v)), "=")] = v + " (base64, unpadded)"
	}
	foundVisible := false
	files := 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for s, what := range forbidden {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("secret value %s found in %s", what, path)
			}
		}
		foundVisible = foundVisible || bytes.Contains(b, []byte(visible))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tee.mu.Lock()
	sent := tee.got.Bytes()
	tee.mu.Unlock()
	if len(sent) == 0 {
		t.Errorf("no Secret list or watch response seen: the check of what the API server sends proves nothing")
	}
	for s, what := range forbidden {
		if !keyNames && strings.HasPrefix(what, applied) {
			// kubectl apply copies the manifest, values included, into the
			// last-applied-configuration annotation: metadata, which a metadata-only watch
			// carries too, and which the collector strips (checked in the store above).
			continue
		}
		if leaked := bytes.Contains(sent, []byte(s)); leaked != keyNames {
			if keyNames {
				// Watched in full, the values reach the collector, which must strip them.
				t.Logf("secret value %s not in the full watch's responses", what)
			} else {
				t.Errorf("secret value %s sent to the collector by a metadata-only watch", what)
			}
		}
	}
	if !foundVisible {
		t.Errorf("the ConfigMap value is not in the store's %d files: the search proves nothing", files)
	}
	t.Logf("searched %d files of the store", files)
}
