package projector

// The head of an object in the versions view: its identity, latest version and fold state,
// and its encoding.

import (
	"encoding/binary"
	"time"
)

// Ref names an object within its namespace: kind, name and uid (an owner, a workload, the
// target of a step).
type Ref struct {
	Kind string `json:"kind,omitempty"`
	Name string `json:"name,omitempty"`
	UID  string `json:"uid,omitempty"`
}

// objHead is an object's identity, its latest version and the fold state of the views.
type objHead struct {
	ID                                                uint64
	Cluster, Group, APIVersion, Kind, Namespace, Name string
	UID                                               string
	FirstSeq                                          uint64
	FirstSeen                                         time.Time // observed time of the first version
	Created                                           time.Time // metadata.creationTimestamp
	LastSeq                                           uint64
	LastRV                                            string
	LastSeen                                          time.Time
	Versions                                          uint64
	FullSeq                                           uint64 // last full copy
	Chain                                             uint64 // deltas since it
	ChainBytes                                        uint64 // their stored bytes
	FullBytes                                         uint64 // its stored bytes
	Gone                                              bool
	GoneSeq                                           uint64
	GoneAt                                            time.Time
	Owner                                             Ref

	// Fold state of the other views.
	Replicas int64  // last spec.replicas of a scalable object; -1 before the first
	RevNum   int64  // last revision number (ReplicaSet annotation, ControllerRevision.revision)
	Phase    string // last status.phase (PersistentVolumeClaim)
	Deleting bool   // metadata.deletionTimestamp seen
	Count    int64  // Events: last count seen
	TmplHash uint64 // workloads: hash of spec.template
	Ready    int64  // pods: last Ready condition, -1 unknown, 0 false, 1 true
	Node     string // pods: last spec.nodeName
	IP       string // pods: last status.podIP

	// MF is what the latest version's managedFields said, for writer: per entry, a hash of
	// its manager, operation and subresource, then a hash of its time.
	MF  []uint32
	Gen int64 // the latest version's metadata.generation

	// IdxMin is the least observed time of the versions since the object's last time index
	// entry (see bVerTime).
	IdxMin time.Time
}

// encode writes a head compactly (it is rewritten with every version): uids as 16 bytes,
// sequences and times relative to the first version's, a numeric resourceVersion as a number,
// managedFields hashes as 4 bytes each.
func (h *objHead) encode(b []byte) []byte {
	e := enc{b: b}
	e.u(h.ID)
	for _, s := range [...]string{h.Cluster, h.Group, h.APIVersion, h.Kind, h.Namespace, h.Name} {
		e.s(s)
	}
	e.uid(h.UID)
	e.rv(h.LastRV)
	e.s(h.Owner.Kind)
	e.s(h.Owner.Name)
	e.uid(h.Owner.UID)
	for _, s := range [...]string{h.Phase, h.Node, h.IP} {
		e.s(s)
	}
	e.u(h.FirstSeq)
	for _, v := range [...]uint64{h.LastSeq, h.FullSeq, h.GoneSeq} {
		e.sd(v, h.FirstSeq)
	}
	for _, v := range [...]uint64{h.Versions, h.Chain, h.ChainBytes, h.FullBytes, h.TmplHash} {
		e.u(v)
	}
	e.t(h.FirstSeen)
	e.td(h.Created, h.FirstSeen)
	e.td(h.LastSeen, h.FirstSeen)
	e.td(h.GoneAt, h.FirstSeen)
	e.bool(h.Gone)
	e.bool(h.Deleting)
	e.i(h.Replicas)
	e.i(h.RevNum)
	e.i(h.Count)
	e.i(h.Ready)
	e.u(uint64(len(h.MF)))
	for _, x := range h.MF {
		e.b = binary.BigEndian.AppendUint32(e.b, x)
	}
	e.i(h.Gen)
	e.td(h.IdxMin, h.FirstSeen)
	return e.b
}

func decodeHead(b []byte) (*objHead, error) {
	d := dec{b: b}
	h := &objHead{ID: d.u()}
	for _, p := range [...]*string{&h.Cluster, &h.Group, &h.APIVersion, &h.Kind, &h.Namespace, &h.Name} {
		*p = d.s()
	}
	h.UID = d.uid()
	h.LastRV = d.rv()
	h.Owner.Kind = d.s()
	h.Owner.Name = d.s()
	h.Owner.UID = d.uid()
	for _, p := range [...]*string{&h.Phase, &h.Node, &h.IP} {
		*p = d.s()
	}
	h.FirstSeq = d.u()
	for _, p := range [...]*uint64{&h.LastSeq, &h.FullSeq, &h.GoneSeq} {
		*p = d.sd(h.FirstSeq)
	}
	for _, p := range [...]*uint64{&h.Versions, &h.Chain, &h.ChainBytes, &h.FullBytes, &h.TmplHash} {
		*p = d.u()
	}
	h.FirstSeen = d.t()
	h.Created = d.td(h.FirstSeen)
	h.LastSeen = d.td(h.FirstSeen)
	h.GoneAt = d.td(h.FirstSeen)
	h.Gone = d.bool()
	h.Deleting = d.bool()
	h.Replicas = d.i()
	h.RevNum = d.i()
	h.Count = d.i()
	h.Ready = d.i()
	if n := d.u(); n > uint64(len(d.b))/4 {
		d.fail("managedFields")
	} else if n > 0 {
		h.MF = make([]uint32, n)
		for i := range h.MF {
			h.MF[i] = binary.BigEndian.Uint32(d.b[4*i:])
		}
		d.b = d.b[4*n:]
	}
	h.Gen = d.i()
	h.IdxMin = d.td(h.FirstSeen)
	return h, d.err
}

// objKey is the head key of an object: cluster NUL uid, a canonical UUID as 0x02 and its 16
// bytes. Objects without a uid (some imports) are keyed by kind, namespace and name, as the
// log's message ids are.
func objKey(cluster, uid, kind, namespace, name string) []byte {
	if uid == "" {
		uid = "\x01" + kind + "/" + namespace + "/" + name
	}
	return append(append([]byte(cluster), 0), uidPart(uid)...)
}
