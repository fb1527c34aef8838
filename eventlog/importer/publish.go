package importer

import (
	"context"
	"strconv"

	"github.com/khist/khist/eventlog"
)

// Publish appends the envelopes of res to the log, in order, and waits until every one is
// acknowledged. Versions the log already holds are counted as duplicates, not stored again:
// within the stream's duplicate window JetStream drops them by message id, and beyond it an
// envelope whose resourceVersion is not newer than the last one stored for the same object is
// skipped (when both are integers, as on etcd).
func Publish(ctx context.Context, l *eventlog.Log, res *Result) (eventlog.PublishStats, error) {
	p, err := l.NewPublisher(eventlog.PublisherOptions{})
	if err != nil {
		return eventlog.PublishStats{}, err
	}
	stored := map[string]uint64{} // subject -> last stored resourceVersion, 0 when unknown
	skipped := 0
	for _, e := range res.Envelopes {
		subj := eventlog.Subject(e.Cluster, e.Group, e.Kind, e.Namespace, e.Name)
		last, seen := stored[subj]
		if !seen {
			prev, err := l.LastOf(ctx, subj)
			if err != nil {
				p.Close(context.WithoutCancel(ctx))
				return p.Stats(), err
			}
			if prev != nil {
				last, _ = strconv.ParseUint(prev.ResourceVersion, 10, 64)
			}
		}
		rv, rvErr := strconv.ParseUint(e.ResourceVersion, 10, 64)
		if rvErr == nil && last > 0 && rv <= last {
			skipped++
			stored[subj] = last
			continue
		}
		if rvErr == nil {
			stored[subj] = rv
		} else {
			stored[subj] = 0
		}
		if err := p.Publish(ctx, e); err != nil {
			p.Close(context.WithoutCancel(ctx))
			return p.Stats(), err
		}
	}
	err = p.Close(ctx)
	st := p.Stats()
	st.Duplicates += skipped
	return st, err
}
