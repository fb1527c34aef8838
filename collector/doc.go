// Package collector records a Kubernetes cluster into the khist event log: it discovers every
// resource that can be listed and watched (built-in and custom, including those added later),
// lists and watches each at its preferred version, and publishes every object version it sees.
// What discovery returned (kinds, short names, categories, scopes) is recorded too, whenever it
// changes, for khist to resolve kinds as kubectl does against the recorded cluster.
//
// Guarantees: each version is published once (a version the log already holds, found on a
// relist or replayed after a restart, is not sent again), and no change is lost without trace.
// Each watch's progress is recorded (eventlog.Progress) once the versions before it are
// stored, and a collector that starts (a restart, a new leader) resumes each watch from there,
// so that the API server replays the changes made while no collector watched. A watch whose
// resume point, or whose position, the API server's watch history no longer reaches (410
// Gone), or that has no recorded progress, relists, says so and counts what the relist could
// only record as a state (khist_collector_unobserved_changes_total); an object found missing
// on a relist is recorded as eventlog.DeletedUnobserved with its last recorded state. Secret values and
// managedFields' field sets are never recorded, and the memory kept per object is its identity
// and resourceVersion, whatever the object's size. Versions of one resource are published in
// the order the API server sent them; versions of different resources are watched in parallel
// and may interleave in any order.
//
// A Collector is created with New and runs with Start, which blocks until its context ends. When
// the log is slow, publishing blocks (Options.MaxInFlight, MaxInFlightBytes) and the watches wait;
// when it fails, the watches stop, and start again from their last recorded progress once it
// accepts events.
package collector
