// Package query is khist's read side: it answers users' questions (rollout audits, objects at a
// time, diffs, the state of a namespace, timelines) from the projector's views, in kubectl's
// language (KIND/NAME with short names, -n, -A, times as RFC 3339, local date-times, durations ago
// or now).
//
// It never reads the raw log and never writes: every answer is a function of the views.
package query
