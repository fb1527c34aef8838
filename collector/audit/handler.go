package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/eventlog/importer"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Options tune a Handler. Zero values mean the documented defaults.
type Options struct {
	// Cluster is the recorded cluster's name in the log (required).
	Cluster string
	// MaxBatchBytes bounds a request's body; a larger one is answered 413. Default 64 MiB
	// (kube-apiserver's batches are at most 400 events by default, and at Metadata level an
	// event is about a kilobyte).
	MaxBatchBytes int64
	// AckTimeout bounds the wait for the log to acknowledge a batch's records; past it the
	// batch is answered 503 and the API server sends it again. Default 10 s.
	AckTimeout time.Duration
	// Registerer receives the metrics (khist_audit_*). Default: none.
	Registerer prometheus.Registerer
	// Logger receives structured logs. Default slog.Default().
	Logger *slog.Logger
}

// Handler receives audit batches over HTTP and publishes their write requests to the log.
type Handler struct {
	js   jetstream.JetStream
	opts Options
	m    *metrics
}

// ErrInvalidOption is returned by NewHandler for options it cannot use.
var ErrInvalidOption = errors.New("audit webhook: invalid option")

// NewHandler returns a handler that publishes to l.
func NewHandler(l *eventlog.Log, opts Options) (*Handler, error) {
	if opts.Cluster == "" {
		return nil, fmt.Errorf("%w: the cluster name is empty", ErrInvalidOption)
	}
	if opts.MaxBatchBytes <= 0 {
		opts.MaxBatchBytes = 64 << 20
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	m := newMetrics()
	if opts.Registerer != nil {
		if err := m.register(opts.Registerer); err != nil {
			return nil, err
		}
	}
	return &Handler{js: l.JetStream(), opts: opts, m: m}, nil
}

// source is the envelopes' Source.
const source = "audit-webhook"

// ServeHTTP answers one batch: 200 once its records are in the log, 400 for a body that is
// not audit JSON, 413 for one too large, 503 when the log did not acknowledge them in time.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST audit.k8s.io/v1 EventLists here", http.StatusMethodNotAllowed)
		return
	}
	h.m.batches.Inc()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBatchBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.fail(w, "too-large", 0, http.StatusRequestEntityTooLarge, fmt.Sprintf("batch over %d bytes", h.opts.MaxBatchBytes))
			return
		}
		h.fail(w, "read", 0, http.StatusBadRequest, "reading the batch: "+err.Error())
		return
	}
	envs, rejected, err := importer.AuditRecords(h.opts.Cluster, source, body)
	if err != nil {
		h.fail(w, "invalid", 0, http.StatusBadRequest, err.Error())
		return
	}
	n := len(envs)
	for reason, c := range rejected {
		h.m.rejected.WithLabelValues(reason).Add(float64(c))
		n += c
	}
	h.m.events.Add(float64(n))
	if err := h.publish(r.Context(), envs); err != nil {
		h.opts.Logger.Warn("audit batch not stored; the API server will send it again", "records", len(envs), "err", err)
		h.fail(w, "publish", len(envs), http.StatusServiceUnavailable, "the log did not store the batch: "+err.Error())
		return
	}
	h.m.published.Add(float64(len(envs)))
	w.WriteHeader(http.StatusOK)
}

// fail answers an error and counts the batch (and the records it held) as not stored.
func (h *Handler) fail(w http.ResponseWriter, reason string, records, code int, msg string) {
	h.m.failed.WithLabelValues(reason).Inc()
	h.m.failedRecords.Add(float64(records))
	http.Error(w, msg, code)
}

// publish sends every envelope and waits until the log has acknowledged them all.
func (h *Handler) publish(ctx context.Context, envs []*eventlog.Envelope) error {
	if len(envs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, h.opts.AckTimeout)
	defer cancel()
	futures := make([]jetstream.PubAckFuture, 0, len(envs))
	for _, e := range envs {
		f, err := h.js.PublishMsgAsync(e.Msg())
		if err != nil {
			return err
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return fmt.Errorf("no acknowledgement within %s", h.opts.AckTimeout)
		}
	}
	return nil
}
