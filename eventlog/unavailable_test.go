package eventlog

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestUnavailable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{fmt.Errorf("read log: %w", jetstream.ErrServerShutdown), true},
		{fmt.Errorf("publish: %w", nats.ErrNoResponders), true},
		{nats.ErrTimeout, true},
		{&jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream cluster not available"}, true},
		{&jetstream.APIError{Code: 400, ErrorCode: 10052, Description: "invalid JSON"}, false},
		{nats.ErrConnectionClosed, false},
		{ErrDiskFull, false},
		{errors.New("views: bad record"), false},
	} {
		if got := Unavailable(c.err); got != c.want {
			t.Errorf("Unavailable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
