package query

import (
	"context"
	"time"

	"github.com/khist/khist/projector"
)

// Who is the person behind a change: the API server's audit record of the write request that
// made it (khist collect --audit-webhook), joined to the version by projector.DB.Who.
type Who struct {
	User         string   `json:"user"`
	Groups       []string `json:"groups,omitempty"`
	Impersonator string   `json:"impersonator,omitempty"`
	UserAgent    string   `json:"userAgent,omitempty"`
	Manager      string   `json:"manager,omitempty"` // the field manager the request wrote as
	Verb         string   `json:"verb"`
	AuditID      string   `json:"auditID"`
}

// who joins a version of key (resourceVersion rv, when known; observed at at; written by the
// field manager actor; deleted or not) to the audit record of its request. It returns the
// actor to show (the user when a record is found, else actor) and the record.
func (v *Views) who(ctx context.Context, key ObjectKey, rv string, at time.Time, actor string, deleted bool) (string, *Who) {
	if actor == "" && rv == "" && !deleted {
		return actor, nil
	}
	ref := projector.ObjectRef{Cluster: v.Cluster, Group: key.Group, Kind: key.Kind, Namespace: key.Namespace, Name: key.Name}
	r, err := v.DB.Who(ctx, ref, projector.WhoOf{ResourceVersion: rv, At: at, Manager: actor, Deleted: deleted})
	if err != nil || r == nil {
		return actor, nil
	}
	w := &Who{User: r.User, Groups: r.Groups, Impersonator: r.Impersonator, UserAgent: r.UserAgent,
		Manager: r.Manager, Verb: r.Verb, AuditID: r.AuditID}
	return r.Acting(), w
}

// whoOf implements whoSource for BuildTimeline.
func (v *Views) whoOf(ver *Version) (string, *Who) {
	return v.who(context.Background(), ver.ObjectKey, ver.ResourceVersion, ver.Time, ver.Actor, ver.Type == "DELETED")
}
