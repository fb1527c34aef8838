// Command khist records the history of a Kubernetes cluster as an event log, folds it into
// queryable views and replays controller logic over it. main only wires: a signal context,
// the root command, ExecuteContext.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "khist: "+err.Error())
		os.Exit(1)
	}
}
