package eventlog

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Unavailable reports whether err says the log could not be reached for a while rather than
// that a request is wrong: the server went away or is shutting down, the client is
// reconnecting, a request timed out, or a clustered JetStream has no leader or no quorum
// (HTTP-like code 503). A reader or writer that gets such an error may wait and try again;
// the stream keeps its events. A closed connection (Close was called) is not unavailable.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	for _, target := range []error{
		jetstream.ErrServerShutdown, jetstream.ErrNoHeartbeat, jetstream.ErrConsumerDeleted,
		jetstream.ErrConsumerNotFound, jetstream.ErrConsumerLeadershipChanged,
		jetstream.ErrNoStreamResponse,
		nats.ErrTimeout, nats.ErrNoResponders, nats.ErrDisconnected, nats.ErrConnectionReconnecting,
		context.DeadlineExceeded,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	var api *jetstream.APIError
	return errors.As(err, &api) && api.Code == 503
}
