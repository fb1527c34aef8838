// Package eventlog is khist's source of truth: one NATS JetStream stream in which each message is
// one observed version of one Kubernetes object.
//
// An Envelope is one such version: the object's JSON as the body, and headers that carry what a
// consumer needs without parsing the body (event type, cluster, group/version/kind, namespace,
// name, uid, resourceVersion, observed time, source, actor). Subjects are
// khist.ev.CLUSTER.GROUP.KIND.NAMESPACE.NAME with every token encoded reversibly (EncodeToken), so
// a consumer can filter by cluster, kind and namespace. The collector also records what the
// cluster's API discovery returned (APIDiscovery, event type Discovered) on a subject of its own,
// khist.ev.CLUSTER.discovery, once per distinct content; and who made each write request, as
// the API server's audit webhook reports it (AuditRecord, event type Audited), on
// khist.ev.CLUSTER.audit; and how far each of its watches has come (event type Progress), on
// khist.ev.CLUSTER.progress.KEY, for the next collector to resume from there.
//
// Guarantees: a Publisher returns every failure it could not recover from, never drops an
// envelope silently, and publishes with a message id derived from cluster/uid/resourceVersion/type
// so that JetStream drops duplicates within its window; readers see envelopes in stream order.
// Log opens either an embedded in-process nats-server (the default) or an external JetStream; the
// same code serves both.
//
// The embedded server listens on loopback for other khist processes on the same data directory
// and asks every client for the token in DATA_DIR/nats.token (0600): its port is no more open
// than the files. The process that runs it keeps it running until the others are done with it.
// A store with no room says so (ErrDiskFull: what was not stored, where, how much is free, what
// to do), and reading needs no room; a request the server's permissions refuse fails at once
// with ErrNotPermitted.
package eventlog
