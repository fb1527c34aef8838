package importer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"unicode"

	"github.com/khist/khist/eventlog"
)

// AuditRecords reads one body of an audit webhook request (an audit.k8s.io/v1 EventList, or a
// single Event) and returns an Audited envelope (eventlog.AuditRecord) for each write request
// it reports, whatever its level: Metadata says who. Events that report no write are counted in
// rejected by reason, with the same reasons as ReadAudit (other stages, reads, failed and dry-run
// requests, requests on no object). Request and response bodies are not kept: from a response
// object only its resourceVersion and uid are read. A body that is not audit JSON is an error.
func AuditRecords(cluster, source string, body []byte) (envs []*eventlog.Envelope, rejected map[string]int, err error) {
	var list struct {
		Kind       string       `json:"kind"`
		APIVersion string       `json:"apiVersion"`
		Items      []auditEvent `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if !strings.HasPrefix(list.APIVersion, "audit.k8s.io/") {
		return nil, nil, fmt.Errorf("expected an audit.k8s.io/v1 EventList, found apiVersion %q kind %q", list.APIVersion, list.Kind)
	}
	switch list.Kind {
	case "EventList":
	case "Event":
		var ev auditEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			return nil, nil, fmt.Errorf("invalid JSON: %v", err)
		}
		list.Items = []auditEvent{ev}
	default:
		return nil, nil, fmt.Errorf("expected an audit EventList or Event, found kind %q", list.Kind)
	}
	rejected = map[string]int{}
	for i := range list.Items {
		ev := &list.Items[i]
		if reason := auditWrite(ev); reason != "" {
			rejected[reason]++
			continue
		}
		if ev.AuditID == "" {
			rejected["audit: event without an auditID"]++
			continue
		}
		e, err := eventlog.NewAuditEnvelope(cluster, source, auditRecord(ev))
		if err != nil {
			return nil, nil, err
		}
		envs = append(envs, e)
	}
	return envs, rejected, nil
}

// auditRecord keeps of a write request's audit event who made it, on what, and when.
func auditRecord(ev *auditEvent) *eventlog.AuditRecord {
	ref := ev.ObjectRef
	r := &eventlog.AuditRecord{
		AuditID: ev.AuditID, Verb: ev.Verb,
		Group: ref.APIGroup, APIVersion: ref.APIVersion, Resource: ref.Resource, Subresource: ref.Subresource,
		Namespace: ref.Namespace, Name: ref.Name, UID: ref.UID,
		User: ev.User.Username, Groups: ev.User.Groups, UserAgent: ev.UserAgent,
		Manager:  fieldManager(ev.RequestURI, ev.UserAgent),
		Received: ev.RequestReceivedTimestamp.UTC(), Completed: ev.StageTimestamp.UTC(),
	}
	if ev.Impersonated != nil && ev.Impersonated.Username != "" {
		r.User, r.Groups, r.Impersonator = ev.Impersonated.Username, ev.Impersonated.Groups, ev.User.Username
	}
	if ev.ResponseStatus != nil {
		r.Code = ev.ResponseStatus.Code
	}
	// At level RequestResponse the response is the object as stored (or its Scale, which
	// carries the object's resourceVersion): its identity joins the record to the version.
	if obj := bytes.TrimSpace(ev.ResponseObject); len(obj) > 0 && obj[0] == '{' {
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				UID             string `json:"uid"`
				ResourceVersion string `json:"resourceVersion"`
			} `json:"metadata"`
		}
		if json.Unmarshal(obj, &head) == nil && head.Kind != "Status" {
			r.ResourceVersion = head.Metadata.ResourceVersion
			if head.Kind != "Scale" && head.Metadata.UID != "" {
				r.UID = head.Metadata.UID
			}
		}
	}
	return r
}

// fieldManager is the field manager the API server records for a request: its fieldManager
// parameter, else its user agent up to the first '/', printable characters only, at most 128
// bytes (as k8s.io/apiserver's prefixFromUserAgent).
func fieldManager(requestURI, userAgent string) string {
	if _, q, ok := strings.Cut(requestURI, "?"); ok {
		if v, err := url.ParseQuery(q); err == nil && v.Get("fieldManager") != "" {
			return v.Get("fieldManager")
		}
	}
	m, _, _ := strings.Cut(userAgent, "/")
	var b strings.Builder
	for _, c := range m {
		if !unicode.IsPrint(c) {
			continue
		}
		if b.Len() >= 128 {
			break
		}
		b.WriteRune(c)
	}
	return b.String()
}
