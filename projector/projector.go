package projector

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/khist/khist/eventlog"
)

// DefaultDurable is the name of the projector's durable JetStream consumer.
const DefaultDurable = "khist-projector"

// Stats say what a fold did.
type Stats struct {
	Events   uint64        // events read from the log
	Applied  uint64        // events that changed the views
	Skipped  uint64        // events already applied (same uid and resourceVersion) or older
	Bytes    uint64        // bytes of object JSON read
	FirstSeq uint64        // first sequence folded (0 when none)
	LastSeq  uint64        // last sequence folded; the views' position
	Gap      uint64        // events missing between the views' position and the first event read (dropped by the stream's retention before they were folded)
	Elapsed  time.Duration // wall time
}

// Rate is the number of events folded per second.
func (s Stats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Events) / s.Elapsed.Seconds()
}

// Progress is reported while folding.
type Progress struct {
	Done    uint64        // events folded so far in this run
	Total   uint64        // events to fold in this run, as known when it started; 0 when following
	Seq     uint64        // the views' position
	Elapsed time.Duration // since the run started
}

// Option configures CatchUp, Run, EnsureCurrent and Rebuild.
type Option func(*options) error

type options struct {
	durable  string
	batch    int
	maxTx    int
	maxWait  time.Duration
	progress func(Progress)
	dbOpts   Options
}

func buildOptions(opts []Option) (*options, error) {
	o := &options{durable: DefaultDurable, batch: 500, maxTx: 5000, maxWait: 30 * time.Millisecond}
	for _, f := range opts {
		if err := f(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// WithDurable names the durable JetStream consumer (default "khist-projector"). Each projector
// building its own views from the same stream needs its own name.
func WithDurable(name string) Option {
	return func(o *options) error {
		if name == "" {
			return fmt.Errorf("%w: the durable consumer needs a name", ErrInvalidOption)
		}
		o.durable = name
		return nil
	}
}

// WithBatch sets how many events one fetch from the log returns at most (default 500).
func WithBatch(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: batch must be at least 1, got %d", ErrInvalidOption, n)
		}
		o.batch = n
		return nil
	}
}

// WithMaxWait sets how long one fetch waits for a full batch before the events it has are
// folded and committed (default 30ms): the projector's latency when the log is quiet.
func WithMaxWait(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: max wait must be positive, got %s", ErrInvalidOption, d)
		}
		o.maxWait = d
		return nil
	}
}

// WithProgress calls fn after each committed transaction.
func WithProgress(fn func(Progress)) Option {
	return func(o *options) error { o.progress = fn; return nil }
}

// WithViewOptions sets the Options used by Rebuild to create the new file.
func WithViewOptions(v Options) Option {
	return func(o *options) error { o.dbOpts = v; return nil }
}

// CatchUp folds every event of the log after the views' position, up to the log's end when
// it starts, and returns. Cancelling ctx stops it after the transaction in progress; the
// views stay consistent and a later call continues from there.
func CatchUp(ctx context.Context, log *eventlog.Log, db *DB, opts ...Option) (Stats, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return Stats{}, err
	}
	return fold(ctx, log, db, o, false)
}

// Run follows the log, folding events as they arrive, until ctx is cancelled (it then returns
// nil, after committing the transaction in progress) or an error occurs.
func Run(ctx context.Context, log *eventlog.Log, db *DB, opts ...Option) error {
	o, err := buildOptions(opts)
	if err != nil {
		return err
	}
	_, err = fold(ctx, log, db, o, true)
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil
	}
	return err
}

// EnsureCurrent folds the tail of the log that the views lack, if any: read commands call it
// so that their answers include everything logged. When a fold is already running on db in
// this process (Run, in khist collect), it waits instead until that fold has reached the
// log's end as it was when EnsureCurrent was called.
func EnsureCurrent(ctx context.Context, log *eventlog.Log, db *DB, opts ...Option) (Stats, error) {
	seq, err := db.Seq()
	if err != nil {
		return Stats{}, err
	}
	last, err := log.LastSeq(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("views: %w", err)
	}
	if seq > last {
		return Stats{LastSeq: seq}, aheadError(db, seq, last)
	}
	if seq == last {
		return Stats{LastSeq: seq}, nil
	}
	if !db.foldMu.TryLock() {
		for seq < last {
			select {
			case <-ctx.Done():
				return Stats{LastSeq: seq}, ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
			if seq, err = db.Seq(); err != nil {
				return Stats{}, err
			}
		}
		return Stats{LastSeq: seq}, nil
	}
	db.foldMu.Unlock()
	return CatchUp(ctx, log, db, opts...)
}

// Rebuild re-creates the views file at path from the whole log: it folds into path.rebuild
// and renames it over path when done, so that an interrupted rebuild leaves the old views as
// they were. It returns ErrInUse when another process has path open.
func Rebuild(ctx context.Context, log *eventlog.Log, path string, opts ...Option) (Stats, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return Stats{}, err
	}
	unlock, err := lockFile(path)
	if err != nil {
		return Stats{}, err
	}
	defer unlock()
	tmp := path + ".rebuild"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return Stats{}, fmt.Errorf("rebuild: %w", err)
	}
	dbo := o.dbOpts
	dbo.NoSync, dbo.ReadOnly = true, false
	// Without fsync the size of a transaction costs only memory: larger ones rewrite the
	// pages that many events touch (heads, indexes) fewer times.
	o.maxTx = max(o.maxTx, 20000)
	db, err := Open(tmp, &dbo)
	if err != nil {
		return Stats{}, err
	}
	st, err := fold(ctx, log, db, o, false)
	if err == nil {
		err = db.bolt.Sync()
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return st, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return st, fmt.Errorf("rebuild: %w", err)
	}
	return st, nil
}

func aheadError(db *DB, seq, last uint64) error {
	return fmt.Errorf("%w: %s holds events up to sequence %d but the log ends at %d (was the stream deleted?): run khist rebuild", ErrAhead, db.path, seq, last)
}

// lockFile takes the lock bbolt takes on an open file, so that no process opens the views
// while they are replaced.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s is held by another khist process (khist collect or project): stop it before rebuilding", ErrInUse, path)
	}
	return func() { f.Close() }, nil
}

// fold runs the pipeline: a reader fetches batches from the log, a decoder decodes each
// batch's objects in parallel (once per event), and this goroutine applies them in bbolt
// transactions that each hold everything decoded so far (up to maxTx events), so that
// transactions grow when the applier is the bottleneck and a quiet log is committed within a
// fetch's wait.
func fold(pctx context.Context, log *eventlog.Log, db *DB, o *options, follow bool) (Stats, error) {
	ctx := pctx
	db.foldMu.Lock()
	defer db.foldMu.Unlock()
	began := time.Now()
	var st Stats
	seq, err := db.Seq()
	if err != nil {
		return st, err
	}
	st.LastSeq = seq
	last, err := log.LastSeq(pctx)
	if err != nil {
		return st, fmt.Errorf("views: %w", err)
	}
	if last < seq {
		return st, aheadError(db, seq, last)
	}
	var total uint64
	if !follow {
		if last == seq {
			return st, nil
		}
		total = last - seq
	}
	ctx, cancel := context.WithCancel(pctx)
	defer cancel()
	raw := make(chan []*eventlog.Envelope, 8)
	decoded := make(chan []event, 8)
	readDone := make(chan error, 1)
	go func() {
		defer close(raw)
		readDone <- log.Read(ctx, eventlog.ReadOptions{
			StartSeq: seq + 1, Durable: o.durable, Batch: o.batch, MaxWait: o.maxWait, Follow: follow,
		}, func(b []*eventlog.Envelope) error {
			select {
			case raw <- slices.Clone(b):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	go func() {
		defer close(decoded)
		spec := newSpecCache(64 << 20)
		for b := range raw {
			evs := decodeEvents(b, spec)
			select {
			case decoded <- evs:
			case <-ctx.Done():
				for range raw {
				}
				return
			}
		}
	}()
	var applyErr error
	for applyErr == nil {
		var first []event
		var ok bool
		select {
		case first, ok = <-decoded:
		case <-ctx.Done():
		}
		if !ok {
			break
		}
		batches := [][]event{first}
		n := len(first)
	gather:
		for n < o.maxTx {
			select {
			case b, ok := <-decoded:
				if !ok {
					break gather
				}
				batches = append(batches, b)
				n += len(b)
			default:
				break gather
			}
		}
		if st.FirstSeq == 0 {
			st.FirstSeq = first[0].env.Seq
			if st.FirstSeq > seq+1 {
				st.Gap = st.FirstSeq - seq - 1
			}
		}
		var c txCounts
		if c, applyErr = db.applyEvents(batches); applyErr != nil {
			break
		}
		for _, b := range batches {
			for i := range b {
				st.Bytes += uint64(len(b[i].env.Object))
			}
		}
		st.Events += uint64(n)
		st.Applied += c.applied
		st.Skipped += c.skipped
		st.LastSeq = c.seq
		if o.progress != nil {
			o.progress(Progress{Done: st.Events, Total: total, Seq: st.LastSeq, Elapsed: time.Since(began)})
		}
	}
	cancel()
	for range decoded {
	}
	readErr := <-readDone
	st.Elapsed = time.Since(began)
	switch {
	case applyErr != nil:
		return st, applyErr
	case pctx.Err() != nil:
		return st, pctx.Err()
	case readErr != nil && !errors.Is(readErr, context.Canceled):
		return st, readErr
	}
	return st, nil
}
