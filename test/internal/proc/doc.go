// Package proc starts the test harnesses' child processes (the control plane's components in
// test/cluster, the nats-server nodes in test/natscluster) so that they die with the test
// binary, and serialises the builds of their binaries across test processes with a file
// lock.
package proc
