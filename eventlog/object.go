package eventlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Meta is the part of an object's JSON that is read without knowing its kind, in one decode:
// its identity, for the log (producers make envelopes of it), and the metadata replay reads
// of every object (owners, labels, annotations, who wrote it). The projector has its own
// decoder, which reads these fields with each kind's (see projector.Object).
type Meta struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   ObjectMeta `json:"metadata"`
}

// ObjectMeta is the metadata of an object, as far as khist reads it.
type ObjectMeta struct {
	Namespace         string     `json:"namespace"`
	Name              string     `json:"name"`
	UID               string     `json:"uid"`
	ResourceVersion   string     `json:"resourceVersion"`
	Generation        int64      `json:"generation"`
	CreationTimestamp *time.Time `json:"creationTimestamp"`
	DeletionTimestamp *time.Time `json:"deletionTimestamp"`
	// DeletionGracePeriodSeconds: deletionTimestamp is the deletion request's time plus this.
	DeletionGracePeriodSeconds *int64            `json:"deletionGracePeriodSeconds"`
	Labels                     map[string]string `json:"labels"`
	Annotations                map[string]string `json:"annotations"`
	OwnerReferences            []OwnerReference  `json:"ownerReferences"`
	ManagedFields              []ManagedField    `json:"managedFields"`
}

// OwnerReference is one entry of metadata.ownerReferences.
type OwnerReference struct {
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	UID        string `json:"uid"`
	Controller *bool  `json:"controller"`
}

// ManagedField is one entry of metadata.managedFields without its field set.
type ManagedField struct {
	Manager     string     `json:"manager"`
	Operation   string     `json:"operation"`
	Time        *time.Time `json:"time"`
	Subresource string     `json:"subresource"`
}

// ParseMeta reads the identity of an object from its JSON.
func ParseMeta(obj []byte) (Meta, error) {
	var m Meta
	if err := json.Unmarshal(obj, &m); err != nil {
		return m, err
	}
	return m, nil
}

// ControllerOf returns the kind, name and uid of the object's controlling owner, or "".
func (m *Meta) ControllerOf() (kind, name, uid string) {
	for _, o := range m.Metadata.OwnerReferences {
		if o.Controller != nil && *o.Controller {
			return o.Kind, o.Name, o.UID
		}
	}
	return "", "", ""
}

// GroupVersion splits apiVersion into group and version.
func (m *Meta) GroupVersion() (group, version string) {
	if g, v, ok := strings.Cut(m.APIVersion, "/"); ok {
		return g, v
	}
	return "", m.APIVersion
}

// Actor is the field manager of the most recent change recorded in managedFields (the last
// entry with the latest time), or "".
func (m *Meta) Actor() string {
	var best *ManagedField
	for i := range m.Metadata.ManagedFields {
		f := &m.Metadata.ManagedFields[i]
		if best == nil || f.Time != nil && (best.Time == nil || !f.Time.Before(*best.Time)) {
			best = f
		}
	}
	if best == nil {
		return ""
	}
	return best.Manager
}

// DeletionRequested is when deletion of the object was asked for: its deletionTimestamp less
// the grace period (deletionTimestamp is when the grace period ends). Zero when not deleting.
func (m *Meta) DeletionRequested() time.Time {
	d := m.Metadata.DeletionTimestamp
	if d == nil {
		return time.Time{}
	}
	t := *d
	if g := m.Metadata.DeletionGracePeriodSeconds; g != nil {
		t = t.Add(-time.Duration(*g) * time.Second)
	}
	return t
}

// Envelope returns an envelope of type t for the object described by m and its JSON obj.
func (m *Meta) Envelope(t EventType, cluster string, obj []byte) *Envelope {
	g, v := m.GroupVersion()
	return &Envelope{
		Type:            t,
		Cluster:         cluster,
		Group:           g,
		Version:         v,
		Kind:            m.Kind,
		Namespace:       m.Metadata.Namespace,
		Name:            m.Metadata.Name,
		UID:             m.Metadata.UID,
		ResourceVersion: m.Metadata.ResourceVersion,
		Actor:           m.Actor(),
		Object:          obj,
	}
}

// secretValueFields are the fields of a Secret that hold values; Sanitize keeps their keys only.
var secretValueFields = []string{"data", "stringData"}

// lastApplied is the annotation in which kubectl apply keeps the whole object, values included.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// Sanitize returns obj as it may be recorded: for a Secret, the values of data and stringData
// are replaced by "" (key names are kept) and the last-applied-configuration annotation is
// removed; for every object, managedFields keep manager, operation, time and subresource but not
// the field sets (fieldsV1), which are large and say nothing a version diff does not. Objects
// that need no change are returned as they are, without re-encoding.
func Sanitize(kind string, obj []byte) ([]byte, error) {
	secret := kind == "Secret"
	if !secret && !bytes.Contains(obj, []byte(`"fieldsV1"`)) {
		return obj, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(obj, &top); err != nil {
		return nil, fmt.Errorf("sanitize %s: %w", kind, err)
	}
	if secret {
		for _, f := range secretValueFields {
			raw, ok := top[f]
			if !ok {
				continue
			}
			var vals map[string]json.RawMessage
			if err := json.Unmarshal(raw, &vals); err != nil {
				delete(top, f)
				continue
			}
			for k := range vals {
				vals[k] = json.RawMessage(`""`)
			}
			top[f], _ = json.Marshal(vals)
		}
	}
	if raw, ok := top["metadata"]; ok {
		var md map[string]json.RawMessage
		if err := json.Unmarshal(raw, &md); err != nil {
			return nil, fmt.Errorf("sanitize %s: metadata: %w", kind, err)
		}
		if mf, ok := md["managedFields"]; ok {
			var entries []map[string]json.RawMessage
			if err := json.Unmarshal(mf, &entries); err == nil {
				for _, e := range entries {
					delete(e, "fieldsV1")
					delete(e, "fieldsType")
				}
				md["managedFields"], _ = json.Marshal(entries)
			}
		}
		if secret {
			if ann, ok := md["annotations"]; ok {
				var a map[string]json.RawMessage
				if err := json.Unmarshal(ann, &a); err == nil {
					delete(a, lastApplied)
					md["annotations"], _ = json.Marshal(a)
				}
			}
		}
		top["metadata"], _ = json.Marshal(md)
	}
	return json.Marshal(top)
}
