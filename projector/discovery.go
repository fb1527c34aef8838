package projector

import (
	"context"
	"time"

	"github.com/khist/khist/eventlog"
	bolt "go.etcd.io/bbolt"
)

// The discovery view keeps each cluster's latest recorded API discovery (bucket "disco":
// cluster -> 8 bytes stream sequence, 8 bytes observed time in unix nanoseconds, then the
// record's JSON body, an eventlog.APIDiscovery). Query builds its kind resolution from it.
var bDiscovery = []byte("disco")

func init() { registerBuckets(bDiscovery) }

// foldDiscovery keeps a discovery record as its cluster's latest. A body this khist cannot
// read is quarantined, and the previous discovery stays.
func foldDiscovery(t *txn, ev *event) error {
	if _, err := eventlog.DecodeDiscovery(ev.env.Object); err != nil {
		return t.quarantine(ev, "unreadable discovery: "+err.Error())
	}
	v := make([]byte, 0, 16+len(ev.env.Object))
	v = appendBE8(v, ev.env.Seq)
	v = appendBE8(v, uint64(ev.env.Observed.UnixNano()))
	v = append(v, ev.env.Object...)
	t.applied++
	return t.bucket(bDiscovery).Put(t.keep([]byte(ev.env.Cluster)), t.keep(v))
}

// RecordedDiscovery is a cluster's latest recorded API discovery.
type RecordedDiscovery struct {
	Seq       uint64    // where the log holds it
	Observed  time.Time // when the collector made it
	Discovery *eventlog.APIDiscovery
}

// Discovery returns the latest API discovery recorded for cluster, or nil when the log holds
// none (an import of kubectl watch files, a recording older than discovery records).
func (db *DB) Discovery(ctx context.Context, cluster string) (*RecordedDiscovery, error) {
	var raw []byte
	err := db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bDiscovery)
		if b == nil {
			return nil
		}
		if v := b.Get([]byte(cluster)); len(v) >= 16 {
			raw = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil || raw == nil {
		return nil, err
	}
	d, err := eventlog.DecodeDiscovery(raw[16:])
	if err != nil {
		return nil, err
	}
	return &RecordedDiscovery{Seq: readBE8(raw[:8]), Observed: time.Unix(0, int64(readBE8(raw[8:16]))).UTC(), Discovery: d}, nil
}
