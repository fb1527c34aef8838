package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// importedSample imports the sample recording (namespace sample-rolling) into a new data
// directory.
func importedSample(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(sampleDir, "*.json.gz"))
	if out, err := run(t, dir, append([]string{"import"}, files...)...); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	return dir
}

// noKubeconfig leaves the test without any kubeconfig: no $KUBECONFIG, an empty home.
func noKubeconfig(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", t.TempDir())
}

// TestNamespaceFromKubeconfig: without -n, read commands read the namespace of the kubeconfig's
// context, as kubectl does (--kubeconfig, $KUBECONFIG, --context), and default without any
// kubeconfig. The kubeconfig's server does not exist: it is never contacted.
func TestNamespaceFromKubeconfig(t *testing.T) {
	dir := importedSample(t)
	noKubeconfig(t)
	kc := filepath.Join(t.TempDir(), "config")
	os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
current-context: rec
contexts:
- name: rec
  context: {cluster: gone, namespace: sample-rolling}
- name: other
  context: {cluster: gone, namespace: shop}
- name: nons
  context: {cluster: gone}
clusters:
- name: gone
  cluster: {server: "https://192.0.2.1:6443"}
`), 0o600)
	const found, none = "checkout   6/6", "No resources found in "
	for _, c := range []struct {
		name string
		env  string // $KUBECONFIG
		args []string
		want string
	}{
		{"no kubeconfig: default", "", nil, none + "default namespace"},
		{"current context", "", []string{"--kubeconfig", kc}, found},
		{"--context", "", []string{"--kubeconfig", kc, "--context", "other"}, none + "shop namespace"},
		{"context without namespace", "", []string{"--kubeconfig", kc, "--context", "nons"}, none + "default namespace"},
		{"$KUBECONFIG", kc, nil, found},
		{"$KUBECONFIG and --context", kc, []string{"--context", "other"}, none + "shop namespace"},
		{"-n wins", kc, []string{"--context", "other", "-n", "sample-rolling"}, found},
		{"-A wins", kc, []string{"--context", "other", "-A"}, "sample-rolling   checkout   6/6"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", c.env)
			out, err := run(t, dir, append([]string{"get", "deploy"}, c.args...)...)
			if err != nil || !strings.Contains(out, c.want) {
				t.Errorf("khist get deploy %s: %v, want %q in\n%s", strings.Join(c.args, " "), err, c.want, out)
			}
		})
	}
	// What the user named and cannot be used: one line, what to do.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"history", "deploy/checkout", "--kubeconfig", kc, "--context", "nope"}, `--context: no context "nope" in --kubeconfig ` + kc + ` (contexts: nons, other, rec): name one of them, or give the namespace with -n`},
		{[]string{"history", "deploy/checkout", "--kubeconfig", kc + ".missing"}, "kubeconfig --kubeconfig " + kc + ".missing: stat "},
	} {
		_, err := run(t, dir, c.args...)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("khist %s: error %v, want one line starting %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}
