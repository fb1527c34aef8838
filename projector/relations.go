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
// Entries are only added: an object adopted or orphaned keeps its former owner here.
var bOwn, bAbout = []byte("own"), []byte("about")

func init() { registerBuckets(bOwn, bAbout) }

func foldRelations(t *txn, ev *event) error {
	h := ev.head
	if h.UID == "" {
		return nil
	}
	if h.Owner.UID != "" && (ev.isNew || h.Owner.UID != ev.prev.Owner.UID) {
		if err := t.bucket(bOwn).Put(key(h.Cluster, h.Owner.UID, h.UID), nil); err != nil {
			return err
		}
	}
	if ev.isNew && ev.obj != nil && h.Kind == "Event" {
		if r := eventSubject(ev.obj); r != nil && r.UID != "" {
			if err := t.bucket(bAbout).Put(key(h.Cluster, r.UID, h.UID), nil); err != nil {
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
	p := prefix(cluster, uid)
	c := tx.Bucket(bucket).Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		out = append(out, string(k[len(p):]))
	}
	return out
}
