// Package auditwebhook tests khist collect --audit-webhook end to end: a real control plane
// (test/cluster) whose API server sends its audit events, under deploy/audit/policy.yaml, to
// the real khist binary over mutual TLS; people edit a Deployment, the webhook goes down and
// comes back, and khist's history and timeline must name each person for their change.
//
// The package has its own cluster because the audit policy is the API server's, one for all
// its audit backends: the e2e package's cluster logs writes at RequestResponse level for the
// audit import, this one at Metadata level, as deploy/ recommends.
package auditwebhook
