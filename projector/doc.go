// Package projector folds khist's event log into bbolt views that answer questions about the
// past: object versions, name lifetimes, workload revisions, rollouts, reconcile steps, pod
// lifecycles, Job runs and CronJob schedules, Service endpoints, time indexes and
// point-in-time snapshots (with each live object's latest version kept whole), each cluster's latest recorded API discovery (Discovery), and who
// made each write request, as the API server's audit webhook reported it (Who joins a version
// to its request when read: the request's record usually follows the version in the log).
//
// It guarantees that every event is applied exactly once, in log order, by deterministic
// folds whose effects commit in the same bbolt transaction as the log position they reach, so
// that the same log always yields the same views and the views can be deleted and rebuilt
// from the log at any time.
//
// A DB is one views file. CatchUp, Run, EnsureCurrent and Rebuild feed it from an
// eventlog.Log (raft's FSM contract: Apply is deterministic, Snapshot captures the file,
// Restore replaces it); its read methods (Versions, VersionAt, Lifetimes, Revisions,
// Rollouts, RolloutSteps, Steps, Pods, JobRuns, JobSteps, CronSpecs, Endpoints, StateAt,
// Timeline, WorkloadHistory, WorkloadWindow, Who ...)
// answer without exposing bbolt. Each view is a fold in its own file, whose comment says what
// it keeps; each event's JSON is decoded once (Object) and handed to every view. A version
// already applied (same uid and resourceVersion, e.g. re-sent by a relist as RESYNC) changes
// nothing. Dump writes the logical contents of the views, for comparing two folds.
//
// Several processes share a views file: bbolt locks it while it is open (exclusively for a
// writer), so Run keeps it open only while it folds a batch, and any fold closes it at least
// every second under load (WithHold); the DB opens it again when next used, and Open waits
// for the lock up to Options.Timeout (10s). Any process may fold the tail of the log
// (CatchUp, EnsureCurrent: ephemeral JetStream consumers), also while another one runs Run
// (a durable consumer, one Run per file): the position committed with the effects makes each
// event apply once, whoever folds it.
//
// A CatchUp of a long backlog (khist import) and a Rebuild end by compacting the file when
// less than three quarters of it is in use (see compact.go); Space tells where its bytes go.
package projector
