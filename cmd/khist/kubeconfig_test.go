package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestKubeFlags: collect's kubectl flags reach the REST configuration as kubectl binds them:
// --context picks the context, and the credentials and server flags override the kubeconfig's.
func TestKubeFlags(t *testing.T) {
	noKubeconfig(t)
	kc := filepath.Join(t.TempDir(), "config")
	os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: "https://a.example:6443"}
- name: b
  cluster: {server: "https://b.example:6443"}
users:
- name: me
  user: {token: abc}
- name: you
  user: {token: def}
contexts:
- name: one
  context: {cluster: a, user: me}
- name: two
  context: {cluster: b, user: you}
current-context: one
`), 0o600)
	parse := func(args ...string) *kubeFlags {
		t.Helper()
		k := newKubeFlags()
		k.ClusterName, k.Namespace = nil, nil // as collect takes them
		fl := pflag.NewFlagSet("collect", pflag.ContinueOnError)
		k.addFlags(fl)
		if err := fl.Parse(args); err != nil {
			t.Fatalf("%s: %v", strings.Join(args, " "), err)
		}
		return k
	}
	cfg, err := parse("--kubeconfig", kc).restConfig()
	if err != nil || cfg.Host != "https://a.example:6443" || cfg.BearerToken != "abc" {
		t.Errorf("--kubeconfig: %v, host %q, token %q; want the current context one", err, cfg.Host, cfg.BearerToken)
	}
	t.Setenv("KUBECONFIG", kc)
	cfg, err = parse("--context", "two").restConfig()
	if err != nil || cfg.Host != "https://b.example:6443" || cfg.BearerToken != "def" {
		t.Errorf("$KUBECONFIG --context two: %v, host %q, token %q", err, cfg.Host, cfg.BearerToken)
	}
	cfg, err = parse("-s", "https://c.example", "--token", "ghi", "--as", "bob", "--as-group", "g1",
		"--as-group", "g2", "--as-uid", "42", "--tls-server-name", "c.internal",
		"--insecure-skip-tls-verify", "--disable-compression").restConfig()
	switch {
	case err != nil:
		t.Fatalf("overrides: %v", err)
	case cfg.Host != "https://c.example" || cfg.BearerToken != "ghi" || cfg.ServerName != "c.internal":
		t.Errorf("overrides: host %q, token %q, server name %q", cfg.Host, cfg.BearerToken, cfg.ServerName)
	case cfg.Impersonate.UserName != "bob" || cfg.Impersonate.UID != "42" ||
		!slices.Equal(cfg.Impersonate.Groups, []string{"g1", "g2"}):
		t.Errorf("overrides: impersonation %+v", cfg.Impersonate)
	case !cfg.Insecure || !cfg.DisableCompression:
		t.Errorf("overrides: insecure %v, disable compression %v", cfg.Insecure, cfg.DisableCompression)
	}
	for _, name := range []string{"cluster", "namespace", "request-timeout", "cache-dir", "username", "password"} {
		fl := pflag.NewFlagSet("collect", pflag.ContinueOnError)
		k := newKubeFlags()
		k.ClusterName, k.Namespace = nil, nil
		k.addFlags(fl)
		if fl.Lookup(name) != nil {
			t.Errorf("collect takes kubectl's --%s, which khist leaves out", name)
		}
	}
}

// TestNoPluginLinked: khist does not link package plugin (kustomize's plugin loader imports it,
// through cli-runtime's genericclioptions), which makes the linker keep every exported symbol:
// 16 MB of dynamic symbols and methods dead-code elimination cannot drop.
func TestNoPluginLinked(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the packages khist links")
	}
	out, err := exec.Command(goCmd, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "plugin" || strings.HasPrefix(p, "sigs.k8s.io/kustomize/") || p == "k8s.io/cli-runtime/pkg/genericclioptions" {
			t.Errorf("khist links %s", p)
		}
	}
}
