// Command khist-cluster builds and runs khist's test control plane (package
// github.com/khist/khist/test/cluster) by hand:
//
//	khist-cluster build              build the binaries, print their directory
//	khist-cluster up [--dir D]       run a cluster until Ctrl-C or SIGTERM
//	khist-cluster down --dir D       stop the cluster that "up --dir D" runs
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/khist/khist/test/cluster"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "khist-cluster: "+err.Error())
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "khist-cluster",
		Short:         "Build and run khist's test control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newBuildCmd(), newUpCmd(), newDownCmd())
	return root
}

func newBuildCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "build",
		Short: "Build the control plane binaries (once per machine) and print their directory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := cluster.EnsureBinaries(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), dir)
			return nil
		},
	}
}

// pidFile, in the state directory, holds the pid of "up" for "down".
const pidFile = "khist-cluster.pid"

type upFlags struct {
	opts cluster.Options
}

func newUpCmd() *cobra.Command {
	f := &upFlags{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run a test cluster until interrupted; prints its kubeconfig path",
		Long: "Run a test cluster on free ports of 127.0.0.1 until Ctrl-C or SIGTERM (or \"down --dir\"), then stop it.\n" +
			"A cluster starts empty each time: the etcd data of an earlier run in --dir is discarded.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runUp(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.opts.Dir, "dir", "", "state directory (certificates, kubeconfigs, etcd data, logs); default: a temporary directory removed on exit")
	fl.BoolVar(&f.opts.KeepDir, "keep", false, "keep the temporary state directory on exit")
	fl.IntVar(&f.opts.Nodes, "nodes", cluster.DefaultNodes, "number of fake kwok nodes")
	fl.StringVar(&f.opts.AuditPolicyFile, "audit-policy", "", "enable the API server audit log with this policy file")
	fl.StringVar(&f.opts.AuditLogPath, "audit-log", "", "write the API server audit log here (default with --audit-policy: DIR/audit.log)")
	fl.StringSliceVar(&f.opts.ExtraAPIServerFlags, "apiserver-flag", nil, "extra kube-apiserver flag (repeatable)")
	fl.StringSliceVar(&f.opts.ExtraControllerManagerFlags, "controller-manager-flag", nil, "extra kube-controller-manager flag (repeatable)")
	return cmd
}

func runUp(cmd *cobra.Command, f *upFlags) error {
	ctx := cmd.Context()
	if f.opts.Nodes == 0 {
		f.opts.Nodes = -1 // --nodes 0 means none; the Options zero value means the default
	}
	if f.opts.Dir != "" {
		abs, err := filepath.Abs(f.opts.Dir)
		if err != nil {
			return err
		}
		f.opts.Dir = abs
	}
	c, err := cluster.Start(ctx, f.opts)
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(os.Stderr, "khist-cluster: stopping")
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "khist-cluster: stop: "+err.Error())
		}
	}()
	pid := filepath.Join(c.Dir, pidFile)
	if err := os.WriteFile(pid, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	defer os.Remove(pid)
	out := cmd.OutOrStdout()
	fmt.Fprintln(out, c.Kubeconfig)
	fmt.Fprintf(os.Stderr, "khist-cluster: running; state and logs in %s\n", c.Dir)
	fmt.Fprintf(os.Stderr, "  export KUBECONFIG=%s\n  %s/kubectl get nodes\n", c.Kubeconfig, c.BinDir)
	if c.AuditLogPath != "" {
		fmt.Fprintf(os.Stderr, "  audit log: %s\n", c.AuditLogPath)
	}
	fmt.Fprintln(os.Stderr, "khist-cluster: Ctrl-C or SIGTERM stops it")
	<-ctx.Done()
	return nil
}

func newDownCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "down --dir D",
		Short: `Stop the cluster that "up --dir D" runs, and wait for it`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return errors.New(`--dir is required: the state directory given to "up --dir"`)
			}
			return runDown(cmd.Context(), dir)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "state directory of the running cluster")
	return cmd
}

func runDown(ctx context.Context, dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, pidFile))
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "khist-cluster: no cluster running in %s\n", dir)
		return nil
	}
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("%s: bad pid %q", filepath.Join(dir, pidFile), data)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			fmt.Fprintf(os.Stderr, "khist-cluster: the cluster in %s is gone (stale pid file)\n", dir)
			return nil
		}
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("khist-cluster (pid %d) still running 60s after SIGTERM", pid)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	fmt.Fprintf(os.Stderr, "khist-cluster: stopped the cluster in %s\n", dir)
	return nil
}
