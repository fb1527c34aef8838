package importer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"sync/atomic"
)

// DefaultMaxValueBytes bounds one JSON value of an input when Options.MaxValueBytes is zero.
const DefaultMaxValueBytes = 64 << 20

// valueReader reads one top-level JSON value after another from an input, gunzipping it on the
// fly, and counts lines as it goes: the line of a value is known without rescanning the file.
// A value longer than max bytes is an error, so that a corrupt or hostile input (a gzip bomb)
// fails at its first line with bounded memory.
type valueReader struct {
	name string
	br   *bufio.Reader
	line int // line of the next unread byte, from 1
	max  int
	val  []byte
	read *atomic.Int64 // bytes read from the input (compressed bytes for gzip)
	// what says which JSON is expected, in the error for an input that is not JSON.
	what string
	gz   bool // the input is gzip-compressed
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

const readBuffer = 256 << 10

func newValueReader(in Input, max int, read *atomic.Int64) (*valueReader, error) {
	br := bufio.NewReaderSize(countingReader{in.R, read}, readBuffer)
	if b, _ := br.Peek(2); len(b) == 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("import: %s: gzip: %w", in.Name, err)
		}
		return &valueReader{name: in.Name, br: bufio.NewReaderSize(zr, readBuffer), line: 1, max: max, read: read, what: "kubectl ... -o json", gz: true}, nil
	}
	return &valueReader{name: in.Name, br: br, line: 1, max: max, read: read, what: "kubectl ... -o json"}, nil
}

func (r *valueReader) ioError(err error) error {
	if r.gz {
		return fmt.Errorf("import: %s:%d: gzip: %w (is the file complete and compressed once?)", r.name, r.line, err)
	}
	return fmt.Errorf("import: %s:%d: %w", r.name, r.line, err)
}

// next returns the next value and the line it starts on, or io.EOF after the last one. The
// value is valid until the next call. A value that does not start with { or [ is reported as
// not JSON; its end is found by matching brackets outside strings, so a value that is not
// valid JSON inside is returned whole and reported by the decoder.
func (r *valueReader) next() ([]byte, int, error) {
	if err := r.skipSpace(); err != nil {
		return nil, r.line, err
	}
	start := r.line
	first, _ := r.br.Peek(1)
	if first[0] != '{' && first[0] != '[' {
		snippet, _ := r.br.Peek(20)
		if i := bytes.IndexByte(snippet, '\n'); i >= 0 {
			snippet = snippet[:i]
		}
		return nil, start, &SyntaxError{r.name, start, fmt.Sprintf("expected a JSON object (%s), found %q: is this YAML or text? Export with -o json", r.what, snippet)}
	}
	if cap(r.val) > 4<<20 {
		r.val = nil // do not keep the buffer of one huge value for the small ones that follow
	}
	r.val = r.val[:0]
	var st scanState
	for {
		if r.br.Buffered() == 0 {
			if _, err := r.br.Peek(1); err != nil {
				if err == io.EOF {
					return nil, start, &SyntaxError{r.name, start, "truncated JSON: the file ends inside an object (was the watch cut off? remove the last partial line)"}
				}
				return nil, start, r.ioError(err)
			}
		}
		buf, _ := r.br.Peek(r.br.Buffered())
		n, done := st.scan(buf)
		if len(r.val)+n > r.max {
			return nil, start, &SyntaxError{r.name, start, fmt.Sprintf("a JSON value longer than %d MiB: no Kubernetes object is over 1.5 MiB; is the file corrupt? (a List that large: record it with kubectl get --watch --output-watch-events -o json instead)", r.max>>20)}
		}
		r.val = append(r.val, buf[:n]...)
		r.br.Discard(n)
		if done {
			break
		}
	}
	r.line += bytes.Count(r.val, []byte{'\n'})
	return r.val, start, nil
}

func (r *valueReader) skipSpace() error {
	for {
		if r.br.Buffered() == 0 {
			if _, err := r.br.Peek(1); err != nil {
				if err == io.EOF {
					return io.EOF
				}
				return r.ioError(err)
			}
		}
		buf, _ := r.br.Peek(r.br.Buffered())
		i := 0
		for ; i < len(buf); i++ {
			switch buf[i] {
			case '\n':
				r.line++
				continue
			case ' ', '\t', '\r':
				continue
			}
			break
		}
		r.br.Discard(i)
		if i < len(buf) {
			return nil
		}
	}
}

// scanState follows a JSON value across buffers: bracket depth and whether the scan is inside
// a string (and just after a backslash there).
type scanState struct {
	depth int
	inStr bool
	esc   bool
}

// scan consumes bytes of buf up to the end of the value; it returns how many it consumed and
// whether the value ended.
func (s *scanState) scan(buf []byte) (int, bool) {
	for i := 0; i < len(buf); i++ {
		c := buf[i]
		if s.inStr {
			switch {
			case s.esc:
				s.esc = false
			case c == '\\':
				s.esc = true
			case c == '"':
				s.inStr = false
			}
			continue
		}
		switch c {
		case '"':
			s.inStr = true
		case '{', '[':
			s.depth++
		case '}', ']':
			s.depth--
			if s.depth == 0 {
				return i + 1, true
			}
		}
	}
	return len(buf), false
}
