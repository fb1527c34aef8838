package main

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/khist/khist/projector"
	bolt "go.etcd.io/bbolt"
)

// TestReadCommands runs the read commands as the binary would, on the sample recording imported
// into an embedded log: the wiring of flags, views and output. What the answers say is tested
// in package query (golden files).
func TestReadCommands(t *testing.T) {
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join("../../query/testdata/scenarios/sample-rolling", "*.json.gz"))
	if out, err := run(t, dir, append([]string{"import"}, files...)...); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	ns := []string{"-n", "sample-rolling"}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"rollouts", "-A"}, []string{"deployment/checkout", "1 -> 2", "checkout:v1 -> checkout:v2", "complete", "6/6 (100%)", "kubectl-set"}},
		{append([]string{"history", "deploy/checkout"}, ns...), []string{"669d5fd697", "checkout:v2", "now", "complete in "}},
		{append([]string{"history", "deploy", "checkout"}, ns...), []string{"669d5fd697"}},
		{append([]string{"steps", "deploy/checkout"}, ns...), []string{"Scaled up replica set checkout-669d5fd697 from 0 to 2", "Deleted pod checkout-59b467b7d8-k8qnr"}},
		{append([]string{"get", "deploy/checkout", "--at", "2026-11-22T00:11:32Z"}, ns...), []string{"image: checkout:v1", "# recorded version: MODIFIED"}},
		{append([]string{"get", "pod/checkout-59b467b7d8-j4gxg", "-o", "json"}, ns...), []string{`"name": "checkout-59b467b7d8-j4gxg"`}},
		{append([]string{"get", "deploy"}, ns...), []string{"Latest recorded state: the recorded history ends at 2026-11-22 00:11:40, before --at.", "NAME       READY   UP-TO-DATE   AVAILABLE   AGE", "checkout   6/6"}},
		{[]string{"get", "rs", "-A", "--at", "2026-11-22T00:11:35Z"}, []string{"NAMESPACE", "checkout-59b467b7d8", "checkout-669d5fd697"}},
		{append([]string{"state", "--at", "now", "--kind", "deploy"}, ns...), []string{"Latest recorded state: ", "checkout   6/6"}},
		{append([]string{"steps", "deploy/checkout", "--rollout", "deploy/checkout#1"}, ns...), []string{"Rollout deployment/checkout#1 in namespace sample-rolling"}},
		{[]string{"__complete", "steps", "deploy/checkout", "-n", "sample-rolling", "--rollout", ""}, []string{"deployment/checkout#1\trevision 1", "deployment/checkout#2\trevision 2"}},
		{append([]string{"diff", "deploy/checkout", "--from", "1", "--to", "2", "--color", "never"}, ns...), []string{"-      - image: checkout:v1", "+      - image: checkout:v2"}},
		{append([]string{"state", "--at", "2026-11-22T00:11:36Z", "--kind", "deploy,rs"}, ns...), []string{"deployment.apps/checkout", "UP-TO-DATE", "replicaset.apps/checkout-669d5fd697"}},
		{append([]string{"timeline", "--since", "2026-11-22T00:00:00Z", "--until", "2026-11-22T01:00:00Z", "-o", "md"}, ns...), []string{"## deployment.apps/checkout", "image app checkout:v1 -> checkout:v2"}},
	} {
		out, err := run(t, dir, c.args...)
		if err != nil {
			t.Errorf("khist %s: %v\n%s", strings.Join(c.args, " "), err, out)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("khist %s: output lacks %q:\n%s", strings.Join(c.args, " "), w, out)
			}
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"get"}, "get: KIND/NAME or KIND is needed, e.g. get deploy/web, or get deploy to list them"},
		{[]string{"get", "deploy/checkout", "-n", "sample-rolling", "--at", "soon"}, `--at: cannot parse "soon"`},
		{[]string{"history", "deploy/chekout", "-n", "sample-rolling"}, `no deployment "chekout" in namespace sample-rolling in the recorded history: nearest: checkout`},
		{[]string{"diff", "deploy/checkout", "-n", "sample-rolling", "--color", "rainbow"}, `--color: "rainbow": use auto, always or never`},
		{[]string{"timeline", "-n", "sample-rolling", "--since", "2020-01-01", "--until", "2020-01-02"}, "--until: 2020-01-02 00:00:00"},
	} {
		out, err := run(t, dir, c.args...)
		if err == nil {
			t.Errorf("khist %s: no error\n%s", strings.Join(c.args, " "), out)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("khist %s: error %q, want one line with %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}

// TestOlderViewsAreRebuilt: views written by another version of khist (another schema) are
// rebuilt from the log by the next command that folds into them, which then answers.
func TestOlderViewsAreRebuilt(t *testing.T) {
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join("../../query/testdata/scenarios/sample-rolling", "*.json.gz"))
	if out, err := run(t, dir, append([]string{"import"}, files...)...); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	path := filepath.Join(dir, "views.db")
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	bdb.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), binary.BigEndian.AppendUint64(nil, 1))
	})
	bdb.Close()
	if _, err := projector.Open(path, nil); !errors.Is(err, projector.ErrOtherSchema) {
		t.Fatalf("open: %v, want ErrOtherSchema", err)
	}
	out, err := run(t, dir, "rollouts", "-A")
	if err != nil {
		t.Fatalf("rollouts: %v\n%s", err, out)
	}
	for _, w := range []string{"were made by another version of khist: rebuilding them from the log", "deployment/checkout", "checkout:v1 -> checkout:v2"} {
		if !strings.Contains(out, w) {
			t.Errorf("rollouts output lacks %q:\n%s", w, out)
		}
	}
	db, err := projector.Open(path, nil)
	if err != nil {
		t.Fatalf("views after the rebuild: %v", err)
	}
	db.Close()
}
