// Package cluster runs khist's real test control plane: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok (fake nodes and simulated
// pod lifecycles), all built from source and listening on 127.0.0.1 only.
//
// The control plane is the ground truth that khist records and replays, so it
// runs the unmodified upstream controllers: a rolling update here produces the
// same ReplicaSet scaling steps and Events as in a production cluster. Only the
// kubelet is simulated, by kwok, whose pod stages take the timing of each pod
// (create, ready, delete) from annotations on the pod; see [PodTiming].
//
// [EnsureBinaries] builds the binaries once per machine into a cache directory
// keyed by the component versions (7 to 15 minutes cold, with the Go module
// proxy; seconds once cached). It is safe to call from several test processes
// at once: one builds, the others wait for it.
//
// [Start] starts one [Cluster] on free ports, so several can run side by side,
// and returns only when the API server is ready, the default ServiceAccount
// exists and every fake Node is Ready. [Cluster.Stop] ends exactly the
// processes that Start started. [RunMain] wraps both for a TestMain:
// one cluster per test package, torn down after its tests.
//
// Processes are started with a parent-death signal (Linux), so a test binary
// that is killed (a go test -timeout, a Ctrl-C) takes its cluster with it.
package cluster
