package projector

import (
	"context"
	"errors"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

// The views file wastes space in three ways, which a fold of a long backlog (an import, a
// rebuild) leaves at their worst:
//   - free pages: bbolt never writes a page in place; a transaction writes every page it
//     changes elsewhere and frees the old copy, so the file holds, besides the live pages,
//     the pages the last large transactions freed;
//   - half-empty pages: a bucket whose keys arrive in random order (uids, names, pods by
//     namespace) splits its pages into halves and fills them back to about 65% on average;
//   - the end of the file: bbolt grows the file ahead of its pages, by 16 MiB at a time
//     unless told otherwise (see allocSize).
//
// So after a fold of a backlog, when less than compactBelow of the file is in use, the file is
// compacted: its buckets are copied, in key order, into a new file whose pages are full, which
// replaces it. The logical contents (what Dump shows) do not change.

// compactBelow is the share of the file in use (keys, values and page headers of live pages)
// under which a fold of a backlog compacts the file.
const compactBelow = 0.75

// compactMin is the least file size worth compacting.
const compactMin = 4 << 20

// compactAfter is the least number of events a CatchUp folds before it considers compacting:
// a long backlog (khist import), not the tail a read command folds.
const compactAfter = 10000

// compactEvery is how many events a live fold (Run) folds between two looks at the file's
// waste. Its small transactions leave no free pages to speak of, but its keys that arrive in
// random order (uids, names, pods) fill their pages to about two thirds: a live fold of the
// busy recording (48 events a transaction) left a file of 422 B/event for 282 B/event in use.
const compactEvery = 20000

// allocSize is how far bbolt grows the file ahead of its pages: a sixteenth of what the file
// holds, between 1 and 16 MiB (bbolt's default is always 16 MiB).
func allocSize(size int64) int {
	return int(min(max(size/16, 1<<20), 16<<20))
}

// SpaceUse says where the bytes of the views file go.
type SpaceUse struct {
	FileBytes  int64 // the file's size
	PageBytes  int64 // bytes up to the last page in use (the rest is bbolt's growth ahead)
	FreeBytes  int64 // free pages before that
	InuseBytes int64 // keys, values and page headers of the pages in use
	PageSize   int
	Buckets    []BucketUse // in name order
}

// BucketUse is the space one bucket of the views takes.
type BucketUse struct {
	Name       string
	Keys       int
	PageBytes  int64 // its pages (leaf, branch, overflow)
	InuseBytes int64 // what they hold
}

// Space reports where the bytes of the views file go. It reads every page of the file, with
// pread rather than through bbolt's memory map (see pageWalk).
func (db *DB) Space() (SpaceUse, error) {
	var u SpaceUse
	err := db.view(func(tx *bolt.Tx) error {
		var err error
		u, err = spaceOf(tx, db.path)
		return err
	})
	if err != nil {
		return u, err
	}
	if fi, err := os.Stat(db.path); err == nil {
		u.FileBytes = fi.Size()
	}
	return u, nil
}

func spaceOf(tx *bolt.Tx, path string) (SpaceUse, error) {
	ps := tx.DB().Info().PageSize
	u := SpaceUse{PageBytes: tx.Size(), PageSize: ps}
	w, err := newPageWalk(path, tx)
	if err != nil {
		return u, fmt.Errorf("views space: %w", err)
	}
	defer w.Close()
	reached := int64(3) // two meta pages and the root bucket's leaf (at least)
	err = tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		var s walkStats
		if root := uint64(b.Root()); root != 0 {
			if err := w.stats(root, nil, &s); err != nil {
				return fmt.Errorf("views space: bucket %s: %w", name, err)
			}
		} else {
			// An inline bucket lives in the root bucket's page, which bbolt has read already.
			s.keys = b.Stats().KeyN
		}
		reached += s.pages
		in := s.branchUsed + s.leafUsed
		u.InuseBytes += in
		u.Buckets = append(u.Buckets, BucketUse{Name: string(name), Keys: s.keys, PageBytes: s.pages * int64(ps), InuseBytes: in})
		return nil
	})
	u.FreeBytes = max(0, u.PageBytes-reached*int64(ps))
	return u, err
}

// compactIfWasteful compacts the file (see above) when less than compactBelow of it is in
// use. It holds the fold lock and the file's lock while it works, so that no fold, in this
// process or another, writes the file it copies.
func (db *DB) compactIfWasteful(ctx context.Context) error {
	db.foldMu.Lock()
	defer db.foldMu.Unlock()
	_, _, err := db.compactWasteLocked(ctx)
	return err
}

// compactWasteLocked is compactIfWasteful under the fold lock, held by the caller. It returns
// the file's size before and after when it compacted it (0, 0 when it did not).
func (db *DB) compactWasteLocked(ctx context.Context) (from, to int64, err error) {
	if db.readOnly {
		return 0, 0, nil
	}
	fi, err := os.Stat(db.path)
	if err != nil || fi.Size() < compactMin {
		return 0, 0, nil
	}
	u, err := db.Space()
	if err != nil {
		return 0, 0, err
	}
	if float64(u.InuseBytes) >= compactBelow*float64(fi.Size()) {
		return 0, 0, nil
	}
	if err := db.compact(ctx); err != nil {
		if errors.Is(err, ErrInUse) {
			// A file that another process kept open stays as it is: its views are whole,
			// and the next look compacts it.
			return 0, 0, nil
		}
		return 0, 0, err
	}
	if after, err := os.Stat(db.path); err == nil {
		return fi.Size(), after.Size(), nil
	}
	return fi.Size(), 0, nil
}

// compact copies the views into a new file with full pages and renames it over the file.
func (db *DB) compact(ctx context.Context) (err error) {
	db.hmu.Lock()
	defer db.hmu.Unlock()
	if db.closed {
		return nil
	}
	if err := db.closeLocked(); err != nil {
		return err
	}
	// Open the file again, locked for writing until it is replaced: a fold in another process
	// waits, then finds the new file (see openLocked).
	src, err := db.openBolt(ctx, db.timeout)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := src.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("compact views: %w", cerr)
		}
	}()
	tmp := db.path + ".compact"
	os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{NoSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return fmt.Errorf("compact views: %w", err)
	}
	var size int64
	src.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil })
	dst.AllocSize = allocSize(size)
	// Copied in transactions of 4 MiB of keys and values: what a transaction holds is in memory
	// until it commits (collect runs under a memory limit). The source's pages are read with
	// pread, not through its memory map, which would keep them all in the process's resident
	// set until the file is closed.
	if err := copyBuckets(dst, src, db.path, 4<<20); err != nil {
		dst.Close()
		os.Remove(tmp)
		return fmt.Errorf("compact views: %w", err)
	}
	dst.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil })
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("compact views: %w", err)
	}
	// Nothing is stored past the last page: drop what bbolt grew the file by ahead.
	if err := syncTruncated(tmp, size); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("compact views: %w", err)
	}
	if err := os.Rename(tmp, db.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("compact views: %w", err)
	}
	return nil
}

// syncTruncated truncates the file at path to size and syncs it.
func syncTruncated(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if fi, serr := f.Stat(); serr == nil && fi.Size() > size {
		err = f.Truncate(size)
	}
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
