package eventlog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ReadOptions select what Read delivers. Zero values mean the documented defaults.
type ReadOptions struct {
	// StartSeq is the first stream sequence to deliver; 0 or 1 start at the beginning.
	StartSeq uint64
	// Filters are subject filters (see Filter and Subject); none delivers everything.
	Filters []string
	// Durable names a durable pull consumer: one the server lists under that name while the
	// reader is away (another reader with the same name would move its position), whose
	// position survives the reader's restarts. It takes no acknowledgements: the reader's
	// caller (e.g. the projector, which stores its position with its views) is the authority
	// on where to resume. On a stream of one replica its state is kept in the server's memory
	// (lost when the server restarts, when the reader re-creates it): a consumer's state on
	// disk is written up to ten times a second while events flow (6% of khist collect's CPU
	// with the embedded server, issue 13's fourth soak). On a replicated stream it is kept on
	// the servers' disks: a replicated consumer whose state is in memory does not recover
	// when a quorum of its servers restarts at once (they come back empty, and its group
	// stays unhealthy, failing every server's /healthz), and the cost of its writes falls on
	// the NATS servers, not on khist. When it exists at another position than StartSeq, or
	// with other settings (an older khist's, or the stream's replicas changed), it is
	// re-created at StartSeq. Empty uses an ephemeral consumer.
	Durable string
	// Batch is the most envelopes handed to fn at once; default 500.
	Batch int
	// MaxWait is how long one fetch waits for a full batch before delivering what it has;
	// default 50ms.
	MaxWait time.Duration
	// Follow keeps reading new events as they arrive until ctx ends. Without it Read returns
	// once it has delivered every event that was in the log when it started. A follower that
	// has read everything waits for the next event with one request, renewed every 10s,
	// instead of one every MaxWait.
	Follow bool
	// SkipDamage reads past damaged ranges of the log: Read delivers every event it can and
	// then returns a *DamageError naming the ranges it could not. Without it Read returns the
	// *DamageError at the first damaged range it meets (one the stream's state shows before
	// delivering any event).
	SkipDamage bool
}

// Read delivers the log's envelopes in stream order to fn, a batch at a time; an error from fn
// stops Read and is returned. Nothing is acknowledged: the server counts an event delivered
// as done, and a caller that stops before it has used what it was given resumes from its own
// position (StartSeq). Read returns nil when done (see Follow) and ctx's error when cancelled.
//
// Read never waits on a damaged log (see ErrDamaged): it checks the stream's state before it
// starts, notices sequences skipped without a retention limit to explain them, and when the
// server stops delivering events it says are pending it probes the store and names the
// events that cannot be loaded. It then returns a *DamageError, at once or, with SkipDamage,
// after delivering every event it could read.
func (l *Log) Read(ctx context.Context, o ReadOptions, fn func([]*Envelope) error) error {
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 50 * time.Millisecond
	}
	start := o.StartSeq
	if start == 0 {
		start = 1
	}
	info, err := l.streamInfo(ctx)
	if err != nil {
		return fmt.Errorf("read log: stream info: %w", err)
	}
	last := info.State.LastSeq
	if !o.Follow && last < start {
		return nil
	}
	damage := missing(info, start)
	if len(damage) > 0 && !o.SkipDamage {
		return l.damageError(damage)
	}
	known := make(map[uint64]bool, len(info.State.Deleted))
	for _, s := range info.State.Deleted {
		known[s] = true
	}
	// Without filters every sequence is delivered: a skipped one is missing, unless the
	// stream drops its oldest events by itself.
	checkSeq := len(o.Filters) == 0 && !hasLimits(info.Config)
	prev := start - 1
	rewinds := map[uint64]int{} // times the read started again at a sequence (see rewind)
	cons, err := l.consumer(ctx, o, start)
	if err != nil {
		return err
	}
	drop := func(c jetstream.Consumer) {
		if o.Durable != "" {
			return
		}
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = l.stream.DeleteConsumer(dctx, c.CachedInfo().Name)
	}
	defer func() { drop(cons) }()
	done := func() error {
		if len(damage) > 0 {
			return l.damageError(damage)
		}
		return nil
	}
	batch := make([]*Envelope, 0, o.Batch)
	stalls := 0             // empty fetches in a row while the consumer had events pending
	var lastCheck time.Time // when a follower last asked whether it had events pending
	// idle: a follower whose consumer had nothing pending at the last check, and that has
	// received nothing since, waits for the next event with one long request for a single
	// event (which the server answers as soon as that event is stored) instead of asking again
	// every MaxWait: a quiet log then costs a request every followIdleWait, not 20 to 30 a
	// second.
	idle := false
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var msgs jetstream.MessageBatch
		err := retryAPI(ctx, func(context.Context) (err error) {
			if idle {
				fctx, cancel := context.WithTimeout(ctx, followIdleWait)
				msgs, err = cons.Fetch(1, jetstream.FetchContext(fctx))
				if err != nil {
					cancel()
				} else {
					msgs = cancelAfter{msgs, cancel}
				}
				return err
			}
			msgs, err = cons.Fetch(o.Batch, jetstream.FetchMaxWait(o.MaxWait))
			return err
		})
		if err != nil {
			return fmt.Errorf("read log: fetch: %w", err)
		}
		batch = batch[:0]
		var pendingAfter uint64
		var lastSeqSeen uint64
		var skipped *Damage
		var rewind uint64 // the consumer skipped events the store has: read again from here
		for m := range msgs.Messages() {
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("read log: %w", err)
			}
			seq := md.Sequence.Stream
			if checkSeq && seq > prev+1 && skipped == nil {
				for s := prev + 1; s < seq; s++ {
					if known[s] {
						continue
					}
					// A hole: gone from the store, or only lost on the way (a fetch given up
					// under load drops what the server sent it, and this consumer does not
					// redeliver). Ask the store.
					ok, err := l.readable(ctx, s)
					if err != nil {
						return fmt.Errorf("read log: %w", err)
					}
					if ok && rewinds[s] < 3 {
						rewinds[s]++
						rewind = s
					} else if ok {
						// Readable, yet never delivered: as good as unreadable.
						skipped = &Damage{First: s, Last: seq - 1, Kind: Unreadable}
					} else {
						skipped = &Damage{First: s, Last: seq - 1, Kind: Missing}
					}
					break
				}
				if rewind != 0 || skipped != nil && !o.SkipDamage {
					// Deliver what came before the hole, then stop or read again.
					break
				}
			}
			prev = seq
			e, err := FromMsg(m.Subject(), m.Headers(), m.Data())
			if err != nil {
				return fmt.Errorf("read log: message %d: %w", seq, err)
			}
			e.Seq = seq
			batch = append(batch, e)
			pendingAfter, lastSeqSeen = md.NumPending, seq
		}
		if c, ok := msgs.(cancelAfter); ok {
			c.cancel()
		}
		if err := ctx.Err(); err != nil {
			return err // stopped during an idle wait
		}
		if skipped == nil && rewind == 0 {
			if err := msgs.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("read log: %w", err)
			}
		}
		if len(batch) > 0 {
			stalls, idle = 0, false
			if err := fn(batch); err != nil {
				return err
			}
		}
		if skipped != nil {
			damage = append(damage, *skipped)
			if !o.SkipDamage {
				return l.damageError(damage)
			}
		}
		if rewind != 0 {
			drop(cons)
			if cons, err = l.consumer(ctx, o, rewind); err != nil {
				return err
			}
			continue
		}
		if !o.Follow && len(batch) > 0 && (lastSeqSeen >= last || pendingAfter == 0) {
			return done()
		}
		if len(batch) > 0 || o.Follow && time.Since(lastCheck) < time.Second {
			continue
		}
		// Nothing within MaxWait: with filters, nothing left may match; or the server cannot
		// load the next event.
		lastCheck = time.Now()
		var ci *jetstream.ConsumerInfo
		err = retryAPI(ctx, func(ctx context.Context) (err error) {
			ci, err = cons.Info(ctx)
			return err
		})
		if err != nil {
			return fmt.Errorf("read log: consumer info: %w", err)
		}
		if o.Follow {
			if idle = ci.NumPending == 0; idle {
				stalls = 0
				continue
			}
			if last, err = l.LastSeq(ctx); err != nil {
				return fmt.Errorf("read log: stream info: %w", err)
			}
		} else if ci.NumPending == 0 || ci.Delivered.Stream >= last {
			return done()
		}
		if stalls++; stalls < 2 {
			continue
		}
		d, found, err := l.stalledAt(ctx, o, max(ci.Delivered.Stream+1, start), last, known, func() { drop(cons) })
		if err != nil {
			return fmt.Errorf("read log: %w", err)
		}
		if !found {
			continue // the server was slow
		}
		stalls = 0
		damage = append(damage, d)
		if !o.SkipDamage {
			return l.damageError(damage)
		}
		if d.Last >= last && !o.Follow {
			return done()
		}
		// Read on after the damaged range (the consumer was dropped).
		prev = d.Last
		if cons, err = l.consumer(ctx, o, d.Last+1); err != nil {
			return err
		}
	}
}

// stalledAt finds why a consumer stopped delivering after from: the damaged range that
// begins at the first event it has pending, if any. Without filters that event is from (or
// the first after it the store does not list as deleted); with filters it is found by reading
// every event's headers from there. The consumer is dropped (drop) before the damaged block is
// probed further, since the server retries loading it for as long as a consumer waits on it:
// the caller must create another one to read on.
func (l *Log) stalledAt(ctx context.Context, o ReadOptions, from, last uint64, known map[uint64]bool, drop func()) (Damage, bool, error) {
	if len(o.Filters) > 0 {
		d, found, err := l.findUnreadable(ctx, from, last, known)
		if found {
			drop()
		}
		return d, found, err
	}
	s := from
	for s <= last && known[s] {
		s++
	}
	if s > last {
		return Damage{}, false, nil
	}
	ok, err := l.readable(ctx, s)
	if err != nil || ok {
		return Damage{}, false, err
	}
	drop()
	d, err := l.unreadableFrom(ctx, s, last)
	return d, true, err
}

func (l *Log) consumer(ctx context.Context, o ReadOptions, start uint64) (jetstream.Consumer, error) {
	// No acknowledgements; state in memory but for a durable consumer of a replicated
	// stream: see ReadOptions.Durable.
	cfg := jetstream.ConsumerConfig{
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    start,
		AckPolicy:      jetstream.AckNonePolicy,
		FilterSubjects: o.Filters,
		MaxAckPending:  -1,
		MemoryStorage:  true,
	}
	if len(o.Filters) == 1 {
		cfg.FilterSubject, cfg.FilterSubjects = o.Filters[0], nil
	}
	if o.Durable == "" {
		// A consumer's state in memory also means that a read needs no room on the disk (a
		// full disk must not keep anyone from reading the history).
		cfg.InactiveThreshold = time.Minute
		c, err := l.stream.CreateConsumer(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("read log: %w", l.diskFull(err, "consumer not created", 0))
		}
		return c, nil
	}
	cfg.Durable = o.Durable
	cfg.MemoryStorage = l.stream.CachedInfo().Config.Replicas <= 1
	// A durable consumer whose reader went away for good (a replica's views on a volume that
	// is gone) is removed by the server after a day; a reader back later recreates it at its
	// views' position, which the views keep.
	cfg.InactiveThreshold = durableInactive
	if c, err := l.stream.Consumer(ctx, o.Durable); err == nil {
		info := c.CachedInfo()
		// An older khist's durable consumer took acknowledgements and kept its state on disk,
		// and one made before the stream's replicas changed keeps its state where it did: it
		// is replaced, as one at another position is.
		same := info.Config.AckPolicy == cfg.AckPolicy && info.Config.MemoryStorage == cfg.MemoryStorage
		if same && info.Delivered.Stream+1 == start {
			return c, nil
		}
		if err := l.stream.DeleteConsumer(ctx, o.Durable); err != nil {
			return nil, fmt.Errorf("read log: reset consumer %s: %w", o.Durable, err)
		}
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("read log: consumer %s: %w", o.Durable, err)
	}
	c, err := l.stream.CreateConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("read log: create consumer %s: %w", o.Durable, l.diskFull(err, "consumer state not stored", 0))
	}
	return c, nil
}

// followIdleWait is how long an idle follower's request for the next event lasts before it
// is renewed (and the consumer checked, see Read): it bounds how late a follower notices a
// server that went away while the log was quiet, and costs nothing in latency, since the
// server delivers an event to a waiting request as soon as it is stored. Of it, the server
// waits 9s (FetchContext's expiry) and the client 1s more, as for a fetch with FetchMaxWait:
// an event sent at the last moment still reaches the reader.
const followIdleWait = 10 * time.Second

// cancelAfter is an idle follower's fetch, with the cancel func of its context, to call when
// its messages have been read.
type cancelAfter struct {
	jetstream.MessageBatch
	cancel context.CancelFunc
}

// durableInactive is how long a durable consumer may go unread before the server removes it.
const durableInactive = 24 * time.Hour

// apiAttempts is how many times retryAPI tries a JetStream API request that timed out.
const apiAttempts = 4

// retryAPI runs a JetStream API request (each attempt bounded by the client's request
// timeout, 5s by default) again when it timed out while ctx is still alive: a server busy
// writing a large backlog can answer late without being gone.
func retryAPI(ctx context.Context, req func(context.Context) error) error {
	var err error
	for i := 0; i < apiAttempts; i++ {
		if err = req(ctx); err == nil || ctx.Err() != nil || !isTimeout(err) {
			return err
		}
	}
	return fmt.Errorf("%w (%d attempts)", err, apiAttempts)
}

func isTimeout(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoHeartbeat)
}
