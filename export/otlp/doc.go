// Package otlp sends finished rollouts as OpenTelemetry traces to an OTLP/HTTP receiver (an
// OpenTelemetry Collector, Jaeger, Tempo, ...): each rollout is a trace whose root span runs
// from its start to its end, with one child span per reconcile step and its pods' readiness
// changes as events, built with the OpenTelemetry Go SDK from the query package's answers
// (query.Views.RolloutDetails: the rows of khist rollouts and khist steps).
//
// Trace and span IDs are derived from the rollout's identity (cluster, workload uid, the log
// sequence it started at) and the steps' sequences, so that exporting a rollout again sends
// the same trace, not a second one. Export sends synchronously and returns the receiver's
// error; Follow, beside a fold, sends each rollout once as it ends and keeps its position in a
// state file, so that a restart neither skips nor repeats one.
package otlp
