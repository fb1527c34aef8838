package projector

import (
	"context"
	"os"

	"github.com/khist/khist/eventlog"
)

// Diagnosis is what Diagnose found about a log and the views folded from it.
type Diagnosis struct {
	Log       eventlog.Report // the log's state and damaged ranges
	LogErr    error           // the log could not be verified (nil when it was)
	ViewsPath string
	Views     Counts // the views' counters (zero when they cannot be read)
	HasViews  bool   // a views file exists and could be read
	ViewsErr  error  // why the views cannot be read (damaged, other schema, in use)
	// Quarantined is the number of events the views could not fold (see Quarantined).
	Quarantined uint64
	// Held are the damaged ranges of the log that the views folded before the damage: their
	// history is in the views, and a rebuild would lose it.
	Held []eventlog.Damage
	// Lost are the damaged ranges the views never folded: that history is gone from khist
	// unless re-imported.
	Lost []eventlog.Damage
	// Ahead: the views hold events past the log's end (the stream was deleted or replaced).
	Ahead bool
}

// Damaged reports whether anything is wrong.
func (d *Diagnosis) Damaged() bool {
	return d.LogErr != nil || len(d.Log.Damage) > 0 || d.ViewsErr != nil || d.Ahead || d.Quarantined > 0
}

// Diagnose verifies the whole log (eventlog.Log.Verify) and compares it with the views at
// path: which damaged events the views still hold, which are lost, and whether the views are
// readable. It changes nothing.
func Diagnose(ctx context.Context, log *eventlog.Log, path string) *Diagnosis {
	d := &Diagnosis{ViewsPath: path}
	d.Log, d.LogErr = log.Verify(ctx)
	if _, err := os.Stat(path); err != nil {
		return d.compare()
	}
	db, err := Open(path, &Options{ReadOnly: true})
	switch {
	case err == nil:
		defer db.Close()
		if d.Views, err = db.Counts(); err == nil {
			d.HasViews = true
			d.Quarantined, err = db.QuarantineCount()
		}
		d.ViewsErr = err
	default:
		d.ViewsErr = err
	}
	return d.compare()
}

// compare sorts the log's damage into what the views hold and what is lost.
func (d *Diagnosis) compare() *Diagnosis {
	for _, r := range d.Log.Damage {
		switch {
		case d.HasViews && r.Last <= d.Views.Seq:
			d.Held = append(d.Held, r)
		case d.HasViews && r.First <= d.Views.Seq:
			d.Held = append(d.Held, eventlog.Damage{First: r.First, Last: d.Views.Seq, Kind: r.Kind})
			d.Lost = append(d.Lost, eventlog.Damage{First: d.Views.Seq + 1, Last: r.Last, Kind: r.Kind})
		default:
			d.Lost = append(d.Lost, r)
		}
	}
	d.Ahead = d.HasViews && d.LogErr == nil && d.Views.Seq > d.Log.State.LastSeq
	return d
}
