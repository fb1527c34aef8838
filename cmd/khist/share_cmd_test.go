package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const projectChildEnv = "KHIST_CMD_PROJECT_CHILD"

// TestReadWhileProjectRuns runs `khist project` in another process (this test binary
// re-executed), which owns the embedded NATS server and follows the log into the views, and
// meanwhile runs read commands and an import in this process on the same --data-dir, as an SRE
// does in a second terminal: they connect to the running server, wait their turn for the views
// file, fold what the views lack with an ephemeral consumer, and answer.
func TestReadWhileProjectRuns(t *testing.T) {
	if dir := os.Getenv(projectChildEnv); dir != "" {
		projectChild(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("runs khist project in a child process")
	}
	dir := t.TempDir()
	rolling, _ := filepath.Glob("../../query/testdata/scenarios/sample-rolling/*.json.gz")
	if out, err := run(t, dir, append([]string{"import", "--no-project"}, rolling...)...); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestReadWhileProjectRuns$", "-test.count=1")
	cmd.Env = append(os.Environ(), projectChildEnv+"="+dir)
	var childOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &childOut, &childOut
	stop, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); close(exited) }()
	defer func() {
		stop.Close()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
		}
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "nats.addr")); err == nil {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("khist project exited: %v\n%s", err, childOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("khist project did not start\n%s", childOut.String())
		}
	}

	ns := []string{"-n", "sample-rolling"}
	for i := 0; i < 3; i++ {
		began := time.Now()
		out, err := run(t, dir, "rollouts", "-A")
		if err != nil || !strings.Contains(out, "deployment/checkout") || !strings.Contains(out, "1 -> 2") {
			t.Fatalf("khist rollouts -A while project runs: %v\n%s\nproject:\n%s", err, out, childOut.String())
		}
		t.Logf("khist rollouts -A answered in %s", time.Since(began).Round(time.Millisecond))
	}
	if out, err := run(t, dir, append([]string{"get", "deploy/checkout", "--at", "2026-11-22T00:11:32Z"}, ns...)...); err != nil || !strings.Contains(out, "image: checkout:v1") {
		t.Fatalf("khist get --at while project runs: %v\n%s", err, out)
	}
	if out, err := run(t, dir, "rollouts", "-A", "--no-update"); err != nil || !strings.Contains(out, "deployment/checkout") {
		t.Fatalf("khist rollouts --no-update while project runs: %v\n%s", err, out)
	}

	// An import while project runs: published through the child's server, folded by whichever
	// process gets to it first.
	sts, _ := filepath.Glob("../../query/testdata/scenarios/sample-statefulset/*.json.gz")
	if out, err := run(t, dir, append([]string{"import"}, sts...)...); err != nil {
		t.Fatalf("import while project runs: %v\n%s", err, out)
	}
	out, err := run(t, dir, "rollouts", "-A")
	if err != nil || !strings.Contains(out, "statefulset/") || !strings.Contains(out, "deployment/checkout") {
		t.Fatalf("khist rollouts -A after the import: %v\n%s", err, out)
	}

	// A second projector on the same views is refused at once, in one line.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	root := newRootCmd()
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	root.SetArgs([]string{"--data-dir", dir, "project"})
	if err := root.ExecuteContext(ctx); err == nil || !strings.Contains(err.Error(), "is being fed by another khist process") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("a second khist project: %v", err)
	}

	stop.Close()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("khist project: %v\n%s", err, childOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("khist project did not stop\n%s", childOut.String())
	}
	if !strings.Contains(childOut.String(), "stopped at sequence") {
		t.Fatalf("khist project output:\n%s", childOut.String())
	}
	// The views hold the whole log, folded once.
	out, err = run(t, dir, "rollouts", "-A", "--no-update")
	if err != nil || !strings.Contains(out, "statefulset/") {
		t.Fatalf("khist rollouts after project stopped: %v\n%s", err, out)
	}
}

// projectChild runs `khist project` until its stdin closes (as Ctrl-C would stop it).
func projectChild(t *testing.T, dir string) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	root := newRootCmd()
	root.SetOut(os.Stdout)
	root.SetErr(os.Stdout)
	root.SetArgs([]string{"--data-dir", dir, "project"})
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatalf("khist project: %v", err)
	}
}
