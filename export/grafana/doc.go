// Package grafana pushes khist's annotations (rollouts from their start to their end, tagged
// with their outcome, and the spec changes of workloads: query.Views.Annotations) to Grafana's
// annotations HTTP API, where every dashboard of the organization (or one dashboard) shows them.
//
// A push is idempotent: each annotation carries its identity as a tag (khist-rollout:SEQ,
// khist-change:SEQ); a push first reads the khist annotations Grafana has in the window, adds
// those it lacks (POST /api/annotations), updates those that changed since (PATCH
// /api/annotations/ID: a rollout that was in progress has ended) and leaves the rest alone.
package grafana
