package projector

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The pods view keeps each pod's lifecycle: created, scheduled (and on which node), its IP,
// every ready / not ready transition, deletion requested, gone; its owner, workload and the
// revision it was created from, its images and the claims it mounts. Times are observed
// times, with the sequence of the event that showed each change.
//
// Buckets: "pods": cluster NUL namespace NUL name NUL first-seq -> JSON PodLifecycle, written
// only when one of its facts changes (the pod's head keeps the last node, IP, phase and
// readiness, so that status churn costs no read); "podready": the pod's object id (8 bytes)
// -> its readiness transitions, each uvarint (seq - previous transition's seq) << 1 | ready.
var bPods, bPodReady = []byte("pods"), []byte("podready")

func init() { registerBuckets(bPods, bPodReady) }

// PodLifecycle is the life of one pod.
type PodLifecycle struct {
	Cluster   string   `json:"cluster"`
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	UID       string   `json:"uid"`
	Owner     Ref      `json:"owner,omitzero"`
	Workload  Ref      `json:"workload,omitzero"`
	Revision  string   `json:"revision,omitempty"`
	Images    []string `json:"images,omitempty"`
	Claims    []string `json:"claims,omitempty"`

	Created   time.Time `json:"created"` // metadata.creationTimestamp
	FirstSeen time.Time `json:"firstSeen"`
	FirstSeq  uint64    `json:"firstSeq"`
	Observed  bool      `json:"observedCreation"` // its ADDED event was seen (not only a relist)

	Node         string    `json:"node,omitempty"`
	Scheduled    time.Time `json:"scheduled,omitzero"`
	ScheduledSeq uint64    `json:"scheduledSeq,omitempty"`
	IP           string    `json:"ip,omitempty"`
	IPAt         time.Time `json:"ipAt,omitzero"`
	Phase        string    `json:"phase,omitempty"`

	Ready []ReadyChange `json:"ready,omitempty"` // from bucket podready

	DeletionRequested    time.Time `json:"deletionRequested,omitzero"`
	DeletionRequestedSeq uint64    `json:"deletionRequestedSeq,omitempty"`
	Gone                 time.Time `json:"gone,omitzero"`
	GoneSeq              uint64    `json:"goneSeq,omitempty"`
	GoneUnobserved       bool      `json:"goneUnobserved,omitempty"` // found missing on relist
}

// ReadyChange is a transition of a pod's Ready condition.
type ReadyChange struct {
	At    time.Time `json:"at"`
	Seq   uint64    `json:"seq"`
	Ready bool      `json:"ready"`
}

// FirstReady is when the pod first became ready (zero if never).
func (p *PodLifecycle) FirstReady() time.Time {
	for _, r := range p.Ready {
		if r.Ready {
			return r.At
		}
	}
	return time.Time{}
}

func podKey(h *objHead) []byte { return appendBE8(prefix(h.Cluster, h.Namespace, h.Name), h.FirstSeq) }

func foldPods(t *txn, ev *event) error {
	h, o, e := ev.head, ev.obj, ev.env
	if h.Kind != "Pod" || h.Group != "" || o == nil {
		return nil
	}
	ready := int64(-1)
	if c := o.Status.Condition("Ready"); c != nil {
		ready = 0
		if c.Status == "True" {
			ready = 1
		}
	}
	node, ip := o.Spec.NodeName, o.Status.PodIP
	deleting := o.Metadata.DeletionTimestamp != nil
	if ready >= 0 && !ev.gone && ready != ev.prev.Ready && !(ev.prev.Ready < 0 && ready == 0) {
		k := be8(h.ID)
		b := t.bucket(bPodReady)
		old := b.Get(k)
		last := uint64(0)
		if err := readyRun(old, func(seq uint64, _ bool) { last = seq }); err != nil {
			return fmt.Errorf("pod %d: %w", h.ID, err)
		}
		var buf [64]byte
		v := binary.AppendUvarint(append(buf[:0], old...), (e.Seq-last)<<1|uint64(ready))
		if err := b.Put(k, t.keep(v)); err != nil {
			return err
		}
	}
	changed := ev.isNew || ev.gone || node != ev.prev.Node || ip != ev.prev.IP ||
		deleting != ev.prev.Deleting || o.Status.Phase != ev.prev.Phase || h.Owner != ev.prev.Owner
	h.Ready, h.Node, h.IP, h.Phase = ready, node, ip, o.Status.Phase
	if !changed {
		return nil
	}
	k := podKey(h)
	var p PodLifecycle
	if !ev.isNew {
		if raw := t.bucket(bPods).Get(k); raw != nil {
			if err := unmarshalRecord(raw, &p); err != nil {
				return err
			}
		}
	}
	if p.UID == "" {
		p = PodLifecycle{Cluster: h.Cluster, Namespace: h.Namespace, Name: h.Name, UID: h.UID, FirstSeen: e.Observed, FirstSeq: h.FirstSeq, Observed: e.Type == "ADDED"}
		if o.Metadata.CreationTimestamp != nil {
			p.Created = o.Metadata.CreationTimestamp.UTC()
		}
		p.Images = o.Spec.images()
		for _, v := range o.Spec.Volumes {
			if v.PersistentVolumeClaim != nil {
				p.Claims = append(p.Claims, v.PersistentVolumeClaim.ClaimName)
			}
		}
	}
	if h.Owner.UID != "" {
		p.Owner = h.Owner
		p.Workload = topOwner(t, h.Cluster, h.Owner)
	}
	if r := o.Metadata.Labels.TemplateHash; r != "" {
		p.Revision = r
	} else if r := o.Metadata.Labels.RevisionHash; r != "" {
		p.Revision = r
	}
	if node != "" && p.Node != node {
		p.Node = node
		if p.Scheduled.IsZero() {
			p.Scheduled, p.ScheduledSeq = e.Observed, e.Seq
		}
	}
	if ip != "" && ip != p.IP {
		p.IP, p.IPAt = ip, e.Observed
	}
	if o.Status.Phase != "" {
		p.Phase = o.Status.Phase
	}
	if (deleting || ev.gone) && p.DeletionRequested.IsZero() {
		p.DeletionRequested, p.DeletionRequestedSeq = e.Observed, e.Seq
	}
	if ev.gone {
		p.Gone, p.GoneSeq = e.Observed, e.Seq
		p.GoneUnobserved = e.Type == "DELETED_UNOBSERVED"
	}
	return putRecord(t, bPods, k, &p)
}

// readyChanges reads the readiness transitions of the pod with object id id.
func readyChanges(tx *bolt.Tx, id uint64) ([]ReadyChange, error) {
	var out []ReadyChange
	err := readyRun(tx.Bucket(bPodReady).Get(be8(id)), func(seq uint64, ready bool) {
		var at time.Time
		if raw := versOf(tx).get(seq); raw != nil {
			if r, err := decodeVer(raw, seq); err == nil {
				at = r.Observed
			}
		}
		out = append(out, ReadyChange{At: at, Seq: seq, Ready: ready})
	})
	if err != nil {
		return nil, fmt.Errorf("pod %d: %w", id, err)
	}
	return out, nil
}

// readyRun calls fn for each transition of a value of bucket "podready", in order.
func readyRun(v []byte, fn func(seq uint64, ready bool)) error {
	seq := uint64(0)
	for len(v) > 0 {
		x, n := binary.Uvarint(v)
		if n <= 0 || x>>1 == 0 {
			return fmt.Errorf("%w: readiness transitions %x", ErrCorrupt, v)
		}
		v = v[n:]
		seq += x >> 1
		fn(seq, x&1 == 1)
	}
	return nil
}

// PodFilter selects pod lifecycles. Zero fields select everything.
type PodFilter struct {
	Cluster   string    // "" for every cluster
	Namespace string    // "" for every namespace
	Name      string    // a pod name (all pods that had it)
	Workload  string    // only pods of this workload (by name) ...
	Kind      string    // ... of this kind (Deployment, StatefulSet ...); "" any
	Revision  string    // only pods of this revision hash
	From, To  time.Time // pods alive at some point of [From, To)
}

// Pods returns the lifecycles of the pods the filter selects, by creation order.
func (db *DB) Pods(ctx context.Context, f PodFilter) ([]PodLifecycle, error) {
	var out []PodLifecycle
	err := db.view(func(tx *bolt.Tx) error {
		p := filterPrefix(f.Cluster, f.Namespace, f.Name)
		c := tx.Bucket(bPods).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			var pl PodLifecycle
			if err := unmarshalRecord(v, &pl); err != nil {
				return err
			}
			if f.Namespace != "" && pl.Namespace != f.Namespace || f.Name != "" && pl.Name != f.Name ||
				f.Workload != "" && pl.Workload.Name != f.Workload || f.Kind != "" && pl.Workload.Kind != f.Kind ||
				f.Revision != "" && pl.Revision != f.Revision ||
				!f.To.IsZero() && !pl.FirstSeen.Before(f.To) || !f.From.IsZero() && !pl.Gone.IsZero() && pl.Gone.Before(f.From) {
				continue
			}
			if h, err := headByKey(tx, objKey(pl.Cluster, pl.UID, "Pod", pl.Namespace, pl.Name)); err == nil && h != nil {
				if pl.Ready, err = readyChanges(tx, h.ID); err != nil {
					return err
				}
			}
			out = append(out, pl)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b PodLifecycle) int { return cmp.Compare(a.FirstSeq, b.FirstSeq) })
	return out, err
}
