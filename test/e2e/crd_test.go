package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
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
