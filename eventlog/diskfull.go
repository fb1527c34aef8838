package eventlog

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/nats-io/nats.go/jetstream"
)

// A full disk shows in JetStream's answers as "insufficient resources" (the store reached the
// server's storage limit: for the embedded server, 75% of the space that was free on the
// store's filesystem when it started, plus what the store held then), "insufficient storage
// resources available" (a stream or consumer that would not fit), "error creating store for
// consumer: ... no space left on device", and, once a write has failed for want of space, a
// server that has disabled JetStream and answers nothing ("context deadline exceeded"). None
// says the disk is full; diskFull turns each into ErrDiskFull, naming the store's path, the
// space free there and what to do. Nothing stored is lost: JetStream refuses the new event
// before writing it, and a write that fails for want of space stops the store.

// JetStream error codes that mean the store has no room (nats-server's
// JSInsufficientResourcesErr, JSStorageResourcesExceededErr, JSConsumerStoreFailedErrF).
const (
	errCodeInsufficientResources    jetstream.ErrorCode = 10023
	errCodeStorageResourcesExceeded jetstream.ErrorCode = 10047
	errCodeConsumerStoreFailed      jetstream.ErrorCode = 10104
)

// isDiskFull reports whether err is a store's answer that it has no room.
func isDiskFull(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || strings.Contains(err.Error(), "no space left") {
		return true
	}
	var api *jetstream.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode {
		case errCodeInsufficientResources, errCodeStorageResourcesExceeded:
			return true
		case errCodeConsumerStoreFailed:
			return strings.Contains(api.Description, "no space") || strings.Contains(api.Description, "quota")
		}
	}
	return false
}

// outOfSpace reports whether the embedded server has said that a write to its store failed
// for want of space (it then stops the stream, or turns JetStream off, and answers nothing).
func (l *Log) outOfSpace() bool {
	return l.slog != nil && l.slog.noSpace.Load()
}

// diskFull returns err as an ErrDiskFull when it (or the state of the embedded server) says
// the store has no room, and err unchanged otherwise. what names what failed ("ConfigMap a/b
// rv=3 not stored"), need the bytes it needed (0 when unknown).
func (l *Log) diskFull(err error, what string, need int) error {
	if err == nil || errors.Is(err, ErrDiskFull) {
		return err
	}
	if !isDiskFull(err) && !l.outOfSpace() {
		return err
	}
	needs := ""
	if need > 0 {
		needs = fmt.Sprintf(" (it needs %s more)", bytesString(int64(need)))
	}
	if l.storeDir == "" {
		return fmt.Errorf("%w: %s%s: the NATS server's JetStream storage is full (%v): free space in its store, or raise its max_file_store (jetstream { max_file_store: ... } in its configuration), then run the command again; nothing stored is lost",
			ErrDiskFull, what, needs, err)
	}
	var limit string
	var api *jetstream.APIError
	if errors.As(err, &api) && (api.ErrorCode == errCodeInsufficientResources || api.ErrorCode == errCodeStorageResourcesExceeded) && l.srv != nil {
		if c := l.srv.JetStreamConfig(); c != nil && c.MaxStore > 0 {
			limit = fmt.Sprintf("; JetStream allows the store %s: 75%% of the space free when khist started, plus what the store held then", bytesString(c.MaxStore))
		}
	}
	return fmt.Errorf("%w: %s%s: the log's store %s is on a filesystem with %s free%s: free space there, or move --data-dir to a larger disk, then run the command again; nothing stored is lost",
		ErrDiskFull, what, needs, l.storeDir, bytesString(freeBytes(l.storeDir)), limit)
}

// freeBytes is the space an unprivileged user may still use on the filesystem of path (the
// nearest existing directory), or -1 when it cannot be told.
func freeBytes(path string) int64 {
	for {
		var st syscall.Statfs_t
		if err := syscall.Statfs(path, &st); err == nil {
			return int64(st.Bavail) * int64(st.Bsize)
		}
		parent := filepath.Dir(path)
		if parent == path {
			return -1
		}
		path = parent
	}
}

// bytesString prints n bytes in the largest binary unit that keeps it readable.
func bytesString(n int64) string {
	switch {
	case n < 0:
		return "an unknown amount"
	case n < 1<<10:
		return fmt.Sprintf("%d bytes", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
}

// DiskFull returns err as an ErrDiskFull when it is a write that failed for want of space on
// the filesystem of dir (a data directory: the views, the lock), naming the space free there
// and what to do; any other err is returned unchanged.
func DiskFull(err error, dir string) error {
	if err == nil || errors.Is(err, ErrDiskFull) || !(errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || strings.Contains(err.Error(), "no space left")) {
		return err
	}
	return fmt.Errorf("%w: %v: %s is on a filesystem with %s free: free space there, or move --data-dir to a larger disk, then run the command again; nothing stored is lost",
		ErrDiskFull, err, dir, bytesString(freeBytes(dir)))
}
