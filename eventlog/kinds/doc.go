// Package kinds declares, once for all of khist, the built-in Kubernetes kinds (group,
// version, plural, short names, categories, scope), which of them are workloads, and what
// each workload's controller creates (Deployment -> ReplicaSet -> Pod, StatefulSet -> Pod,
// PersistentVolumeClaim and ControllerRevision, DaemonSet -> Pod and ControllerRevision,
// Job -> Pod, CronJob -> Job).
//
// The projector, query, replay and the CLI read these declarations instead of writing kind
// lists of their own. The built-in kinds stand in for API discovery only where the log holds
// none (kubectl watch files): a recording made by the collector carries the cluster's own
// discovery (eventlog.APIDiscovery), CRDs included. Everything here is read-only.
package kinds
