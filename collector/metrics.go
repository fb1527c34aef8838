package collector

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the collector's Prometheus metrics, all named khist_collector_*.
type metrics struct {
	events          *prometheus.CounterVec   // recorded, by group, resource, type
	filtered        *prometheus.CounterVec   // not recorded, by group, resource, reason
	publishErrors   *prometheus.CounterVec   // by group, resource
	publishLatency  prometheus.Histogram     // observed to acknowledged
	publishBlocked  prometheus.Counter       // seconds spent waiting for room to publish
	inFlight        prometheus.Gauge         // envelopes sent, not yet acknowledged
	inFlightBytes   prometheus.Gauge         // their bodies' bytes
	watchRestarts   *prometheus.CounterVec   // by group, resource, reason
	relists         *prometheus.CounterVec   // by group, resource, reason
	listDuration    *prometheus.HistogramVec // by group, resource
	objects         *prometheus.GaugeVec     // objects tracked, by group, kind
	resources       prometheus.Gauge         // resources watched
	discoveryErrors prometheus.Counter
	sessions        prometheus.Counter // restarts after the log failed
	publishRetries  prometheus.Counter // re-sends after a failed acknowledgement
	logWait         prometheus.Counter // seconds spent waiting for the log to accept events again
	logWaiting      prometheus.Gauge   // 1 while waiting for the log
	lastEvent       *prometheus.GaugeVec
	progress        prometheus.Counter     // progress records stored
	unobserved      *prometheus.CounterVec // changes recorded only by a relist, by group, resource
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "khist_collector_events_total",
			Help: "Object versions sent to the log, by API group, resource and event type.",
		}, []string{"group", "resource", "type"}),
		filtered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "khist_collector_filtered_total",
			Help: "Object versions seen but not recorded, by API group, resource and reason (known: already in the log; heartbeat: only heartbeat fields changed).",
		}, []string{"group", "resource", "reason"}),
		publishErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "khist_collector_publish_errors_total",
			Help: "Object versions the log did not acknowledge after retries (the watches then stop and start again from their last recorded progress, or relist: the versions are recorded again).",
		}, []string{"group", "resource"}),
		publishLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "khist_collector_publish_latency_seconds",
			Help:    "Time from observing a change to its acknowledgement by the log.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18),
		}),
		publishBlocked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "khist_collector_publish_blocked_seconds_total",
			Help: "Time watches spent waiting for the log to acknowledge earlier versions (back-pressure).",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "khist_collector_publish_in_flight",
			Help: "Object versions sent to the log and not yet acknowledged.",
		}),
		inFlightBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "khist_collector_publish_in_flight_bytes",
			Help: "Bytes of the object versions sent to the log and not yet acknowledged.",
		}),
		watchRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "khist_collector_watch_restarts_total",
			Help: "Watches started again, by API group, resource and reason (timeout, closed, error, gone).",
		}, []string{"group", "resource", "reason"}),
		relists: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "khist_collector_relists_total",
			Help: "Lists of a resource, by API group, resource and reason (start: first recording; resume-unknown: the log holds no progress of its watch; resume-gone: the log's progress is older than the API server's watch history; gone, error, forbidden).",
		}, []string{"group", "resource", "reason"}),
		listDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "khist_collector_list_duration_seconds",
			Help:    "Duration of a (re)list, including publishing what it found.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}, []string{"group", "resource"}),
		objects: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "khist_collector_objects",
			Help: "Objects the collector tracks (identity and resourceVersion), by API group and kind.",
		}, []string{"group", "kind"}),
		resources: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "khist_collector_watched_resources",
			Help: "Resources (and namespaces) being listed and watched.",
		}),
		discoveryErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "khist_collector_discovery_errors_total",
			Help: "API discoveries that failed entirely or for some groups.",
		}),
		sessions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "khist_collector_log_recoveries_total",
			Help: "Times the collector stopped its watches because the log failed, and started again with relists.",
		}),
		publishRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "khist_collector_publish_retries_total",
			Help: "Object versions sent again because the log did not acknowledge the last attempt (a clustered stream electing a leader, a server restarting).",
		}),
		logWait: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "khist_collector_log_wait_seconds_total",
			Help: "Time the watches were stopped because the log failed (no quorum, server gone), until it accepted events again.",
		}),
		logWaiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "khist_collector_log_waiting",
			Help: "1 while the collector waits for the log to accept events again (its watches stopped), else 0.",
		}),
		lastEvent: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "khist_collector_last_event_timestamp_seconds",
			Help: "Unix time of the last change observed, by API group and resource (lag shows as its age).",
		}, []string{"group", "resource"}),
		progress: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "khist_collector_progress_records_total",
			Help: "Progress records stored: how far each watch has come, for the next collector (a restart, a new leader) to resume the watches from there.",
		}),
		unobserved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "khist_collector_unobserved_changes_total",
			Help: "Objects whose changes were made while no watch ran and could not be replayed (the resume point was unknown or older than the API server's watch history, or a watch fell behind): a relist recorded only their state then (RESYNC) or their deletion (DELETED_UNOBSERVED); each hides one or more versions not recorded. By API group and resource.",
		}, []string{"group", "resource"}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.filtered, m.publishErrors, m.publishLatency, m.publishBlocked,
			m.inFlight, m.inFlightBytes, m.watchRestarts, m.relists, m.listDuration, m.objects,
			m.resources, m.discoveryErrors, m.sessions, m.publishRetries, m.logWait, m.logWaiting, m.lastEvent,
			m.progress, m.unobserved)
	}
	return m
}
