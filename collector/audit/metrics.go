package audit

import "github.com/prometheus/client_golang/prometheus"

// metrics are the audit webhook's Prometheus metrics, all named khist_audit_*.
type metrics struct {
	batches       prometheus.Counter     // requests received
	events        prometheus.Counter     // audit events in them
	published     prometheus.Counter     // records stored in the log
	rejected      *prometheus.CounterVec // events that report no write, by reason
	failed        *prometheus.CounterVec // batches answered with an error, by reason
	failedRecords prometheus.Counter     // records in those batches
}

func newMetrics() *metrics {
	return &metrics{
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "khist_audit_batches_received_total",
			Help: "Audit webhook requests (EventList batches) received from the API server.",
		}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "khist_audit_events_received_total",
			Help: "Audit events received in the batches that could be read.",
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "khist_audit_records_published_total",
			Help: "Write requests recorded in the log (acknowledged; a batch the API server sends again is counted again and stored once).",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "khist_audit_events_rejected_total",
			Help: "Audit events that record no write (reads, other stages, failed or dry-run requests), by reason.",
		}, []string{"reason"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "khist_audit_batches_failed_total",
			Help: "Batches answered with an error, by reason (publish: the log did not acknowledge them; the API server sends them again until its retries run out, which it counts in apiserver_audit_error_total{plugin=\"webhook\"}).",
		}, []string{"reason"}),
		failedRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "khist_audit_records_failed_total",
			Help: "Write requests in batches that were not stored (answered 503, for the API server to send again).",
		}),
	}
}

func (m *metrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.batches, m.events, m.published, m.rejected, m.failed, m.failedRecords} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
