// Package e2e holds khist's end-to-end tests: the collector against a real control plane
// (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok; see test/cluster), one
// cluster per test package, started by TestMain.
//
// Its non-test API records scenarios for other suites (the replay fidelity suite): Record and
// StartRecorder run a collector in-process against a running cluster into a temporary log and
// return the log's envelopes once the collector has caught up; WriteWatchFile writes them as a
// kubectl watch-event JSON-lines file (gzip allowed) that `khist import` reads back.
// FaultTransport holds back or breaks the collector's API connections to test recovery.
package e2e
