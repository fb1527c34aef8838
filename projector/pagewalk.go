package projector

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// A pageWalk reads the B+trees of the views' buckets with pread on the file, not through
// bbolt's memory map. It serves the two passes that read every page of the file, the look at
// its waste (Space) and the copy that compacts it, so that they do not leave the whole file
// mapped in the process's memory: a page read through the map stays in the process's resident
// set until the file is closed, and khist collect, which compacts its views while it runs, is
// held to a memory budget. Pages read with pread go through the kernel's page cache only.
//
// It is only ever used inside a read transaction of the file (whose pages cannot be freed or
// reused while it is open), and reads bbolt's page format, which bbolt keeps stable across its
// versions (a file written by any bbolt 1.x opens in every other): a page is a 16-byte header
// (id, flags, count of elements, count of overflow pages) followed by its elements, 16 bytes
// each, whose keys and values follow them at offsets relative to each element; a bucket's
// value is its root page and sequence (16 bytes), followed by the bucket's one page when it is
// inline (root 0). The numbers are in the machine's byte order, as bbolt writes them.
// Everything read is bounds-checked: a damaged file gives an error, not a panic.
type pageWalk struct {
	f        *os.File
	pageSize int
	pages    uint64   // the pages of the transaction's file (its high water mark)
	bufs     [][]byte // one page buffer per depth of the walk
}

const (
	pageHeaderSize = 16
	pageElemSize   = 16

	pageBranch = 0x01
	pageLeaf   = 0x02

	leafBucket = 0x01 // a leaf element that is a nested bucket
)

// newPageWalk opens the views file of tx for reading. The caller closes it.
func newPageWalk(path string, tx *bolt.Tx) (*pageWalk, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	ps := tx.DB().Info().PageSize
	return &pageWalk{f: f, pageSize: ps, pages: uint64(tx.Size()) / uint64(ps)}, nil
}

func (w *pageWalk) Close() error { return w.f.Close() }

// boltPage is one page (with its overflow pages) as read from the file, or a bucket's inline
// page.
type boltPage struct {
	data     []byte
	flags    uint16
	count    int
	overflow uint32
}

func parsePage(data []byte) (boltPage, error) {
	if len(data) < pageHeaderSize {
		return boltPage{}, fmt.Errorf("a page of %d bytes", len(data))
	}
	p := boltPage{
		data:     data,
		flags:    binary.NativeEndian.Uint16(data[8:]),
		count:    int(binary.NativeEndian.Uint16(data[10:])),
		overflow: binary.NativeEndian.Uint32(data[12:]),
	}
	if p.flags != pageBranch && p.flags != pageLeaf {
		return p, fmt.Errorf("a page of flags %#x where a branch or a leaf was expected", p.flags)
	}
	if pageHeaderSize+p.count*pageElemSize > len(data) {
		return p, fmt.Errorf("a page of %d elements in %d bytes", p.count, len(data))
	}
	return p, nil
}

// read reads page id and its overflow pages into the buffer of the given depth.
func (w *pageWalk) read(id uint64, depth int) (boltPage, error) {
	if id < 2 || id >= w.pages {
		return boltPage{}, fmt.Errorf("page %d out of the file's %d pages", id, w.pages)
	}
	for len(w.bufs) <= depth {
		w.bufs = append(w.bufs, make([]byte, w.pageSize))
	}
	buf := w.bufs[depth][:w.pageSize]
	off := int64(id) * int64(w.pageSize)
	if _, err := w.f.ReadAt(buf, off); err != nil {
		return boltPage{}, fmt.Errorf("page %d: %w", id, err)
	}
	if got := binary.NativeEndian.Uint64(buf); got != id {
		return boltPage{}, fmt.Errorf("page %d holds the header of page %d", id, got)
	}
	if over := uint64(binary.NativeEndian.Uint32(buf[12:])); over > 0 {
		if id+over >= w.pages {
			return boltPage{}, fmt.Errorf("page %d overflows past the file's %d pages", id, w.pages)
		}
		n := int(over+1) * w.pageSize
		if cap(w.bufs[depth]) < n {
			nb := make([]byte, n)
			copy(nb, buf)
			w.bufs[depth] = nb
		}
		buf = w.bufs[depth][:n]
		if _, err := w.f.ReadAt(buf[w.pageSize:], off+int64(w.pageSize)); err != nil {
			return boltPage{}, fmt.Errorf("page %d: %w", id, err)
		}
	}
	p, err := parsePage(buf)
	if err != nil {
		return p, fmt.Errorf("page %d: %w", id, err)
	}
	return p, nil
}

// leaf returns element i of a leaf page: its flags, key and value (slices of the page).
func (p boltPage) leaf(i int) (flags uint32, k, v []byte, err error) {
	e := pageHeaderSize + i*pageElemSize
	flags = binary.NativeEndian.Uint32(p.data[e:])
	pos := uint64(binary.NativeEndian.Uint32(p.data[e+4:]))
	ks := uint64(binary.NativeEndian.Uint32(p.data[e+8:]))
	vs := uint64(binary.NativeEndian.Uint32(p.data[e+12:]))
	start := uint64(e) + pos
	if start+ks+vs > uint64(len(p.data)) {
		return 0, nil, nil, fmt.Errorf("leaf element %d past its page", i)
	}
	return flags, p.data[start : start+ks], p.data[start+ks : start+ks+vs], nil
}

// branch returns element i of a branch page: its key's size and child page.
func (p boltPage) branch(i int) (ksize uint64, child uint64, err error) {
	e := pageHeaderSize + i*pageElemSize
	pos := uint64(binary.NativeEndian.Uint32(p.data[e:]))
	ksize = uint64(binary.NativeEndian.Uint32(p.data[e+4:]))
	child = binary.NativeEndian.Uint64(p.data[e+8:])
	if uint64(e)+pos+ksize > uint64(len(p.data)) {
		return 0, 0, fmt.Errorf("branch element %d past its page", i)
	}
	return ksize, child, nil
}

// used is what bbolt's BucketStats count as in use on a page: its header, its elements, their
// keys and values (the last element's offset and sizes reach the end of them all).
func (p boltPage) used() (int64, error) {
	if p.count == 0 {
		return pageHeaderSize, nil
	}
	last := p.count - 1
	e := pageHeaderSize + last*pageElemSize
	var end uint64
	if p.flags == pageLeaf {
		pos := uint64(binary.NativeEndian.Uint32(p.data[e+4:]))
		end = pos + uint64(binary.NativeEndian.Uint32(p.data[e+8:])) + uint64(binary.NativeEndian.Uint32(p.data[e+12:]))
	} else {
		pos := uint64(binary.NativeEndian.Uint32(p.data[e:]))
		end = pos + uint64(binary.NativeEndian.Uint32(p.data[e+4:]))
	}
	if uint64(e)+end > uint64(len(p.data)) {
		return 0, fmt.Errorf("the last element of a page of %d past its end", p.count)
	}
	return int64(e) + int64(end), nil
}

// bucketValue splits a nested bucket's value into its root page, its sequence and, when the
// bucket is inline, its page.
func bucketValue(v []byte) (root, seq uint64, inline []byte, err error) {
	if len(v) < 16 {
		return 0, 0, nil, fmt.Errorf("a bucket value of %d bytes", len(v))
	}
	root, seq = binary.NativeEndian.Uint64(v), binary.NativeEndian.Uint64(v[8:])
	if root == 0 {
		inline = v[16:]
	}
	return root, seq, inline, nil
}

// walkStats are the counts of bbolt's BucketStats that Space reports, for a bucket and the
// buckets nested in it.
type walkStats struct {
	keys       int
	pages      int64 // leaf, branch and overflow pages
	branchUsed int64
	leafUsed   int64 // of pages (not of inline buckets, which bbolt counts apart)
}

// stats walks the bucket whose root page is root (or whose page is inline) and adds what
// bbolt's Bucket.Stats would count to s.
func (w *pageWalk) stats(root uint64, inline []byte, s *walkStats) error {
	if root == 0 {
		p, err := parsePage(inline)
		if err != nil {
			return fmt.Errorf("inline bucket: %w", err)
		}
		s.keys += p.count // an inline bucket holds no nested bucket with pages of its own
		return nil
	}
	return w.statsPage(root, 0, s)
}

func (w *pageWalk) statsPage(id uint64, depth int, s *walkStats) error {
	p, err := w.read(id, depth)
	if err != nil {
		return err
	}
	used, err := p.used()
	if err != nil {
		return fmt.Errorf("page %d: %w", id, err)
	}
	s.pages += 1 + int64(p.overflow)
	if p.flags == pageLeaf {
		s.keys += p.count
		s.leafUsed += used
		for i := 0; i < p.count; i++ {
			flags, _, v, err := p.leaf(i)
			if err != nil {
				return fmt.Errorf("page %d: %w", id, err)
			}
			if flags&leafBucket == 0 {
				continue
			}
			root, _, inline, err := bucketValue(v)
			if err != nil {
				return fmt.Errorf("page %d: %w", id, err)
			}
			// The nested walk reads into deeper buffers: this page's stays valid.
			if root == 0 {
				if err := w.stats(0, inline, s); err != nil {
					return err
				}
			} else if err := w.statsPage(root, depth+1, s); err != nil {
				return err
			}
		}
		return nil
	}
	s.branchUsed += used
	for i := 0; i < p.count; i++ {
		_, child, err := p.branch(i)
		if err != nil {
			return fmt.Errorf("page %d: %w", id, err)
		}
		if err := w.statsPage(child, depth+1, s); err != nil {
			return err
		}
	}
	return nil
}

// walkFn receives each key of a bucket in order: a nested bucket (isBucket, v nil, with its
// sequence) before its own keys, which come with its path. k and v are valid only during the
// call.
type walkFn func(path [][]byte, k, v []byte, isBucket bool, seq uint64) error

// each calls fn for every key of the bucket at path whose root page is root (or whose page is
// inline), in key order, and for the keys of the buckets nested in it.
func (w *pageWalk) each(path [][]byte, root uint64, inline []byte, fn walkFn) error {
	if root == 0 {
		p, err := parsePage(inline)
		if err != nil {
			return fmt.Errorf("inline bucket: %w", err)
		}
		return w.eachLeaf(path, p, len(path), fn)
	}
	return w.eachPage(path, root, len(path), fn)
}

func (w *pageWalk) eachPage(path [][]byte, id uint64, depth int, fn walkFn) error {
	p, err := w.read(id, depth)
	if err != nil {
		return err
	}
	if p.flags == pageLeaf {
		return w.eachLeaf(path, p, depth, fn)
	}
	for i := 0; i < p.count; i++ {
		_, child, err := p.branch(i)
		if err != nil {
			return fmt.Errorf("page %d: %w", id, err)
		}
		if err := w.eachPage(path, child, depth+1, fn); err != nil {
			return err
		}
	}
	return nil
}

func (w *pageWalk) eachLeaf(path [][]byte, p boltPage, depth int, fn walkFn) error {
	if p.flags != pageLeaf {
		return fmt.Errorf("an inline bucket's page of flags %#x", p.flags)
	}
	for i := 0; i < p.count; i++ {
		flags, k, v, err := p.leaf(i)
		if err != nil {
			return err
		}
		if flags&leafBucket == 0 {
			if err := fn(path, k, v, false, 0); err != nil {
				return err
			}
			continue
		}
		root, seq, inline, err := bucketValue(v)
		if err != nil {
			return err
		}
		if err := fn(path, k, nil, true, seq); err != nil {
			return err
		}
		sub := append(path[:len(path):len(path)], k)
		if root == 0 {
			p, err := parsePage(inline)
			if err != nil {
				return fmt.Errorf("inline bucket: %w", err)
			}
			err = w.eachLeaf(sub, p, depth+1, fn)
		} else {
			err = w.eachPage(sub, root, depth+1, fn)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// copyBuckets copies every bucket of src into dst (an empty file) in key order, with full
// pages, in transactions of about txMax bytes of keys and values, reading src's pages with
// pread (see pageWalk). path is src's file.
func copyBuckets(dst, src *bolt.DB, path string, txMax int64) error {
	return src.View(func(stx *bolt.Tx) error {
		w, err := newPageWalk(path, stx)
		if err != nil {
			return err
		}
		defer w.Close()
		c := &bucketCopy{dst: dst, max: txMax}
		defer c.rollback()
		if err := c.begin(); err != nil {
			return err
		}
		err = stx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if err := c.put(nil, name, nil, true, b.Sequence()); err != nil {
				return err
			}
			path := [][]byte{name}
			if root := uint64(b.Root()); root != 0 {
				if err := w.each(path, root, nil, c.put); err != nil {
					return fmt.Errorf("bucket %s: %w", name, err)
				}
				return nil
			}
			// An inline bucket lives in the root bucket's page, which bbolt has read already,
			// and holds no bucket.
			cur := b.Cursor()
			for k, v := cur.First(); k != nil; k, v = cur.Next() {
				if v == nil {
					return fmt.Errorf("bucket %s: inline, with a bucket in it", name)
				}
				if err := c.put(path, k, v, false, 0); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		return c.commit()
	})
}

// bucketCopy writes what copyBuckets reads.
type bucketCopy struct {
	dst       *bolt.DB
	tx        *bolt.Tx
	max, size int64
	// The values of the transaction in progress: the walk's are valid only during its call.
	vals valueArena
	path [][]byte // the bucket of b
	b    *bolt.Bucket
}

func (c *bucketCopy) begin() (err error) {
	c.tx, err = c.dst.Begin(true)
	c.size, c.vals, c.b, c.path = 0, valueArena{}, nil, nil
	return err
}

func (c *bucketCopy) commit() error {
	tx := c.tx
	c.tx = nil
	return tx.Commit()
}

func (c *bucketCopy) rollback() {
	if c.tx != nil {
		c.tx.Rollback()
	}
}

// bucket returns the bucket at path in the transaction in progress.
func (c *bucketCopy) bucket(path [][]byte) (*bolt.Bucket, error) {
	if c.b != nil && slices.EqualFunc(path, c.path, bytes.Equal) {
		return c.b, nil
	}
	var b *bolt.Bucket
	for i, name := range path {
		if i == 0 {
			b = c.tx.Bucket(name)
		} else {
			b = b.Bucket(name)
		}
		if b == nil {
			return nil, fmt.Errorf("copy: bucket %q missing", name)
		}
		b.FillPercent = 1.0 // written in key order: fill each page
	}
	c.b = b
	c.path = c.path[:0]
	for _, name := range path {
		c.path = append(c.path, append([]byte(nil), name...))
	}
	return b, nil
}

func (c *bucketCopy) put(path [][]byte, k, v []byte, isBucket bool, seq uint64) error {
	sz := int64(len(k) + len(v))
	if c.size > 0 && c.size+sz > c.max {
		if err := c.commit(); err != nil {
			return err
		}
		if err := c.begin(); err != nil {
			return err
		}
	}
	c.size += sz
	if isBucket {
		var nb *bolt.Bucket
		var err error
		if len(path) == 0 {
			nb, err = c.tx.CreateBucket(k)
		} else {
			var b *bolt.Bucket
			if b, err = c.bucket(path); err == nil {
				nb, err = b.CreateBucket(k)
			}
		}
		if err != nil {
			return err
		}
		return nb.SetSequence(seq)
	}
	b, err := c.bucket(path)
	if err != nil {
		return err
	}
	return b.Put(k, c.vals.keep(v))
}
