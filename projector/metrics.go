package projector

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the projector's Prometheus metrics, all named khist_projector_*: what it folded
// (counters, updated by the folds given WithMetrics), and how far the views are behind the log
// and how large they are (read from the log and the views file when scraped).
//
// Create them with NewMetrics, pass them to Run, CatchUp and Rebuild with WithMetrics, name
// the log and views they measure with Watch, and ask CaughtUp for readiness.
type Metrics struct {
	folded      prometheus.Counter
	applied     prometheus.Counter
	quarantined prometheus.Counter
	txs         prometheus.Counter
	rebuilds    prometheus.Counter
	logWaits    prometheus.Counter

	mu  sync.Mutex // guards log and db; one scrape reads the log at a time
	log *eventlog.Log
	db  *DB

	caughtUp atomic.Bool
}

var (
	descPosition = prometheus.NewDesc("khist_projector_position",
		"Stream sequence of the last event folded into the views.", nil, nil)
	descLagEvents = prometheus.NewDesc("khist_projector_lag_events",
		"Events in the log that the views have not folded yet.", nil, nil)
	descLagSeconds = prometheus.NewDesc("khist_projector_lag_seconds",
		"How long the oldest event not folded yet has been in the log (0 when the views are current).", nil, nil)
	descViewsBytes = prometheus.NewDesc("khist_projector_views_bytes",
		"Size of the views file.", nil, nil)
)

// NewMetrics returns the metrics of a projector, registered with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		folded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "khist_projector_events_folded_total",
			Help: "Events read from the log and folded (rate() of it is the fold rate).",
		}),
		applied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "khist_projector_events_applied_total",
			Help: "Events folded that changed the views (the others were already applied).",
		}),
		quarantined: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "khist_projector_events_quarantined_total",
			Help: "Events no view could fold; the log keeps them (khist doctor lists them).",
		}),
		txs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "khist_projector_transactions_total",
			Help: "bbolt transactions committed by the folds.",
		}),
		rebuilds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "khist_projector_rebuilds_total",
			Help: "Times the views were rebuilt from the whole log.",
		}),
		logWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "khist_projector_log_waits_total",
			Help: "Times following the log failed because it was unavailable (no quorum, server gone) and the projector waited to follow it again.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.folded, m.applied, m.quarantined, m.txs, m.rebuilds, m.logWaits, m)
	}
	return m
}

// Watch names the log and the views file whose lag and size the metrics report; until it is
// called they report only the counters.
func (m *Metrics) Watch(log *eventlog.Log, db *DB) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.log, m.db = log, db
	m.mu.Unlock()
}

// WithMetrics makes a fold count what it does in m, and a Rebuild count itself.
func WithMetrics(m *Metrics) Option {
	return func(o *options) error { o.metrics = m; return nil }
}

// observe counts one committed transaction of a fold.
func (m *Metrics) observe(events, applied, quarantined uint64) {
	m.folded.Add(float64(events))
	m.applied.Add(float64(applied))
	m.quarantined.Add(float64(quarantined))
	m.txs.Inc()
}

// errNotWatching is returned by Lag before Watch.
var errNotWatching = errors.New("projector metrics: no views watched yet")

// Lag returns the views' position and how far they are behind the log: in events, and in
// seconds since the oldest event not folded was appended.
func (m *Metrics) Lag(ctx context.Context) (pos, events uint64, behind time.Duration, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.db == nil {
		return 0, 0, 0, errNotWatching
	}
	pos, err = m.db.Seq()
	if err != nil {
		return 0, 0, 0, err
	}
	last, err := m.log.LastSeq(ctx)
	if err != nil {
		return pos, 0, 0, err
	}
	if last <= pos {
		m.caughtUp.Store(true)
		return pos, 0, 0, nil
	}
	events = last - pos
	st, err := m.log.JetStream().Stream(ctx, m.log.StreamName())
	if err != nil {
		return pos, events, 0, err
	}
	first := pos + 1
	if info := st.CachedInfo(); info != nil && info.State.FirstSeq > first {
		first = info.State.FirstSeq // dropped by retention before it was folded
	}
	msg, err := st.GetMsg(ctx, first)
	if err != nil {
		return pos, events, 0, err
	}
	return pos, events, max(0, time.Since(msg.Time)), nil
}

// CaughtUp reports whether the views have reached the end of the log once (as measured by
// Lag, which a scrape of the metrics calls): until then they answer about an older cluster.
func (m *Metrics) CaughtUp(ctx context.Context) bool {
	if m.caughtUp.Load() {
		return true
	}
	m.Lag(ctx)
	return m.caughtUp.Load()
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- descPosition
	ch <- descLagEvents
	ch <- descLagSeconds
	ch <- descViewsBytes
	ch <- descRollouts
	ch <- descRolloutsInProgress
	ch <- descRolloutsFailed
	ch <- descRolloutDuration
	ch <- descRolloutLowest
}

// Collect implements prometheus.Collector: it reads the log's end, the views' position and
// the rollouts the views hold (see collectRollouts).
// What cannot be read is left out of the scrape.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pos, events, behind, err := m.Lag(ctx)
	if pos > 0 || err == nil {
		ch <- prometheus.MustNewConstMetric(descPosition, prometheus.GaugeValue, float64(pos))
	}
	if err == nil {
		ch <- prometheus.MustNewConstMetric(descLagEvents, prometheus.GaugeValue, float64(events))
		ch <- prometheus.MustNewConstMetric(descLagSeconds, prometheus.GaugeValue, behind.Seconds())
	}
	m.mu.Lock()
	db := m.db
	m.mu.Unlock()
	if db == nil {
		return
	}
	if fi, err := os.Stat(db.Path()); err == nil {
		ch <- prometheus.MustNewConstMetric(descViewsBytes, prometheus.GaugeValue, float64(fi.Size()))
	}
	collectRollouts(ctx, db, ch)
}
