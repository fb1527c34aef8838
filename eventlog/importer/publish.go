package importer

import (
	"context"
	"hash/maphash"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/khist/khist/eventlog"
)

// Publish appends the envelopes of res to the log, in order, and waits until every one is
// acknowledged. Versions the log already holds are counted as duplicates, not stored again:
// within the stream's duplicate window JetStream drops them by message id, and beyond it an
// envelope whose resourceVersion is not newer than the last one stored for the same object is
// skipped (when both are integers, as on etcd).
func Publish(ctx context.Context, l *eventlog.Log, res *Result) (eventlog.PublishStats, error) {
	dp, err := newDedupPublisher(l, nil)
	if err != nil {
		return eventlog.PublishStats{}, err
	}
	for _, e := range res.Envelopes {
		if err := dp.publish(ctx, e); err != nil {
			return dp.abort(ctx), err
		}
	}
	return dp.close(ctx)
}

// Import reads inputs as Scan does and publishes their envelopes as the merge yields them, as
// Publish does (at most eventlog.PublisherOptions.MaxInFlight unacknowledged): the memory it
// holds does not depend on the size of the inputs. A malformed input is reported before anything
// is published. Progress, if set in opts, is also called while publishing.
func Import(ctx context.Context, l *eventlog.Log, format Format, cluster string, opts Options, inputs ...Input) (*Result, eventlog.PublishStats, error) {
	opts.defaults()
	var settled atomic.Int64
	dp, err := newDedupPublisher(l, func() { settled.Add(1) })
	if err != nil {
		return nil, eventlog.PublishStats{}, err
	}
	var (
		toPublish int64
		began     time.Time
		next      time.Time
		emitted   int64
	)
	report := func(final bool) {
		if opts.Progress != nil {
			opts.Progress(Progress{Phase: "publish", Done: settled.Load() + int64(dp.skipped), Total: toPublish,
				Events: int(toPublish), Elapsed: time.Since(began), Final: final})
		}
	}
	userProgress := opts.Progress
	scanOpts := opts
	scanOpts.Progress = func(p Progress) {
		if userProgress != nil {
			userProgress(p)
		}
		if p.Final {
			toPublish = int64(p.Events)
			began = time.Now()
			next = began.Add(opts.ProgressEvery)
		}
	}
	res, err := Scan(ctx, format, cluster, scanOpts, func(e *eventlog.Envelope) error {
		emitted++
		if opts.Progress != nil && emitted%64 == 0 && time.Now().After(next) {
			report(false)
			next = time.Now().Add(opts.ProgressEvery)
		}
		return dp.publish(ctx, e)
	}, inputs...)
	if err != nil {
		return res, dp.abort(ctx), err
	}
	// The scan counted versions it left out (audit: read twice) among those to publish.
	toPublish = emitted
	st, err := dp.close(ctx)
	report(true)
	return res, st, err
}

// dedupPublisher publishes envelopes in order, skipping a version not newer than the last one
// stored for its object. It remembers the last resourceVersion of each object by a 128-bit hash
// of its subject, and asks the log (LastOf) for objects it does not remember; it forgets them all
// past maxRemembered objects, which costs only more questions to the log.
type dedupPublisher struct {
	l       *eventlog.Log
	p       *eventlog.Publisher
	seed    [2]maphash.Seed
	stored  map[[2]uint64]uint64 // subject hash -> last stored resourceVersion, 0 when unknown
	skipped int
}

const maxRemembered = 1 << 20

func newDedupPublisher(l *eventlog.Log, onSettled func()) (*dedupPublisher, error) {
	var opts eventlog.PublisherOptions
	if onSettled != nil {
		opts.OnAck = func(*eventlog.Envelope, uint64, bool, error) { onSettled() }
	}
	p, err := l.NewPublisher(opts)
	if err != nil {
		return nil, err
	}
	return &dedupPublisher{l: l, p: p, seed: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		stored: map[[2]uint64]uint64{}}, nil
}

func (d *dedupPublisher) publish(ctx context.Context, e *eventlog.Envelope) error {
	subj := eventlog.Subject(e.Cluster, e.Group, e.Kind, e.Namespace, e.Name)
	h := [2]uint64{maphash.String(d.seed[0], subj), maphash.String(d.seed[1], subj)}
	last, seen := d.stored[h]
	if !seen {
		prev, err := d.l.LastOf(ctx, subj)
		if err != nil {
			return err
		}
		if prev != nil {
			last, _ = strconv.ParseUint(prev.ResourceVersion, 10, 64)
		}
		if len(d.stored) >= maxRemembered {
			clear(d.stored)
		}
	}
	rv, rvErr := strconv.ParseUint(e.ResourceVersion, 10, 64)
	if rvErr == nil && last > 0 && rv <= last {
		d.skipped++
		d.stored[h] = last
		return nil
	}
	if rvErr == nil {
		d.stored[h] = rv
	} else {
		d.stored[h] = 0
	}
	return d.p.Publish(ctx, e)
}

// abort stops the publisher after a failure and returns what was done.
func (d *dedupPublisher) abort(ctx context.Context) eventlog.PublishStats {
	d.p.Close(context.WithoutCancel(ctx))
	st := d.p.Stats()
	st.Duplicates += d.skipped
	return st
}

func (d *dedupPublisher) close(ctx context.Context) (eventlog.PublishStats, error) {
	err := d.p.Close(ctx)
	st := d.p.Stats()
	st.Duplicates += d.skipped
	return st, err
}
