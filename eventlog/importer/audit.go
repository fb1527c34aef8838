package importer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/khist/khist/eventlog"
)

// ReadAudit reads Kubernetes audit logs: audit.k8s.io/v1 Events, one JSON object per line, as
// kube-apiserver --audit-log-format=json writes them (EventLists, as an audit webhook receives
// them, are read too). Each event at level RequestResponse, stage ResponseComplete, whose
// response is the changed object becomes a version in the log: ADDED for a create (or an update
// or patch that created the object), MODIFIED for an update or patch, DELETED for a delete whose
// response is the deleted object (a delete that only marks the object, because of finalizers or a
// grace period, is a MODIFIED). The actor is the audit event's user.username and the observed
// time its stageTimestamp.
//
// Events that record no change are left out and counted in Result.Rejected by reason: other
// stages, read-only verbs (get, list, watch), failed and dry-run requests, requests without an
// object, responses that are not the object (a Status, a Scale, a list), events below the
// RequestResponse level (no response object), and a version already read (a no-op update
// returns the object unchanged). Objects are sanitized (eventlog.Sanitize): no Secret value is
// kept. Envelopes are merged across files in resourceVersion order, as ReadWatch does.
func ReadAudit(cluster string, inputs ...Input) (*Result, error) {
	return readAll(FormatAudit, cluster, inputs)
}

// auditEvent is the part of an audit.k8s.io/v1 Event (or EventList) the importer and the audit
// webhook read.
type auditEvent struct {
	Kind         string     `json:"kind"`
	APIVersion   string     `json:"apiVersion"`
	Level        string     `json:"level"`
	AuditID      string     `json:"auditID"`
	Stage        string     `json:"stage"`
	RequestURI   string     `json:"requestURI"`
	Verb         string     `json:"verb"`
	User         auditUser  `json:"user"`
	Impersonated *auditUser `json:"impersonatedUser"`
	UserAgent    string     `json:"userAgent"`
	ObjectRef    *struct {
		Resource        string `json:"resource"`
		Namespace       string `json:"namespace"`
		Name            string `json:"name"`
		UID             string `json:"uid"`
		APIGroup        string `json:"apiGroup"`
		APIVersion      string `json:"apiVersion"`
		ResourceVersion string `json:"resourceVersion"`
		Subresource     string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	ResponseObject           json.RawMessage   `json:"responseObject"`
	RequestReceivedTimestamp time.Time         `json:"requestReceivedTimestamp"`
	StageTimestamp           time.Time         `json:"stageTimestamp"`
	Items                    []json.RawMessage `json:"items"`
}

type auditUser struct {
	Username string   `json:"username"`
	Groups   []string `json:"groups"`
}

// Reasons for leaving an audit event out, as counted in Result.Rejected.
const (
	rejectStage       = "audit: stage other than ResponseComplete (only it carries the response)"
	rejectReadOnly    = "audit: read-only request (get, list, watch)"
	rejectNoObject    = "audit: request without an object (non-resource URL)"
	rejectDryRun      = "audit: dry-run request (nothing was stored)"
	rejectFailed      = "audit: failed request (response code not 2xx)"
	rejectNoResponse  = "audit: no response object (audit level below RequestResponse)"
	rejectStatus      = "audit: response is a Status, not the object"
	rejectScale       = "audit: scale subresource (the response is a Scale; the object's own update records the change)"
	rejectCollection  = "audit: deletecollection (the response is a list; its deletions are not recorded)"
	rejectNoKind      = "audit: response object without apiVersion and kind"
	rejectSameVersion = "audit: version already read (a no-op update returns the object unchanged)"
	rejectNotAnObject = "audit: response is not a JSON object"
)

func parseAuditValue(p *parser, val []byte) error {
	var ev auditEvent
	if err := json.Unmarshal(val, &ev); err != nil {
		return p.errorf("invalid JSON: %v", err)
	}
	if !strings.HasPrefix(ev.APIVersion, "audit.k8s.io/") {
		return p.errorf("expected an audit.k8s.io/v1 Event, found apiVersion %q kind %q (is this a kubectl watch file? use --format watch)", ev.APIVersion, ev.Kind)
	}
	events := []auditEvent{ev}
	switch ev.Kind {
	case "Event":
	case "EventList":
		events = events[:0]
		for i, raw := range ev.Items {
			var item auditEvent
			if err := json.Unmarshal(raw, &item); err != nil {
				return p.errorf("EventList item %d: %v", i, err)
			}
			events = append(events, item)
		}
	default:
		return p.errorf("expected an audit Event or EventList, found kind %q", ev.Kind)
	}
	for i := range events {
		e, reason, err := auditEnvelope(p.cluster, p.source, &events[i])
		if err != nil {
			return p.errorf("%v", err)
		}
		if e == nil {
			p.res.reject(reason)
			continue
		}
		if err := p.emit(e); err != nil {
			return err
		}
	}
	return nil
}

// auditWrite returns "" when ev reports a write request that may have changed an object: a
// completed, successful, not dry-run request with a verb that writes, on an object. Otherwise it
// returns why not (a reason counted in Result.Rejected).
func auditWrite(ev *auditEvent) string {
	switch {
	case ev.Stage != "ResponseComplete":
		return rejectStage
	case ev.Verb == "get" || ev.Verb == "list" || ev.Verb == "watch":
		return rejectReadOnly
	case ev.ObjectRef == nil || ev.ObjectRef.Resource == "":
		return rejectNoObject
	case strings.Contains(ev.RequestURI, "dryRun="):
		return rejectDryRun
	case ev.ResponseStatus != nil && ev.ResponseStatus.Code != 0 && (ev.ResponseStatus.Code < 200 || ev.ResponseStatus.Code > 299):
		return rejectFailed
	}
	return ""
}

// auditEnvelope returns the envelope of one audit event, or nil and the reason it records no
// change.
func auditEnvelope(cluster, source string, ev *auditEvent) (*eventlog.Envelope, string, error) {
	if reason := auditWrite(ev); reason != "" {
		return nil, reason, nil
	}
	if ev.Verb == "deletecollection" {
		return nil, rejectCollection, nil
	}
	obj := bytes.TrimSpace(ev.ResponseObject)
	if len(obj) == 0 || string(obj) == "null" {
		return nil, rejectNoResponse, nil
	}
	if obj[0] != '{' {
		return nil, rejectNotAnObject, nil
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Finalizers                 []string `json:"finalizers"`
			DeletionGracePeriodSeconds *int64   `json:"deletionGracePeriodSeconds"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(obj, &head); err != nil {
		return nil, "", fmt.Errorf("responseObject: %v", err)
	}
	switch {
	case head.Kind == "Status":
		return nil, rejectStatus, nil
	case head.Kind == "Scale":
		return nil, rejectScale, nil
	case head.Kind == "" || head.APIVersion == "":
		return nil, rejectNoKind, nil
	}
	code := 0
	if ev.ResponseStatus != nil {
		code = ev.ResponseStatus.Code
	}
	var t eventlog.EventType
	switch ev.Verb {
	case "create":
		t = eventlog.Added
	case "update", "patch", "apply":
		t = eventlog.Modified
		if code == 201 {
			t = eventlog.Added // created by the update or (server-side apply) patch
		}
	case "delete":
		t = eventlog.Deleted
		md := head.Metadata
		if len(md.Finalizers) > 0 || md.DeletionGracePeriodSeconds != nil && *md.DeletionGracePeriodSeconds > 0 {
			t = eventlog.Modified // marked for deletion; it still exists
		}
	default:
		t = eventlog.Modified // other verbs that answer with the changed object
	}
	e, reason, err := envelope(cluster, source, t, obj)
	if err != nil || e == nil {
		return nil, "audit: " + reason, err
	}
	e.Resource = ev.ObjectRef.Resource
	e.Actor = ev.User.Username
	if !ev.StageTimestamp.IsZero() {
		e.Observed = ev.StageTimestamp.UTC()
	}
	return e, "", nil
}
