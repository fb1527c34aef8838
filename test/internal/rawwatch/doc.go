// Package rawwatch is the end-to-end tests' own watch of the Pods and ReplicaSets of a
// namespace, started before anything happens in it: the ground truth that khist's log is
// compared with (every version it saw, when it saw it, and a ReplicaSet's replicas).
package rawwatch
