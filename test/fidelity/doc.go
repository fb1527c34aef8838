// Package fidelity holds khist's fidelity suite: rollout scenarios played on a real control plane
// (kube-apiserver, kube-controller-manager, kube-scheduler, kwok; see test/cluster), recorded,
// and replayed by the replay engine to measure how often the simulation matches the real
// controllers step for step.
//
// The recordings are kept as fixtures under testdata/ (one gzip'd watch-event stream per
// scenario, in resourceVersion order), so that the projector, query and replay tests run on real
// controller behaviour without a cluster. `go test ./test/fidelity -record` plays every scenario
// again and rewrites them.
//
// The busy suite (BusyScenarios) plays large workloads and the quiet scenarios all at once on
// 40 kwok nodes, so that the controllers work as on a busy cluster (many readiness changes per
// ReplicaSet status write). Each run is kept: testdata/busy/SCENARIO-rN.json.gz, recorded by
// `make fidelity-busy` (go test -run TestLiveBusy -busy -record), never by `make test`;
// TestBusyFixtures checks them offline.
//
// The jobs suite (JobScenarios) plays Jobs (parallel, failing to their backoffLimit, flaky,
// Indexed and suspended, past their activeDeadlineSeconds) and CronJobs (Allow, Forbid,
// Replace, suspended and resumed past startingDeadlineSeconds), each twice, all at once, with
// kwok pods that succeed or fail after a delay (test/cluster's pod-fail stage). Its recordings
// are testdata/jobs/NAMESPACE.json.gz, made by `make fidelity-jobs` (go test -run TestLiveJobs
// -jobs -record); the query package's TestJobFixtures checks what each implies.
package fidelity
