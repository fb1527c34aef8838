package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"

	"github.com/khist/khist/test/internal/khistbin"
)

const widgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.khist.example.com
spec:
  group: khist.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`

// A CRD and a custom resource created after the collector started are recorded, and so are the
// resource's later changes and deletion.
func TestCRDAddedLater(t *testing.T) {
	c, _ := needCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	r := StartRecorder(t, c, RecorderOptions{})
	ns := createNamespace(t, c, "crd")
	if err := c.Apply(ctx, []byte(widgetCRD)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Kubectl(context.Background(), "delete", "crd", "widgets.khist.example.com", "--ignore-not-found", "--wait=true")
	})
	if _, err := c.Kubectl(ctx, "wait", "--for=condition=Established", "crd/widgets.khist.example.com", "--timeout=1m"); err != nil {
		t.Fatal(err)
	}
	widget := "apiVersion: khist.example.com/v1\nkind: Widget\nmetadata: {name: w1, namespace: " + ns + "}\nspec: {size: 3}\n"
	if err := c.Apply(ctx, []byte(widget)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Kubectl(ctx, "-n", ns, "patch", "widget", "w1", "--type=merge", "-p", `{"spec":{"size":5}}`); err != nil {
		t.Fatal(err)
	}
	out, err := c.Kubectl(ctx, "-n", ns, "get", "widget", "w1", "-o", "jsonpath={.metadata.uid} {.metadata.resourceVersion}")
	if err != nil {
		t.Fatal(err)
	}
	uid, rv, _ := strings.Cut(string(out), " ")

	find := func(envs []*eventlog.Envelope, kind string, match func(*eventlog.Envelope) bool) []*eventlog.Envelope {
		var out []*eventlog.Envelope
		for _, e := range envs {
			if e.Kind == kind && match(e) {
				out = append(out, e)
			}
		}
		return out
	}
	// Discovery runs within seconds of the CRD's change; the new resource is then listed.
	var envs []*eventlog.Envelope
	if err := eventually(ctx, time.Minute, func() error {
		if envs, err = r.Envelopes(ctx); err != nil {
			return err
		}
		if len(find(envs, "CustomResourceDefinition", func(e *eventlog.Envelope) bool { return e.Name == "widgets.khist.example.com" })) == 0 {
			return fmt.Errorf("the CRD is not in the log")
		}
		if len(find(envs, "Widget", func(e *eventlog.Envelope) bool { return e.UID == uid && e.ResourceVersion == rv })) == 0 {
			return fmt.Errorf("widget w1 at rv %s is not in the log", rv)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, e := range find(envs, "Widget", func(*eventlog.Envelope) bool { return true }) {
		t.Logf("%s group=%s version=%s resource=%s", e, e.Group, e.Version, e.Resource)
		if e.Group != "khist.example.com" || e.Version != "v1" || e.Resource != "widgets" || e.Namespace != ns {
			t.Errorf("%s: group %q version %q resource %q", e, e.Group, e.Version, e.Resource)
		}
	}

	// Its deletion is watched like any other.
	if _, err := c.Kubectl(ctx, "-n", ns, "delete", "widget", "w1"); err != nil {
		t.Fatal(err)
	}
	if err := eventually(ctx, 30*time.Second, func() error {
		if envs, err = r.Envelopes(ctx); err != nil {
			return err
		}
		if len(find(envs, "Widget", func(e *eventlog.Envelope) bool { return e.UID == uid && e.Type == eventlog.Deleted })) != 1 {
			return fmt.Errorf("no DELETED of w1")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Removing the CRD stops its watch quietly.
	if _, err := c.Kubectl(ctx, "delete", "crd", "widgets.khist.example.com", "--wait=true"); err != nil {
		t.Fatal(err)
	}
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

const gadgetCRDs = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.khist.example.com
spec:
  group: khist.example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget, listKind: GadgetList, shortNames: [gdt], categories: [all, khisttoys]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: clustergadgets.khist.example.com
spec:
  group: khist.example.com
  scope: Cluster
  names: {plural: clustergadgets, singular: clustergadget, kind: ClusterGadget, listKind: ClusterGadgetList, shortNames: [cgdt]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`

// The collector records the API discovery when it starts and when CRDs are added, once per
// content (also across a restart), and khist resolves kinds from it: a CRD's short name and
// category, and a cluster-scoped custom resource, which is not looked up in a namespace.
func TestCRDDiscoveryKinds(t *testing.T) {
	c, _ := needCluster(t)
	bin := khistbin.Build(t)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	r := StartRecorder(t, c, RecorderOptions{DataDir: dir})
	ns := createNamespace(t, c, "gadget")
	if err := c.Apply(ctx, []byte(gadgetCRDs)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Kubectl(context.Background(), "delete", "crd", "gadgets.khist.example.com", "clustergadgets.khist.example.com", "--ignore-not-found", "--wait=true")
	})
	if _, err := c.Kubectl(ctx, "wait", "--for=condition=Established", "crd/gadgets.khist.example.com", "crd/clustergadgets.khist.example.com", "--timeout=1m"); err != nil {
		t.Fatal(err)
	}
	objs := "apiVersion: khist.example.com/v1\nkind: Gadget\nmetadata: {name: g1, namespace: " + ns + "}\nspec: {size: 3}\n---\n" +
		"apiVersion: khist.example.com/v1\nkind: ClusterGadget\nmetadata: {name: " + ns + "-big}\nspec: {size: 9}\n"
	if err := c.Apply(ctx, []byte(objs)); err != nil {
		t.Fatal(err)
	}
	// The discovery that knows both CRDs is recorded, after the one from before them.
	var discos []*eventlog.Envelope
	if err := eventually(ctx, time.Minute, func() error {
		envs, err := r.Envelopes(ctx)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(envs, func(e *eventlog.Envelope) bool { return e.Kind == "ClusterGadget" }) {
			return fmt.Errorf("the cluster gadget is not in the log")
		}
		if discos, err = ReadDiscoveries(ctx, r.Log); err != nil {
			return err
		}
		if len(discos) == 0 {
			return fmt.Errorf("no discovery in the log")
		}
		d, err := eventlog.DecodeDiscovery(discos[len(discos)-1].Object)
		if err != nil {
			return err
		}
		if gadget := findResource(d, "khist.example.com", "gadgets"); gadget == nil || !slices.Equal(gadget.ShortNames, []string{"gdt"}) ||
			!slices.Contains(gadget.Categories, "khisttoys") || !gadget.Namespaced {
			return fmt.Errorf("the last discovery lacks gadgets as created: %+v", gadget)
		}
		if cg := findResource(d, "khist.example.com", "clustergadgets"); cg == nil || cg.Namespaced {
			return fmt.Errorf("the last discovery lacks clustergadgets as created: %+v", cg)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(discos) < 2 {
		t.Errorf("%d discovery records: want one from before the CRDs and one after", len(discos))
	}
	for i, e := range discos {
		t.Logf("discovery %d: seq %d hash %s, %d bytes", i, e.Seq, e.ResourceVersion, len(e.Object))
		if e.Cluster != "e2e" || e.Msg().Subject != eventlog.DiscoverySubject("e2e") {
			t.Errorf("discovery %d: cluster %q", i, e.Cluster)
		}
		if i > 0 && discos[i-1].ResourceVersion == e.ResourceVersion {
			t.Errorf("discovery %d recorded twice (hash %s)", i, e.ResourceVersion)
		}
	}
	// A restart records nothing new: the same discovery is in the log already.
	r.Stop()
	r = StartRecorder(t, c, RecorderOptions{DataDir: dir})
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	again, err := ReadDiscoveries(ctx, r.Log)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != len(discos) {
		t.Errorf("after a restart: %d discovery records, want %d", len(again), len(discos))
	}
	r.Stop()

	khist := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, append(args, "--data-dir", dir, "--cluster", "e2e")...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, q := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "gdt/g1", "-n", ns, "-o", "name"}, "gadget.khist.example.com/g1\n"},
		{[]string{"get", "cgdt/" + ns + "-big", "-n", ns, "-o", "name"}, "clustergadget.khist.example.com/" + ns + "-big\n"},
		{[]string{"get", "clustergadgets/" + ns + "-big", "-o", "name"}, "clustergadget.khist.example.com/" + ns + "-big\n"},
		{[]string{"get", "khisttoys", "-n", ns, "-o", "name"}, "gadget.khist.example.com/g1\n"},
		{[]string{"state", "--kind", "all", "-n", ns, "--at", "now", "-o", "name"}, "gadget.khist.example.com/g1\n"},
	} {
		out, err := khist(q.args...)
		// The views are made by the first command; later ones may note nothing else.
		if err != nil || !strings.HasSuffix(out, q.want) {
			t.Errorf("khist %s: %v\n%s\nwant %q", strings.Join(q.args, " "), err, out, q.want)
		}
	}
	if out, err := khist("get", "gdtt/g1", "-n", ns); err == nil || !strings.Contains(out, "did you mean gdt") {
		t.Errorf("khist get gdtt/g1: %v\n%s", err, out)
	}
}

func findResource(d *eventlog.APIDiscovery, group, plural string) *eventlog.DiscoveryResource {
	for _, g := range d.Groups {
		if g.Name != group {
			continue
		}
		for _, v := range g.Versions {
			for i := range v.Resources {
				if v.Resources[i].Plural == plural {
					return &v.Resources[i]
				}
			}
		}
	}
	return nil
}
