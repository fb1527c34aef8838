package importer

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/klauspost/compress/s2"
)

// DefaultSortBytes bounds the envelopes held in memory for sorting when Options.SortBytes is
// zero.
const DefaultSortBytes = 32 << 20

// record is one envelope on its way through the sort. Records are ordered by key (the
// resourceVersion), then by ord (the order in which they were read: file by file, in each file
// from the top), which makes the sort stable.
type record struct {
	key uint64
	ord uint64
	run int // replacement selection: the sorted run the record belongs to
	env *eventlog.Envelope
}

func (a *record) less(b *record) bool {
	if a.key != b.key {
		return a.key < b.key
	}
	return a.ord < b.ord
}

func (a *record) size() int {
	e := a.env
	return 256 + len(e.Object) + len(e.Cluster) + len(e.Group) + len(e.Version) + len(e.Kind) +
		len(e.Resource) + len(e.Namespace) + len(e.Name) + len(e.UID) + len(e.ResourceVersion) +
		len(e.Source) + len(e.Actor)
}

// recHeap is a min-heap of records by (run, key, ord).
type recHeap []*record

func (h recHeap) Len() int { return len(h) }
func (h recHeap) Less(i, j int) bool {
	if h[i].run != h[j].run {
		return h[i].run < h[j].run
	}
	return h[i].less(h[j])
}
func (h recHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *recHeap) Push(x any)   { *h = append(*h, x.(*record)) }
func (h *recHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return r
}

// sorter sorts records with bounded memory by replacement selection: while the records it holds
// exceed its budget it writes the smallest to a sorted run in a temporary file, and a record
// smaller than the last one written waits for the next run (runs are s2-compressed). Input that is in order, or out of
// order by less than the budget (a watch file; an audit log, ordered by time), makes one run
// whatever its length; input that fits in the budget is never written.
type sorter struct {
	budget  int
	tempDir string
	used    int
	count   uint64 // records added
	h       recHeap

	f      *os.File // the runs, one after the other; nil until the budget is first exceeded
	w      *bufio.Writer
	cw     *countingWriter // s.w, counting the bytes written: the offset in f
	zw     *s2.Writer      // the run being written, compressed
	runs   []span
	run    int     // run being written
	last   *record // last record written
	buf    []byte
	closed bool
}

type span struct{ off, n int64 }

func (s *sorter) add(r *record) error {
	r.run = s.run
	if s.last != nil && r.less(s.last) {
		r.run = s.run + 1
	}
	heap.Push(&s.h, r)
	s.used += r.size()
	for s.used > s.budget && len(s.h) > 0 {
		if err := s.spillOne(); err != nil {
			return err
		}
	}
	return nil
}

// Runs are s2-compressed (JSON shrinks several times), each its own stream in 64 KiB blocks, so
// that reading one back buffers little.
const runBlock = 64 << 10

type countingWriter struct {
	w *bufio.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (s *sorter) writeError(err error) error {
	return fmt.Errorf("import: writing a sorted run to %s: %w (free space there or set TMPDIR)", s.f.Name(), err)
}

func (s *sorter) spillOne() error {
	if s.f == nil {
		f, err := os.CreateTemp(s.tempDir, "khist-import-*.run")
		if err != nil {
			return fmt.Errorf("import: sorting needs a temporary file: %w (set TMPDIR to a writable directory)", err)
		}
		s.f, s.w = f, bufio.NewWriterSize(f, 1<<20)
		s.cw = &countingWriter{w: s.w}
		s.zw = s2.NewWriter(s.cw, s2.WriterBlockSize(runBlock), s2.WriterConcurrency(1))
		s.runs = append(s.runs, span{})
	}
	r := heap.Pop(&s.h).(*record)
	s.used -= r.size()
	if r.run != s.run {
		if err := s.endRun(); err != nil {
			return err
		}
		s.run = r.run
		s.runs = append(s.runs, span{off: s.cw.n})
		s.zw.Reset(s.cw)
	}
	s.buf = encodeRecord(s.buf[:0], r)
	if _, err := s.zw.Write(s.buf); err != nil {
		return s.writeError(err)
	}
	s.last = &record{key: r.key, ord: r.ord}
	return nil
}

// endRun ends the stream of the run being written and notes its length.
func (s *sorter) endRun() error {
	if err := s.zw.Close(); err != nil {
		return s.writeError(err)
	}
	last := &s.runs[len(s.runs)-1]
	last.n = s.cw.n - last.off
	return nil
}

// finish returns the records in order. Call close when done with it.
func (s *sorter) finish() (source, error) {
	if s.f == nil {
		return &memSource{h: s.h}, nil
	}
	for len(s.h) > 0 {
		if err := s.spillOne(); err != nil {
			return nil, err
		}
	}
	if err := s.endRun(); err != nil {
		return nil, err
	}
	if err := s.w.Flush(); err != nil {
		return nil, s.writeError(err)
	}
	m := &mergeSource{}
	for _, sp := range s.runs {
		zr := s2.NewReader(io.NewSectionReader(s.f, sp.off, sp.n), s2.ReaderMaxBlockSize(runBlock))
		rr := &runReader{br: zr, name: s.f.Name()}
		if err := m.add(rr); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// close removes the temporary file.
func (s *sorter) close() {
	if s.f != nil && !s.closed {
		s.closed = true
		s.f.Close()
		os.Remove(s.f.Name())
	}
}

// source yields records in order; nil at the end.
type source interface {
	next() (*record, error)
}

// memSource pops a heap that holds every record (one run).
type memSource struct{ h recHeap }

func (m *memSource) next() (*record, error) {
	if len(m.h) == 0 {
		return nil, nil
	}
	return heap.Pop(&m.h).(*record), nil
}

// mergeSource is a k-way merge of sorted runs.
type mergeSource struct{ h mergeHeap }

type mergeItem struct {
	r   *record
	src *runReader
}

type mergeHeap []mergeItem

func (h mergeHeap) Len() int           { return len(h) }
func (h mergeHeap) Less(i, j int) bool { return h[i].r.less(h[j].r) }
func (h mergeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)        { *h = append(*h, x.(mergeItem)) }
func (h *mergeHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

func (m *mergeSource) add(rr *runReader) error {
	r, err := rr.next()
	if err != nil || r == nil {
		return err
	}
	heap.Push(&m.h, mergeItem{r, rr})
	return nil
}

func (m *mergeSource) next() (*record, error) {
	if len(m.h) == 0 {
		return nil, nil
	}
	top := m.h[0]
	r, err := top.src.next()
	if err != nil {
		return nil, err
	}
	if r == nil {
		heap.Pop(&m.h)
	} else {
		m.h[0].r = r
		heap.Fix(&m.h, 0)
	}
	return top.r, nil
}

// runReader reads one sorted run back.
type runReader struct {
	br   *s2.Reader
	name string
	buf  []byte
}

func (rr *runReader) next() (*record, error) {
	n, err := binary.ReadUvarint(rr.br)
	if err == io.EOF {
		return nil, nil
	}
	if err == nil {
		if cap(rr.buf) < int(n) {
			rr.buf = make([]byte, n)
		}
		rr.buf = rr.buf[:n]
		_, err = io.ReadFull(rr.br, rr.buf)
	}
	var r *record
	if err == nil {
		r, err = decodeRecord(rr.buf)
	}
	if err != nil {
		return nil, fmt.Errorf("import: reading back the sorted run %s: %w (was the temporary file changed?)", rr.name, err)
	}
	return r, nil
}

// encodeRecord appends the length-prefixed encoding of r to b.
func encodeRecord(b []byte, r *record) []byte {
	e := r.env
	var body []byte
	body = binary.AppendUvarint(body, r.key)
	body = binary.AppendUvarint(body, r.ord)
	for _, s := range []string{string(e.Type), e.Cluster, e.Group, e.Version, e.Kind, e.Resource,
		e.Namespace, e.Name, e.UID, e.ResourceVersion, e.Source, e.Actor} {
		body = binary.AppendUvarint(body, uint64(len(s)))
		body = append(body, s...)
	}
	if e.Observed.IsZero() {
		body = append(body, 0)
	} else {
		body = append(body, 1)
		body = binary.AppendVarint(body, e.Observed.UnixNano())
	}
	b = binary.AppendUvarint(b, uint64(len(body)+len(e.Object)))
	b = append(b, body...)
	return append(b, e.Object...)
}

var errCorrupt = errors.New("corrupt record")

func decodeRecord(b []byte) (*record, error) {
	r := &record{env: &eventlog.Envelope{}}
	var n int
	r.key, n = binary.Uvarint(b)
	if n <= 0 {
		return nil, errCorrupt
	}
	b = b[n:]
	r.ord, n = binary.Uvarint(b)
	if n <= 0 {
		return nil, errCorrupt
	}
	b = b[n:]
	e := r.env
	var typ string
	for _, p := range []*string{&typ, &e.Cluster, &e.Group, &e.Version, &e.Kind, &e.Resource,
		&e.Namespace, &e.Name, &e.UID, &e.ResourceVersion, &e.Source, &e.Actor} {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return nil, errCorrupt
		}
		*p = string(b[n : n+int(l)])
		b = b[n+int(l):]
	}
	e.Type = eventlog.EventType(typ)
	if len(b) == 0 {
		return nil, errCorrupt
	}
	hasTime := b[0] == 1
	b = b[1:]
	if hasTime {
		ns, n := binary.Varint(b)
		if n <= 0 {
			return nil, errCorrupt
		}
		e.Observed = time.Unix(0, ns).UTC()
		b = b[n:]
	}
	e.Object = append([]byte(nil), b...)
	return r, nil
}
