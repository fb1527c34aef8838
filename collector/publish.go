package collector

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/khist/khist/eventlog"
)

// publishError is a failure of the log: the session ends, and the next one relists.
type publishError struct{ err error }

func (e *publishError) Error() string { return "publish: " + e.err.Error() }
func (e *publishError) Unwrap() error { return e.err }

func isPublishError(err error) bool {
	var pe *publishError
	return errors.As(err, &pe)
}

// publisher shares one eventlog.Publisher between the watches of a session. It bounds the
// bytes in flight on top of the Publisher's count, and, as acknowledgements arrive, tells the
// state where each version was stored, or that it was lost.
type publisher struct {
	c *Collector
	p *eventlog.Publisher

	mu sync.Mutex // serializes p.Publish

	bmu      sync.Mutex
	bcond    *sync.Cond
	bytes    int64
	maxBytes int64

	lastSlowLog time.Time // guarded by mu

	// sent counts the envelopes sent (in publish order), acked those stored, in the same
	// order: acked >= n means that the first n envelopes sent are all in the log, which is
	// what a progress record waits for (see checkpointDue).
	// After a failure acked stops: the envelopes stored after one that was not do not count.
	sent, acked atomic.Uint64
	failed      atomic.Bool

	// onFail is called when a version could not be stored: the session ends at once, even if
	// no watch publishes again to learn of it.
	onFail func(error)
}

// slowPublish is how long a wait for room to publish must last to be logged.
const slowPublish = 5 * time.Second

func (c *Collector) newPublisher() (*publisher, error) {
	pp := &publisher{c: c, maxBytes: c.opts.MaxInFlightBytes}
	pp.bcond = sync.NewCond(&pp.bmu)
	p, err := c.elog.NewPublisher(eventlog.PublisherOptions{MaxInFlight: c.opts.MaxInFlight, AckTimeout: c.opts.PublishAckTimeout, OnAck: pp.onAck,
		OnRetry: func(*eventlog.Envelope, error) { c.metrics.publishRetries.Inc() }})
	if err != nil {
		return nil, err
	}
	pp.p = p
	return pp, nil
}

// publish sends e, waiting while too much is in flight. t is the table of e's kind (nil for a
// progress record). On failure the table forgets that e's version is recorded, so that the
// next relist records it again.
func (pp *publisher) publish(ctx context.Context, t *table, e *eventlog.Envelope) error {
	start := time.Now()
	n := int64(len(e.Object))
	if err := pp.acquire(ctx, n); err != nil {
		if t != nil {
			t.lost(e.UID, e.Namespace, e.Name)
		}
		return err
	}
	pp.mu.Lock()
	err := pp.p.Publish(ctx, e)
	if err == nil {
		pp.sent.Add(1)
	}
	waited := time.Since(start)
	slow := waited > slowPublish && time.Since(pp.lastSlowLog) > time.Minute
	if slow {
		pp.lastSlowLog = time.Now()
	}
	pp.mu.Unlock()
	m := pp.c.metrics
	if waited > time.Millisecond {
		m.publishBlocked.Add(waited.Seconds())
	}
	if slow {
		pp.c.log.Warn("the log is slow: watches wait for acknowledgements (back-pressure); a watch that falls too far behind relists when the log catches up",
			"waited", waited.Round(time.Millisecond), "resource", e.Resource)
	}
	if err != nil {
		pp.release(n)
		if t != nil {
			t.lost(e.UID, e.Namespace, e.Name)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		m.publishErrors.WithLabelValues(e.Group, e.Resource).Inc()
		return &publishError{err}
	}
	m.inFlight.Inc()
	m.inFlightBytes.Add(float64(n))
	return nil
}

// onAck is called by the Publisher for each envelope, in publish order.
func (pp *publisher) onAck(e *eventlog.Envelope, seq uint64, dup bool, err error) {
	n := int64(len(e.Object))
	pp.release(n)
	m := pp.c.metrics
	m.inFlight.Dec()
	m.inFlightBytes.Sub(float64(n))
	if err != nil {
		pp.failed.Store(true)
	} else if !pp.failed.Load() {
		pp.acked.Add(1)
	}
	if e.Type == eventlog.Progress {
		if err != nil {
			if pp.onFail != nil {
				pp.onFail(&publishError{err})
			}
			return
		}
		m.progress.Inc()
		// The next session of this process resumes its watches from here.
		pp.c.state.setProgress(watchKey{e.Group, e.Resource, e.Namespace}, e.ResourceVersion)
		return
	}
	t := pp.c.state.lookup(e.Group, e.Kind)
	if err != nil {
		m.publishErrors.WithLabelValues(e.Group, e.Resource).Inc()
		pp.c.log.Error("the log did not store a version; it is recorded again when the watches start again (from their last recorded progress, or by a relist)", "event", e.String(), "err", err)
		if t != nil {
			t.lost(e.UID, e.Namespace, e.Name)
		}
		if pp.onFail != nil {
			pp.onFail(&publishError{err})
		}
		return
	}
	m.publishLatency.Observe(time.Since(e.Observed).Seconds())
	if dup {
		m.filtered.WithLabelValues(e.Group, e.Resource, "duplicate").Inc()
	} else {
		m.events.WithLabelValues(e.Group, e.Resource, string(e.Type)).Inc()
	}
	if t != nil {
		t.noteStored(e.ResourceVersion)
		if !e.Type.IsDelete() && seq > 0 {
			t.stored(e.UID, seq)
		}
	}
}

func (pp *publisher) acquire(ctx context.Context, n int64) error {
	pp.bmu.Lock()
	defer pp.bmu.Unlock()
	if pp.bytes > 0 && pp.bytes+n > pp.maxBytes {
		stop := context.AfterFunc(ctx, func() {
			pp.bmu.Lock()
			pp.bcond.Broadcast()
			pp.bmu.Unlock()
		})
		defer stop()
		for pp.bytes > 0 && pp.bytes+n > pp.maxBytes && ctx.Err() == nil {
			pp.bcond.Wait()
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	pp.bytes += n
	return nil
}

func (pp *publisher) release(n int64) {
	pp.bmu.Lock()
	pp.bytes -= n
	pp.bcond.Broadcast()
	pp.bmu.Unlock()
}

// flush waits until every version sent so far is acknowledged.
func (pp *publisher) flush(ctx context.Context) error {
	if err := pp.p.Flush(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &publishError{err}
	}
	return nil
}

// close waits for every acknowledgement (however long the log takes: what it does not
// acknowledge is marked lost) and stops the Publisher.
func (pp *publisher) close() error {
	err := pp.p.Close(context.Background())
	if err != nil {
		return fmt.Errorf("close publisher: %w", err)
	}
	return nil
}
