package otlp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/khist/khist/query"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// ErrBadOptions is returned by New for options it cannot work with.
var ErrBadOptions = errors.New("otlp")

// Options configure an Exporter. Every field says its default.
type Options struct {
	// Endpoint is the receiver's OTLP/HTTP address, HOST:PORT (e.g. localhost:4318); required.
	Endpoint string
	// Insecure sends over plain HTTP. Default false: HTTPS.
	Insecure bool
	// ServiceName is the traces' service.name. Default "khist".
	ServiceName string
	// Timeout bounds each send, retries included. Default 30s.
	Timeout time.Duration
	// Cluster is the recorded cluster, the resource's k8s.cluster.name. Default none.
	Cluster string
}

// Check returns a one-line error for options New cannot work with.
func Check(o Options) error {
	host, port, err := net.SplitHostPort(o.Endpoint)
	if o.Endpoint == "" || err != nil || host == "" || port == "" || strings.Contains(o.Endpoint, "/") {
		return fmt.Errorf("%w: endpoint %q: give the OTLP/HTTP receiver as HOST:PORT (e.g. localhost:4318)", ErrBadOptions, o.Endpoint)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return fmt.Errorf("%w: endpoint %q: the port is not a number from 1 to 65535", ErrBadOptions, o.Endpoint)
	}
	return nil
}

// Exporter turns rollouts into traces and sends them.
type Exporter struct {
	exp    sdktrace.SpanExporter
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
	ended  *collected
}

// Stats count what an Export sent.
type Stats struct {
	Traces, Spans, Events int
}

// New returns an Exporter to the receiver. Nothing is sent until Export.
func New(ctx context.Context, o Options) (*Exporter, error) {
	if err := Check(o); err != nil {
		return nil, err
	}
	if o.ServiceName == "" {
		o.ServiceName = "khist"
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(o.Endpoint), otlptracehttp.WithTimeout(o.Timeout),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: true, InitialInterval: 500 * time.Millisecond, MaxInterval: 5 * time.Second, MaxElapsedTime: o.Timeout})}
	if o.Insecure {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadOptions, err)
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", o.ServiceName)}
	if o.Cluster != "" {
		attrs = append(attrs, attribute.String("k8s.cluster.name", o.Cluster))
	}
	res := resource.NewWithAttributes("", attrs...)
	ended := &collected{}
	// Spans are collected as they end and sent by Export itself (not by a batching processor
	// in the background), so that Export returns the receiver's answer.
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithIDGenerator(fixedIDs{}),
		sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(ended),
		sdktrace.WithSpanLimits(sdktrace.SpanLimits{AttributeValueLengthLimit: -1, AttributeCountLimit: 128, EventCountLimit: 100000,
			LinkCountLimit: 128, AttributePerEventCountLimit: 128, AttributePerLinkCountLimit: 128}))
	return &Exporter{exp: exp, tp: tp, tracer: tp.Tracer("github.com/khist/khist/export/otlp"), ended: ended}, nil
}

// Close releases the exporter's connections.
func (e *Exporter) Close(ctx context.Context) error {
	e.tp.Shutdown(ctx)
	return e.exp.Shutdown(ctx)
}

// Export sends the rollouts, one trace each, and returns when the receiver has accepted them
// (or with its error). Rollouts sent again keep their trace and span IDs.
func (e *Exporter) Export(ctx context.Context, ds []query.RolloutDetail) (Stats, error) {
	var st Stats
	for i := range ds {
		n := e.record(ctx, &ds[i])
		st.Traces++
		st.Events += n
	}
	spans := e.ended.take()
	st.Spans = len(spans)
	if len(spans) == 0 {
		return st, nil
	}
	// Send in batches of a bounded size: a receiver limits the size of a request.
	const batch = 512
	for len(spans) > 0 {
		n := min(batch, len(spans))
		if err := e.exp.ExportSpans(ctx, spans[:n]); err != nil {
			return st, fmt.Errorf("sending traces to the OTLP receiver: %w", err)
		}
		spans = spans[n:]
	}
	return st, nil
}

// Trace IDs, as the receiver shows them.

// TraceID is the trace ID of a rollout: derived from its cluster, its workload's uid and the
// log sequence it started at.
func TraceID(d *query.RolloutDetail) trace.TraceID {
	var id trace.TraceID
	h := sha256.Sum256([]byte(fmt.Sprintf("khist rollout\x00%s\x00%s\x00%s\x00%s\x00%s\x00%d", d.Cluster, d.Rollout.Workload.Namespace,
		d.Rollout.Workload.Kind, d.Rollout.Workload.Name, d.UID, d.Rollout.ID)))
	copy(id[:], h[:16])
	return id
}

// spanID derives a span's ID from its trace and a name unique in it.
func spanID(t trace.TraceID, name string) trace.SpanID {
	var id trace.SpanID
	h := sha256.Sum256(append(t[:], name...))
	copy(id[:], h[:8])
	if !id.IsValid() { // all zeros: not a valid ID
		id[7] = 1
	}
	return id
}

// record makes a rollout's spans; it returns the number of events.
func (e *Exporter) record(ctx context.Context, d *query.RolloutDetail) int {
	r := &d.Rollout
	tid := TraceID(d)
	workload := strings.ToLower(r.Workload.Kind) + "/" + r.Workload.Name
	common := []attribute.KeyValue{
		attribute.String("k8s.namespace.name", r.Workload.Namespace),
		attribute.String("k8s."+strings.ToLower(r.Workload.Kind)+".name", r.Workload.Name),
		attribute.String("khist.workload", workload),
		attribute.String("khist.rollout", r.Ref),
		attribute.Int64("khist.revision", r.ToRevision),
		attribute.StringSlice("khist.images", r.ToImages),
		attribute.String("khist.outcome", r.Outcome),
	}
	if r.Actor != "" {
		common = append(common, attribute.String("khist.actor", r.Actor))
	}
	attrs := append(append([]attribute.KeyValue{}, common...),
		attribute.String("k8s."+strings.ToLower(r.Workload.Kind)+".uid", d.UID),
		attribute.Int64("khist.rollout.id", int64(r.ID)),
		attribute.Int64("khist.revision.from", r.FromRevision),
		attribute.String("khist.revision.hash", r.ToHash),
		attribute.StringSlice("khist.images.from", r.FromImages),
		attribute.Int("khist.replicas.desired", int(r.Desired)),
		attribute.Int("khist.available.min", int(r.MinAvailable)),
		attribute.Float64("khist.available.min_share", r.MinShare),
		attribute.Int("khist.pods.peak", int(r.PeakPods)),
		attribute.Int("khist.steps", r.Steps),
		attribute.Bool("khist.rollback", r.Rollback),
		attribute.Bool("khist.initial", r.Initial),
	)
	if r.ChangeCause != "" {
		attrs = append(attrs, attribute.String("khist.change_cause", r.ChangeCause))
	}
	if r.Strategy != "" {
		attrs = append(attrs, attribute.String("khist.strategy", r.Strategy))
	}
	rootCtx := context.WithValue(ctx, idKey{}, ids{tid, spanID(tid, "rollout")})
	rootCtx, root := e.tracer.Start(rootCtx, "rollout "+workload, trace.WithNewRoot(), trace.WithTimestamp(r.Started),
		trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
	if strings.Contains(r.Outcome, "failed") || strings.Contains(r.Outcome, "rolled back") {
		root.SetStatus(codes.Error, r.Outcome)
	}
	for _, p := range d.Pods {
		name := "pod ready"
		if !p.Ready {
			name = "pod not ready"
		}
		ea := []attribute.KeyValue{attribute.String("k8s.pod.name", p.Pod), attribute.Int64("khist.seq", int64(p.Seq))}
		if p.Revision != "" {
			ea = append(ea, attribute.String("khist.revision.hash", p.Revision))
		}
		if p.Node != "" {
			ea = append(ea, attribute.String("k8s.node.name", p.Node))
		}
		if p.Ready && !p.Created.IsZero() {
			ea = append(ea, attribute.Float64("khist.pod.ready_after_seconds", p.At.Sub(p.Created).Seconds()))
		}
		root.AddEvent(name, trace.WithTimestamp(p.At), trace.WithAttributes(ea...))
	}
	for i, s := range d.Steps {
		// A step is an instant; its span lasts until the next step (the last: to the
		// rollout's end), the time the controller waited before acting again.
		end := r.Ended
		if i+1 < len(d.Steps) {
			end = d.Steps[i+1].Time
		}

		sa := append(append([]attribute.KeyValue{}, common...),
			attribute.String("khist.step.action", s.Action),
			attribute.String("khist.step.text", s.Text),
			attribute.String("khist.step.target", s.Target),
			attribute.Int64("khist.seq", int64(s.Seq)))
		if s.Event != "" {
			sa = append(sa, attribute.String("khist.step.event", s.Event))
		}
		if s.From != nil {
			sa = append(sa, attribute.Int("khist.replicas.from", int(*s.From)))
		}
		if s.To != nil {
			sa = append(sa, attribute.Int("khist.replicas.to", int(*s.To)))
		}
		if s.Revision != "" {
			sa = append(sa, attribute.String("khist.step.revision.hash", s.Revision))
		}
		if s.Node != "" {
			sa = append(sa, attribute.String("k8s.node.name", s.Node))
		}
		sctx := context.WithValue(rootCtx, idKey{}, ids{tid, spanID(tid, "step/"+strconv.FormatUint(s.Seq, 10))})
		_, span := e.tracer.Start(sctx, s.Action, trace.WithTimestamp(s.Time), trace.WithAttributes(sa...))
		span.End(trace.WithTimestamp(endAt(s.Time, end)))
	}
	root.End(trace.WithTimestamp(endAt(r.Started, r.Ended)))
	return len(d.Pods)
}

// endAt is the end of a span from start to end: at least a microsecond after its start (the
// resolution of Jaeger and Zipkin), since receivers flag spans that end when they start, and
// then a span sent twice no longer looks the same twice.
func endAt(start, end time.Time) time.Time {
	if end.Before(start.Add(time.Microsecond)) {
		return start.Add(time.Microsecond)
	}
	return end
}

// idKey carries the IDs the next span takes.
type idKey struct{}

type ids struct {
	trace trace.TraceID
	span  trace.SpanID
}

// fixedIDs gives each span the IDs its context carries (random ones, for a span started
// without: none is).
type fixedIDs struct{}

func (fixedIDs) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if x, ok := ctx.Value(idKey{}).(ids); ok {
		return x.trace, x.span
	}
	var t trace.TraceID
	var s trace.SpanID
	rand.Read(t[:])
	binary.BigEndian.PutUint64(s[:], binary.BigEndian.Uint64(t[8:])|1)
	return t, s
}

func (g fixedIDs) NewSpanID(ctx context.Context, _ trace.TraceID) trace.SpanID {
	_, s := g.NewIDs(ctx)
	return s
}

// collected is a span processor that keeps the spans that ended, for Export to send.
type collected struct {
	mu    sync.Mutex
	spans []sdktrace.ReadOnlySpan
}

func (c *collected) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (c *collected) OnEnd(s sdktrace.ReadOnlySpan) {
	c.mu.Lock()
	c.spans = append(c.spans, s)
	c.mu.Unlock()
}
func (c *collected) Shutdown(context.Context) error   { return nil }
func (c *collected) ForceFlush(context.Context) error { return nil }

func (c *collected) take() []sdktrace.ReadOnlySpan {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.spans
	c.spans = nil
	return s
}
