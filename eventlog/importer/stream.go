package importer

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/khist/khist/eventlog"
)

// Format is an input format of the importer.
type Format string

// The formats the importer reads.
const (
	// FormatWatch is `kubectl get --watch --output-watch-events -o json` output, Lists and
	// single objects (ReadWatch).
	FormatWatch Format = "watch"
	// FormatAudit is audit.k8s.io/v1 Events, one JSON object per line (ReadAudit).
	FormatAudit Format = "audit"
)

// Options tune Scan and Import. Zero values mean the documented defaults.
type Options struct {
	// MaxValueBytes bounds one JSON value of an input (a watch event, a List, an audit event);
	// a longer one is an error naming its file and line. Default DefaultMaxValueBytes (64 MiB).
	MaxValueBytes int
	// SortBytes bounds the envelopes held in memory to sort them; beyond it sorted runs are
	// written to a temporary file under TempDir and merged. Default DefaultSortBytes (32 MiB).
	SortBytes int
	// TempDir holds the sorted runs; default os.TempDir(). Since nothing is published before
	// every input is read, inputs whose envelopes exceed SortBytes pass through it whole, s2
	// compressed: it needs a fraction of the inputs' uncompressed size free.
	TempDir string
	// Progress, if set, is called about every ProgressEvery while reading and publishing, and
	// once at the end of each phase.
	Progress func(Progress)
	// ProgressEvery is the interval between Progress calls; default 200ms.
	ProgressEvery time.Duration
}

// Progress says how far an import is.
type Progress struct {
	Phase   string        // "read" (reading and sorting the inputs) or "publish"
	Done    int64         // bytes read of the inputs (read), envelopes settled (publish)
	Total   int64         // bytes of the inputs (0 when unknown), envelopes to publish
	Events  int           // envelopes read so far
	Elapsed time.Duration // since the phase began
	Final   bool          // the phase is over
}

func (o *Options) defaults() {
	if o.MaxValueBytes <= 0 {
		o.MaxValueBytes = DefaultMaxValueBytes
	}
	if o.SortBytes <= 0 {
		o.SortBytes = DefaultSortBytes
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 200 * time.Millisecond
	}
}

// Scan reads inputs of the given format and calls emit with each envelope in resourceVersion
// order (see ReadWatch and ReadAudit for what each format yields). It holds a bounded amount of
// memory whatever the size of the inputs: each input is read incrementally (gzip-compressed
// ones too), the envelopes are sorted with at most Options.SortBytes in memory (beyond it, in
// sorted runs on disk, merged k ways), and emit is called as the merge goes.
//
// Every input is read and checked before emit is first called: a malformed input is reported
// (as a *SyntaxError, "import: FILE:LINE: what was expected") with nothing emitted.
func Scan(ctx context.Context, format Format, cluster string, opts Options, emit func(*eventlog.Envelope) error, inputs ...Input) (*Result, error) {
	opts.defaults()
	var parse parseFunc
	switch format {
	case FormatWatch:
		parse = parseWatchValue
	case FormatAudit:
		parse = parseAuditValue
	default:
		return nil, fmt.Errorf("import: unknown format %q: use watch or audit", format)
	}
	res := &Result{}
	srt := &sorter{budget: opts.SortBytes, tempDir: opts.TempDir}
	defer srt.close()

	var total int64
	for _, in := range inputs {
		if in.Size <= 0 {
			total = 0
			break
		}
		total += in.Size
	}
	var read atomic.Int64
	began := time.Now()
	nextReport := began.Add(opts.ProgressEvery)
	report := func(final bool) {
		if opts.Progress != nil {
			opts.Progress(Progress{Phase: "read", Done: read.Load(), Total: total, Events: int(srt.count), Elapsed: time.Since(began), Final: final})
		}
	}
	for _, in := range inputs {
		vr, err := newValueReader(in, opts.MaxValueBytes, &read)
		if err != nil {
			return nil, err
		}
		p := &parser{cluster: cluster, name: in.Name, res: res}
		p.source = "import:" + in.Name
		if format == FormatAudit {
			p.source = "audit:" + in.Name
			vr.what = "kube-apiserver --audit-log-format=json; the legacy text format cannot be imported"
		}
		var lastKey uint64 // a resourceVersion that is not an integer sorts with the one before it
		p.emit = func(e *eventlog.Envelope) error {
			key, err := strconv.ParseUint(e.ResourceVersion, 10, 64)
			if err != nil {
				key = lastKey
			}
			lastKey = key
			return srt.addEnvelope(key, e)
		}
		values := 0
		for {
			val, line, err := vr.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			values++
			p.line = line
			if err := parse(p, val); err != nil {
				return nil, err
			}
			if values%64 == 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				if opts.Progress != nil && time.Now().After(nextReport) {
					report(false)
					nextReport = time.Now().Add(opts.ProgressEvery)
				}
			}
		}
		if values == 0 {
			return nil, &SyntaxError{in.Name, 1, emptyMessage[format]}
		}
	}
	report(true)

	src, err := srt.finish()
	if err != nil {
		return nil, err
	}
	var dedup *versionDedup
	var last time.Time
	if format == FormatAudit {
		dedup = &versionDedup{}
	}
	for {
		r, err := src.next()
		if err != nil {
			return nil, err
		}
		if r == nil {
			break
		}
		e := r.env
		if dedup != nil {
			if dedup.seen(r.key, e) {
				res.reject(rejectSameVersion)
				continue
			}
			// An audit log's stageTimestamps are not in resourceVersion order: never go back.
			if e.Observed.Before(last) {
				e.Observed = last
			}
			last = e.Observed
		}
		if err := emit(e); err != nil {
			return res, err
		}
	}
	return res, nil
}

var emptyMessage = map[Format]string{
	FormatWatch: "empty file: expected kubectl watch events ({\"type\":...,\"object\":{...}}) or a List",
	FormatAudit: "empty file: expected audit.k8s.io/v1 Events, one JSON object per line (kube-apiserver --audit-log-format=json)",
}

func (s *sorter) addEnvelope(key uint64, e *eventlog.Envelope) error {
	s.count++
	return s.add(&record{key: key, ord: s.count, env: e})
}

// parser turns the values of one input into envelopes.
type parser struct {
	cluster, name, source string
	line                  int // of the value being parsed
	res                   *Result
	emit                  func(*eventlog.Envelope) error
}

func (p *parser) errorf(format string, args ...any) error {
	return &SyntaxError{p.name, p.line, fmt.Sprintf(format, args...)}
}

type parseFunc func(p *parser, val []byte) error

// versionDedup finds a version read twice (uid and resourceVersion) in a sequence sorted by
// key: versions with the same integer resourceVersion have the same key and come together, so
// only those of the current key are remembered.
type versionDedup struct {
	key    uint64
	cur    map[string]bool // uid/resourceVersion of the current key
	nonInt map[string]bool // versions whose resourceVersion is not an integer
}

func (d *versionDedup) seen(key uint64, e *eventlog.Envelope) bool {
	if e.UID == "" {
		return false
	}
	k := e.UID + "/" + e.ResourceVersion
	m := d.cur
	if _, err := strconv.ParseUint(e.ResourceVersion, 10, 64); err != nil {
		if d.nonInt == nil {
			d.nonInt = map[string]bool{}
		}
		m = d.nonInt
	} else if key != d.key || d.cur == nil {
		d.key = key
		if d.cur == nil {
			d.cur = map[string]bool{}
		}
		clear(d.cur)
		m = d.cur
	}
	if m[k] {
		return true
	}
	m[k] = true
	return false
}
