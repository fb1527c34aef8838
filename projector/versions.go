package projector

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/khist/khist/eventlog"
	bolt "go.etcd.io/bbolt"
)

// The versions view keeps every version of every object.
//
// Each version is a record under its stream sequence (see verStore: recent ones loose in
// bucket "ver", older ones packed in compressed segments in "verseg"), with its metadata (event
// type, resourceVersion, generation, observed time, actor, the sequence of the object's
// previous version) and its body as a byte delta against the previous version of the same
// object (see delta.go), or as a full copy: the first version, then whenever FullEvery deltas
// have followed the last copy or the deltas since it add up to more than two copies. A full
// copy is itself stored as a delta against a like object's full copy when that is much smaller
// (see crossDelta). Any version is therefore rebuilt from at most one copy, one delta against
// it and FullEvery deltas. The actor of a version is its writer (see writer).
//
// Each object gets a dense id, in the order of first sight (bucket "uids": cluster NUL uid ->
// id), that the indexes use instead of the uid, and a head (see headStore: bucket "obj",
// blocks of consecutive ids) with its identity, its latest version, the state of its delta
// chain and the small per-object state the other views fold (last replicas, phase,
// readiness ...). Heads are keyed by id, not uid, so that the objects that change often
// (long-lived pods) share a few blocks that each transaction rewrites once, instead of being
// spread among the pages of every object ever seen (a uid is random).
//
// Idempotence: a version whose resourceVersion is not newer than the object's latest applied
// one (a duplicate re-sent by a relist as RESYNC, or a late copy) changes nothing, with one
// exception: DELETED_UNOBSERVED at the latest resourceVersion ends the object's life. Events
// after an object's deletion change nothing either.
var bObj, bUIDs, bVer = []byte("obj"), []byte("uids"), []byte("ver")

func init() { registerBuckets(bObj, bUIDs, bVer) }

// Ref names an object within its namespace: kind, name and uid (an owner, a workload, the
// target of a step).
type Ref struct {
	Kind string `json:"kind,omitempty"`
	Name string `json:"name,omitempty"`
	UID  string `json:"uid,omitempty"`
}

// objHead is an object's identity, its latest version and the fold state of the views.
type objHead struct {
	ID                                                uint64
	Cluster, Group, APIVersion, Kind, Namespace, Name string
	UID                                               string
	FirstSeq                                          uint64
	FirstSeen                                         time.Time // observed time of the first version
	Created                                           time.Time // metadata.creationTimestamp
	LastSeq                                           uint64
	LastRV                                            string
	LastSeen                                          time.Time
	Versions                                          uint64
	FullSeq                                           uint64 // last full copy
	Chain                                             uint64 // deltas since it
	ChainBytes                                        uint64 // their stored bytes
	FullBytes                                         uint64 // its stored bytes
	Gone                                              bool
	GoneSeq                                           uint64
	GoneAt                                            time.Time
	Owner                                             Ref

	// Fold state of the other views.
	Replicas int64  // last spec.replicas of a scalable object; -1 before the first
	RevNum   int64  // last revision number (ReplicaSet annotation, ControllerRevision.revision)
	Phase    string // last status.phase (PersistentVolumeClaim)
	Deleting bool   // metadata.deletionTimestamp seen
	Count    int64  // Events: last count seen
	TmplHash uint64 // workloads: hash of spec.template
	Ready    int64  // pods: last Ready condition, -1 unknown, 0 false, 1 true
	Node     string // pods: last spec.nodeName
	IP       string // pods: last status.podIP

	// MF is what the latest version's managedFields said, for writer: per entry, a hash of
	// its manager, operation and subresource, then a hash of its time.
	MF  []uint32
	Gen int64 // the latest version's metadata.generation

	// IdxMin is the least observed time of the versions since the object's last time index
	// entry (see bVerTime).
	IdxMin time.Time
}

// encode writes a head compactly (it is rewritten with every version): uids as 16 bytes,
// sequences and times relative to the first version's, a numeric resourceVersion as a number,
// managedFields hashes as 4 bytes each.
func (h *objHead) encode(b []byte) []byte {
	e := enc{b: b}
	e.u(h.ID)
	for _, s := range [...]string{h.Cluster, h.Group, h.APIVersion, h.Kind, h.Namespace, h.Name} {
		e.s(s)
	}
	e.uid(h.UID)
	e.rv(h.LastRV)
	e.s(h.Owner.Kind)
	e.s(h.Owner.Name)
	e.uid(h.Owner.UID)
	for _, s := range [...]string{h.Phase, h.Node, h.IP} {
		e.s(s)
	}
	e.u(h.FirstSeq)
	for _, v := range [...]uint64{h.LastSeq, h.FullSeq, h.GoneSeq} {
		e.sd(v, h.FirstSeq)
	}
	for _, v := range [...]uint64{h.Versions, h.Chain, h.ChainBytes, h.FullBytes, h.TmplHash} {
		e.u(v)
	}
	e.t(h.FirstSeen)
	e.td(h.Created, h.FirstSeen)
	e.td(h.LastSeen, h.FirstSeen)
	e.td(h.GoneAt, h.FirstSeen)
	e.bool(h.Gone)
	e.bool(h.Deleting)
	e.i(h.Replicas)
	e.i(h.RevNum)
	e.i(h.Count)
	e.i(h.Ready)
	e.u(uint64(len(h.MF)))
	for _, x := range h.MF {
		e.b = binary.BigEndian.AppendUint32(e.b, x)
	}
	e.i(h.Gen)
	e.td(h.IdxMin, h.FirstSeen)
	return e.b
}

func decodeHead(b []byte) (*objHead, error) {
	d := dec{b: b}
	h := &objHead{ID: d.u()}
	for _, p := range [...]*string{&h.Cluster, &h.Group, &h.APIVersion, &h.Kind, &h.Namespace, &h.Name} {
		*p = d.s()
	}
	h.UID = d.uid()
	h.LastRV = d.rv()
	h.Owner.Kind = d.s()
	h.Owner.Name = d.s()
	h.Owner.UID = d.uid()
	for _, p := range [...]*string{&h.Phase, &h.Node, &h.IP} {
		*p = d.s()
	}
	h.FirstSeq = d.u()
	for _, p := range [...]*uint64{&h.LastSeq, &h.FullSeq, &h.GoneSeq} {
		*p = d.sd(h.FirstSeq)
	}
	for _, p := range [...]*uint64{&h.Versions, &h.Chain, &h.ChainBytes, &h.FullBytes, &h.TmplHash} {
		*p = d.u()
	}
	h.FirstSeen = d.t()
	h.Created = d.td(h.FirstSeen)
	h.LastSeen = d.td(h.FirstSeen)
	h.GoneAt = d.td(h.FirstSeen)
	h.Gone = d.bool()
	h.Deleting = d.bool()
	h.Replicas = d.i()
	h.RevNum = d.i()
	h.Count = d.i()
	h.Ready = d.i()
	if n := d.u(); n > uint64(len(d.b))/4 {
		d.fail("managedFields")
	} else if n > 0 {
		h.MF = make([]uint32, n)
		for i := range h.MF {
			h.MF[i] = binary.BigEndian.Uint32(d.b[4*i:])
		}
		d.b = d.b[4*n:]
	}
	h.Gen = d.i()
	h.IdxMin = d.td(h.FirstSeen)
	return h, d.err
}

// objKey is the head key of an object: cluster NUL uid, a canonical UUID as 0x02 and its 16
// bytes. Objects without a uid (some imports) are keyed by kind, namespace and name, as the
// log's message ids are.
func objKey(cluster, uid, kind, namespace, name string) []byte {
	if uid == "" {
		uid = "\x01" + kind + "/" + namespace + "/" + name
	}
	return append(append([]byte(cluster), 0), uidPart(uid)...)
}

// Event type codes in version records.
var typeCodes = []eventlog.EventType{"", eventlog.Added, eventlog.Modified, eventlog.Deleted, eventlog.Resync, eventlog.DeletedUnobserved}

func typeCode(t eventlog.EventType) byte {
	for i, c := range typeCodes {
		if c == t {
			return byte(i)
		}
	}
	return 0
}

// Body encodings of a version record. Records are not compressed one by one: segments of
// them are (see verStore).
const (
	bodyFull  byte = 0 // the JSON as it is
	bodyDelta byte = 2 // a delta against the previous version
	// A full copy stored as a delta against another object's full copy, whose sequence
	// (uvarint of the difference) starts the payload; see crossDelta.
	bodyXDelta byte = 4
)

// verRec is a version record.
type verRec struct {
	ID         uint64
	Prev       uint64 // sequence of the object's previous version, 0 for the first
	Type       eventlog.EventType
	RV         string
	Generation int64
	Observed   time.Time
	Actor      string
	Body       byte
	Payload    []byte
	Base       uint64 // bodyXDelta: the full copy the delta applies to
}

func (r *verRec) encode(b []byte, seq uint64) []byte {
	e := enc{b: b}
	e.u(r.ID)
	if r.Prev == 0 {
		e.u(0)
	} else {
		e.u(seq - r.Prev)
	}
	e.byte(typeCode(r.Type))
	e.rv(r.RV)
	e.i(r.Generation)
	e.t(r.Observed)
	e.actor(r.Actor)
	e.byte(r.Body)
	if r.Body == bodyXDelta {
		e.u(seq - r.Base)
	}
	e.b = append(e.b, r.Payload...)
	return e.b
}

func decodeVer(b []byte, seq uint64) (verRec, error) {
	d := dec{b: b}
	r := verRec{ID: d.u()}
	if p := d.u(); p != 0 {
		r.Prev = seq - p
	}
	if c := d.byte(); int(c) < len(typeCodes) {
		r.Type = typeCodes[c]
	}
	r.RV = d.rv()
	r.Generation = d.i()
	r.Observed = d.t()
	r.Actor = d.actor()
	r.Body = d.byte()
	if r.Body == bodyXDelta {
		if b := d.u(); b == 0 || b >= seq {
			d.fail("base")
		} else {
			r.Base = seq - b
		}
	}
	r.Payload = d.b
	if d.err != nil {
		return r, fmt.Errorf("version %d: %w", seq, d.err)
	}
	return r, nil
}

// writer tells who made a change from the managedFields of the new version and what the
// previous version's said (prev, from the head; nil for a first version): the manager whose
// entry is new or whose time moved. The log's actor comes from one version alone (the entry
// with the latest time), and entries have whole seconds: a controller's write in the same
// second as a person's edit reads as the person's. When no entry moved (a manager wrote again
// within the second), the writer is taken among the entries with the latest time: one that is
// not for the status subresource if the generation changed (a spec change), else one for the
// status subresource. The log's actor stands when it is not a manager of the object (an audit
// log's user), for a first version, and when nothing tells. It returns the actor and what to
// remember of mf.
func writer(actor string, mf []ManagedField, prev []uint32, genChanged bool) (string, []uint32) {
	if len(mf) == 0 {
		return actor, nil
	}
	sig := make([]uint32, 0, 2*len(mf))
	for _, f := range mf {
		sig = append(sig, hash32(f.Manager, f.Operation, f.Subresource), hash32(f.Time))
	}
	if prev == nil {
		return actor, sig
	}
	known := false
	latest := ""
	for _, f := range mf {
		known = known || f.Manager == actor
		latest = max(latest, f.Time)
	}
	if !known {
		return actor, sig
	}
	best := -1
	for i, f := range mf {
		changed := true
		for j := 0; j+1 < len(prev); j += 2 {
			if prev[j] == sig[2*i] {
				changed = prev[j+1] != sig[2*i+1]
				break
			}
		}
		if changed && (best < 0 || f.Time > mf[best].Time || f.Time == mf[best].Time && f.Manager == actor) {
			best = i
		}
	}
	if best >= 0 {
		return mf[best].Manager, sig
	}
	for i, f := range mf {
		if f.Time == latest && (f.Subresource == "status") != genChanged {
			best = i
		}
	}
	if best >= 0 {
		return mf[best].Manager, sig
	}
	return actor, sig
}

func hash32(parts ...string) uint32 {
	h := fnv.New32a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum32()
}

// knownActors are the field managers that write most versions, stored as their index (plus
// one) in version records instead of by name; others are stored by name, after a zero. The
// list is part of the views' format: it may only grow at its end.
var knownActors = []string{
	"kube-controller-manager", "kubelet", "kube-scheduler", "kube-apiserver",
	"kubectl-client-side-apply", "kubectl", "kubectl-edit", "kubectl-set", "kubectl-rollout",
	"kubectl-scale", "kubectl-patch", "kubectl-create", "kubectl-label", "kubectl-annotate",
	"kubectl-replace", "kubectl-expose", "kubectl-run", "kubectl-autoscale",
	"helm", "kustomize-controller", "argocd-controller", "kwok", "khist",
}

// decimalRV returns a resourceVersion written in canonical decimal (etcd's) as a number.
func decimalRV(rv string) (uint64, bool) {
	if rv == "" || len(rv) > 19 || rv[0] == '0' && len(rv) > 1 || !isDigits(rv) {
		return 0, false
	}
	n, err := strconv.ParseUint(rv, 10, 64)
	return n, err == nil
}

// isFull says whether the version is built without the object's previous version: a full
// copy, or a first version stored against another object's copy.
func (r *verRec) isFull() bool { return r.Body != bodyDelta }

// compareRV orders two resourceVersions: numerically when both are decimal (etcd revisions),
// otherwise equal strings are equal and different ones count as newer.
func compareRV(a, b string) int {
	if a == b {
		return 0
	}
	if isDigits(a) && isDigits(b) {
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			return cmp.Compare(len(a), len(b))
		}
		return strings.Compare(a, b)
	}
	return 1
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// foldVersions is the first fold of every event: it decides whether the event is new, and
// stores the version. It sets ev.head, ev.prev, ev.isNew and ev.gone.
func foldVersions(t *txn, ev *event) (bool, error) {
	e := ev.env
	ev.okey = objKey(e.Cluster, e.UID, e.Kind, e.Namespace, e.Name)
	h, err := t.head(ev.okey)
	if err != nil {
		return false, err
	}
	if h != nil {
		if h.Gone {
			return false, nil
		}
		switch c := compareRV(e.ResourceVersion, h.LastRV); {
		case c < 0:
			return false, nil
		case c == 0 && e.Type != eventlog.DeletedUnobserved:
			return false, nil
		}
		ev.prev = *h
		ev.head = h
	} else {
		ev.isNew = true
		ev.prev = objHead{Replicas: -1, RevNum: -1, Ready: -1}
		ev.head = &objHead{
			ID: t.nextID, Cluster: e.Cluster, Group: e.Group, APIVersion: e.Version, Kind: e.Kind,
			Namespace: e.Namespace, Name: e.Name, UID: e.UID, FirstSeq: e.Seq, FirstSeen: e.Observed,
			Replicas: -1, RevNum: -1, Ready: -1,
		}
		t.nextID++
		if err := t.uids.Put(ev.okey, be8(ev.head.ID)); err != nil {
			return false, err
		}
	}
	h = ev.head
	if ev.obj != nil && ev.obj.Metadata.CreationTimestamp != nil && h.Created.IsZero() {
		h.Created = ev.obj.Metadata.CreationTimestamp.UTC()
	}
	ev.actor = e.Actor
	if ev.obj != nil {
		var mf []uint32
		ev.actor, mf = writer(e.Actor, ev.obj.Metadata.ManagedFields, h.MF, ev.obj.Metadata.Generation != h.Gen)
		h.MF, h.Gen = mf, ev.obj.Metadata.Generation
	}
	rec := verRec{ID: h.ID, Prev: h.LastSeq, Type: e.Type, RV: e.ResourceVersion, Observed: e.Observed, Actor: ev.actor}
	if ev.obj != nil {
		rec.Generation = ev.obj.Metadata.Generation
	}
	full := ev.isNew || int(h.Chain)+1 >= t.db.fullEvery
	if !full {
		if ev.delta != nil && ev.baseSeq == h.LastSeq {
			t.scratch = append(t.scratch[:0], ev.delta...)
		} else {
			prevJSON := t.db.cache.get(h.ID)
			if prevJSON == nil {
				var err error
				if prevJSON, _, err = loadVersion(t.vs, h.LastSeq); err != nil {
					return false, err
				}
			}
			t.scratch = t.denc.encode(t.scratch[:0], prevJSON, e.Object)
		}
		rec.Body, rec.Payload = bodyDelta, t.scratch
		if h.ChainBytes+uint64(len(rec.Payload)) > 2*h.FullBytes+512 {
			full = true
		}
	}
	if full {
		rec.Body, rec.Payload = bodyFull, e.Object
		h.FullSeq, h.Chain, h.ChainBytes, h.FullBytes = e.Seq, 0, 0, uint64(len(rec.Payload))
		if err := t.crossDelta(&rec, ev); err != nil {
			return false, err
		}
	} else {
		h.Chain++
		h.ChainBytes += uint64(len(rec.Payload))
	}
	t.rec = rec.encode(t.rec[:0], e.Seq)
	t.vs.put(e.Seq, t.keep(t.rec))
	h.LastSeq, h.LastRV, h.LastSeen = e.Seq, e.ResourceVersion, e.Observed
	h.Versions++
	if err := t.indexTime(h, e.Seq, e.Observed); err != nil {
		return false, err
	}
	if ev.obj != nil {
		if c := ev.obj.Metadata.Controller(); c != nil {
			h.Owner = Ref{Kind: c.Kind, Name: c.Name, UID: c.UID}
		}
	}
	if e.Type.IsDelete() {
		h.Gone, h.GoneSeq, h.GoneAt = true, e.Seq, e.Observed
		ev.gone = true
		t.db.cache.drop(h.ID)
	} else {
		t.db.cache.put(h.ID, e.Object)
	}
	return true, nil
}

// A version due for a full copy (a first version, or one ending a long delta chain) is most
// often much like the last full copy of an object of the same controller (the pods of one
// ReplicaSet), or of its kind in its namespace (Events), so it is stored as a delta against
// that one (bodyXDelta) when that is under two thirds of the size of its compressed copy. The
// version it refers to is always a full copy, so that any version is still rebuilt from one
// copy and at most FullEvery deltas. Bucket "bases": cluster NUL group NUL kind NUL namespace
// NUL size class [/reason] [NUL controller uid] -> the sequence of that full copy (objects of
// about the same size are in the same state: a pending pod and a running one are not; Events
// are alike when their reason is). A version stored in full becomes the base of its
// controller and of its namespace.
var bBases = []byte("bases")

func init() { registerBuckets(bBases) }

// crossDelta replaces rec, a full copy, by a delta against a base when that is small enough,
// and otherwise makes it a base.
func (t *txn) crossDelta(rec *verRec, ev *event) error {
	e := ev.env
	bases := t.bucket(bBases)
	size := strconv.Itoa(bits.Len(uint(len(e.Object) / 512)))
	if ev.obj != nil && ev.obj.Reason != "" {
		size += "/" + ev.obj.Reason // Events: one base per reason
	}
	keys := [][]byte{prefix(e.Cluster, e.Group, e.Kind, e.Namespace, size)}
	if ev.obj != nil {
		if c := ev.obj.Metadata.Controller(); c != nil && c.UID != "" {
			keys = append([][]byte{prefix(e.Cluster, e.Group, e.Kind, e.Namespace, size, c.UID)}, keys...)
		}
	}
	for _, k := range keys {
		v := bases.Get(k)
		if v == nil {
			continue
		}
		base := readBE8(v)
		baseJSON := t.db.baseJSON(base)
		if baseJSON == nil {
			var err error
			if baseJSON, _, err = loadVersion(t.vs, base); err != nil {
				return err
			}
			t.db.keepBaseJSON(base, baseJSON)
		}
		t.xscratch = t.denc.encode(t.xscratch[:0], baseJSON, e.Object)
		if len(t.xscratch) < len(rec.Payload)/3 {
			rec.Body, rec.Base, rec.Payload = bodyXDelta, base, t.xscratch
			return nil
		}
		break // the nearest base is unlike this object: it becomes the base
	}
	t.db.keepBaseJSON(e.Seq, e.Object)
	for _, k := range keys {
		if err := bases.Put(k, be8(e.Seq)); err != nil {
			return err
		}
	}
	return nil
}

// loadVersion rebuilds the JSON of the version stored at seq.
func loadVersion(ver *verStore, seq uint64) ([]byte, verRec, error) {
	var chain []verRec
	s := seq
	for {
		raw := ver.get(s)
		if raw == nil {
			return nil, verRec{}, fmt.Errorf("%w: version %d is missing", ErrCorrupt, s)
		}
		r, err := decodeVer(raw, s)
		if err != nil {
			return nil, verRec{}, err
		}
		chain = append(chain, r)
		if r.isFull() {
			break
		}
		if r.Prev == 0 || len(chain) > 1<<16 {
			return nil, verRec{}, fmt.Errorf("%w: version %d has no full copy before it", ErrCorrupt, seq)
		}
		s = r.Prev
	}
	var cur []byte
	for i := len(chain) - 1; i >= 0; i-- {
		var err error
		if cur, err = body(ver, cur, &chain[i]); err != nil {
			return nil, verRec{}, err
		}
	}
	return cur, chain[0], nil
}

// body returns the JSON of version r given the JSON of the version before it.
func body(ver *verStore, prev []byte, r *verRec) ([]byte, error) {
	switch r.Body {
	case bodyXDelta:
		raw := ver.get(r.Base)
		if raw == nil {
			return nil, fmt.Errorf("%w: base version %d is missing", ErrCorrupt, r.Base)
		}
		b, err := decodeVer(raw, r.Base)
		if err != nil {
			return nil, err
		}
		if b.Body != bodyFull {
			return nil, fmt.Errorf("%w: base version %d is not a full copy", ErrCorrupt, r.Base)
		}
		base, err := body(ver, nil, &b)
		if err != nil {
			return nil, err
		}
		return applyDelta(nil, base, r.Payload)
	case bodyFull:
		return slices.Clone(r.Payload), nil
	case bodyDelta:
		return applyDelta(nil, prev, r.Payload)
	}
	return nil, fmt.Errorf("%w: unknown body encoding %d", ErrCorrupt, r.Body)
}

// ObjectRef names an object: cluster, API group, kind, namespace ("" for cluster-scoped
// objects) and name. UID, when set, picks one of the objects that held the name.
type ObjectRef struct {
	Cluster   string
	Group     string
	Kind      string
	Namespace string
	Name      string
	UID       string
}

func (r ObjectRef) String() string {
	k := r.Kind
	if r.Group != "" {
		k += "." + r.Group
	}
	if r.Namespace != "" {
		return k + " " + r.Namespace + "/" + r.Name
	}
	return k + " " + r.Name
}

// Version is one version of one object, as the log recorded it.
type Version struct {
	Seq             uint64    // stream sequence of the event
	Type            string    // ADDED, MODIFIED, DELETED, RESYNC or DELETED_UNOBSERVED
	Observed        time.Time // when khist saw the change
	Cluster         string
	Group           string
	APIVersion      string // version within the group, e.g. v1
	Kind            string
	Namespace       string
	Name            string
	UID             string
	ResourceVersion string
	Generation      int64
	Actor           string // who made the change, when known
	Object          []byte // the full JSON; nil where only metadata was asked for
}

// versionOf fills a Version from a record and its object's head.
func versionOf(seq uint64, r *verRec, h *objHead) Version {
	return Version{
		Seq: seq, Type: string(r.Type), Observed: r.Observed, Cluster: h.Cluster, Group: h.Group,
		APIVersion: h.APIVersion, Kind: h.Kind, Namespace: h.Namespace, Name: h.Name, UID: h.UID,
		ResourceVersion: r.RV, Generation: r.Generation, Actor: r.Actor,
	}
}

// headByKey reads the head stored for a head key (nil if none).
func headByKey(tx *bolt.Tx, k []byte) (*objHead, error) {
	v := tx.Bucket(bUIDs).Get(k)
	if v == nil {
		return nil, nil
	}
	return headByID(tx, readBE8(v))
}

// headByID reads the head of the object with the given id.
func headByID(tx *bolt.Tx, id uint64) (*objHead, error) {
	h, err := headsOf(tx).get(id)
	if err == nil && h == nil {
		err = fmt.Errorf("%w: object id %d has no head", ErrCorrupt, id)
	}
	return h, err
}

// chainOf returns the sequences of all versions of an object, oldest first.
func chainOf(tx *bolt.Tx, h *objHead) ([]uint64, error) {
	ver := versOf(tx)
	seqs := make([]uint64, 0, h.Versions)
	for s := h.LastSeq; s != 0; {
		seqs = append(seqs, s)
		raw := ver.get(s)
		if raw == nil {
			return nil, fmt.Errorf("%w: version %d is missing", ErrCorrupt, s)
		}
		r, err := decodeVer(raw, s)
		if err != nil {
			return nil, err
		}
		s = r.Prev
	}
	slices.Reverse(seqs)
	return seqs, nil
}

// objectVersions rebuilds the versions of one object with sequences in [from, to] (to 0: no
// limit), oldest first, with full JSON when withObject.
func objectVersions(ctx context.Context, tx *bolt.Tx, h *objHead, from, to uint64, withObject bool) ([]Version, error) {
	seqs, err := chainOf(tx, h)
	if err != nil {
		return nil, err
	}
	ver := versOf(tx)
	var out []Version
	var cur []byte
	needFrom := 0 // index of the first version whose body must be built
	if withObject && from > 0 {
		// Start building at the last full copy at or before the first version wanted.
		for i, s := range seqs {
			r, err := decodeVer(ver.get(s), s)
			if err != nil {
				return nil, err
			}
			if r.isFull() {
				needFrom = i
			}
			if s >= from {
				break
			}
		}
	}
	for i, s := range seqs {
		if i&255 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if to != 0 && s > to {
			break
		}
		r, err := decodeVer(ver.get(s), s)
		if err != nil {
			return nil, err
		}
		if withObject && i >= needFrom {
			if cur, err = body(ver, cur, &r); err != nil {
				return nil, err
			}
		}
		if s < from {
			continue
		}
		v := versionOf(s, &r, h)
		if withObject {
			v.Object = cur
		}
		out = append(out, v)
	}
	return out, nil
}

// heads returns the heads of the objects a reference names: the one with its UID, or all that
// held its name, oldest first.
func heads(tx *bolt.Tx, ref ObjectRef) ([]*objHead, error) {
	if ref.UID != "" {
		h, err := headByKey(tx, objKey(ref.Cluster, ref.UID, ref.Kind, ref.Namespace, ref.Name))
		if err != nil || h == nil {
			return nil, err
		}
		return []*objHead{h}, nil
	}
	lts, err := lifetimes(tx, ref)
	if err != nil {
		return nil, err
	}
	var out []*objHead
	for _, lt := range lts {
		h, err := headByKey(tx, objKey(lt.Cluster, lt.UID, lt.Kind, lt.Namespace, lt.Name))
		if err != nil {
			return nil, err
		}
		if h != nil {
			out = append(out, h)
		}
	}
	return out, nil
}

// Versions returns every version of the object ref names (of every object that held the name
// when ref.UID is empty), oldest first, each with its full JSON.
func (db *DB) Versions(ctx context.Context, ref ObjectRef) ([]Version, error) {
	var out []Version
	err := db.view(func(tx *bolt.Tx) error {
		hs, err := heads(tx, ref)
		if err != nil {
			return err
		}
		if len(hs) == 0 {
			return fmt.Errorf("%w: %s", ErrNotFound, ref)
		}
		for _, h := range hs {
			vs, err := objectVersions(ctx, tx, h, 0, 0, true)
			if err != nil {
				return err
			}
			out = append(out, vs...)
		}
		slices.SortFunc(out, func(a, b Version) int { return cmp.Compare(a.Seq, b.Seq) })
		return nil
	})
	return out, err
}

// VersionAt returns the version of the object ref names that was current at time at: the last
// version, in log order, observed at or before at, rebuilt in full. It returns ErrNotFound when
// no such object existed then (not yet created, or already deleted: a deletion is returned as
// the DELETED version only when at is exactly its time).
func (db *DB) VersionAt(ctx context.Context, ref ObjectRef, at time.Time) (Version, error) {
	var out Version
	found := false
	err := db.view(func(tx *bolt.Tx) error {
		hs, err := heads(tx, ref)
		if err != nil {
			return err
		}
		ver := versOf(tx)
		var best *objHead
		var bestSeq uint64
		for _, h := range hs {
			if h.FirstSeen.After(at) {
				continue
			}
			s, r, err := lastAtOrBefore(tx, ver, h, at)
			if err != nil {
				return err
			}
			if s != 0 && s > bestSeq && (!r.Type.IsDelete() || r.Observed.Equal(at)) {
				best, bestSeq = h, s
			}
		}
		if best == nil {
			return nil
		}
		obj, r, err := loadVersion(ver, bestSeq)
		if err != nil {
			return err
		}
		out = versionOf(bestSeq, &r, best)
		out.Object = obj
		found = true
		return nil
	})
	if err == nil && !found {
		err = fmt.Errorf("%w: no %s at %s", ErrNotFound, ref, at.UTC().Format(time.RFC3339))
	}
	return out, err
}

// VersionBySeq returns the version stored under a stream sequence, in full.
func (db *DB) VersionBySeq(ctx context.Context, seq uint64) (Version, error) {
	var out Version
	err := db.view(func(tx *bolt.Tx) error {
		obj, r, err := loadVersion(versOf(tx), seq)
		if err != nil {
			if versOf(tx).get(seq) == nil {
				return fmt.Errorf("%w: no version at sequence %d", ErrNotFound, seq)
			}
			return err
		}
		h, err := headByID(tx, r.ID)
		if err != nil {
			return err
		}
		out = versionOf(seq, &r, h)
		out.Object = obj
		return nil
	})
	return out, err
}

// objCache keeps the latest JSON of recently changed objects, so that a delta is computed
// without rebuilding the previous version. It is a cache of the views (a miss rebuilds from
// them) and is cleared when a fold transaction fails. Used under DB.foldMu only.
type objCache struct{ g genCache[uint64, []byte] }

func (c *objCache) init(limit int)          { c.g.init(limit, func(b []byte) int { return len(b) }) }
func (c *objCache) get(id uint64) []byte    { b, _ := c.g.get(id); return b }
func (c *objCache) put(id uint64, b []byte) { c.g.put(id, b) }
func (c *objCache) drop(id uint64)          { c.g.drop(id) }
func (c *objCache) reset()                  { c.g.reset() }

// genCache is an approximate LRU cache bounded in bytes: two generations of maps, each of up
// to half the budget; when the young one is full the old one is dropped and the young one
// ages. A hit in the old generation moves the entry to the young one. Objects changed once
// (most Events) thus leave the cache without evicting those that keep changing.
type genCache[K comparable, V any] struct {
	young, old           map[K]V
	youngBytes, oldBytes int
	half                 int
	size                 func(V) int
}

func (c *genCache[K, V]) init(limit int, size func(V) int) {
	c.young, c.old, c.youngBytes, c.oldBytes, c.half, c.size = map[K]V{}, map[K]V{}, 0, 0, limit/2, size
}

func (c *genCache[K, V]) get(k K) (V, bool) {
	if v, ok := c.young[k]; ok {
		return v, true
	}
	if v, ok := c.old[k]; ok {
		c.put(k, v)
		return v, true
	}
	var zero V
	return zero, false
}

func (c *genCache[K, V]) put(k K, v V) {
	c.drop(k)
	n := c.size(v)
	if c.youngBytes+n > c.half {
		c.old, c.oldBytes = c.young, c.youngBytes
		c.young, c.youngBytes = map[K]V{}, 0
	}
	c.young[k] = v
	c.youngBytes += n
}

func (c *genCache[K, V]) drop(k K) {
	if v, ok := c.young[k]; ok {
		c.youngBytes -= c.size(v)
		delete(c.young, k)
	}
	if v, ok := c.old[k]; ok {
		c.oldBytes -= c.size(v)
		delete(c.old, k)
	}
}

func (c *genCache[K, V]) reset() { c.init(2*c.half, c.size) }
