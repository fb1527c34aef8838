// Package soak is the soak benchmark of khist's main job (issue 13, item 5): `khist collect`
// (embedded NATS, in-process projector) run as a child process for a long time on the test
// control plane (test/cluster) under a live load of rolling Deployments, StatefulSets,
// DaemonSets and Services, beside one raw `kubectl get -w --output-watch-events -o json` per
// watched resource as the reference.
//
// TestSoak runs only with -soak (`make bench-soak`). It samples khist every 5 s (RSS, CPU
// seconds, events recorded, bytes of its data directory, and the kubectl watches' CPU), writes
// the samples as CSV and RSS against events recorded as an SVG plot, and checks that every
// object version a kubectl watch saw is in khist's log once collect has stopped.
//
// The pure parts (Sample's CSV, the plot, reading kubectl's watch output, the comparison with
// the log, /proc parsing) are tested without a cluster.
package soak
