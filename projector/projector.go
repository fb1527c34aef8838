package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/khist/khist/eventlog"
)

// DefaultDurable is the name of the projector's durable JetStream consumer.
const DefaultDurable = "khist-projector"

// Stats say what a fold did.
type Stats struct {
	Events  uint64 // events read from the log
	Applied uint64 // events that changed the views
	Skipped uint64 // events already applied (same uid and resourceVersion) or older
	// Quarantined events could not be folded (see DB.QuarantineList); the log keeps them.
	Quarantined uint64
	Bytes       uint64        // bytes of object JSON read
	FirstSeq    uint64        // first sequence folded (0 when none)
	LastSeq     uint64        // last sequence folded; the views' position
	Gap         uint64        // events missing between the views' position and the first event read (dropped by the stream's retention before they were folded)
	Elapsed     time.Duration // wall time
	// Damage names the events of a damaged log that a forced Rebuild (WithForce) could not
	// read and folded without; nil otherwise.
	Damage *eventlog.DamageError
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
	hold     time.Duration
	linger   time.Duration
	progress func(Progress)
	dbOpts   Options
	force    bool // Rebuild: replace the views even with fewer events, read past damage
	metrics  *Metrics
	logger   *slog.Logger
}

// Holding the views file: Run closes it when no events came for settleAfter after a
// transaction that left nothing to fold (and when a read in this process opened it again,
// after idleAfter); any fold closes it after hold (WithHold) under load, and then stays away
// for gap, long enough for a process waiting for the file (which tries every millisecond, see
// openLocked) to get it.
const (
	defaultHold = time.Second
	settleAfter = 20 * time.Millisecond
	idleAfter   = 100 * time.Millisecond
	gap         = 10 * time.Millisecond
)

// buildOptions applies opts over the defaults; durable is the default consumer's name ("":
// an ephemeral consumer).
func buildOptions(durable string, opts []Option) (*options, error) {
	o := &options{durable: durable, batch: 500, maxTx: 5000, maxWait: 30 * time.Millisecond, hold: defaultHold, logger: slog.Default()}
	for _, f := range opts {
		if err := f(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// WithLogger sets where Run says that it waits for an unavailable log. Default slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l != nil {
			o.logger = l
		}
		return nil
	}
}

// WithDurable names the durable JetStream consumer (Run's default is "khist-projector"; CatchUp
// and EnsureCurrent read with an ephemeral consumer unless given one). Each projector building
// its own views from the same stream needs its own name, and no two processes may read with
// the same one at once: the second would move the first one's position.
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

// WithHold sets the longest time a fold keeps the views file open (and locked, so that no
// other process can open it) while events keep coming, default 1s: it then closes it, lets
// other processes in, and opens it again. Run also closes it after each transaction that
// leaves nothing to fold. 0 keeps the file open until the fold ends.
func WithHold(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("%w: hold must not be negative, got %s", ErrInvalidOption, d)
		}
		o.hold = d
		return nil
	}
}

// WithLinger makes Run, following the log, gather the events that arrive within d of the
// first one of a transaction into that transaction (up to its size limit) instead of
// committing what came in one fetch. A live log trickles a few events per fetch; each commit
// rewrites the object heads' and version segments' blocks it touches and syncs the file, so
// that most of a live fold's CPU went to transactions of 1-3 events (issue 13's soak). The
// views then lag the log by up to d more. Default 0: commit each fetch.
func WithLinger(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("%w: linger must not be negative, got %s", ErrInvalidOption, d)
		}
		o.linger = d
		return nil
	}
}

// WithProgress calls fn after each committed transaction.
func WithProgress(fn func(Progress)) Option {
	return func(o *options) error { o.progress = fn; return nil }
}

// WithForce makes Rebuild replace the views even when the new ones hold fewer events than the
// old ones (see ErrWouldLose), and read past the damaged ranges of a damaged log (see
// eventlog.ErrDamaged), folding every event that can be read; Stats.Damage then names the
// others.
func WithForce() Option {
	return func(o *options) error { o.force = true; return nil }
}

// WithViewOptions sets the Options used by Rebuild to create the new file.
func WithViewOptions(v Options) Option {
	return func(o *options) error { o.dbOpts = v; return nil }
}

// CatchUp folds every event of the log after the views' position, up to the log's end when
// it starts, and returns. Cancelling ctx stops it after the transaction in progress; the
// views stay consistent and a later call continues from there.
func CatchUp(ctx context.Context, log *eventlog.Log, db *DB, opts ...Option) (Stats, error) {
	o, err := buildOptions("", opts)
	if err != nil {
		return Stats{}, err
	}
	st, err := fold(ctx, log, db, o, false)
	if err == nil && st.Events >= compactAfter {
		err = db.compactIfWasteful(ctx)
	}
	return st, err
}

// Run follows the log, folding events as they arrive, until ctx is cancelled (it then returns
// nil, after committing the transaction in progress) or an error occurs. It reads with a
// durable consumer (WithDurable) and returns ErrInUse when another Run or Rebuild has the same
// views file, in this process or another.
//
// Run keeps the views file open only while it folds a batch of events, at most a second at a
// time under load (WithHold), so that other processes can read the views meanwhile; when one
// holds the file, Run waits for it (the log keeps the events) and catches up.
func Run(ctx context.Context, log *eventlog.Log, db *DB, opts ...Option) error {
	o, err := buildOptions(DefaultDurable, opts)
	if err != nil {
		return err
	}
	unlock, err := lockRun(db.path)
	if err != nil {
		return err
	}
	defer unlock()
	// While an external log is unavailable (a clustered JetStream electing a leader, a server
	// restarting), Run waits and resumes from the views' position, which the fold commits
	// with its effects: nothing is applied twice or skipped.
	for failures := 0; ; {
		before, _ := db.Seq()
		_, err = fold(ctx, log, db, o, true)
		if ctx.Err() != nil && (err == nil || errors.Is(err, ctx.Err())) {
			return nil
		}
		if !log.External() || !eventlog.Unavailable(err) {
			return err
		}
		if after, _ := db.Seq(); after > before {
			failures = 0
		}
		failures++
		wait := min(time.Duration(failures)*time.Second, 10*time.Second)
		o.logger.Warn("the log is unavailable: following it again", "err", err, "in", wait)
		if o.metrics != nil {
			o.metrics.logWaits.Inc()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// EnsureCurrent folds the tail of the log that the views lack, if any: read commands call it
// so that their answers include everything logged. When a fold is already running on db in
// this process (Run, in khist collect), it waits instead until that fold has reached the
// log's end as it was when EnsureCurrent was called. When another process runs the projector
// on the same file, EnsureCurrent folds the tail itself (with an ephemeral consumer, which
// leaves that process's one alone): each event is applied by whichever process gets to it
// first, once, as the views' position commits with its effects.
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
// they were. It returns ErrInUse when Run (khist collect or project) feeds path, or when
// another process keeps it locked longer than the Timeout of WithViewOptions (default 10s);
// while it rebuilds, others wait for path (and time out).
func Rebuild(ctx context.Context, log *eventlog.Log, path string, opts ...Option) (Stats, error) {
	o, err := buildOptions("", opts)
	if err != nil {
		return Stats{}, err
	}
	unlockRun, err := lockRun(path)
	if err != nil {
		return Stats{}, err
	}
	defer unlockRun()
	// The old views may be the last copy of history that the log lost: count what they hold
	// (a file that cannot be read counts nothing) and refuse early when the log is shorter.
	old, hasOld := fileCounts(path)
	if hasOld && !o.force {
		state, err := log.State(ctx)
		if err != nil {
			return Stats{}, fmt.Errorf("rebuild: %w", err)
		}
		if state.Msgs < old.events() {
			return Stats{}, wouldLose(path, old, state.Msgs, "the log holds")
		}
	}
	wait := o.dbOpts.Timeout
	if wait <= 0 {
		wait = defaultTimeout
	}
	unlock, err := lockFile(path, wait)
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
	// pages that many events touch (heads, indexes) fewer times. No other process opens the
	// new file: the fold keeps it.
	o.maxTx = max(o.maxTx, 20000)
	o.hold = 0
	db, err := Open(tmp, &dbo)
	if err != nil {
		return Stats{}, err
	}
	st, err := fold(ctx, log, db, o, false)
	if err == nil {
		err = db.compactIfWasteful(ctx)
	}
	if cerr := db.Close(); err == nil { // writes the freelist and syncs the file
		err = cerr
	}
	var de *eventlog.DamageError
	if o.force && errors.As(err, &de) {
		st.Damage, err = de, nil
	}
	if err == nil && hasOld && !o.force && st.Events < old.events() {
		err = wouldLose(path, old, st.Events, "the log gave")
	}
	if err != nil {
		os.Remove(tmp)
		return st, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return st, fmt.Errorf("rebuild: %w", err)
	}
	if o.metrics != nil {
		o.metrics.rebuilds.Inc()
	}
	return st, nil
}

func wouldLose(path string, old Counts, n uint64, what string) error {
	return fmt.Errorf("%w: %s was folded from %d events and %s %d: the views are kept (khist doctor tells what is missing; rebuild --force replaces them anyway)", ErrWouldLose, path, old.events(), what, n)
}

func aheadError(db *DB, seq, last uint64) error {
	return fmt.Errorf("%w: %s holds events up to sequence %d but the log ends at %d (was the stream deleted?): the views may be the last copy of that history: khist doctor tells what is missing", ErrAhead, db.path, seq, last)
}

// lockFile takes the lock bbolt takes on an open file, waiting up to wait, so that no process
// opens the views while they are replaced.
func lockFile(path string, wait time.Duration) (func(), error) {
	f, err := openLocked(context.Background(), path, os.O_RDWR, 0, true, wait)
	if errors.Is(err, os.ErrNotExist) {
		return func() {}, nil
	}
	if errors.Is(err, errLockWait) {
		return nil, fmt.Errorf("%w: %s stayed locked by another khist process for %s: try again when it is done", ErrInUse, path, wait)
	}
	if err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	return func() { f.Close() }, nil
}

// lockRun takes the lock that Run and Rebuild hold for as long as they run on the views at
// path (on path.lock: the views file itself is locked only while folding): two of them on the
// same views would fight over the durable consumer or the file.
func lockRun(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("views: %w", err)
	}
	f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("views: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is being fed by another khist process (collect, project or rebuild): stop it first", ErrInUse, path)
		}
		return nil, fmt.Errorf("views: %w", err)
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
			StartSeq: seq + 1, Durable: o.durable, Batch: o.batch, MaxWait: o.maxWait, Follow: follow, SkipDamage: o.force,
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
		spec := newSpecCache(db.budget.spec)
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
	// A follower waits as long as it takes for the file when another process holds it; a
	// catch-up gives up after the DB's timeout.
	wait := db.timeout
	if follow {
		wait = 0
	}
	// Following, Run closes the file when no events came for settle after a transaction that
	// left nothing to fold; when that happened last time (the log trickles), such a
	// transaction also writes bbolt's freelist, so that closing the file costs nothing more.
	release := follow && o.hold > 0
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	var settling, trickle bool
	// While the file is open, a ticker looks whether it is unused (a read in this process
	// opened it while the log is quiet); while it is released, none runs (an idle collector
	// then wakes for nothing), until the DB says it was opened again.
	var idle <-chan time.Time
	var idleT *time.Ticker
	var reopened <-chan struct{}
	if release {
		idleT = time.NewTicker(idleAfter / 2)
		defer idleT.Stop()
		idle, reopened = idleT.C, db.reopened
	}
	var looked uint64       // st.Events at the last look at the file's waste (compactEvery)
	var lingerT *time.Timer // see WithLinger
	if follow && o.linger > 0 {
		lingerT = time.NewTimer(time.Hour)
		lingerT.Stop()
		defer lingerT.Stop()
	}
	var applyErr error
	for applyErr == nil {
		var first []event
		var ok bool
		select {
		case first, ok = <-decoded:
		case <-ctx.Done():
		case <-settle.C:
			settling, trickle = false, true
			applyErr = db.release()
			continue
		case <-idle:
			// A read in this process opened the file while the log is quiet: let other
			// processes have it again.
			db.idleLooks.Add(1)
			if db.heldFor() > 0 && db.idleFor() >= idleAfter {
				applyErr = db.release()
			}
			if db.heldFor() == 0 {
				idleT.Stop()
				idle = nil
			}
			continue
		case <-reopened:
			idleT.Reset(idleAfter / 2)
			idle = idleT.C
			continue
		}
		if settling {
			settle.Stop()
			settling, trickle = false, false
		}
		if !ok {
			break
		}
		batches := [][]event{first}
		n := len(first)
		var lingerC <-chan time.Time
		if lingerT != nil {
			lingerT.Reset(o.linger)
			lingerC = lingerT.C
		}
	gather:
		for n < o.maxTx {
			var b []event
			select {
			case b, ok = <-decoded:
			default:
				if lingerC == nil {
					break gather
				}
				select {
				case b, ok = <-decoded:
				case <-lingerC:
					break gather
				case <-ctx.Done():
					break gather
				}
			}
			if !ok {
				break gather
			}
			batches = append(batches, b)
			n += len(b)
		}
		if lingerT != nil {
			lingerT.Stop()
		}
		if st.FirstSeq == 0 {
			st.FirstSeq = first[0].env.Seq
			if st.FirstSeq > seq+1 {
				st.Gap = st.FirstSeq - seq - 1
			}
		}
		quiet := release && len(decoded) == 0 // nothing more to fold now
		var c txCounts
		if c, applyErr = db.applyEvents(ctx, wait, quiet && trickle, batches); applyErr != nil {
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
		st.Quarantined += c.quarantined
		st.LastSeq = c.seq
		if o.progress != nil {
			o.progress(Progress{Done: st.Events, Total: total, Seq: st.LastSeq, Elapsed: time.Since(began)})
		}
		if o.metrics != nil {
			o.metrics.observe(uint64(n), c.applied, c.quarantined)
		}
		if follow && st.Events-looked >= compactEvery {
			looked = st.Events
			var from, to int64
			if from, to, applyErr = db.compactWasteLocked(ctx); applyErr != nil {
				break
			}
			if to > 0 {
				o.logger.Info("views compacted", "bytes", from, "now", to)
			}
		}
		switch {
		case o.hold > 0 && db.heldFor() >= o.hold:
			// Busy: let a process waiting for the file in while the reader and the decoder
			// keep the next transaction coming.
			if applyErr = db.release(); applyErr == nil {
				select {
				case <-time.After(gap):
				case <-ctx.Done():
				}
			}
		case quiet:
			settle.Reset(settleAfter)
			settling = true
		}
	}
	if applyErr != nil && pctx.Err() != nil && errors.Is(applyErr, pctx.Err()) {
		applyErr = nil // cancelled while waiting for the file
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
