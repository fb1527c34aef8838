package projector

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	bolt "go.etcd.io/bbolt"
)

// The revisions view keeps the revisions of every workload:
//
//   - for a Deployment, its ReplicaSets by pod-template-hash, with the whole history of their
//     deployment.kubernetes.io/revision numbers (a rollback renumbers an old ReplicaSet), the
//     pod template, images, change-cause (kubernetes.io/change-cause), the actor of the
//     template change that made it, and when it was created, became current and was
//     superseded (a revision can be current several times);
//   - for a StatefulSet or a DaemonSet, its ControllerRevisions by name, likewise;
//   - for every pod of these workloads, the revision it was created from (pod-template-hash,
//     controller-revision-hash).
//
// Buckets: "rev": cluster NUL namespace NUL kind NUL workload NUL hash -> JSON Revision;
// "revpods": cluster NUL namespace NUL kind NUL workload NUL hash NUL pod NUL first-seq -> the
// pod's object id (the rest of a RevisionPod is read from its head). A revision is current
// from the moment its number is the highest among the workload's revisions (the controllers
// give the new revision, or the one rolled back to, the highest number).
var bRev, bRevPods = []byte("rev"), []byte("revpods")

func init() { registerBuckets(bRev, bRevPods) }

// WorkloadRef names a workload (Deployment, StatefulSet, DaemonSet).
type WorkloadRef struct {
	Cluster   string
	Kind      string
	Namespace string
	Name      string
}

// Revision is one revision of a workload.
type Revision struct {
	Workload    string           `json:"workload"`           // kind/name
	Hash        string           `json:"hash"`               // pod-template-hash, or the ControllerRevision's name
	Object      Ref              `json:"object"`             // the ReplicaSet or ControllerRevision
	Numbers     []RevisionNumber `json:"numbers"`            // every revision number it had, oldest first
	Template    jsontext.Value   `json:"template,omitempty"` // the pod template (JSON)
	Images      []string         `json:"images,omitempty"`
	ChangeCause string           `json:"changeCause,omitempty"`
	Actor       string           `json:"actor,omitempty"` // who changed the template to this revision first
	Created     time.Time        `json:"created"`
	FirstSeq    uint64           `json:"firstSeq"`
	Current     []Period         `json:"current,omitempty"` // when it was the current revision
	Deleted     time.Time        `json:"deleted,omitzero"`
}

// Number is the revision's latest number (0 when unknown).
func (r *Revision) Number() int64 {
	if len(r.Numbers) == 0 {
		return 0
	}
	return r.Numbers[len(r.Numbers)-1].Number
}

// Superseded is when the revision stopped being current last (zero while it is current or
// never was).
func (r *Revision) Superseded() time.Time {
	if len(r.Current) == 0 {
		return time.Time{}
	}
	return r.Current[len(r.Current)-1].To
}

// RevisionNumber is a number a revision had from a point on.
type RevisionNumber struct {
	Number int64     `json:"number"`
	Seq    uint64    `json:"seq"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor,omitempty"`
}

// Period is an interval of the log; To is zero while it lasts.
type Period struct {
	FromSeq uint64    `json:"fromSeq"`
	From    time.Time `json:"from"`
	ToSeq   uint64    `json:"toSeq,omitempty"`
	To      time.Time `json:"to,omitzero"`
}

// RevisionPod is a pod created from a revision.
type RevisionPod struct {
	Name     string    `json:"name"`
	UID      string    `json:"uid"`
	Created  time.Time `json:"created"`
	FirstSeq uint64    `json:"firstSeq"`
}

func revKey(cluster, ns, kind, name, hash string) []byte { return key(cluster, ns, kind, name, hash) }

func loadRevision(t *txn, k []byte) (*Revision, error) {
	raw := t.bucket(bRev).Get(k)
	if raw == nil {
		return nil, nil
	}
	var r Revision
	if err := unmarshalRecord(raw, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func putRecord(t *txn, bucket, k []byte, v any) error {
	b, err := marshalRecord(v)
	if err != nil {
		return err
	}
	return t.bucket(bucket).Put(k, b)
}

func foldRevisions(t *txn, ev *event) error {
	h, o := ev.head, ev.obj
	if o == nil {
		return nil
	}
	switch {
	case h.Kind == "ReplicaSet" && h.Group == "apps" && h.Owner.Kind == "Deployment":
		hash := o.Metadata.Labels.TemplateHash
		if hash == "" {
			hash = strings.TrimPrefix(h.Name, h.Owner.Name+"-")
		}
		return foldRevision(t, ev, "Deployment", hash, atoi64(o.Metadata.Annotations.Revision), o.Spec.Template, o.Metadata.Annotations.ChangeCause)
	case h.Kind == "ControllerRevision" && holdsRevision(h):
		return foldRevision(t, ev, h.Owner.Kind, h.Name, o.Revision, controllerRevisionTemplate(o.Data), o.Metadata.Annotations.ChangeCause)
	case h.Kind == "Pod" && ev.isNew && h.Owner.UID != "":
		return foldRevisionPod(t, ev)
	}
	return nil
}

// foldRevision updates the revision held by a ReplicaSet or ControllerRevision.
func foldRevision(t *txn, ev *event, kind, hash string, number int64, tmpl []byte, cause string) error {
	h, e := ev.head, ev.env
	wname := h.Owner.Name
	k := revKey(h.Cluster, h.Namespace, kind, wname, hash)
	r, err := loadRevision(t, k)
	if err != nil {
		return err
	}
	w, _, err := loadWorkload(t, h.Cluster, h.Namespace, kind, wname)
	if err != nil {
		return err
	}
	changed := false
	if r == nil {
		r = &Revision{Workload: kind + "/" + wname, Hash: hash, Created: e.Observed, FirstSeq: e.Seq, Template: tmpl, Images: templateImages(tmpl), Actor: w.TemplateActor}
		if ev.obj.Metadata.CreationTimestamp != nil {
			r.Created = ev.obj.Metadata.CreationTimestamp.UTC()
		}
		changed = true
	}
	if obj := (Ref{Kind: h.Kind, Name: h.Name, UID: h.UID}); r.Object != obj {
		r.Object, changed = obj, true
	}
	if cause != "" && cause != r.ChangeCause {
		r.ChangeCause, changed = cause, true
	}
	if number >= 0 && number != r.Number() {
		r.Numbers = append(r.Numbers, RevisionNumber{Number: number, Seq: e.Seq, At: e.Observed, Actor: w.TemplateActor})
		changed = true
	}
	h.RevNum = number
	if ev.gone && r.Deleted.IsZero() {
		r.Deleted, changed = e.Observed, true
	}
	wchanged := false
	if number > w.MaxRevision && !ev.gone {
		w.MaxRevision, wchanged = number, true
		if w.Current != hash {
			if w.Current != "" {
				if err := endCurrent(t, revKey(h.Cluster, h.Namespace, kind, wname, w.Current), e.Seq, e.Observed); err != nil {
					return err
				}
			}
			w.Current = hash
			r.Current = append(r.Current, Period{FromSeq: e.Seq, From: e.Observed})
			changed = true
		}
	}
	if wchanged {
		if err := saveWorkload(t, h.Cluster, h.Namespace, kind, wname, w); err != nil {
			return err
		}
	}
	if !changed {
		return nil
	}
	return putRecord(t, bRev, k, r)
}

// endCurrent closes the current period of a revision.
func endCurrent(t *txn, k []byte, seq uint64, at time.Time) error {
	r, err := loadRevision(t, k)
	if err != nil || r == nil {
		return err
	}
	if n := len(r.Current); n > 0 && r.Current[n-1].ToSeq == 0 {
		r.Current[n-1].ToSeq, r.Current[n-1].To = seq, at
		return putRecord(t, bRev, k, r)
	}
	return nil
}

// foldRevisionPod records the revision a new pod of a workload was created from.
func foldRevisionPod(t *txn, ev *event) error {
	h, o := ev.head, ev.obj
	var kind, hash string
	switch h.Owner.Kind {
	case "ReplicaSet":
		kind, hash = "Deployment", o.Metadata.Labels.TemplateHash
	case "StatefulSet", "DaemonSet":
		kind, hash = h.Owner.Kind, o.Metadata.Labels.RevisionHash
	default:
		return nil
	}
	top := topOwner(t, h.Cluster, h.Owner)
	if top.Kind != kind || hash == "" {
		return nil
	}
	// A DaemonSet's pods carry the hash alone; its ControllerRevisions (the revisions' keys)
	// are named DAEMONSET-HASH. A StatefulSet's pods carry the whole name.
	if kind == "DaemonSet" && !strings.HasPrefix(hash, top.Name+"-") {
		hash = top.Name + "-" + hash
	}
	k := appendBE8(prefix(h.Cluster, h.Namespace, kind, top.Name, hash, h.Name), h.FirstSeq)
	return t.putID(bRevPods, k, h.ID)
}

// revisionPod reads an entry of bucket "revpods": the pod's name, uid and creation come from
// its head.
func revisionPod(tx *bolt.Tx, k, v []byte) (RevisionPod, error) {
	h, err := headOfEntry(tx, "revpods", k, v)
	if err != nil {
		return RevisionPod{}, err
	}
	rp := RevisionPod{Name: h.Name, UID: h.UID, Created: h.Created, FirstSeq: h.FirstSeq}
	if rp.Created.IsZero() {
		rp.Created = h.FirstSeen
	}
	return rp, nil
}

// Revision returns the revision of a workload whose hash is hash, or nil when the workload has
// none: one read, without the pods created from it (see Revisions).
func (db *DB) Revision(ctx context.Context, w WorkloadRef, hash string) (*Revision, error) {
	var out *Revision
	err := db.view(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bRev).Get(key(w.Cluster, w.Namespace, w.Kind, w.Name, hash))
		if raw == nil {
			return nil
		}
		out = new(Revision)
		return unmarshalRecord(raw, out)
	})
	return out, err
}

// WorkloadRevisions is a revision with the pods created from it.
type WorkloadRevisions struct {
	Revision
	Pods []RevisionPod
}

// Revisions returns the revisions of a workload, ordered by their latest number, each with
// the pods created from it.
func (db *DB) Revisions(ctx context.Context, w WorkloadRef) ([]WorkloadRevisions, error) {
	var out []WorkloadRevisions
	err := db.view(func(tx *bolt.Tx) error {
		p := prefix(w.Cluster, w.Namespace, w.Kind, w.Name)
		c := tx.Bucket(bRev).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if indexByte(k[len(p):], 0) >= 0 {
				continue
			}
			var r WorkloadRevisions
			if err := unmarshalRecord(v, &r.Revision); err != nil {
				return err
			}
			pp := prefix(w.Cluster, w.Namespace, w.Kind, w.Name, r.Hash)
			pc := tx.Bucket(bRevPods).Cursor()
			for pk, pv := pc.Seek(pp); pk != nil && bytes.HasPrefix(pk, pp); pk, pv = pc.Next() {
				rp, err := revisionPod(tx, pk, pv)
				if err != nil {
					return err
				}
				r.Pods = append(r.Pods, rp)
			}
			slices.SortFunc(r.Pods, func(a, b RevisionPod) int { return cmp.Compare(a.FirstSeq, b.FirstSeq) })
			out = append(out, r)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b WorkloadRevisions) int {
		return cmp.Or(cmp.Compare(a.Number(), b.Number()), cmp.Compare(a.FirstSeq, b.FirstSeq))
	})
	return out, err
}
