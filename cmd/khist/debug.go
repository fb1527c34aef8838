package main

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"
)

// serveDebug serves Go's profiles (net/http/pprof) at the returned URL until stop is called:
// `go tool pprof URL/heap` shows what holds memory.
func serveDebug(addr string, logger *slog.Logger) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("--debug-addr %s: %w (use a free host:port, e.g. localhost:6060)", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	url = "http://" + ln.Addr().String() + "/debug/pprof/"
	logger.Info("serving profiles", "addr", url)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("profile server stopped", "err", err)
		}
	}()
	return url, func() { srv.Close() }, nil
}

// defaultMemoryLimit is the soft memory limit of collect and import. collect's caches (the
// views' object, segment and head-block caches, the embedded server's block buffers) fill up to
// about 130 MB of live heap on a busy cluster, and import's sort runs, de-duplication table and
// messages in flight about 100 MB; without a limit Go lets the heap reach twice the live heap
// before it collects, over 280 MB of RSS (see BENCHMARKS.md, issue 13).
const defaultMemoryLimit = "192Mi"

// memoryLimitFlag is --memory-limit, for the commands that hold large caches or buffers.
type memoryLimitFlag struct {
	value string
	set   bool // given on the command line: it wins over GOMEMLIMIT
}

func (m *memoryLimitFlag) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&m.value, "memory-limit", defaultMemoryLimit, "soft limit of the Go memory (heap, stacks; as GOMEMLIMIT, which wins when set and this flag is not): garbage is collected more often near it. 0: none")
}

// apply sets the limit; call it from the command's RunE.
func (m *memoryLimitFlag) apply(cmd *cobra.Command) error {
	m.set = cmd.Flags().Changed("memory-limit")
	return setMemoryLimit(m.value, m.set)
}

// setMemoryLimit applies a --memory-limit (a Kubernetes quantity: 192Mi, 1Gi; 0 for none).
// GOMEMLIMIT, when set, wins over the default but not over the flag given explicitly.
func setMemoryLimit(limit string, explicit bool) error {
	if !explicit && os.Getenv("GOMEMLIMIT") != "" {
		return nil
	}
	q, err := resource.ParseQuantity(limit)
	if err != nil || q.Sign() < 0 {
		return fmt.Errorf("--memory-limit: cannot parse %q: use a size such as 192Mi or 1Gi, or 0 for none", limit)
	}
	n := q.Value()
	if n == 0 {
		n = math.MaxInt64 // no limit
	}
	debug.SetMemoryLimit(n)
	return nil
}
