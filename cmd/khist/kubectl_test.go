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

// TestKubectlPrinters: get and state print recorded objects through kubectl's printers
// (-o jsonpath, go-template, custom-columns, name), beside khist's own formats.
func TestKubectlPrinters(t *testing.T) {
	dir := importedSample(t)
	noKubeconfig(t)
	cols := filepath.Join(t.TempDir(), "cols")
	os.WriteFile(cols, []byte("NAME REPLICAS\n.metadata.name {.spec.replicas}\n"), 0o644)
	tmpl := filepath.Join(t.TempDir(), "tmpl")
	os.WriteFile(tmpl, []byte("{{.metadata.name}}"), 0o644)
	ns := []string{"-n", "sample-rolling"}
	before := []string{"--at", "2026-11-22T00:11:32Z"} // before the rollout to checkout:v2
	during := []string{"--at", "2026-11-22T00:11:33Z"}
	const image = "IMAGE:.spec.template.spec.containers[0].image"
	for _, c := range []struct {
		args []string
		want string // the whole of stdout
	}{
		{[]string{"get", "deploy/checkout", "-o", "jsonpath={.spec.replicas}"}, "6"},
		{[]string{"get", "deploy/checkout", "-o", "jsonpath={.spec.template.spec.containers[0].image}"}, "checkout:v2"},
		{append([]string{"get", "deploy/checkout", "-o", "jsonpath={.spec.template.spec.containers[0].image}"}, before...), "checkout:v1"},
		{[]string{"get", "deploy/checkout", "-o", "jsonpath", "--template", "{.metadata.name}"}, "checkout"},
		{[]string{"get", "deploy/checkout", "-o", "go-template={{.spec.replicas}}"}, "6"},
		{[]string{"get", "deploy/checkout", "-o", "template", "--template", "{{.kind}}"}, "Deployment"},
		{[]string{"get", "deploy/checkout", "-o", "jsonpath-as-json={.spec.replicas}"}, "[\n    6\n]\n"},
		{[]string{"get", "deploy/checkout", "-o", "go-template-file=" + tmpl}, "checkout"},
		{[]string{"get", "deploy/checkout", "-o", "custom-columns=NAME:.metadata.name," + image}, "NAME       IMAGE\ncheckout   checkout:v2\n"},
		{[]string{"get", "deploy/checkout", "-o", "custom-columns-file=" + cols}, "NAME       REPLICAS\ncheckout   6\n"},
		{[]string{"get", "deploy/checkout", "-o", "name"}, "deployment.apps/checkout\n"},
		// A kind alone is a kubectl List: one row per object, .items for templates.
		{[]string{"get", "deploy", "-o", "name"}, "deployment.apps/checkout\n"},
		{append([]string{"get", "rs", "-o", "custom-columns=NAME:.metadata.name,READY:.status.readyReplicas," + image}, during...),
			"NAME                  READY    IMAGE\ncheckout-59b467b7d8   6        checkout:v1\ncheckout-669d5fd697   <none>   checkout:v2\n"},
		{[]string{"get", "rs", "-o", "jsonpath={.items[*].metadata.name}"}, "checkout-59b467b7d8 checkout-669d5fd697"},
		{append([]string{"state", "--kind", "deploy,rs", "-o", "custom-columns=KIND:.kind,NAME:metadata.name"}, during...),
			"KIND         NAME\nDeployment   checkout\nReplicaSet   checkout-59b467b7d8\nReplicaSet   checkout-669d5fd697\n"},
	} {
		cmd := newRootCmd()
		var out, errOut strings.Builder
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		args := append(append([]string{"--data-dir", dir}, c.args...), ns...)
		cmd.SetArgs(args)
		if err := cmd.Execute(); err != nil || out.String() != c.want {
			t.Errorf("khist %s: %v\n got %q\nwant %q\n%s", strings.Join(c.args, " "), err, out.String(), c.want, errOut.String())
		}
	}
	// A template that cannot be used: one line that says what to write, and no output (kubectl's
	// printers would dump the object).
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "deploy/checkout", "-o", "jsonpath={.spec.replicas"}, "-o jsonpath: error parsing jsonpath {.spec.replicas, unclosed action: write a JSONPath template as kubectl takes it, e.g. -o jsonpath='{.spec.replicas}'"},
		{[]string{"state", "--at", "now", "-o", "jsonpath={.items[0"}, "-o jsonpath: error parsing jsonpath {.items[0, "},
		{[]string{"get", "deploy/checkout", "-o", "jsonpath={.spec.nope}", "--allow-missing-template-keys=false"}, `-o jsonpath: error executing jsonpath "{.spec.nope}": Error executing template: nope is not found: fix the template's paths (khist get KIND/NAME -o yaml shows the object), or leave --allow-missing-template-keys true`},
		{[]string{"get", "deploy", "--at", "2026-11-22T00:11:33Z", "-o", "go-template={{.spec.nope.x}}", "--allow-missing-template-keys=false"}, `-o go-template: error executing template "{{.spec.nope.x}}": template: output:1:7: executing "output" at <.spec.nope.x>: map has no entry for key "spec": fix the template's paths`},
		{[]string{"get", "deploy/checkout", "-o", "jsonpath"}, "-o jsonpath: template format specified but no template given: write a JSONPath template"},
		{[]string{"get", "deploy/checkout", "-o", "go-template={{.spec"}, "-o go-template: error parsing template {{.spec, "},
		{[]string{"get", "deploy/checkout", "-o", "custom-columns=NAME"}, `-o custom-columns: column "NAME" is not HEADER:JSONPATH: give HEADER:JSONPATH columns, e.g. -o custom-columns=NAME:.metadata.name,`},
		{[]string{"get", "deploy/checkout", "-o", "custom-columns=NAME:{.metadata.name"}, `-o custom-columns: column NAME: "{.metadata.name" is not a path such as .metadata.name or {.metadata.name}: give HEADER:JSONPATH columns`},
		{[]string{"get", "deploy/checkout", "-o", "jsonpath-file=" + cols + ".missing"}, "-o jsonpath-file: error reading --template " + cols + ".missing"},
		{[]string{"get", "deploy/checkout", "--template", "{{.kind}}"}, "--template: give it with -o go-template or -o jsonpath"},
		{[]string{"get", "deploy/checkout", "-o", "jsonpath={.kind}", "--template", "{.kind}"}, `-o jsonpath: unable to match a printer suitable for the output format "jsonpath={.kind}", allowed formats are: go-template,`},
		{[]string{"get", "deploy/checkout", "-o", "xml"}, `-o: unknown output format "xml": use yaml, json or name; or kubectl's jsonpath=TEMPLATE, `},
	} {
		out, err := run(t, dir, append(c.args, ns...)...)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") || out != "" {
			t.Errorf("khist %s: error %v, want one line starting %q; output %q", strings.Join(c.args, " "), err, c.want, out)
		}
	}
	// -o completes kubectl's printers, with no space after their "=".
	if out, err := run(t, dir, "__complete", "state", "-o", "jsonp"); err != nil || !strings.HasPrefix(out, "jsonpath=\njsonpath-file=\n:6\n") {
		t.Errorf("khist __complete state -o jsonp: %v %q", err, out)
	}
}
