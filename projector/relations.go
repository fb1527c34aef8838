package projector

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// The relations view keeps which objects relate to which, for the history of a workload:
//
//   - bucket "own": cluster NUL owner-uid NUL owned-uid: every controller owner an object ever
//     had (a ReplicaSet's Deployment, a Pod's ReplicaSet, a ControllerRevision's StatefulSet);
//   - bucket "about": cluster NUL object-uid NUL event-uid: the Events (core/v1 and
//     events.k8s.io) about an object.
//
// Uids are written as uidPart does (16 bytes for a canonical UUID).
//
// Entries are only added: an object adopted or orphaned keeps its former owner here.
var bOwn, bAbout = []byte("own"), []byte("about")

func init() { registerBuckets(bOwn, bAbout) }

func foldRelations(t *txn, ev *event) error {
	h := ev.head
	if h.UID == "" {
		return nil
	}
	if h.Owner.UID != "" && (ev.isNew || h.Owner.UID != ev.prev.Owner.UID) {
		if err := t.bucket(bOwn).Put(relKey(h.Cluster, h.Owner.UID, h.UID), nil); err != nil {
			return err
		}
	}
	if ev.isNew && ev.obj != nil && h.Kind == "Event" {
		if r := eventSubject(ev.obj); r != nil && r.UID != "" {
			if err := t.bucket(bAbout).Put(relKey(h.Cluster, r.UID, h.UID), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// eventSubject is what an Event is about: involvedObject (core/v1) or regarding
// (events.k8s.io).
func eventSubject(o *Object) *ObjectReference {
	if o.InvolvedObject != nil {
		return o.InvolvedObject
	}
	return o.Regarding
}

// related lists the uids under cluster NUL uid in one of the relation buckets.
func related(tx *bolt.Tx, bucket []byte, cluster, uid string) []string {
	var out []string
	p := append(relKey(cluster, uid, ""), 0)
	c := tx.Bucket(bucket).Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		out = append(out, uidOfPart(k[len(p):]))
	}
	return out
}

// relKey is cluster NUL uidPart(a) NUL uidPart(b), or without the last part when b is "".
func relKey(cluster, a, b string) []byte {
	k := append(append([]byte(cluster), 0), uidPart(a)...)
	if b != "" {
		k = append(append(k, 0), uidPart(b)...)
	}
	return k
}

// uidPart is a uid as a key part: 0x02 and the 16 bytes of a canonical UUID, else the string.
func uidPart(uid string) []byte {
	if b, ok := uuidBytes(uid); ok {
		return append([]byte{2}, b[:]...)
	}
	return []byte(uid)
}

func uidOfPart(p []byte) string {
	if len(p) == 17 && p[0] == 2 {
		return uuidString(p[1:])
	}
	return string(p)
}
