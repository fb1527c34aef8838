package projector

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// schemaVersion is the layout of the views; a file with another one must be rebuilt.
const schemaVersion = 1

// Options tune Open. Zero values mean the documented defaults; nil Options are all defaults.
type Options struct {
	// Timeout is how long Open waits for another process to release the file before it
	// returns ErrInUse. Default 2s.
	Timeout time.Duration
	// ReadOnly opens the file for reading only (several readers may share it; no writer may).
	ReadOnly bool
	// NoSync skips the fsync after each commit. Only for a file that is thrown away if the
	// process dies, such as a rebuild in progress. Default false.
	NoSync bool
	// FullEvery is the longest chain of deltas between two full copies of an object. Fixed
	// when the file is created; later values are ignored. Default 32.
	FullEvery int
	// SnapshotEvery is the least number of applied events of a cluster between two of its
	// snapshots (a snapshot is also at least twice as many events apart as the cluster has
	// live objects, which bounds their size). Fixed when the file is created. Default 50000.
	SnapshotEvery int
}

const (
	defaultFullEvery     = 32
	defaultSnapshotEvery = 50000
)

// DB is an open views file. Its read methods may be called concurrently, also while a fold is
// running in the same process; only one fold (CatchUp, Run, EnsureCurrent, Apply) may run at a
// time.
type DB struct {
	bolt *bolt.DB
	path string

	// Fixed parameters of the fold, read from the file.
	fullEvery     int
	snapshotEvery int

	foldMu sync.Mutex // one fold at a time
	closed bool
	cache  objCache // latest JSON of recently changed objects: a cache of the views
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

// Open opens (creating it if needed) the views file at path.
func Open(path string, o *Options) (*DB, error) {
	if o == nil {
		o = &Options{}
	}
	if o.FullEvery < 0 || o.SnapshotEvery < 0 {
		return nil, fmt.Errorf("%w: FullEvery and SnapshotEvery must not be negative", ErrInvalidOption)
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	if !o.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("views: %w", err)
		}
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         timeout,
		ReadOnly:        o.ReadOnly,
		NoSync:          o.NoSync,
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: 256 << 20,
	})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s is held by another khist process (khist collect, project or rebuild): stop it or wait for it to finish", ErrInUse, path)
		}
		return nil, fmt.Errorf("views %s: %w", path, err)
	}
	db := &DB{bolt: bdb, path: path}
	db.cache.init(64 << 20)
	if o.ReadOnly {
		err = bdb.View(func(tx *bolt.Tx) error { return db.loadParams(tx) })
	} else {
		err = bdb.Update(func(tx *bolt.Tx) error {
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
	return db, nil
}

func (db *DB) loadParams(tx *bolt.Tx) error {
	m := tx.Bucket(bMeta)
	if m == nil {
		return fmt.Errorf("%w: %s holds no views: it was never written by khist", ErrSchema, db.path)
	}
	if v := readBE8(m.Get(mSchema)); v != schemaVersion {
		return fmt.Errorf("%w: %s has views of schema %d, this khist reads %d: run khist rebuild", ErrSchema, db.path, v, schemaVersion)
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
	if db.closed {
		return nil
	}
	db.closed = true
	return db.bolt.Close()
}

// Path is the file's path.
func (db *DB) Path() string { return db.path }

// Seq returns the stream sequence of the last event folded into the views (0 when none).
func (db *DB) Seq() (uint64, error) {
	var s uint64
	err := db.bolt.View(func(tx *bolt.Tx) error {
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
	Objects uint64 // objects ever seen
}

// Counts returns the views' counters.
func (db *DB) Counts() (Counts, error) {
	var c Counts
	err := db.bolt.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bMeta)
		c = Counts{Seq: readBE8(m.Get(mSeq)), Applied: readBE8(m.Get(mApplied)), Skipped: readBE8(m.Get(mSkipped)), Objects: readBE8(m.Get(mNextID)) - 1}
		return nil
	})
	return c, err
}

// Snapshot writes a consistent copy of the whole views file to w (raft's FSM Snapshot): the
// state after the event Seq reports, from which a fold can continue.
func (db *DB) Snapshot(w io.Writer) error {
	return db.bolt.View(func(tx *bolt.Tx) error {
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
func (db *DB) view(fn func(tx *bolt.Tx) error) error { return db.bolt.View(fn) }

func getU64(b *bolt.Bucket, k []byte) uint64 { return readBE8(b.Get(k)) }

func putU64(b *bolt.Bucket, k []byte, v uint64) error { return b.Put(k, be8(v)) }
