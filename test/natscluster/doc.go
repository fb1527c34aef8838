// Package natscluster runs a real NATS JetStream cluster for tests: three (or more)
// nats-server processes on 127.0.0.1, each with its own store directory, client, route and
// monitoring ports, routed to each other, as a clustered JetStream runs in production.
//
// The nats-server binary is built from the Go module proxy at the version go.mod requires
// ([EnsureBinary]), once per machine, into a cache directory keyed by that version
// (${XDG_CACHE_HOME:-$HOME/.cache}/khist/tools/nats-server-vX.Y.Z); several test processes may
// ask at once: one builds under a file lock, the others wait.
//
// [Options] add configuration to every node (Conf: accounts, users and their permissions, with
// Env for the variables it names) and TLS (Options.TLS: clients over TLS, routes over mutual
// TLS), as the NATS Helm chart configures a production cluster.
//
// [Start] returns once every node answers its health check. The faults a test injects are
// whole-process ones: [Node.Kill] (SIGKILL), [Node.Stop] (SIGTERM), and [Node.Start] to run
// the node again on the same ports and store. [Cluster.StreamLeader] names the node that leads
// a stream's replicas and [Cluster.WaitStreamCurrent] waits until every replica has caught
// up. [Cluster.Stop] ends exactly the processes Start started; on Linux they also die with the
// test binary (parent-death signal).
package natscluster
