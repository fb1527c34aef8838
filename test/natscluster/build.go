package natscluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/khist/khist/test/internal/proc"
)

// EnvBinary names a nats-server binary to use instead of building one.
const EnvBinary = "KHIST_NATS_SERVER_BIN"

// Version is the nats-server version the binary is built at: the one go.mod requires.
var Version = "v" + server.VERSION

// binaryPath is where the cached binary of Version lives.
func binaryPath() (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		var err error
		if base, err = os.UserCacheDir(); err != nil {
			return "", fmt.Errorf("no cache directory: set XDG_CACHE_HOME or %s: %w", EnvBinary, err)
		}
	}
	return filepath.Join(base, "khist", "tools", "nats-server-"+Version, "nats-server"), nil
}

// EnsureBinary returns the path of a nats-server binary of Version, building it first with
// `go build github.com/nats-io/nats-server/v2` (from this module, so at go.mod's version) if
// the cache lacks it. Progress goes to log.
func EnsureBinary(ctx context.Context, log io.Writer) (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvBinary, p, err)
		}
		return p, nil
	}
	bin, err := binaryPath()
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	dir := filepath.Dir(bin)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	unlock, err := proc.LockFile(ctx, filepath.Join(dir, ".lock"), func() {
		fmt.Fprintf(log, "natscluster: waiting for another process building nats-server into %s\n", dir)
	})
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(bin); err == nil { // built while we waited
		return bin, nil
	}
	start := time.Now()
	fmt.Fprintf(log, "natscluster: building nats-server %s into %s\n", Version, dir)
	tmp := bin + ".tmp"
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp, "github.com/nats-io/nats-server/v2")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build nats-server %s: %v\n%s", Version, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	fmt.Fprintf(log, "natscluster: built nats-server in %s\n", time.Since(start).Round(time.Second))
	return bin, nil
}
