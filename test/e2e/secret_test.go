package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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
// works.
func TestNoSecretValueInStore(t *testing.T) {
	c, _ := needCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	r := StartRecorder(t, c, RecorderOptions{DataDir: dir, NoCompress: true})
	ns := createNamespace(t, c, "secrets")
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
		if !bytes.Contains(e.Object, []byte(`"password"`)) && !bytes.Contains(e.Object, []byte(`"token"`)) {
			t.Errorf("%s: key name missing: %s", e, e.Object)
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
	if !foundVisible {
		t.Errorf("the ConfigMap value is not in the store's %d files: the search proves nothing", files)
	}
	t.Logf("searched %d files of the store", files)
}
