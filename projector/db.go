package projector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// schemaVersion is the layout of the views; a file with another one must be rebuilt.
const schemaVersion = 14 // 14: a workload first seen already reconciled has no initial rollout; 13: the latest copy of each object (bucket "vlast"); 12: each rollout's span (bucket "rollspan"); 11: who made each write request (bucket "audit"); 7: a DaemonSet's pods are counted in its revisions; 8: the per-object time index (bucket "vtime", objHead.IdxMin); 9: the latest API discovery per cluster (bucket "disco"); 10: the jobs view (buckets "jobs", "jobsteps", "cronspecs")

// Options tune Open. Zero values mean the documented defaults; nil Options are all defaults.
type Options struct {
	// Timeout is how long Open (and any later re-opening, see DB) waits for other processes
	// to release the file before it returns ErrInUse. Default 10s: a fold in another process
	// lets others in at least every second.
	Timeout time.Duration
	// ReadOnly opens the file for reading only (several readers may share it; no writer may).
	ReadOnly bool
	// NoSync skips the fsync after each commit. Only for a file that is thrown away if the
	// process dies, such as a rebuild in progress. Default false.
	NoSync bool
	// FullEvery is the longest chain of deltas between two full copies of an object. Fixed
	// when the file is created; later values are ignored. Default 16: a read at a time rebuilds
	// the version through at most that many deltas (p99 of get --at on 1M events 2.5 -> 1.9 ms
	// against 32), for 0.1% more views on a real recording (BENCHMARKS.md).
	FullEvery int
	// SnapshotEvery is the least number of applied events of a cluster between two of its
	// snapshots (a snapshot is also at least twice as many events apart as the cluster has
	// live objects, which bounds their size). Fixed when the file is created. Default 50000.
	SnapshotEvery int
	// CacheBytes bounds the fold's caches together: the latest JSON of recently changed
	// objects (two caches, one of the decoding stage and one of the fold, which mostly share
	// their bodies), decoded segments of version records and decoded blocks of object heads.
	// Default 0: 30% of the Go memory limit (debug.SetMemoryLimit, GOMEMLIMIT) when one is
	// set, at most DefaultCacheBytes; DefaultCacheBytes otherwise. The caches must leave the
	// limit room: a live heap near it makes the garbage collector run without pause (issue
	// 13's soak: 80% of collect's CPU when 192 MiB of caches met a 192 MiB limit).
	CacheBytes int64
}

// DefaultCacheBytes is the fold's cache budget when no Go memory limit is set.
const DefaultCacheBytes = 192 << 20

// cacheBudget is the default of Options.CacheBytes for the Go memory limit limit (math.MaxInt64
// when none is set).
func cacheBudget(limit int64) int64 {
	if limit <= 0 || limit == math.MaxInt64 {
		return DefaultCacheBytes
	}
	return min(DefaultCacheBytes, limit*3/10)
}

// caches is how a cache budget is shared: the two object caches 3/8 each (they hold mostly
// the same bodies, so their memory is less than their sum), segments and head blocks 1/8 each.
type caches struct{ obj, spec, segs, blocks int }

func splitCache(total int64) caches {
	return caches{obj: int(total * 3 / 8), spec: int(total * 3 / 8), segs: int(total / 8), blocks: int(total / 8)}
}

const (
	defaultFullEvery     = 16
	defaultSnapshotEvery = 50000
	defaultTimeout       = 10 * time.Second
)

// DB is an open views file. Its read methods may be called concurrently, also while a fold is
// running in the same process; only one fold (CatchUp, Run, EnsureCurrent, Apply) may run at a
// time.
//
// bbolt locks the file for as long as it is open: exclusively for a writer, shared between
// readers. So that several processes can use the same views (khist collect folding, a read
// command querying), Run closes the file after each batch that leaves it nothing to fold, and
// any fold at least every second (see WithHold); the DB opens it again, waiting for the lock,
// when it is next used.
type DB struct {
	path     string
	readOnly bool
	noSync   bool
	timeout  time.Duration

	// hmu is held shared while bdb is used and exclusively to open or close it.
	hmu      sync.RWMutex
	bdb      *bolt.DB // nil while released
	closed   bool
	openedAt time.Time // when bdb was opened
	// txid is the id of the last transaction seen on the file: another one when it is
	// opened again means that another process wrote it, and the object cache is dropped.
	txid uint64
	// flDirty: a transaction committed without writing bbolt's freelist, which then must
	// be written before the file is closed (else the next writer to open it rebuilds the
	// freelist by reading the whole file).
	flDirty   bool
	stale     bool         // the object cache must be dropped before the next fold transaction
	lastUse   atomic.Int64 // unix nanoseconds when bdb was last used
	reopens   atomic.Int64 // times the file was opened again after a release (for tests)
	idleLooks atomic.Int64 // times Run looked whether the open file was unused (for tests)
	// reopened is signalled (without blocking) when the file is opened again after a release,
	// for Run to close it again once unused (see fold).
	reopened chan struct{}

	// Fixed parameters of the fold, read from the file.
	fullEvery     int
	snapshotEvery int

	budget caches            // the caches' sizes (Options.CacheBytes)
	foldMu sync.Mutex        // one fold at a time
	cache  objCache          // latest JSON of recently changed objects: a cache of the views
	segs   segCache          // decoded segments of version records (see verStore)
	blocks blockCache        // decoded blocks of object heads (see headStore)
	bases  map[uint64][]byte // JSON of the versions that first versions are stored against
	pendAt pendTimes         // observed times of the versions that steps and announcements wait with
}

// baseJSON returns the cached JSON of the version at seq, a base of first versions (nil if
// not cached). Versions never change, so the cache is never stale.
func (db *DB) baseJSON(seq uint64) []byte { return db.bases[seq] }

func (db *DB) keepBaseJSON(seq uint64, b []byte) {
	if db.bases == nil || len(db.bases) >= 512 {
		db.bases = map[uint64][]byte{}
	}
	db.bases[seq] = b
}

// Bucket names. Each view documents what its buckets hold.
var (
	bMeta = []byte("meta")

	allBuckets [][]byte // every bucket, in dump order; filled by registerBuckets
)

func registerBuckets(names ...[]byte) [][]byte {
	allBuckets = append(allBuckets, names...)
	return names
}

func init() { registerBuckets(bMeta) }

// Keys of the meta bucket.
var (
	mSchema    = []byte("schema")
	mSeq       = []byte("seq")       // stream sequence of the last event folded
	mNextID    = []byte("nextid")    // next object id
	mApplied   = []byte("applied")   // events that changed the views
	mSkipped   = []byte("skipped")   // events that were already applied (or older)
	mFullEvery = []byte("fullevery") // Options.FullEvery when the file was created
	mSnapEvery = []byte("snapevery") // Options.SnapshotEvery when the file was created
)

// Open opens (creating it if needed) the views file at path, waiting up to Options.Timeout
// for other processes to release it.
func Open(path string, o *Options) (db *DB, err error) {
	var bdb *bolt.DB
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if bdb != nil {
				closeQuietly(bdb)
			}
			db, err = nil, fmt.Errorf("%w: %s (%s): run khist rebuild", ErrDamaged, path, strings.ReplaceAll(fmt.Sprint(r), "\n", " "))
		}
	}()
	if o == nil {
		o = &Options{}
	}
	if o.FullEvery < 0 || o.SnapshotEvery < 0 {
		return nil, fmt.Errorf("%w: FullEvery and SnapshotEvery must not be negative", ErrInvalidOption)
	}
	db = &DB{path: path, readOnly: o.ReadOnly, noSync: o.NoSync, timeout: o.Timeout, reopened: make(chan struct{}, 1)}
	if db.timeout <= 0 {
		db.timeout = defaultTimeout
	}
	if o.CacheBytes < 0 {
		return nil, fmt.Errorf("%w: CacheBytes must not be negative", ErrInvalidOption)
	}
	budget := o.CacheBytes
	if budget == 0 {
		budget = cacheBudget(debug.SetMemoryLimit(-1))
	}
	db.budget = splitCache(budget)
	db.cache.init(db.budget.obj)
	db.segs.init(db.budget.segs)
	db.blocks.init(db.budget.blocks)
	if !o.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("views: %w", err)
		}
		removeLeftover(path)
	}
	bdb, err = db.openBolt(context.Background(), db.timeout)
	if err != nil {
		return nil, err
	}
	if !o.ReadOnly {
		// A compaction killed before it finished left its file (see compact); one at work
		// now would hold the lock this process holds.
		os.Remove(path + ".compact")
	}
	ready := false
	err = bdb.View(func(tx *bolt.Tx) error {
		db.txid = uint64(tx.ID())
		if m := tx.Bucket(bMeta); m == nil || m.Get(mSchema) == nil {
			return nil
		}
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				return nil
			}
		}
		ready = true
		return db.loadParams(tx)
	})
	if err == nil && !ready && o.ReadOnly {
		err = bdb.View(db.loadParams) // says why the file is not views
	}
	if err == nil && !ready && !o.ReadOnly {
		err = bdb.Update(func(tx *bolt.Tx) error {
			db.txid, db.flDirty = uint64(tx.ID()), true
			for _, name := range allBuckets {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			m := tx.Bucket(bMeta)
			if m.Get(mSchema) == nil {
				fe, se := o.FullEvery, o.SnapshotEvery
				if fe == 0 {
					fe = defaultFullEvery
				}
				if se == 0 {
					se = defaultSnapshotEvery
				}
				for k, v := range map[string]uint64{string(mSchema): schemaVersion, string(mFullEvery): uint64(fe), string(mSnapEvery): uint64(se), string(mNextID): 1} {
					if err := m.Put([]byte(k), be8(v)); err != nil {
						return err
					}
				}
			}
			return db.loadParams(tx)
		})
	}
	if err != nil {
		bdb.Close()
		return nil, err
	}
	db.bdb, db.openedAt = bdb, time.Now()
	db.lastUse.Store(time.Now().UnixNano())
	return db, nil
}

// guard, deferred by every function that reads or writes the bbolt file, turns a panic of
// bbolt on a damaged file (a page of the wrong type, an offset past the end, a fault reading
// the memory map: see debug.SetPanicOnFault) into ErrDamaged. bbolt rolls back the
// transaction the panic left.
func (db *DB) guard(err *error) {
	r := recover()
	if r == nil {
		return
	}
	msg := strings.ReplaceAll(fmt.Sprint(r), "\n", " ")
	*err = fmt.Errorf("%w: %s (%s): run khist rebuild", ErrDamaged, db.path, msg)
}

// removeLeftover deletes the path.rebuild file that a rebuild killed before it finished left
// (it can be as large as the views), unless a rebuild is running now.
func removeLeftover(path string) {
	tmp := path + ".rebuild"
	if _, err := os.Stat(tmp); err != nil {
		return
	}
	unlock, err := lockRun(path)
	if err != nil {
		return // a rebuild (or Run) is at work on path
	}
	defer unlock()
	os.Remove(tmp)
}

// checkSize returns ErrDamaged when the file is shorter than its pages (it was truncated);
// on such a file bbolt reads past the end of its memory map. It closes bdb then.
func checkSize(bdb *bolt.DB, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return nil // the open file is what counts; bbolt reports its own errors
	}
	var need int64
	if err := bdb.View(func(tx *bolt.Tx) error { need = tx.Size(); return nil }); err != nil {
		return nil
	}
	if fi.Size() < need {
		closeQuietly(bdb)
		return fmt.Errorf("%w: %s (truncated: %d bytes of %d): run khist rebuild", ErrDamaged, path, fi.Size(), need)
	}
	return nil
}

// unlockClose releases the lock on a file that bbolt opened and then panicked on, and closes
// it. Closing alone would not release the lock: bbolt's memory map of the file keeps the open
// file (and so its flock) alive.
func unlockClose(f *os.File) {
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	f.Close()
}

// closeQuietly closes a bbolt file that may be damaged, ignoring its errors and panics.
func closeQuietly(b *bolt.DB) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() { recover() }()
	b.Close()
}

// errLockWait: the file stayed locked by another process for the whole wait.
var errLockWait = errors.New("views locked")

// openBolt opens the bbolt file, waiting up to wait for its lock (0: until ctx ends).
//
// bbolt's own wait tries the lock every 50ms, which would rarely meet the short moments in
// which a busy fold in another process has the file closed; the file is locked here instead,
// trying every millisecond, before bbolt takes (again, at once) the same lock on it.
func (db *DB) openBolt(ctx context.Context, wait time.Duration) (*bolt.DB, error) {
	var file *os.File
	defer func() {
		if r := recover(); r != nil {
			// bbolt panicked reading a damaged file before it returned it: release its lock
			// and close it here, and let the caller's guard report.
			if file != nil {
				unlockClose(file)
			}
			panic(r)
		}
	}()
	bdb, err := bolt.Open(db.path, 0o600, &bolt.Options{
		Timeout:         time.Second,
		ReadOnly:        db.readOnly,
		NoSync:          db.noSync,
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: 256 << 20,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := openLocked(ctx, name, flag, perm, !db.readOnly, wait)
			file = f
			return f, err
		},
	})
	if err == nil {
		if err := checkSize(bdb, db.path); err != nil {
			return nil, err
		}
		if fi, err := os.Stat(db.path); err == nil {
			bdb.AllocSize = allocSize(fi.Size())
		}
		return bdb, nil
	}
	switch {
	case errors.Is(err, errLockWait), errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s stayed locked by another khist process for %s (a rebuild, or the fold of a long backlog by khist import or a read command): try again when it is done", ErrInUse, db.path, wait)
	case err != nil && ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		return nil, fmt.Errorf("views %s: %w", db.path, err)
	}
	return bdb, nil
}

// openLocked opens the file and locks it as bbolt does (flock, exclusive or shared), trying
// every millisecond for up to wait (0: until ctx ends). It makes sure that the file it locked
// is still the one at name (a rebuild renames a new file over it).
func openLocked(ctx context.Context, name string, flag int, perm os.FileMode, exclusive bool, wait time.Duration) (*os.File, error) {
	how := syscall.LOCK_SH | syscall.LOCK_NB
	if exclusive {
		how = syscall.LOCK_EX | syscall.LOCK_NB
	}
	var deadline time.Time
	if wait > 0 {
		deadline = time.Now().Add(wait)
	}
	for {
		f, err := os.OpenFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		for {
			err = syscall.Flock(int(f.Fd()), how)
			if err != syscall.EWOULDBLOCK && err != syscall.EINTR {
				break
			}
			if !deadline.IsZero() && time.Now().After(deadline) {
				f.Close()
				return nil, errLockWait
			}
			select {
			case <-ctx.Done():
				f.Close()
				return nil, ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		held, err1 := f.Stat()
		now, err2 := os.Stat(name)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return f, nil
		}
		f.Close() // replaced while we waited: lock the new one
	}
}

// use returns the bbolt handle, opening the file again if it was released, waiting for its
// lock up to wait (0: until ctx ends). The caller calls done when it no longer uses it.
func (db *DB) use(ctx context.Context, wait time.Duration) (b *bolt.DB, done func(), err error) {
	db.hmu.RLock()
	for db.bdb == nil && !db.closed {
		db.hmu.RUnlock()
		if err := db.reopen(ctx, wait); err != nil {
			return nil, nil, err
		}
		db.hmu.RLock()
	}
	if db.closed {
		db.hmu.RUnlock()
		return nil, nil, fmt.Errorf("views %s: %w", db.path, berrors.ErrDatabaseNotOpen)
	}
	return db.bdb, db.unuse, nil
}

func (db *DB) unuse() {
	db.lastUse.Store(time.Now().UnixNano())
	db.hmu.RUnlock()
}

// reopen opens the released file again.
func (db *DB) reopen(ctx context.Context, wait time.Duration) error {
	db.hmu.Lock()
	defer db.hmu.Unlock()
	if db.bdb != nil || db.closed {
		return nil
	}
	bdb, err := db.openBolt(ctx, wait)
	if err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			closeQuietly(bdb) // a damaged file: release it, and let the caller's guard report
			panic(r)
		}
	}()
	var txid uint64
	err = bdb.View(func(tx *bolt.Tx) error {
		txid = uint64(tx.ID())
		return db.loadParams(tx)
	})
	if err != nil {
		bdb.Close()
		return err
	}
	if txid != db.txid {
		// Another process wrote the views meanwhile: what this one remembers of them is stale.
		db.stale = true
		db.txid = txid
	}
	db.bdb, db.openedAt = bdb, time.Now()
	db.reopens.Add(1)
	select {
	case db.reopened <- struct{}{}:
	default:
	}
	return nil
}

// release closes the file until it is used again, so that other processes can open it. It
// waits for the reads in progress in this process.
func (db *DB) release() error {
	db.hmu.Lock()
	defer db.hmu.Unlock()
	return db.closeLocked()
}

func (db *DB) closeLocked() (err error) {
	if db.bdb == nil {
		return nil
	}
	defer func() {
		// Whatever happened (a damaged file), the file is closed and its lock released.
		if db.bdb != nil {
			closeQuietly(db.bdb)
			db.bdb = nil
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer db.guard(&err)
	if db.flDirty {
		// Write bbolt's freelist, which folds do not write at each commit (it costs as much as
		// their changes), so that opening the file again is cheap: without it bbolt rebuilds
		// the freelist by reading the whole file.
		db.bdb.NoFreelistSync = false
		err = db.bdb.Update(func(tx *bolt.Tx) error { db.txid = uint64(tx.ID()); return nil })
		db.bdb.NoFreelistSync = true
		if err == nil && db.noSync {
			err = db.bdb.Sync()
		}
		db.flDirty = err != nil
	}
	if cerr := db.bdb.Close(); err == nil {
		err = cerr
	}
	db.bdb = nil
	if err != nil {
		return fmt.Errorf("views %s: %w", db.path, err)
	}
	return nil
}

// heldFor is how long the file has been open, 0 when it is released.
func (db *DB) heldFor() time.Duration {
	db.hmu.RLock()
	defer db.hmu.RUnlock()
	if db.bdb == nil {
		return 0
	}
	return time.Since(db.openedAt)
}

// idleFor is how long the file has been open without being used, 0 when it is released.
func (db *DB) idleFor() time.Duration {
	db.hmu.RLock()
	defer db.hmu.RUnlock()
	if db.bdb == nil {
		return 0
	}
	return time.Since(time.Unix(0, db.lastUse.Load()))
}

func (db *DB) loadParams(tx *bolt.Tx) error {
	m := tx.Bucket(bMeta)
	if m == nil {
		return fmt.Errorf("%w: %s holds no views: it was never written by khist", ErrSchema, db.path)
	}
	if v := readBE8(m.Get(mSchema)); v != schemaVersion {
		return fmt.Errorf("%w: %s has views of schema %d, this khist reads %d (%w): run khist rebuild", ErrSchema, db.path, v, schemaVersion, ErrOtherSchema)
	}
	db.fullEvery = int(readBE8(m.Get(mFullEvery)))
	db.snapshotEvery = int(readBE8(m.Get(mSnapEvery)))
	if db.fullEvery <= 0 || db.snapshotEvery <= 0 {
		return fmt.Errorf("%w: %s lacks its fold parameters: run khist rebuild", ErrSchema, db.path)
	}
	return nil
}

// Close closes the file. Closing a closed DB does nothing.
func (db *DB) Close() error {
	db.hmu.Lock()
	defer db.hmu.Unlock()
	if db.closed {
		return nil
	}
	db.closed = true
	return db.closeLocked()
}

// Path is the file's path.
func (db *DB) Path() string { return db.path }

// Seq returns the stream sequence of the last event folded into the views (0 when none).
func (db *DB) Seq() (uint64, error) {
	var s uint64
	err := db.view(func(tx *bolt.Tx) error {
		s = readBE8(tx.Bucket(bMeta).Get(mSeq))
		return nil
	})
	return s, err
}

// Counts are the numbers of events the views have seen.
type Counts struct {
	Seq     uint64 // stream sequence of the last event folded
	Applied uint64 // events that changed the views
	Skipped uint64 // events already applied (same uid and resourceVersion) or older than one applied
	// Quarantined is the number of events no view could fold (see QuarantineList).
	Quarantined uint64
	Objects     uint64 // objects ever seen
}

// Counts returns the views' counters.
func (db *DB) Counts() (Counts, error) {
	var c Counts
	err := db.view(func(tx *bolt.Tx) error {
		m := tx.Bucket(bMeta)
		c = Counts{Seq: readBE8(m.Get(mSeq)), Applied: readBE8(m.Get(mApplied)), Skipped: readBE8(m.Get(mSkipped)), Quarantined: readBE8(m.Get(mQuarantined)), Objects: readBE8(m.Get(mNextID)) - 1}
		return nil
	})
	return c, err
}

// events is the number of events folded into the views.
func (c Counts) events() uint64 { return c.Applied + c.Skipped + c.Quarantined }

// fileCounts reads the counters of the views file at path, whatever its schema, without
// taking the file's lock for long; ok is false when there is no file or it cannot be read
// (damaged, or not views).
func fileCounts(path string) (c Counts, ok bool) {
	if _, err := os.Stat(path); err != nil {
		return Counts{}, false
	}
	var file *os.File
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			if file != nil {
				unlockClose(file)
			}
			c, ok = Counts{}, false
		}
	}()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: defaultTimeout,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		}})
	if err != nil {
		return Counts{}, false
	}
	defer bdb.Close()
	err = bdb.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bMeta)
		if m == nil {
			return ErrNotFound
		}
		c = Counts{Seq: readBE8(m.Get(mSeq)), Applied: readBE8(m.Get(mApplied)), Skipped: readBE8(m.Get(mSkipped)), Quarantined: readBE8(m.Get(mQuarantined))}
		return nil
	})
	return c, err == nil
}

// Snapshot writes a consistent copy of the whole views file to w (raft's FSM Snapshot): the
// state after the event Seq reports, from which a fold can continue.
func (db *DB) Snapshot(w io.Writer) error {
	return db.view(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(w)
		return err
	})
}

// Restore replaces the views file at path with a snapshot read from r, discarding whatever
// the file held (raft's FSM Restore). No DB may be open on path.
func Restore(path string, r io.Reader) error {
	tmp := path + ".restore"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("restore views: %w", err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("restore views: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("restore views: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore views: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("restore views: %w", err)
	}
	return nil
}

// view runs fn in a read transaction.
func (db *DB) view(fn func(tx *bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer db.guard(&err)
	b, done, err := db.use(context.Background(), db.timeout)
	if err != nil {
		return err
	}
	defer done()
	return b.View(func(tx *bolt.Tx) error {
		defer db.track(tx)()
		return fn(tx)
	})
}

// update runs fn in a write transaction (of a fold, under foldMu), waiting up to wait (0:
// until ctx ends) for the file if it was released. With freelist, the commit also writes
// bbolt's freelist (see closeLocked), for a fold about to release the file.
func (db *DB) update(ctx context.Context, wait time.Duration, freelist bool, fn func(tx *bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer db.guard(&err)
	b, done, err := db.use(ctx, wait)
	if err != nil {
		return err
	}
	defer done()
	// The fields set here are guarded by hmu, held shared by the one fold that writes.
	b.NoFreelistSync = !freelist
	err = b.Update(func(tx *bolt.Tx) error {
		db.txid, db.flDirty = uint64(tx.ID()), true
		b.AllocSize = allocSize(tx.Size())
		if db.stale {
			db.cache.reset()
			db.segs.reset()
			db.pendAt.reset()
			db.stale = false
		}
		defer db.track(tx)()
		return fn(tx)
	})
	b.NoFreelistSync = true
	if err == nil && freelist {
		db.flDirty = false
	}
	return err
}

func getU64(b *bolt.Bucket, k []byte) uint64 { return readBE8(b.Get(k)) }

func putU64(b *bolt.Bucket, k []byte, v uint64) error { return b.Put(k, be8(v)) }
