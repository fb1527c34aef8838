// Package load holds the manifests of the workloads that khist's live suites play on the test
// control plane (test/cluster): Deployments, StatefulSets, DaemonSets, Services and kwok Nodes,
// each pod template carrying kwok stage annotations that give its pods readiness delays with
// jitter. The fidelity suite's scenarios (test/fidelity) and the soak benchmark (test/soak) are
// built from them, so that both load the controllers the same way.
//
// Every function returns YAML for `kubectl apply -f -`, without a namespace (kubectl's -n
// gives it).
package load
