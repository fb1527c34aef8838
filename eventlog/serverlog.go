package eventlog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// serverLogger routes the embedded nats-server's warnings and errors to khist's log (its
// notices, debug and trace lines are dropped: they describe the server, not the log). A
// warning or error about the store is how damage to the files under the data directory first
// shows, so none of them is dropped.
//
// The server repeats an error each time a consumer retries (several times a second): a line
// is logged once per repeatWindow for the same format and last argument (the error).
type serverLogger struct {
	log *slog.Logger
	// noSpace is set when the server has said a write to its store failed for want of space
	// (after which it may answer nothing: publishes time out).
	noSpace atomic.Bool

	mu   sync.Mutex
	seen map[string]time.Time
}

const repeatWindow = 10 * time.Second

func newServerLogger(l *slog.Logger) *serverLogger {
	return &serverLogger{log: l, seen: map[string]time.Time{}}
}

func (s *serverLogger) emit(level slog.Level, format string, v []any) {
	if level >= slog.LevelError && len(v) > 0 && isDiskFull(fmt.Errorf("%v", v[len(v)-1])) {
		s.noSpace.Store(true)
	}
	key := format
	if len(v) > 0 {
		key += fmt.Sprint(v[len(v)-1])
	}
	now := time.Now()
	s.mu.Lock()
	if t, ok := s.seen[key]; ok && now.Sub(t) < repeatWindow {
		s.mu.Unlock()
		return
	}
	if len(s.seen) > 1000 {
		clear(s.seen)
	}
	s.seen[key] = now
	s.mu.Unlock()
	msg := strings.TrimSpace(fmt.Sprintf(format, v...))
	s.log.Log(context.Background(), level, "embedded NATS: "+msg)
}

func (s *serverLogger) Noticef(string, ...any) {}
func (s *serverLogger) Debugf(string, ...any)  {}
func (s *serverLogger) Tracef(string, ...any)  {}
func (s *serverLogger) Warnf(format string, v ...any) {
	s.emit(slog.LevelWarn, format, v)
}
func (s *serverLogger) Errorf(format string, v ...any) {
	s.emit(slog.LevelError, format, v)
}

// Fatalf is called by the server on an error it cannot continue after. It logs: the process
// is khist's to end, and the error reaches the caller as well.
func (s *serverLogger) Fatalf(format string, v ...any) {
	s.emit(slog.LevelError, format, v)
}
