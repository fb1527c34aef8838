// Package replay re-runs the Deployment, ReplicaSet, StatefulSet, DaemonSet and Job controllers'
// algorithms, re-implemented from upstream, in a discrete-event simulation of a recorded
// rollout, to compare the steps they take with the recorded ones (Compare, and CompareAll over
// many workloads) and to answer what a rollout would have done with other settings (WhatIf).
//
// A CronJob's controller decides when Jobs start, not what pods run: CompareCronJob replays its
// schedule decisions over the recorded window (concurrencyPolicy, startingDeadlineSeconds,
// suspend, time zones, history limits) with the recorded Jobs' durations as the environment,
// in a small simulation of its own. It is registered like the others, as a standaloneKind:
// CompareReport, WhatIfReport, CheckWhatIf and CompareAll take any registered kind.
//
// Each workload kind is one workloadKind (controller.go): how its objects parse, which
// controllers its simulation runs and what wakes them, what its steps look like and which of
// its fields a what-if may change. The kinds are registered in one place,
// registerBuiltinKinds; adding a controller is one file and one line there.
//
// The simulation is deterministic: there is no sleeping and no goroutine, time is a virtual
// clock, and the same history and options always give the same steps, availability and
// completion time. CompareAll replays workloads on several goroutines; its result does not
// depend on how many.
//
// A history is a []Version in log order (LoadWatchFiles reads kubectl watch output into
// one; khist reads one from the projector's views). ExtractScenario turns it into a Scenario:
// the spec changes people made, the rollouts they started with the steps the controller was
// recorded taking, and the environment — how long each pod of each revision took to become
// Ready, which never did, when nodes came and went. Simulate replays one rollout of a Scenario
// against a simulated API store.
//
// Observed times are often estimates from timestamps of one-second resolution (watch files,
// imports). Extraction bounds them by what the history proves (see ExtractScenario), and the
// as-recorded environment makes pods Ready and go away at the instants the controllers could
// tell apart, as their own writes show (see EnvAsRecorded); a pod whose removal the history
// never saw is still there at its end.
package replay
