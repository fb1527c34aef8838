package projector

import (
	"math/bits"
	"strconv"

	"github.com/khist/khist/eventlog"
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
	t.noteLatest(h, e.Seq, &rec, e.Object)
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
