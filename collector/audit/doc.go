// Package audit is khist's audit webhook: an HTTPS endpoint that receives the audit.k8s.io/v1
// EventList batches kube-apiserver sends to an --audit-webhook-config-file backend, and appends
// who made each write request to the event log (eventlog.AuditRecord, on its own subject,
// eventlog.AuditSubject), for the projector to name the user behind each recorded version.
//
// Guarantees: a batch is answered 200 only once every record it holds is acknowledged by the
// log; otherwise the answer is an error and the API server sends the batch again (records carry
// the audit ID as their message id, so a batch sent twice is stored once). No request or
// response body is kept, a Secret's least of all: a record holds the user, their groups, the
// impersonator, the user agent, the verb, the object and, when the audit level carried a
// response, its resourceVersion. A Server runs with Start, which blocks until its context ends.
package audit
