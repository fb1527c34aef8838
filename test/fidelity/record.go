package fidelity

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/eventlog/importer"
)

// NamespacedResources are the resource types a scenario's recording watches in its namespace.
var NamespacedResources = []string{
	"deployments.apps", "replicasets.apps", "statefulsets.apps", "daemonsets.apps",
	"controllerrevisions.apps", "pods", "persistentvolumeclaims", "services",
	"endpointslices.discovery.k8s.io", "events",
}

// KubectlWatch records with one `kubectl get RESOURCE --watch --output-watch-events -o json` per
// resource type, exactly as a person would: the reference against which khist's own collector
// is checked, and a recorder that needs nothing of khist.
type KubectlWatch struct {
	Kubectl    string // path of the kubectl binary
	Kubeconfig string

	mu    sync.Mutex
	procs []*exec.Cmd
	outs  []*bytes.Buffer
	names []string
}

// Start begins watching the namespace's resources and the given cluster-scoped ones.
func (k *KubectlWatch) Start(ctx context.Context, namespace string, clusterScoped []string) error {
	start := func(name string, args ...string) error {
		var out bytes.Buffer
		cmd := exec.Command(k.Kubectl, append([]string{"--kubeconfig", k.Kubeconfig}, args...)...)
		cmd.Stdout = &out
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start kubectl watch of %s: %w", name, err)
		}
		k.mu.Lock()
		k.procs, k.outs, k.names = append(k.procs, cmd), append(k.outs, &out), append(k.names, name)
		k.mu.Unlock()
		return nil
	}
	for _, r := range NamespacedResources {
		if err := start(r, "get", r, "-n", namespace, "--watch", "--output-watch-events", "-o", "json"); err != nil {
			k.Stop()
			return err
		}
	}
	for _, r := range clusterScoped {
		if err := start(r, "get", r, "--watch", "--output-watch-events", "-o", "json"); err != nil {
			k.Stop()
			return err
		}
	}
	// kubectl prints nothing until its watch is established; give it a moment.
	time.Sleep(1500 * time.Millisecond)
	return nil
}

// Stop ends the watches and returns what they printed, one input per resource type.
func (k *KubectlWatch) Stop() []importer.Input {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range k.procs {
		_ = syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
	}
	var ins []importer.Input
	for i, p := range k.procs {
		_ = p.Wait()
		if len(bytes.TrimSpace(k.outs[i].Bytes())) == 0 {
			continue // nothing of that type happened
		}
		ins = append(ins, importer.Input{Name: k.names[i], R: bytes.NewReader(k.outs[i].Bytes())})
	}
	k.procs, k.outs, k.names = nil, nil, nil
	return ins
}

// watchLine is one line of a fixture, as kubectl prints it.
type watchLine struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

// WriteFixture writes envelopes as one gzip'd kubectl watch-event stream (ADDED, MODIFIED,
// DELETED; RESYNC is written as ADDED, as kubectl prints a list), in their order.
func WriteFixture(path string, envs []*eventlog.Envelope) error {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	enc := json.NewEncoder(zw)
	for _, e := range envs {
		t := string(e.Type)
		switch e.Type {
		case eventlog.Resync:
			t = "ADDED"
		case eventlog.DeletedUnobserved:
			t = "DELETED"
		}
		if err := enc.Encode(watchLine{Type: t, Object: e.Object}); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// FixturePath is where a scenario's recording is kept, relative to this package.
func FixturePath(dir, scenario string) string {
	return filepath.Join(dir, scenario+".json.gz")
}
