package eventlog

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Discovered is the event type of a discovery record: what the cluster's API discovery
// returned (see APIDiscovery). It is not an object version: it has a subject of its own
// (DiscoverySubject), no group, kind, name or uid, and its ResourceVersion is the hash of its
// content (DiscoveryHash), which makes its message id.
const Discovered EventType = "DISCOVERY"

// DiscoveryFormat is the version of the APIDiscovery body this khist writes; readers skip
// bodies of a version they do not know.
const DiscoveryFormat = 1

// APIDiscovery is what API discovery returned: for each group, its versions and their
// resources. Subresources are left out. It is the body of a Discovered envelope, as JSON.
type APIDiscovery struct {
	Format int              `json:"v"`
	Groups []DiscoveryGroup `json:"groups"`
}

// DiscoveryGroup is one API group ("" for the core group) and its versions, in the server's
// order of preference; Preferred names the preferred one.
type DiscoveryGroup struct {
	Name      string             `json:"name,omitempty"`
	Preferred string             `json:"preferred"`
	Versions  []DiscoveryVersion `json:"versions"`
}

// DiscoveryVersion is one version of a group and the resources it serves.
type DiscoveryVersion struct {
	Version   string              `json:"version"`
	Resources []DiscoveryResource `json:"resources"`
}

// DiscoveryResource is one resource as discovery describes it.
type DiscoveryResource struct {
	Kind       string   `json:"kind"`
	Plural     string   `json:"plural"`
	Singular   string   `json:"singular,omitempty"`
	ShortNames []string `json:"short,omitempty"`
	Categories []string `json:"categories,omitempty"`
	Namespaced bool     `json:"namespaced,omitempty"`
	Verbs      []string `json:"verbs,omitempty"`
}

// DiscoverySubject is the subject of a cluster's discovery records: khist.ev.CLUSTER.discovery.
// It has fewer tokens than any object's subject, so that no object filter (see Filter)
// matches it.
func DiscoverySubject(cluster string) string {
	return SubjectPrefix + "." + EncodeToken(cluster) + ".discovery"
}

// Normalize sorts d (groups by name, resources by plural; versions keep the server's order of
// preference) and drops empty groups, so that the same discovery always encodes the same.
func (d *APIDiscovery) Normalize() {
	d.Format = DiscoveryFormat
	for i := range d.Groups {
		g := &d.Groups[i]
		g.Versions = slices.DeleteFunc(g.Versions, func(v DiscoveryVersion) bool { return len(v.Resources) == 0 })
	}
	d.Groups = slices.DeleteFunc(d.Groups, func(g DiscoveryGroup) bool { return len(g.Versions) == 0 })
	slices.SortStableFunc(d.Groups, func(a, b DiscoveryGroup) int { return cmp.Compare(a.Name, b.Name) })
	for _, g := range d.Groups {
		for _, v := range g.Versions {
			slices.SortFunc(v.Resources, func(a, b DiscoveryResource) int { return cmp.Compare(a.Plural, b.Plural) })
		}
	}
}

// DiscoveryHash returns the hash of a discovery record's body (the JSON of a normalized
// APIDiscovery): equal discoveries have equal hashes.
func DiscoveryHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:12])
}

// NewDiscoveryEnvelope returns the envelope that records d for cluster; d is normalized.
func NewDiscoveryEnvelope(cluster, source string, observed time.Time, d *APIDiscovery) (*Envelope, error) {
	d.Normalize()
	body, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode discovery: %w", err)
	}
	return &Envelope{
		Type:            Discovered,
		Cluster:         cluster,
		Version:         fmt.Sprint(DiscoveryFormat),
		ResourceVersion: DiscoveryHash(body),
		Observed:        observed,
		Source:          source,
		Object:          body,
	}, nil
}

// DecodeDiscovery reads the body of a Discovered envelope. A body of a later format than
// DiscoveryFormat is an error wrapping ErrInvalidEnvelope.
func DecodeDiscovery(body []byte) (*APIDiscovery, error) {
	var d APIDiscovery
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, fmt.Errorf("%w: discovery: %v", ErrInvalidEnvelope, err)
	}
	if d.Format != DiscoveryFormat {
		return nil, fmt.Errorf("%w: discovery of format %d, this khist reads %d", ErrInvalidEnvelope, d.Format, DiscoveryFormat)
	}
	return &d, nil
}
