package eventlog

import (
	"fmt"
	"net/url"
	"strconv"
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

// Valid reports whether t is one of the event types above, Discovered, Audited or Progress.
func (t EventType) Valid() bool {
	switch t {
	case Added, Modified, Deleted, Resync, DeletedUnobserved, Discovered, Audited, Progress:
		return true
	}
	return false
}

// IsObject reports whether the event is an object version (not a discovery, audit or progress
// record).
func (t EventType) IsObject() bool {
	switch t {
	case Added, Modified, Deleted, Resync, DeletedUnobserved:
		return true
	}
	return false
}

// IsDelete reports whether the event ends the object's life.
func (t EventType) IsDelete() bool { return t == Deleted || t == DeletedUnobserved }

// Header names of the first encoding, one header per envelope field (see HdrEnvelope).
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
	if e.Type == Audited {
		return e.Cluster + "/audit/" + e.ResourceVersion
	}
	if e.Type == Progress {
		return e.Cluster + "/progress/" + e.Group + "/" + e.Resource + "/" + e.Namespace + "/" + e.ResourceVersion
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
	if e.Type == Audited {
		if e.Cluster == "" || e.ResourceVersion == "" || len(e.Object) == 0 {
			return fmt.Errorf("%w: an audit record needs a cluster, an audit ID and a body", ErrInvalidEnvelope)
		}
		return nil
	}
	if e.Type == Progress {
		return e.validateProgress()
	}
	switch {
	case !e.Type.Valid():
		return fmt.Errorf("%w: event type %q is not one of ADDED, MODIFIED, DELETED, RESYNC, DELETED_UNOBSERVED, DISCOVERY, AUDIT, PROGRESS", ErrInvalidEnvelope, e.Type)
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

// HdrEnvelope is the header of the compact encoding, in which the log is written: one header
// beside Nats-Msg-Id, "1 TYPE UID RV OBSERVED VERSION RESOURCE SOURCE ACTOR" (1 is the
// encoding's version; OBSERVED in Unix nanoseconds; each field path-escaped, so that none holds
// a space). Cluster, group, kind, namespace and name are read from the subject. The thirteen
// Khist-* headers of the first encoding repeated the subject and named every field: on a real
// recording they were a third of the stream's compressed bytes (issue 13). Logs written before
// hold the first encoding, which FromMsg still reads.
const HdrEnvelope = "Khist"

const envelopeEncoding = "1"

// Msg returns the NATS message for e on its subject (DiscoverySubject for a discovery record,
// AuditSubject for an audit record, ProgressSubject for a progress record).
func (e *Envelope) Msg() *nats.Msg {
	subj, object := e.subject()
	m := nats.NewMsg(subj)
	observed := ""
	if !e.Observed.IsZero() {
		observed = strconv.FormatInt(e.Observed.UnixNano(), 10)
	}
	fields := []string{string(e.Type), e.UID, e.ResourceVersion, observed, e.Version, e.Resource, e.Source, e.Actor}
	if !object { // the subject does not name the object: the header does
		fields = append(fields, e.Group, e.Kind, e.Namespace, e.Name)
	}
	var b strings.Builder
	b.WriteString(envelopeEncoding)
	for _, f := range fields {
		b.WriteByte(' ')
		b.WriteString(url.PathEscape(f))
	}
	m.Header[HdrEnvelope] = []string{b.String()}
	m.Header[nats.MsgIdHdr] = []string{e.MsgID()}
	m.Data = e.Object
	return m
}

// subject is e's subject, and whether it is an object's (see Subject), which names its
// cluster, group, kind, namespace and name; the other records' subjects name their cluster.
func (e *Envelope) subject() (string, bool) {
	switch e.Type {
	case Discovered:
		return DiscoverySubject(e.Cluster), false
	case Audited:
		return AuditSubject(e.Cluster), false
	case Progress:
		return ProgressSubject(e.Cluster, e.Group, e.Resource, e.Namespace), false
	}
	return Subject(e.Cluster, e.Group, e.Kind, e.Namespace, e.Name), true
}

// FromMsg rebuilds an envelope from a message's subject, headers and body (nil for a message
// read without it). The body is not copied.
func FromMsg(subject string, h nats.Header, data []byte) (*Envelope, error) {
	v := h[HdrEnvelope]
	if len(v) == 0 {
		return fromLegacyMsg(h, data)
	}
	rest, ok := strings.CutPrefix(subject, SubjectPrefix+".")
	if !ok {
		return nil, fmt.Errorf("%w: subject %q does not start with %s", ErrInvalidEnvelope, subject, SubjectPrefix)
	}
	tokens := strings.Split(rest, ".")
	want := 9 // an object's: the rest is in its subject
	if len(tokens) != 5 {
		want = 13
	}
	// Header values lose their trailing spaces on the way: empty last fields are absent.
	f := strings.Split(v[0], " ")
	if n := len(f); n >= 4 && n < want {
		f = append(f, make([]string, want-n)...)
	}
	if len(f) != want || f[0] != envelopeEncoding {
		return nil, fmt.Errorf("%w: header %s is %q: not an envelope of encoding %s (written by a newer khist?)", ErrInvalidEnvelope, HdrEnvelope, v[0], envelopeEncoding)
	}
	for i := 1; i < len(f); i++ {
		if strings.IndexByte(f[i], '%') >= 0 {
			u, err := url.PathUnescape(f[i])
			if err != nil {
				return nil, fmt.Errorf("%w: header %s, field %d: %v", ErrInvalidEnvelope, HdrEnvelope, i, err)
			}
			f[i] = u
		}
	}
	e := &Envelope{
		Type: EventType(f[1]), UID: f[2], ResourceVersion: f[3], Version: f[5], Resource: f[6],
		Source: f[7], Actor: f[8], Object: data,
	}
	if !e.Type.Valid() {
		return nil, fmt.Errorf("%w: header %s: event type %q", ErrInvalidEnvelope, HdrEnvelope, e.Type)
	}
	if f[4] != "" {
		ns, err := strconv.ParseInt(f[4], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: header %s: observed time %q: %v", ErrInvalidEnvelope, HdrEnvelope, f[4], err)
		}
		e.Observed = time.Unix(0, ns).UTC()
	}
	// The subject's tokens, split above, are decoded once: an object's name it, the other
	// records' their cluster only.
	names := []*string{&e.Cluster, &e.Group, &e.Kind, &e.Namespace, &e.Name}
	if want != 9 {
		e.Group, e.Kind, e.Namespace, e.Name = f[9], f[10], f[11], f[12]
		names = names[:1]
	}
	for i, p := range names {
		t, err := DecodeToken(tokens[i])
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidEnvelope, err)
		}
		*p = t
	}
	return e, nil
}

// fromLegacyMsg reads an envelope of the first encoding: one Khist-* header per field.
func fromLegacyMsg(h nats.Header, data []byte) (*Envelope, error) {
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
	if e.Type == Progress {
		r := e.Resource
		if e.Group != "" {
			r += "." + e.Group
		}
		if e.Namespace != "" {
			r += " in " + e.Namespace
		}
		return "PROGRESS of the watch of " + r + " rv=" + e.ResourceVersion
	}
	if e.Type == Audited {
		return "AUDIT " + e.Resource + " " + e.Namespace + "/" + e.Name + " by " + e.Actor + " id=" + e.ResourceVersion
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
