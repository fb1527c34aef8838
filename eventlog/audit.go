package eventlog

import (
	"encoding/json"
	"fmt"
	"time"
)

// Audited is the event type of an audit record: one write request the API server reported to
// khist's audit webhook (or an imported audit log), on a subject of its own (AuditSubject). It
// names who made a request, not what the object became: the projector joins it to the version
// the request produced (see projector.DB.Who).
const Audited EventType = "AUDIT"

// AuditSubject is the subject of a cluster's audit records: khist.ev.CLUSTER.audit. Object
// filters (Filter) do not match it.
func AuditSubject(cluster string) string {
	return SubjectPrefix + "." + EncodeToken(cluster) + ".audit"
}

// AuditRecord is the body of an Audited envelope: who made one write request, on which object,
// when, and what it answered. It holds no request or response body (a Secret's values are never
// kept): only the resourceVersion and uid read from the response when the audit level carried
// one.
type AuditRecord struct {
	AuditID     string `json:"auditID"`
	Verb        string `json:"verb"` // create, update, patch, delete
	Group       string `json:"group,omitempty"`
	APIVersion  string `json:"apiVersion,omitempty"`
	Resource    string `json:"resource"` // plural, e.g. deployments
	Subresource string `json:"subresource,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	Name        string `json:"name,omitempty"`
	// UID and ResourceVersion are the object's after the request, when the audit event says
	// (a response at level RequestResponse); a Metadata-level event of an update carries the
	// version the client sent, which is not kept.
	UID             string `json:"uid,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
	Code            int    `json:"code,omitempty"` // the response's HTTP status
	// User is who the request acted as (the impersonated user when there was one), Groups
	// theirs, Impersonator the authenticated user who impersonated them ("" when none).
	User         string   `json:"user"`
	Groups       []string `json:"groups,omitempty"`
	Impersonator string   `json:"impersonator,omitempty"`
	UserAgent    string   `json:"userAgent,omitempty"`
	// Manager is the field manager the API server gave the request: its fieldManager
	// parameter, else its user agent up to the first '/'. It is what a version's managedFields
	// name, and how a version is joined to its request when the record has no resourceVersion.
	Manager   string    `json:"manager,omitempty"`
	Received  time.Time `json:"received"`  // requestReceivedTimestamp
	Completed time.Time `json:"completed"` // stageTimestamp of ResponseComplete
}

// Acting is how khist names who made the request (the BY columns, notifications): the user,
// and who impersonated them if anyone did.
func (r *AuditRecord) Acting() string {
	if r.Impersonator != "" {
		return r.User + " (impersonated by " + r.Impersonator + ")"
	}
	return r.User
}

// NewAuditEnvelope returns the envelope that records r for cluster. Its ResourceVersion is the
// audit ID, so that a batch the API server sends again is stored once.
func NewAuditEnvelope(cluster, source string, r *AuditRecord) (*Envelope, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode audit record: %w", err)
	}
	return &Envelope{
		Type:            Audited,
		Cluster:         cluster,
		Group:           r.Group,
		Version:         r.APIVersion,
		Resource:        r.Resource,
		Namespace:       r.Namespace,
		Name:            r.Name,
		UID:             r.UID,
		ResourceVersion: r.AuditID,
		Observed:        r.Completed,
		Source:          source,
		Actor:           r.User,
		Object:          body,
	}, nil
}

// DecodeAudit reads the body of an Audited envelope.
func DecodeAudit(body []byte) (*AuditRecord, error) {
	var r AuditRecord
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%w: audit record: %v", ErrInvalidEnvelope, err)
	}
	if r.AuditID == "" || r.Resource == "" {
		return nil, fmt.Errorf("%w: audit record without an audit ID or a resource", ErrInvalidEnvelope)
	}
	return &r, nil
}
