package projector

// Reads of the versions view: an object's versions, the version at a time, by sequence.

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

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

// chainOf returns the sequences of all versions of an object, oldest first, with their
// records (valid for the transaction): walking the chain decodes them anyway, and reading them
// again by sequence looked each up in the version segments a second time.
func chainOf(tx *bolt.Tx, h *objHead) ([]uint64, []verRec, error) {
	ver := versOf(tx)
	seqs := make([]uint64, 0, h.Versions)
	recs := make([]verRec, 0, h.Versions)
	for s := h.LastSeq; s != 0; {
		raw := ver.get(s)
		if raw == nil {
			return nil, nil, fmt.Errorf("%w: version %d is missing", ErrCorrupt, s)
		}
		r, err := decodeVer(raw, s)
		if err != nil {
			return nil, nil, err
		}
		seqs, recs = append(seqs, s), append(recs, r)
		s = r.Prev
	}
	slices.Reverse(seqs)
	slices.Reverse(recs)
	return seqs, recs, nil
}

// objectVersions rebuilds the versions of one object with sequences in [from, to] (to 0: no
// limit), oldest first, with full JSON when withObject.
func objectVersions(ctx context.Context, tx *bolt.Tx, h *objHead, from, to uint64, withObject bool) ([]Version, error) {
	seqs, recs, err := chainOf(tx, h)
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
			if recs[i].isFull() {
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
		r := &recs[i]
		if withObject && i >= needFrom {
			if cur, err = body(ver, cur, r); err != nil {
				return nil, err
			}
		}
		if s < from {
			continue
		}
		v := versionOf(s, r, h)
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
