package collector

import (
	"hash/maphash"
	"strconv"
	"sync"
	"time"
	"unique"
)

// The collector's memory of the log: for each object the log holds and that is not deleted,
// its identity, the resourceVersion of its last recorded version and where that version is in
// the stream. Nothing of the object's content is kept, so memory does not grow with object
// size (see BenchmarkStateBytesPerObject).

// gk is a group and kind: objects of one kind are one table, whatever version is preferred.
type gk struct{ group, kind string }

// entry is what is kept of one object.
type entry struct {
	name string
	ns   unique.Handle[string] // namespaces are few: one copy of each
	rv   rvKey                 // last version seen (recorded, or filtered as a heartbeat)
	seq  uint64                // stream sequence of the newest version known to be stored; 0: none
	hash uint64                // heartbeat hash of version rv; 0 when unknown
	mark uint32                // generation of the last (re)list that saw it
}

// rvKey is a resourceVersion reduced to 64 bits: the integer itself on etcd (flag bit clear),
// a hash of the string otherwise (flag bit set). Keys are compared for equality only.
type rvKey uint64

const rvHashed rvKey = 1 << 63

var rvSeed = maphash.MakeSeed()

func keyOf(rv []byte) rvKey {
	if n, err := strconv.ParseUint(string(rv), 10, 63); err == nil && len(rv) > 0 {
		return rvKey(n)
	}
	return rvKey(maphash.Bytes(rvSeed, rv)) | rvHashed
}

// String returns the resourceVersion, or "" when only its hash is known.
func (k rvKey) String() string {
	if k&rvHashed != 0 {
		return ""
	}
	return strconv.FormatUint(uint64(k), 10)
}

// unknownRV marks an entry whose recorded version is not known to be in the log: the next
// relist records the object again.
const unknownRV rvKey = rvHashed

// table holds the objects of one group/kind. Its methods are safe for concurrent use.
type table struct {
	gk       gk
	hb       heartbeat
	mu       sync.Mutex
	resource string // plural resource name, for the envelopes of DeletedUnobserved
	objs     map[string]entry
	hw       uint64 // highest resourceVersion of the kind the log holds (see highWater)
}

// state is the collector's memory of the log, by group/kind.
type state struct {
	mu     sync.Mutex
	tables map[gk]*table
	gen    uint32 // last relist generation handed out
	// progress is, per watch, the resourceVersion up to which the log holds its changes: the
	// last progress record (eventlog.Progress) stored.
	progress map[watchKey]string
}

func newState() *state { return &state{tables: map[gk]*table{}} }

// table returns the table of a group/kind, creating it.
func (s *state) table(group, kind, resource string) *table {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := gk{group, kind}
	t := s.tables[k]
	if t == nil {
		t = &table{gk: k, hb: heartbeatOf(group, kind), objs: map[string]entry{}}
		s.tables[k] = t
	}
	if t.resource == "" && resource != "" {
		t.mu.Lock()
		t.resource = resource
		t.mu.Unlock()
	}
	return t
}

// lookup returns the table of a group/kind, or nil.
func (s *state) lookup(group, kind string) *table {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tables[gk{group, kind}]
}

// all returns every table.
func (s *state) all() []*table {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*table, 0, len(s.tables))
	for _, t := range s.tables {
		out = append(out, t)
	}
	return out
}

// nextGen returns a new relist generation.
func (s *state) nextGen() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	return s.gen
}

// size returns the number of objects kept.
func (s *state) size() int {
	n := 0
	for _, t := range s.all() {
		t.mu.Lock()
		n += len(t.objs)
		t.mu.Unlock()
	}
	return n
}

// decision is what to do with an observed version.
type decision uint8

const (
	publish       decision = iota // not in the log: record it
	known                         // this version is in the log already
	heartbeatOnly                 // differs from the recorded version only in heartbeat fields
	needHash                      // heartbeat kind whose recorded version's hash is unknown: fetch it, then decide again
	verify                        // the last version sent may be stored or not: check the log first
)

// observe decides about a version seen by a list or a watch (not a deletion) and updates the
// table as if the decision were carried out. mark is the relist generation (0 for a watch).
func (t *table) observe(uid, ns, name []byte, rv rvKey, hash uint64, mark uint32) (decision, uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.objs[string(uid)]
	if ok {
		if mark != 0 {
			e.mark = mark
		}
		d := publish
		switch {
		case e.rv == rv:
			d = known
		case e.rv == unknownRV:
			d = verify
			e.rv, e.hash = rv, hash
		case t.hb != hbNone && hash != 0 && e.rv != unknownRV && e.hash == 0:
			d = needHash
		case t.hb != hbNone && hash != 0 && e.rv != unknownRV && e.hash == hash:
			d = heartbeatOnly
			e.rv = rv
		default:
			e.rv, e.hash = rv, hash // seq stays at the last version known to be stored
		}
		t.objs[string(uid)] = e
		return d, e.seq
	}
	t.objs[string(uid)] = entry{name: string(name), ns: unique.Make(string(ns)), rv: rv, hash: hash, mark: mark}
	return publish, 0
}

// setHash records the heartbeat hash of the recorded version at seq (0: none could be read, so
// the next version is recorded).
func (t *table) setHash(uid string, seq, hash uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.objs[uid]; ok && e.seq == seq {
		if hash == 0 {
			e.rv = unknownRV
		}
		e.hash = hash
		t.objs[uid] = e
	}
}

// confirm records that version rv of an object, which was to be published, is already stored
// at seq.
func (t *table) confirm(uid string, rv rvKey, seq uint64) {
	t.mu.Lock()
	if e, ok := t.objs[uid]; ok && e.rv == rv {
		e.seq = max(e.seq, seq)
		t.objs[uid] = e
	}
	t.mu.Unlock()
}

// forget removes an object that was deleted.
func (t *table) forget(uid string) {
	t.mu.Lock()
	delete(t.objs, uid)
	t.mu.Unlock()
}

// stored records that a version of an object is in the stream at seq.
func (t *table) stored(uid string, seq uint64) {
	t.mu.Lock()
	if e, ok := t.objs[uid]; ok && seq > e.seq {
		e.seq = seq
		t.objs[uid] = e
	}
	t.mu.Unlock()
}

// lost records that a version could not be recorded: the next relist records the object again,
// or finds it missing and records its deletion.
func (t *table) lost(uid, ns, name string) {
	t.mu.Lock()
	e, ok := t.objs[uid]
	if !ok {
		e = entry{name: name, ns: unique.Make(ns)}
	}
	e.rv, e.hash = unknownRV, 0
	t.objs[uid] = e
	t.mu.Unlock()
}

// vanished is an object found missing on relist.
type vanished struct {
	uid, ns, name string
	rv            rvKey
	seq           uint64
}

// sweep removes and returns the objects in scope that the relist of generation mark did not
// see (mark 0: every object in scope).
func (t *table) sweep(mark uint32, inScope func(ns, name string) bool) []vanished {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []vanished
	for uid, e := range t.objs {
		if mark != 0 && e.mark == mark || !inScope(e.ns.Value(), e.name) {
			continue
		}
		out = append(out, vanished{uid: uid, ns: e.ns.Value(), name: e.name, rv: e.rv, seq: e.seq})
		delete(t.objs, uid)
	}
	return out
}

// load records an object read back from the log.
func (t *table) load(uid, ns, name, rv string, seq uint64) {
	t.mu.Lock()
	t.objs[uid] = entry{name: name, ns: unique.Make(ns), rv: keyOf([]byte(rv)), seq: seq}
	t.mu.Unlock()
}

// len returns the number of objects in the table.
func (t *table) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.objs)
}

// noteStored raises the table's high-water mark: the highest resourceVersion of this kind the
// log holds (versions and deletions alike), as far as the collector knows.
func (t *table) noteStored(rv string) {
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		return
	}
	t.mu.Lock()
	t.hw = max(t.hw, n)
	t.mu.Unlock()
}

// highWater returns the highest resourceVersion of this kind the log holds (0: none known).
// A resumed watch replays changes up to it that the log may hold already.
func (t *table) highWater() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.hw
}

// covers reports whether the object's version known to the table is n or newer: a replayed
// version n of it is then in the log already (or was filtered).
func (t *table) covers(uid string, n uint64) bool {
	t.mu.Lock()
	e, ok := t.objs[uid]
	t.mu.Unlock()
	return ok && e.rv&rvHashed == 0 && uint64(e.rv) >= n
}

// setProgress records how far the log holds a watch's changes (its last progress record).
func (s *state) setProgress(k watchKey, rv string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.progress == nil {
		s.progress = map[watchKey]string{}
	}
	s.progress[k] = rv
}

// resumePoint returns the resourceVersion from which a watch of the resource in namespace ns
// ("" for all) resumes, "" when the log holds no progress of it.
func (s *state) resumePoint(group, resource, ns string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	own := s.progress[watchKey{group, resource, ns}]
	if ns == "" {
		return own
	}
	return resumeFrom(own, s.progress[watchKey{group, resource, ""}])
}

// resumeFrom picks where a watch of one namespace resumes: from its own progress, or from that
// of a watch of all namespaces (an earlier run without namespace filters, which recorded that
// namespace's changes too), whichever came further; the own one when they cannot be compared.
func resumeFrom(own, all string) string {
	if own == "" || all == "" {
		return own + all
	}
	a, err1 := strconv.ParseUint(own, 10, 64)
	b, err2 := strconv.ParseUint(all, 10, 64)
	if err1 == nil && err2 == nil && b > a {
		return all
	}
	return own
}

// checkpointDue reports whether a watch's progress is to be recorded now. The watch has reached
// rv after the session had sent its n-th envelope, and acked envelopes are acknowledged (in
// order); changed says it recorded versions since its last progress record, last, written at
// lastAt. A progress record is written only once everything sent before it is stored, so that
// no version up to rv can be missing from the log: the first at once (after the first list),
// then every interval after changes, and otherwise (the watch only moved: bookmarks, filtered
// heartbeats) every idleProgress, so that the resume point stays within the API server's
// watch history.
func checkpointDue(rv string, n, acked uint64, changed bool, last string, lastAt, now time.Time, interval time.Duration) bool {
	switch {
	case rv == "" || rv == last || acked < n:
		return false
	case last == "":
		return true
	case changed:
		return now.Sub(lastAt) >= interval
	}
	return now.Sub(lastAt) >= idleProgress
}

// idleProgress is how often the progress of a watch that records nothing (it only moves) is
// written.
const idleProgress = 10 * time.Minute
