package projector

import (
	"bytes"
	"context"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/eventlog/kinds"
	bolt "go.etcd.io/bbolt"
)

// The audit view keeps who made each write request (eventlog.AuditRecord, from the audit
// webhook), by object and time (bucket "audit": cluster, group, namespace, name, each ended by
// a zero byte, then 8 bytes completion time in unix nanoseconds and 8 bytes stream sequence ->
// the record's JSON). It is not joined to versions when folded: the API server sends its audit
// batches after the change is watched, so the record usually follows the version in the log.
// Readers join them with Who.
var bAudit = []byte("audit")

func init() { registerBuckets(bAudit) }

// WhoWindow is how far apart a version's observed time and its request's completion may be
// for Who to join them without a resourceVersion.
const WhoWindow = 30 * time.Second

func auditPrefix(cluster, group, namespace, name string) []byte {
	k := make([]byte, 0, len(cluster)+len(group)+len(namespace)+len(name)+4+16)
	for _, s := range [...]string{cluster, group, namespace, name} {
		k = append(k, s...)
		k = append(k, 0)
	}
	return k
}

// foldAudit stores an audit record; one this khist cannot read is quarantined.
func foldAudit(t *txn, ev *event) error {
	r, err := eventlog.DecodeAudit(ev.env.Object)
	if err != nil {
		return t.quarantine(ev, "unreadable audit record: "+err.Error())
	}
	k := auditPrefix(ev.env.Cluster, r.Group, r.Namespace, r.Name)
	k = appendBE8(k, uint64(r.Completed.UnixNano()))
	k = appendBE8(k, ev.env.Seq)
	t.applied++
	return t.bucket(bAudit).Put(t.keep(k), t.keep(ev.env.Object))
}

// WhoOf is the version of an object Who looks for the request of.
type WhoOf struct {
	ResourceVersion string    // the version's, when known
	At              time.Time // when it was observed
	// Manager is the version's writer: the field manager its managedFields name (see
	// writer), the log's actor.
	Manager string
	// Deleted is set for a deletion: its request is a delete, whatever its field manager
	// (a deletion writes no managedFields).
	Deleted bool
}

// Who returns the write request that made a version of ref, or nil when the log holds none:
// the record of the same object whose response carried the version's resourceVersion, or
// else, among the records without one (audit level Metadata), the one whose field manager is
// the version's writer (for a deletion: whose verb is delete) and whose completion is nearest
// to the version's observed time, within WhoWindow. The kind must be the record's resource for
// built-in kinds; records of custom resources are matched by group, namespace and name.
func (db *DB) Who(ctx context.Context, ref ObjectRef, of WhoOf) (*eventlog.AuditRecord, error) {
	rv, at, manager := of.ResourceVersion, of.At, of.Manager
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	plural := ""
	if k, ok := kinds.Lookup(ref.Group, ref.Kind); ok {
		plural = k.Plural
	}
	prefix := auditPrefix(ref.Cluster, ref.Group, ref.Namespace, ref.Name)
	var best []byte
	var bestDist time.Duration
	err := db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bAudit)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		from := appendBE8(bytes.Clone(prefix), uint64(at.Add(-WhoWindow).UnixNano()))
		for k, v := c.Seek(from); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+16; k, v = c.Next() {
			done := time.Unix(0, int64(readBE8(k[len(prefix):])))
			d := done.Sub(at)
			if d > WhoWindow {
				break
			}
			r, err := eventlog.DecodeAudit(v)
			if err != nil || plural != "" && r.Resource != plural {
				continue
			}
			if rv != "" && r.ResourceVersion == rv {
				best = bytes.Clone(v)
				return nil
			}
			switch {
			case r.ResourceVersion != "":
				continue
			case of.Deleted:
				if r.Verb != "delete" {
					continue
				}
			case manager == "" || r.Manager != manager || r.Verb == "delete":
				continue
			}
			d = max(d, -d)
			if best == nil || d < bestDist {
				best, bestDist = bytes.Clone(v), d
			}
		}
		return nil
	})
	if err != nil || best == nil {
		return nil, err
	}
	return eventlog.DecodeAudit(best)
}
