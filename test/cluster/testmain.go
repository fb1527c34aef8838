package cluster

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// RunMain runs the tests of a package against one cluster, started before
// and stopped after them, for a TestMain:
//
//	var testCluster *cluster.Cluster
//
//	func TestMain(m *testing.M) {
//		os.Exit(cluster.RunMain(m, cluster.Options{}, func(c *cluster.Cluster) error {
//			testCluster = c
//			return nil
//		}))
//	}
//
// setup (may be nil) runs once the cluster is ready; an error from it fails
// the package without running its tests. RunMain stops the cluster after the
// tests, and after a panic in setup. When tests fail the state directory,
// with the component logs, is kept and its path printed. A test that panics
// or times out ends the test binary at once, without deferred code: then the
// parent-death signal (Linux) kills the cluster and its directory stays.
//
// With -short no cluster is started, setup is not called and the tests run
// alone: tests that need the cluster should skip when it is nil.
func RunMain(m *testing.M, opts Options, setup func(*Cluster) error) (code int) {
	if !flag.Parsed() {
		flag.Parse()
	}
	if testing.Short() {
		return m.Run()
	}
	// Ctrl-C during the (possibly long) start-up cancels it cleanly; during
	// the tests it kills the binary as usual, and the parent-death signal
	// takes the cluster down.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	c, err := Start(ctx, opts)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "khist/cluster: %v\n", err)
		return 1
	}
	defer func() {
		r := recover()
		if r != nil || code != 0 {
			c.KeepDir()
			fmt.Fprintf(os.Stderr, "khist/cluster: tests failed; cluster state and logs kept in %s\n", c.Dir)
		}
		if err := c.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "khist/cluster: stop: %v\n", err)
		}
		if r != nil {
			panic(r)
		}
	}()
	if setup != nil {
		if err := setup(c); err != nil {
			fmt.Fprintf(os.Stderr, "khist/cluster: setup: %v\n", err)
			return 1
		}
	}
	return m.Run()
}
