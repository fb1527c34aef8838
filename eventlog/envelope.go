package eventlog

import (
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// EventType is what happened to the object.
type EventType string

// The event types of the log.
const (
	Added    EventType = "ADDED"
	Modified EventType = "MODIFIED"
	Deleted  EventType = "DELETED"
	// Resync is an object seen on a (re)list: its state at that moment, whatever changes
	// happened before it that were not observed.
	Resync EventType = "RESYNC"
	// DeletedUnobserved is a deletion found on relist: the object had vanished, and its final
	// state was not observed. The body is the last state that was.
	DeletedUnobserved EventType = "DELETED_UNOBSERVED"
)

// Valid reports whether t is one of the event types above, or Discovered.
func (t EventType) Valid() bool {
	switch t {
	case Added, Modified, Deleted, Resync, DeletedUnobserved, Discovered:
		return true
	}
	return false
}

// IsDelete reports whether the event ends the object's life.
func (t EventType) IsDelete() bool { return t == Deleted || t == DeletedUnobserved }

// Header names. Every envelope field but the body travels in a header.
const (
	HdrType            = "Khist-Type"
	HdrCluster         = "Khist-Cluster"
	HdrGroup           = "Khist-Group"
	HdrVersion         = "Khist-Version"
	HdrKind            = "Khist-Kind"
	HdrResource        = "Khist-Resource"
	HdrNamespace       = "Khist-Namespace"
	HdrName            = "Khist-Name"
	HdrUID             = "Khist-Uid"
	HdrResourceVersion = "Khist-Resource-Version"
	HdrObserved        = "Khist-Observed"
	HdrSource          = "Khist-Source"
	HdrActor           = "Khist-Actor"
)

// Envelope is one version of one object: the unit of the log.
type Envelope struct {
	Type      EventType
	Cluster   string
	Group     string // API group, "" for the core group
	Version   string // API version within the group, e.g. v1
	Kind      string // e.g. Deployment
	Resource  string // plural resource name, e.g. deployments (empty when unknown)
	Namespace string // "" for cluster-scoped objects
	Name      string
	UID       string
	// ResourceVersion is the object's metadata.resourceVersion; on etcd an integer that orders
	// all changes of a cluster.
	ResourceVersion string
	Observed        time.Time // when khist saw the change (or when the source says it happened)
	Source          string    // who produced the envelope: "collector", "import:FILE", "audit:FILE"
	Actor           string    // who made the change, when known (field manager or audit user)
	Object          []byte    // the object's JSON

	// Seq is the stream sequence; set on envelopes read from the log, ignored on publish.
	Seq uint64
}

// GroupVersion returns apiVersion as Kubernetes writes it: "v1" or "apps/v1".
func (e *Envelope) GroupVersion() string {
	if e.Group == "" {
		return e.Version
	}
	return e.Group + "/" + e.Version
}

// MsgID is the de-duplication id: the same version of the same object, seen twice, has the same
// id. Objects without a uid (rare: some imports) fall back to their namespace and name. A
// discovery record's id is its cluster and the hash of its content.
func (e *Envelope) MsgID() string {
	if e.Type == Discovered {
		return e.Cluster + "/discovery/" + e.ResourceVersion
	}
	id := e.UID
	if id == "" {
		id = e.Kind + "/" + e.Namespace + "/" + e.Name
	}
	return e.Cluster + "/" + id + "/" + e.ResourceVersion + "/" + string(e.Type)
}

// Validate returns an error naming the first field a publishable envelope lacks, or saying
// that its object is larger than any Kubernetes object (etcd's limit, MaxObjectSize) and than
// the log stores. Producers call it before they publish anything (an import validates every
// event of its files first), so that a bad event never leaves half an import.
func (e *Envelope) Validate() error {
	if e.Type == Discovered {
		if e.Cluster == "" || e.ResourceVersion == "" || len(e.Object) == 0 {
			return fmt.Errorf("%w: a discovery record needs a cluster, a hash and a body", ErrInvalidEnvelope)
		}
		return nil
	}
	switch {
	case !e.Type.Valid():
		return fmt.Errorf("%w: event type %q is not one of ADDED, MODIFIED, DELETED, RESYNC, DELETED_UNOBSERVED, DISCOVERY", ErrInvalidEnvelope, e.Type)
	case e.Cluster == "":
		return fmt.Errorf("%w: cluster is empty", ErrInvalidEnvelope)
	case e.Kind == "" || e.Version == "":
		return fmt.Errorf("%w: apiVersion and kind are required", ErrInvalidEnvelope)
	case e.Name == "":
		return fmt.Errorf("%w: %s has no metadata.name", ErrInvalidEnvelope, e.Kind)
	case e.ResourceVersion == "":
		return fmt.Errorf("%w: %s %s has no metadata.resourceVersion", ErrInvalidEnvelope, e.Kind, e.Name)
	case len(e.Object) == 0:
		return fmt.Errorf("%w: %s %s has no body", ErrInvalidEnvelope, e.Kind, e.Name)
	case len(e.Object) > MaxObjectSize+1024:
		return fmt.Errorf("%w: %s is %d bytes, over etcd's limit of %d bytes for any Kubernetes object", ErrInvalidEnvelope, e, len(e.Object), MaxObjectSize)
	}
	return nil
}

// Msg returns the NATS message for e on its subject (DiscoverySubject for a discovery record).
func (e *Envelope) Msg() *nats.Msg {
	subj := DiscoverySubject(e.Cluster)
	if e.Type != Discovered {
		subj = Subject(e.Cluster, e.Group, e.Kind, e.Namespace, e.Name)
	}
	m := nats.NewMsg(subj)
	h := m.Header
	h[HdrType] = []string{string(e.Type)}
	h[HdrCluster] = []string{e.Cluster}
	h[HdrGroup] = []string{e.Group}
	h[HdrVersion] = []string{e.Version}
	h[HdrKind] = []string{e.Kind}
	if e.Resource != "" {
		h[HdrResource] = []string{e.Resource}
	}
	h[HdrNamespace] = []string{e.Namespace}
	h[HdrName] = []string{e.Name}
	h[HdrUID] = []string{e.UID}
	h[HdrResourceVersion] = []string{e.ResourceVersion}
	h[HdrObserved] = []string{e.Observed.UTC().Format(time.RFC3339Nano)}
	if e.Source != "" {
		h[HdrSource] = []string{e.Source}
	}
	if e.Actor != "" {
		h[HdrActor] = []string{e.Actor}
	}
	h[nats.MsgIdHdr] = []string{e.MsgID()}
	m.Data = e.Object
	return m
}

// FromMsg rebuilds an envelope from a message's headers and body. The body is not copied.
func FromMsg(h nats.Header, data []byte) (*Envelope, error) {
	get := func(k string) string {
		if v := h[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	e := &Envelope{
		Type:            EventType(get(HdrType)),
		Cluster:         get(HdrCluster),
		Group:           get(HdrGroup),
		Version:         get(HdrVersion),
		Kind:            get(HdrKind),
		Resource:        get(HdrResource),
		Namespace:       get(HdrNamespace),
		Name:            get(HdrName),
		UID:             get(HdrUID),
		ResourceVersion: get(HdrResourceVersion),
		Source:          get(HdrSource),
		Actor:           get(HdrActor),
		Object:          data,
	}
	if ts := get(HdrObserved); ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return nil, fmt.Errorf("%w: header %s: %v", ErrInvalidEnvelope, HdrObserved, err)
		}
		e.Observed = t
	}
	if !e.Type.Valid() {
		return nil, fmt.Errorf("%w: header %s is %q", ErrInvalidEnvelope, HdrType, e.Type)
	}
	return e, nil
}

// String is a one-line summary for logs.
func (e *Envelope) String() string {
	if e.Type == Discovered {
		return "DISCOVERY of " + e.Cluster + " hash=" + e.ResourceVersion
	}
	var b strings.Builder
	b.WriteString(string(e.Type))
	b.WriteByte(' ')
	b.WriteString(e.Kind)
	b.WriteByte(' ')
	if e.Namespace != "" {
		b.WriteString(e.Namespace)
		b.WriteByte('/')
	}
	b.WriteString(e.Name)
	b.WriteString(" rv=")
	b.WriteString(e.ResourceVersion)
	return b.String()
}
