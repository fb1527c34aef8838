package eventlog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrDamaged is returned (as a *DamageError) when the log lacks events it recorded: a store
// file deleted, truncated or overwritten, or the stream purged. The stream's sequence numbers
// are contiguous from the first event to the last unless retention limits (MaxAge, MaxBytes)
// drop the oldest, so any other hole is damage.
var ErrDamaged = errors.New("event log damaged")

// Damage kinds.
const (
	// Missing events are gone from the store: the server knows their sequences are not there
	// (a deleted or truncated block, a purge).
	Missing = "missing"
	// Unreadable events are in the store but cannot be loaded (a block whose checksum fails).
	Unreadable = "unreadable"
)

// Damage is a range of stream sequences that the log recorded and cannot deliver.
type Damage struct {
	First, Last uint64 // inclusive
	Kind        string // Missing or Unreadable
}

// Count is the number of sequences in the range.
func (d Damage) Count() uint64 { return d.Last - d.First + 1 }

func (d Damage) String() string {
	if d.First == d.Last {
		return fmt.Sprintf("event %d %s", d.First, d.Kind)
	}
	return fmt.Sprintf("events %d-%d %s", d.First, d.Last, d.Kind)
}

// DamageError names the damaged ranges of the log met by a read.
type DamageError struct {
	Stream string   // the stream's name
	Store  string   // the embedded server's store directory ("" for an external server)
	Ranges []Damage // in sequence order
}

func (e *DamageError) Error() string {
	var b strings.Builder
	b.WriteString(ErrDamaged.Error())
	b.WriteString(": ")
	const most = 5
	for i, d := range e.Ranges {
		if i == most {
			fmt.Fprintf(&b, " and %d more ranges", len(e.Ranges)-most)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.String())
	}
	fmt.Fprintf(&b, " (%d events, stream %s", e.Lost(), e.Stream)
	if e.Store != "" {
		fmt.Fprintf(&b, " in %s", e.Store)
	}
	b.WriteString("): run khist doctor")
	return b.String()
}

// Unwrap makes errors.Is(err, ErrDamaged) hold.
func (e *DamageError) Unwrap() error { return ErrDamaged }

// Lost is the number of events in the damaged ranges.
func (e *DamageError) Lost() uint64 {
	var n uint64
	for _, d := range e.Ranges {
		n += d.Count()
	}
	return n
}

func (l *Log) damageError(ranges []Damage) *DamageError {
	return &DamageError{Stream: l.name, Store: l.storeDir, Ranges: mergeRanges(ranges)}
}

// mergeRanges sorts ranges and joins those of the same kind that touch.
func mergeRanges(rs []Damage) []Damage {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b Damage) int { return cmp.Compare(a.First, b.First) })
	var out []Damage
	for _, r := range rs {
		if n := len(out); n > 0 && out[n-1].Kind == r.Kind && out[n-1].Last+1 >= r.First {
			out[n-1].Last = max(out[n-1].Last, r.Last)
			continue
		}
		out = append(out, r)
	}
	return out
}

// hasLimits reports whether the stream drops its oldest events by itself: then the first
// sequence moves without damage.
func hasLimits(c jetstream.StreamConfig) bool {
	return c.MaxAge > 0 || c.MaxBytes > 0 || c.MaxMsgs > 0 || c.MaxMsgsPerSubject > 0
}

// streamInfo returns the stream's info, with the list of deleted sequences when there are
// some (khist never deletes events, so those are holes).
func (l *Log) streamInfo(ctx context.Context) (*jetstream.StreamInfo, error) {
	var info *jetstream.StreamInfo
	err := retryAPI(ctx, func(ctx context.Context) (err error) {
		info, err = l.stream.Info(ctx)
		return err
	})
	if err != nil || info.State.NumDeleted == 0 {
		return info, err
	}
	err = retryAPI(ctx, func(ctx context.Context) (err error) {
		info, err = l.stream.Info(ctx, jetstream.WithDeletedDetails(true))
		return err
	})
	return info, err
}

// missing returns the ranges at or after from that the stream's state says are gone: the
// sequences it lists as deleted, and the head before its first sequence when no retention
// limit explains it.
func missing(info *jetstream.StreamInfo, from uint64) []Damage {
	st := info.State
	var out []Damage
	if st.LastSeq > 0 && st.FirstSeq > 1 && !hasLimits(info.Config) {
		if first := max(from, 1); first < st.FirstSeq {
			out = append(out, Damage{First: first, Last: min(st.FirstSeq-1, st.LastSeq), Kind: Missing})
		}
	}
	for _, s := range st.Deleted {
		if s >= from {
			out = append(out, Damage{First: s, Last: s, Kind: Missing})
		}
	}
	return mergeRanges(out)
}

// readable reports whether the event at seq can be loaded from the store.
func (l *Log) readable(ctx context.Context, seq uint64) (bool, error) {
	var ok bool
	err := retryAPI(ctx, func(ctx context.Context) error {
		_, err := l.stream.GetMsg(ctx, seq)
		switch {
		case err == nil:
			ok = true
			return nil
		case errors.Is(err, jetstream.ErrMsgNotFound):
			ok = false
			return nil
		}
		return err
	})
	return ok, err
}

// unreadableFrom returns the damaged range that begins at u, an event the store lists and
// cannot load: it gallops forward to a readable event, then bisects back to the first
// one after u (a corrupt block is unreadable as a whole, so the range is contiguous). The
// range ends at last when nothing after u is readable.
func (l *Log) unreadableFrom(ctx context.Context, u, last uint64) (Damage, error) {
	lo, hi := u, uint64(0) // lo is unreadable; hi, once found, readable
	for step := uint64(1); ; step *= 2 {
		p := min(u+step, last)
		if p <= lo {
			break
		}
		ok, err := l.readable(ctx, p)
		if err != nil {
			return Damage{}, err
		}
		if ok {
			hi = p
			break
		}
		lo = p
		if p == last {
			break
		}
	}
	if hi == 0 {
		return Damage{First: u, Last: last, Kind: Unreadable}, nil
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		ok, err := l.readable(ctx, mid)
		if err != nil {
			return Damage{}, err
		}
		if ok {
			hi = mid
		} else {
			lo = mid
		}
	}
	return Damage{First: u, Last: hi - 1, Kind: Unreadable}, nil
}

// scanWait bounds how long a scan waits for the server to deliver an event it says is
// pending before it probes the store: a fetch returns at once when events are there.
const scanWait = 200 * time.Millisecond

// findUnreadable looks for the first event at or after from (and not after last) that the
// store lists but cannot load, by reading every event's headers in order. It returns the
// damaged range that begins there, or ok false when every listed event up to last loads.
// deleted holds sequences known to be missing (they are skipped, not unreadable).
func (l *Log) findUnreadable(ctx context.Context, from, last uint64, deleted map[uint64]bool) (d Damage, ok bool, err error) {
	if from > last {
		return Damage{}, false, nil
	}
	cons, err := l.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       from,
		AckPolicy:         jetstream.AckNonePolicy,
		HeadersOnly:       true,
		InactiveThreshold: time.Minute,
		MaxAckPending:     -1,
		MemoryStorage:     true, // no room on the disk needed to read
	})
	if err != nil {
		return Damage{}, false, fmt.Errorf("scan log: %w", err)
	}
	dropped := false
	drop := func() {
		if dropped {
			return
		}
		dropped = true
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = l.stream.DeleteConsumer(dctx, cons.CachedInfo().Name)
	}
	defer drop()
	next := from // the first sequence not yet seen
	for {
		if err := ctx.Err(); err != nil {
			return Damage{}, false, err
		}
		msgs, err := cons.Fetch(1000, jetstream.FetchMaxWait(scanWait))
		if err != nil {
			return Damage{}, false, fmt.Errorf("scan log: %w", err)
		}
		n := 0
		for m := range msgs.Messages() {
			md, err := m.Metadata()
			if err != nil {
				return Damage{}, false, fmt.Errorf("scan log: %w", err)
			}
			next = md.Sequence.Stream + 1
			n++
		}
		if next > last {
			return Damage{}, false, nil
		}
		if n > 0 {
			continue
		}
		// Nothing came: either the events from next on are gone or damaged, or the server
		// is slow. Probe the store at the first event it lists.
		s := next
		for s <= last && deleted[s] {
			s++
		}
		if s > last {
			return Damage{}, false, nil
		}
		ok, err := l.readable(ctx, s)
		if err != nil {
			return Damage{}, false, err
		}
		if !ok {
			// The server retries loading a damaged block for as long as the consumer
			// waits on it: delete it before probing the block further.
			drop()
			d, err := l.unreadableFrom(ctx, s, last)
			return d, true, err
		}
		// The server is slow: fetch again.
	}
}

// Report is what Verify found.
type Report struct {
	State    jetstream.StreamState
	Limits   bool     // the stream drops its oldest events (MaxAge or MaxBytes)
	Damage   []Damage // missing and unreadable ranges, in order
	Readable uint64   // events that can be read
}

// Verify reads the whole log (its headers only) and reports what is missing or cannot be
// read. It takes about a second per million events.
func (l *Log) Verify(ctx context.Context) (Report, error) {
	info, err := l.streamInfo(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("verify log: stream info: %w", err)
	}
	r := Report{State: info.State, Limits: hasLimits(info.Config)}
	r.Damage = missing(info, 1)
	deleted := make(map[uint64]bool, len(info.State.Deleted))
	for _, s := range info.State.Deleted {
		deleted[s] = true
	}
	st := info.State
	if st.LastSeq == 0 || st.Msgs == 0 {
		return r, nil
	}
	from := st.FirstSeq
	for from <= st.LastSeq {
		d, ok, err := l.findUnreadable(ctx, from, st.LastSeq, deleted)
		if err != nil {
			return r, fmt.Errorf("verify log: %w", err)
		}
		if !ok {
			break
		}
		r.Damage = append(r.Damage, d)
		from = d.Last + 1
	}
	r.Damage = mergeRanges(r.Damage)
	r.Readable = st.Msgs
	for _, d := range r.Damage {
		if d.Kind == Unreadable {
			r.Readable -= min(r.Readable, d.Count())
		}
	}
	return r, nil
}

// DamageErr returns the damage of a Verify report as a *DamageError, nil when there is none.
func (l *Log) DamageErr(r Report) error {
	if len(r.Damage) == 0 {
		return nil
	}
	return l.damageError(r.Damage)
}
