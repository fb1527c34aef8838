package eventlog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// PublisherOptions tune a Publisher. Zero values mean the documented defaults.
type PublisherOptions struct {
	// MaxInFlight bounds the envelopes sent but not yet acknowledged; Publish blocks beyond it.
	// Default 1024.
	MaxInFlight int
	// Retries is how many times an envelope whose acknowledgement failed is re-sent (with the
	// same message id, so a re-send of a stored envelope is dropped as a duplicate). Default 5.
	Retries int
	// RetryFor is how long, from the first failure, an envelope is re-sent beyond Retries while
	// the log is Unavailable: a clustered stream without a leader answers at once that it has
	// none, and would use up the Retries within seconds of an election. Default Retries times
	// AckTimeout.
	RetryFor time.Duration
	// AckTimeout is how long one attempt waits for its acknowledgement. Default 10s.
	AckTimeout time.Duration
	// OnAck, if set, is called once per envelope, in publish order, when it is stored
	// (duplicate reports a message JetStream already had) or has finally failed (err != nil).
	OnAck func(e *Envelope, seq uint64, duplicate bool, err error)
	// OnRetry, if set, is called before each re-send of an envelope whose last attempt failed
	// (err), e.g. while a clustered stream elects a new leader.
	OnRetry func(e *Envelope, err error)
}

// PublishStats counts what a Publisher has done.
type PublishStats struct {
	Published  int // stored as new events
	Duplicates int // dropped by JetStream as already stored
	Failed     int // not stored after all retries
}

// Publisher publishes envelopes asynchronously with a bounded number in flight. Every envelope
// is either acknowledged by JetStream or its failure is returned from Publish or Flush: nothing
// is dropped silently. Acknowledgements are processed in publish order. Use one Publisher from
// one goroutine at a time, or guard it.
type Publisher struct {
	l    *Log
	js   jetstream.JetStream
	opts PublisherOptions

	pending chan pending // in publish order; capacity MaxInFlight
	done    chan struct{}

	mu    sync.Mutex
	err   error // first unrecoverable failure; sticky
	stats PublishStats
	idle  *sync.Cond // signalled when an ack has been processed
	inFly int
}

type pending struct {
	env  *Envelope
	fut  jetstream.PubAckFuture
	err  error     // send error (no future)
	sent time.Time // the acknowledgement is due by sent + AckTimeout
}

// NewPublisher returns a publisher on the log's stream. Close it to stop its ack goroutine.
func (l *Log) NewPublisher(opts PublisherOptions) (*Publisher, error) {
	if opts.MaxInFlight == 0 {
		opts.MaxInFlight = 1024
	}
	if opts.MaxInFlight < 1 {
		return nil, fmt.Errorf("%w: MaxInFlight must be at least 1", ErrInvalidOption)
	}
	if opts.Retries == 0 {
		opts.Retries = 5
	}
	if opts.AckTimeout == 0 {
		opts.AckTimeout = 10 * time.Second
	}
	if opts.RetryFor == 0 {
		opts.RetryFor = time.Duration(opts.Retries) * opts.AckTimeout
	}
	// The jetstream context's own async window is kept above ours so that it never stalls.
	js, err := jetstream.New(l.nc, jetstream.WithPublishAsyncMaxPending(opts.MaxInFlight+16))
	if err != nil {
		return nil, err
	}
	p := &Publisher{l: l, js: js, opts: opts, pending: make(chan pending, opts.MaxInFlight), done: make(chan struct{})}
	p.idle = sync.NewCond(&p.mu)
	go p.acks()
	return p, nil
}

// Publish sends e. It returns once e is in flight (blocking while MaxInFlight envelopes wait
// for acknowledgement), or the first failure of an earlier envelope, or ctx's error.
func (p *Publisher) Publish(ctx context.Context, e *Envelope) error {
	if err := e.Validate(); err != nil {
		return err
	}
	p.mu.Lock()
	err := p.err
	p.mu.Unlock()
	if err != nil {
		return err
	}
	// Wait for room before sending, so that at most MaxInFlight envelopes are unacknowledged.
	p.mu.Lock()
	for p.inFly >= p.opts.MaxInFlight && p.err == nil && ctx.Err() == nil {
		p.waitIdle(ctx)
	}
	if p.err != nil || ctx.Err() != nil {
		err := p.err
		p.mu.Unlock()
		if err != nil {
			return err
		}
		return ctx.Err()
	}
	p.inFly++
	p.mu.Unlock()
	fut, serr := p.js.PublishMsgAsync(e.Msg(), jetstream.WithMsgID(e.MsgID()))
	p.pending <- pending{env: e, fut: fut, err: serr, sent: time.Now()} // never blocks: inFly <= cap
	return nil
}

// acks settles pending envelopes in order, retrying failed ones synchronously. Each
// acknowledgement is awaited until AckTimeout after its envelope was sent. Once an envelope has
// finally failed, the ones still in flight are not retried: each is settled as soon as its own
// acknowledgement arrives or is due, so that a dead server fails a full window within about one
// AckTimeout, and the caller learns (through OnAck and Stats) exactly which were stored.
func (p *Publisher) acks() {
	defer close(p.done)
	timer := time.NewTimer(0)
	for pe := range p.pending {
		var (
			ack *jetstream.PubAck
			err = pe.err
		)
		if err == nil {
			timer.Reset(max(time.Until(pe.sent.Add(p.opts.AckTimeout)), 0))
			select {
			case ack = <-pe.fut.Ok():
			case err = <-pe.fut.Err():
			case <-timer.C:
				err = fmt.Errorf("no acknowledgement within %s", p.opts.AckTimeout)
			}
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
		if err != nil {
			p.mu.Lock()
			failed := p.err != nil
			p.mu.Unlock()
			if failed {
				err = fmt.Errorf("%w: %s not stored after an earlier failure: %v", ErrPublish, pe.env, err)
			} else {
				ack, err = p.retry(pe.env, err)
			}
		}
		p.settle(pe.env, ack, err)
	}
}

// retry re-sends e after its first attempt failed. A full store is not retried: it says so
// (ErrDiskFull) at once.
func (p *Publisher) retry(e *Envelope, first error) (*jetstream.PubAck, error) {
	last := first
	wait := 100 * time.Millisecond
	deadline := time.Now().Add(p.opts.RetryFor)
	tries := 0
	for ; tries < p.opts.Retries || Unavailable(last) && time.Now().Before(deadline); tries++ {
		if err := p.l.notPermitted(last); errors.Is(err, ErrNotPermitted) {
			return nil, fmt.Errorf("%w: %s not stored: %w", ErrPublish, e, err)
		}
		if err := p.l.diskFull(last, e.String()+" not stored", len(e.Object)); errors.Is(err, ErrDiskFull) {
			return nil, fmt.Errorf("%w: %w", ErrPublish, err)
		}
		if p.opts.OnRetry != nil {
			p.opts.OnRetry(e, last)
		}
		time.Sleep(wait)
		if wait < 2*time.Second {
			wait *= 2
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.opts.AckTimeout)
		ack, err := p.js.PublishMsg(ctx, e.Msg(), jetstream.WithMsgID(e.MsgID()))
		cancel()
		if err == nil {
			return ack, nil
		}
		last = err
	}
	if err := p.l.diskFull(last, e.String()+" not stored", len(e.Object)); errors.Is(err, ErrDiskFull) {
		return nil, fmt.Errorf("%w: %w", ErrPublish, err)
	}
	return nil, fmt.Errorf("%w: %s after %d retries: %v", ErrPublish, e, tries, last)
}

func (p *Publisher) settle(e *Envelope, ack *jetstream.PubAck, err error) {
	var seq uint64
	dup := false
	if ack != nil {
		seq, dup = ack.Sequence, ack.Duplicate
	}
	if p.opts.OnAck != nil {
		p.opts.OnAck(e, seq, dup, err)
	}
	p.mu.Lock()
	switch {
	case err != nil:
		p.stats.Failed++
		if p.err == nil {
			p.err = err
		}
	case dup:
		p.stats.Duplicates++
	default:
		p.stats.Published++
	}
	p.inFly--
	p.idle.Broadcast()
	p.mu.Unlock()
}

// Flush waits until every envelope published so far is settled, and returns the first failure.
func (p *Publisher) Flush(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.inFly > 0 && ctx.Err() == nil {
		p.waitIdle(ctx)
	}
	if p.err != nil {
		return p.err
	}
	return ctx.Err()
}

// waitIdle waits, with p.mu held, until an acknowledgement is settled or ctx ends.
func (p *Publisher) waitIdle(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() {
		p.mu.Lock()
		p.idle.Broadcast()
		p.mu.Unlock()
	})
	p.idle.Wait()
	stop()
}

// Stats returns the counts so far.
func (p *Publisher) Stats() PublishStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Close flushes and stops the publisher. It returns the first failure, if any.
func (p *Publisher) Close(ctx context.Context) error {
	err := p.Flush(ctx)
	close(p.pending)
	<-p.done
	return err
}
