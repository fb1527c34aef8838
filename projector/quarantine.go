package projector

import (
	"fmt"

	"github.com/khist/khist/eventlog"
	bolt "go.etcd.io/bbolt"
)

// The quarantine keeps the events that no view can fold, so that one odd event never breaks
// the views: such an event is recorded here with the reason, counted, and otherwise left out
// (the log keeps it). Whether an event is quarantined depends on the event alone, so the
// fold stays deterministic.
//
//	quarantine: seq(8) -> reason, a space, and the event (eventlog.Envelope.String)
var bQuarantine = registerBuckets([]byte("quarantine"))[0]

// mQuarantined counts the quarantined events (meta key).
var mQuarantined = []byte("quarantined")

// poison returns why the event cannot be folded, "" when it can. An event without an observed
// time would sort before all history in the time indexes and hide the history's start.
func poison(e *eventlog.Envelope) string {
	if e.Observed.IsZero() {
		return "no time: the object has no creationTimestamp or managedFields time and the log no observed time"
	}
	return ""
}

// quarantine records the event at seq instead of folding it.
func (t *txn) quarantine(ev *event, reason string) error {
	t.quarantined++
	v := fmt.Appendf(nil, "%s: %s", reason, ev.env)
	return t.bucket(bQuarantine).Put(be8(ev.env.Seq), t.keep(v))
}

// Quarantined is one event the views could not fold.
type Quarantined struct {
	Seq    uint64
	Reason string // why, and the event
}

// QuarantineCount is the number of events the views could not fold.
func (db *DB) QuarantineCount() (uint64, error) {
	var n uint64
	err := db.view(func(tx *bolt.Tx) error {
		n = readBE8(tx.Bucket(bMeta).Get(mQuarantined))
		return nil
	})
	return n, err
}

// QuarantineList returns up to limit quarantined events (0: all), in log order.
func (db *DB) QuarantineList(limit int) ([]Quarantined, error) {
	var out []Quarantined
	err := db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bQuarantine)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil && (limit == 0 || len(out) < limit); k, v = c.Next() {
			out = append(out, Quarantined{Seq: readBE8(k), Reason: string(v)})
		}
		return nil
	})
	return out, err
}
