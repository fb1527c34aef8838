// Package fleet tests khist as a fleet runs it: `khist collect` recording the project's real
// control plane (test/cluster) into a three-node NATS JetStream cluster of separate nats-server
// processes (test/natscluster) with a three-replica stream, while the NATS nodes are killed,
// stopped and restarted; two collectors under leader election, the leader killed; and reader
// processes on their own views, against the same stream.
//
// TestFleetPermissions runs the NATS users of deploy/fleet/nats-values.yaml (the Helm chart's
// config.merge, as it is) on a three-node cluster over TLS: each collector publishes its own
// cluster's events only, readers only read, and only khist-admin creates or changes the stream.
//
// Each fault test compares the log with the test's own watch of the same resources: every
// version the API server served must be in the log exactly once. The figures the tests log
// (versions lost, duplicates, catch-up and failover times) are the ones in BENCHMARKS.md.
package fleet
