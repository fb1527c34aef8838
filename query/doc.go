// Package query is khist's read side: it answers users' questions (rollout audits, revision
// histories, reconcile steps, objects at a time, diffs, the state of a namespace, timelines)
// from the projector's views, in kubectl's language: KIND/NAME with short names and plurals,
// -n and -A, -o, and times as RFC 3339, local date-times, durations ago ("2h") or "now".
//
// Views is the entry point: one method per command (Get, Diff, State, Timeline, History,
// Rollouts, Steps, ReplayCompare, ReplayWhatIf, ReplayAll), each taking the command's arguments
// as the user typed them (an *Args struct) and writing its answer to an io.Writer. The
// cmd/khist commands only fill the struct from flags, and khist serve's API (package
// query/web) from query parameters: both answer through the same method. The pieces are usable on their own: ParseTime, ParseKindName and ResolveKind read
// arguments; BuildTimeline groups changes by workload (Deployment -> ReplicaSets -> Pods,
// StatefulSet -> Pods -> PVCs, Service -> Endpoints) over any TimelineSource; Describe says
// what a version changed; DiffObjects diffs two versions as YAML without Noise; TimelineHTML
// renders a self-contained page (scripts, styles and data inline; no network).
//
// Guarantees: it never reads the raw log and never writes the views; every answer is a
// function of the views, the arguments and Env (the clock and zone). Every error caused by an
// argument is one line that says what to do, and wraps one of the sentinels of errors.go
// (ErrUnknownKind, ErrBadArgument, ErrBadTime, ErrNotFound with the nearest names that exist,
// ErrOutOfRange with the recorded range), so that callers can tell them apart.
package query
