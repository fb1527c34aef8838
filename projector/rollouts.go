package projector

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The rollouts view keeps each transition of a workload (Deployment, StatefulSet, DaemonSet)
// from one revision to the next.
//
// A rollout starts when the workload's pod template changes (or the workload is created: an
// initial rollout), at the observed time of that change and with its actor and change-cause.
// Its target revision is the one that becomes current during it (see the revisions view). It
// ends when the controller reports it done: for a Deployment the Progressing condition with
// reason NewReplicaSetAvailable at the rollout's generation; for a StatefulSet currentRevision
// equal to updateRevision (or the partition reached) with every replica ready; for a
// DaemonSet every scheduled pod updated and available. Outcomes: complete; progressing (not
// ended yet); failed (ProgressDeadlineExceeded; it may still complete later); paused (the
// Deployment is paused; edits made while it is paused belong to the same rollout); superseded
// (the template changed again before it ended); rolled back
// (superseded by a rollout back to the revision it started from). While a rollout lasts the
// view folds the workload's status into the lowest number of available replicas (and its
// share of the desired replicas) and the peak number of pods.
//
// Bucket "rollouts": cluster NUL namespace NUL kind NUL name NUL start-seq -> JSON Rollout.
// Bucket "rollspan": the same keys -> the rollout's start and end (16 bytes: Unix nanoseconds,
// 0 for none), written with each record: a query by time, and a rollout's number among its
// workload's rollouts, read these instead of decoding every record.
var bRollouts, bRollSpan = []byte("rollouts"), []byte("rollspan")

func init() { registerBuckets(bRollouts, bRollSpan) }

// Outcomes of a rollout.
const (
	OutcomeComplete    = "complete"
	OutcomeProgressing = "progressing"
	OutcomeFailed      = "failed"
	OutcomePaused      = "paused"
	OutcomeSuperseded  = "superseded"
	OutcomeRolledBack  = "rolled-back"
)

// Rollout is one transition of a workload from one revision to the next.
type Rollout struct {
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	UID       string `json:"uid"`

	StartSeq uint64    `json:"startSeq"`
	Start    time.Time `json:"start"`
	EndSeq   uint64    `json:"endSeq,omitempty"` // 0 while in progress
	End      time.Time `json:"end,omitzero"`
	Outcome  string    `json:"outcome"`

	Initial  bool `json:"initial,omitempty"`  // the workload's creation
	Rollback bool `json:"rollback,omitempty"` // back to a revision that existed before

	FromRevision int64  `json:"fromRevision,omitempty"`
	FromHash     string `json:"fromHash,omitempty"`
	ToRevision   int64  `json:"toRevision,omitempty"`
	ToHash       string `json:"toHash,omitempty"`
	Generation   int64  `json:"generation,omitempty"`

	Actor       string `json:"actor,omitempty"`
	ChangeCause string `json:"changeCause,omitempty"`

	Strategy       string `json:"strategy,omitempty"`
	MaxSurge       string `json:"maxSurge,omitempty"`
	MaxUnavailable string `json:"maxUnavailable,omitempty"`
	Partition      int32  `json:"partition,omitempty"`

	Desired           int32     `json:"desired"`
	MinAvailable      int32     `json:"minAvailable"`
	MinAvailableShare float64   `json:"minAvailableShare"`
	MinAvailableAt    time.Time `json:"minAvailableAt,omitzero"`
	MinAvailableSeq   uint64    `json:"minAvailableSeq,omitempty"`
	PeakPods          int32     `json:"peakPods"`
	PeakPodsAt        time.Time `json:"peakPodsAt,omitzero"`
	PeakPodsSeq       uint64    `json:"peakPodsSeq,omitempty"`

	FailedSeq uint64    `json:"failedSeq,omitempty"` // ProgressDeadlineExceeded reported
	FailedAt  time.Time `json:"failedAt,omitzero"`
}

// Duration is End - Start, or 0 while the rollout has not ended.
func (r *Rollout) Duration() time.Duration {
	if r.End.IsZero() {
		return 0
	}
	return r.End.Sub(r.Start)
}

func rolloutKey(cluster, ns, kind, name string, start uint64) []byte {
	return appendBE8(prefix(cluster, ns, kind, name), start)
}

// putRollout writes a rollout's record and its span.
func putRollout(t *txn, k []byte, r *Rollout) error {
	if err := putRecord(t, bRollouts, k, r); err != nil {
		return err
	}
	return t.bucket(bRollSpan).Put(k, appendSpan(make([]byte, 0, 16), r.Start, r.End))
}

// appendSpan appends a start and an end as two big-endian Unix nanoseconds, 0 for a zero time.
func appendSpan(b []byte, start, end time.Time) []byte {
	nanos := func(t time.Time) uint64 {
		if t.IsZero() {
			return 0
		}
		return uint64(t.UnixNano())
	}
	return appendBE8(appendBE8(b, nanos(start)), nanos(end))
}

// readSpan reads what appendSpan wrote.
func readSpan(b []byte) (start, end time.Time, err error) {
	if len(b) != 16 {
		return start, end, fmt.Errorf("%w: a rollout span of %d bytes, not 16", ErrCorrupt, len(b))
	}
	at := func(n uint64) time.Time {
		if n == 0 {
			return time.Time{}
		}
		return time.Unix(0, int64(n)).UTC()
	}
	return at(readBE8(b)), at(readBE8(b[8:])), nil
}

func loadRollout(t *txn, k []byte) (*Rollout, error) {
	raw := t.bucket(bRollouts).Get(k)
	if raw == nil {
		return nil, nil
	}
	var r Rollout
	if err := unmarshalRecord(raw, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func foldRollouts(t *txn, ev *event) error {
	h := ev.head
	if ev.obj == nil {
		return nil
	}
	switch {
	case isWorkload(h):
		return foldWorkloadRollout(t, ev)
	case holdsRevision(h):
		w, ok, err := loadWorkload(t, h.Cluster, h.Namespace, h.Owner.Kind, h.Owner.Name)
		if err != nil || !ok || w.OpenSeq == 0 {
			return err
		}
		k := rolloutKey(h.Cluster, h.Namespace, h.Owner.Kind, h.Owner.Name, w.OpenSeq)
		r, err := loadRollout(t, k)
		if err != nil || r == nil {
			return err
		}
		if changed, err := rolloutTarget(t, r, w); err != nil || !changed {
			return err
		}
		return putRollout(t, k, r)
	}
	return nil
}

// rolloutTarget sets the rollout's target once the workload's current revision moves away
// from where the rollout started, and marks a rollback (and the rollout it undoes).
func rolloutTarget(t *txn, r *Rollout, w *workloadState) (bool, error) {
	if w.Current == "" || w.Current == r.FromHash || w.Current == r.ToHash {
		return false, nil
	}
	rev, err := loadRevision(t, revKey(r.Cluster, r.Namespace, r.Kind, r.Name, w.Current))
	if err != nil || rev == nil {
		return false, err
	}
	r.ToHash, r.ToRevision = w.Current, rev.Number()
	if rev.FirstSeq < r.StartSeq {
		r.Rollback = true
		// The rollout this one superseded, if it was on its way from this revision.
		p := prefix(r.Cluster, r.Namespace, r.Kind, r.Name)
		if k, v := seekBefore(t.bucket(bRollouts), rolloutKey(r.Cluster, r.Namespace, r.Kind, r.Name, r.StartSeq)); k != nil && bytes.HasPrefix(k, p) {
			var prev Rollout
			if err := unmarshalRecord(v, &prev); err != nil {
				return false, err
			}
			if prev.Outcome == OutcomeSuperseded && prev.EndSeq == r.StartSeq && prev.FromHash == w.Current {
				prev.Outcome = OutcomeRolledBack
				if err := putRollout(t, slices.Clone(k), &prev); err != nil {
					return false, err
				}
			}
		}
	}
	return true, nil
}

func foldWorkloadRollout(t *txn, ev *event) error {
	h, o, e := ev.head, ev.obj, ev.env
	w, _, err := loadWorkload(t, h.Cluster, h.Namespace, h.Kind, h.Name)
	if err != nil {
		return err
	}
	if w.UID != h.UID {
		// A new object under the name: its history starts over.
		*w = workloadState{UID: h.UID}
	}
	tmpl := templateHash(o.Spec.Template)
	h.TmplHash = tmpl
	var claims []string
	for _, c := range o.Spec.VolumeClaimTemplates {
		claims = append(claims, c.Metadata.Name)
	}
	w.ClaimTemplates = claims
	changed := !ev.isNew && ev.prev.TmplHash != 0 && tmpl != ev.prev.TmplHash
	// The workload's creation, as the replay counts it: an ADDED that no controller has
	// reconciled yet. An object first seen already reconciled (the ADDED of a watch file's
	// initial list, a collector started after it existed) was created before the history:
	// its first version is no rollout, and numbering it #1 would shift every later rollout's
	// number against the replay's (#N of khist rollouts is the replay's #N).
	initial := ev.isNew && e.Type == "ADDED" && o.Status.ObservedGeneration == 0 && o.Metadata.Generation <= 1
	var r *Rollout
	var k []byte
	if changed && w.OpenSeq != 0 {
		// Edits made while a Deployment is paused, before the controller made a new revision
		// current, accumulate into the rollout that is waiting: the controller will roll them
		// out as one new ReplicaSet on resume.
		open, err := loadRollout(t, rolloutKey(h.Cluster, h.Namespace, h.Kind, h.Name, w.OpenSeq))
		if err != nil {
			return err
		}
		if open != nil && open.Outcome == OutcomePaused && open.ToHash == "" {
			changed = false
		}
	}
	if changed || initial {
		w.TemplateSeq, w.TemplateAt, w.TemplateActor, w.TemplateChangeCause = e.Seq, e.Observed, ev.actor, o.Metadata.Annotations.ChangeCause
		if w.OpenSeq != 0 {
			pk := rolloutKey(h.Cluster, h.Namespace, h.Kind, h.Name, w.OpenSeq)
			prev, err := loadRollout(t, pk)
			if err != nil {
				return err
			}
			if prev != nil {
				prev.Outcome, prev.EndSeq, prev.End = OutcomeSuperseded, e.Seq, e.Observed
				if err := putRollout(t, pk, prev); err != nil {
					return err
				}
			}
		}
		r = &Rollout{
			Cluster: h.Cluster, Namespace: h.Namespace, Kind: h.Kind, Name: h.Name, UID: h.UID,
			StartSeq: e.Seq, Start: e.Observed, Outcome: OutcomeProgressing, Initial: initial,
			Generation: o.Metadata.Generation, Actor: ev.actor, ChangeCause: o.Metadata.Annotations.ChangeCause,
			MinAvailable: -1, PeakPods: -1,
		}
		if !initial && w.Current != "" {
			r.FromHash = w.Current
			if rev, err := loadRevision(t, revKey(h.Cluster, h.Namespace, h.Kind, h.Name, w.Current)); err != nil {
				return err
			} else if rev != nil {
				r.FromRevision = rev.Number()
			}
		}
		strategy(r, o)
		w.OpenSeq, w.LastSeq = e.Seq, e.Seq
		k = rolloutKey(h.Cluster, h.Namespace, h.Kind, h.Name, e.Seq)
	} else if w.OpenSeq != 0 {
		k = rolloutKey(h.Cluster, h.Namespace, h.Kind, h.Name, w.OpenSeq)
		if r, err = loadRollout(t, k); err != nil {
			return err
		}
	}
	if r != nil {
		if _, err := rolloutTarget(t, r, w); err != nil {
			return err
		}
		if rolloutStatus(r, h, o, e.Seq, e.Observed) {
			w.OpenSeq = 0
		}
		if err := putRollout(t, k, r); err != nil {
			return err
		}
	}
	return saveWorkload(t, h.Cluster, h.Namespace, h.Kind, h.Name, w)
}

// strategy copies the update strategy into the rollout.
func strategy(r *Rollout, o *Object) {
	s := o.Spec.Strategy
	if s == nil {
		s = o.Spec.UpdateStrategy
	}
	if s == nil {
		return
	}
	r.Strategy = s.Type
	if ru := s.RollingUpdate; ru != nil {
		r.MaxSurge, r.MaxUnavailable = intOrString(ru.MaxSurge), intOrString(ru.MaxUnavailable)
		if ru.Partition != nil {
			r.Partition = *ru.Partition
		}
	}
}

// rolloutStatus folds a workload version's status into its open rollout and reports whether
// the rollout has ended.
func rolloutStatus(r *Rollout, h *objHead, o *Object, seq uint64, at time.Time) bool {
	st := &o.Status
	desired := int32(1)
	if o.Spec.Replicas != nil {
		desired = *o.Spec.Replicas
	}
	avail, pods := st.AvailableReplicas, st.Replicas
	if h.Kind == "DaemonSet" {
		desired, avail, pods = st.DesiredNumberScheduled, st.NumberAvailable, st.CurrentNumberScheduled
	}
	r.Desired = desired
	if r.MinAvailable < 0 || avail < r.MinAvailable {
		r.MinAvailable, r.MinAvailableAt, r.MinAvailableSeq = avail, at, seq
	}
	if desired > 0 {
		r.MinAvailableShare = float64(r.MinAvailable) / float64(desired)
	} else {
		r.MinAvailableShare = 1
	}
	if pods > r.PeakPods {
		r.PeakPods, r.PeakPodsAt, r.PeakPodsSeq = pods, at, seq
	}
	observed := st.ObservedGeneration >= r.Generation
	done := false
	switch h.Kind {
	case "Deployment":
		// The Progressing condition still reads NewReplicaSetAvailable from the previous
		// rollout until the controller has made the new ReplicaSet (with Recreate, only once
		// every old pod is gone): the rollout can end only once its target is current.
		if c := st.Condition("Progressing"); c != nil && observed && r.ToHash != "" {
			switch {
			case c.Status == "True" && c.Reason == "NewReplicaSetAvailable":
				done = true
			case c.Status == "False" && c.Reason == "ProgressDeadlineExceeded" && r.FailedSeq == 0:
				r.FailedSeq, r.FailedAt = seq, at
				r.Outcome, r.EndSeq, r.End = OutcomeFailed, seq, at
			}
		}
		if !done && r.Outcome != OutcomeFailed {
			if o.Spec.Paused {
				r.Outcome = OutcomePaused
			} else {
				r.Outcome = OutcomeProgressing
			}
		}
	case "StatefulSet":
		partition := int32(0)
		if s := o.Spec.UpdateStrategy; s != nil && s.RollingUpdate != nil && s.RollingUpdate.Partition != nil {
			partition = *s.RollingUpdate.Partition
		}
		updated := st.UpdatedReplicas >= desired-partition && (partition > 0 || st.CurrentRevision == st.UpdateRevision)
		done = observed && st.UpdateRevision != "" && updated && st.ReadyReplicas >= desired && st.Replicas == desired
	case "DaemonSet":
		done = observed && st.UpdatedNumberScheduled >= st.DesiredNumberScheduled && st.NumberAvailable >= st.DesiredNumberScheduled
	}
	if done {
		r.Outcome, r.EndSeq, r.End = OutcomeComplete, seq, at
	}
	return done
}

// RolloutFilter selects rollouts. Zero fields select everything.
type RolloutFilter struct {
	Cluster   string    // "" for every cluster
	Namespace string    // "" for every namespace
	Kind      string    // Deployment, StatefulSet, DaemonSet; "" for all
	Name      string    // the workload's name; "" for all
	From, To  time.Time // rollouts that overlap [From, To); zero To has no end
}

// Rollouts returns the rollouts the filter selects, in start order. A time range reads the
// records of the rollouts it selects only.
func (db *DB) Rollouts(ctx context.Context, f RolloutFilter) ([]Rollout, error) {
	var out []Rollout
	err := db.view(func(tx *bolt.Tx) error {
		p := filterPrefix(f.Cluster, f.Namespace, f.Kind, f.Name)
		recs := tx.Bucket(bRollouts)
		c := tx.Bucket(bRollSpan).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			start, end, err := readSpan(v)
			if err != nil {
				return err
			}
			if !f.To.IsZero() && !start.Before(f.To) || !f.From.IsZero() && !end.IsZero() && end.Before(f.From) {
				continue
			}
			raw := recs.Get(k)
			if raw == nil {
				return fmt.Errorf("%w: the span of rollout %q has no record", ErrCorrupt, k)
			}
			var r Rollout
			if err := unmarshalRecord(raw, &r); err != nil {
				return err
			}
			if f.Namespace != "" && r.Namespace != f.Namespace || f.Kind != "" && r.Kind != f.Kind || f.Name != "" && r.Name != f.Name {
				continue
			}
			out = append(out, r)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b Rollout) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return cmp.Compare(a.StartSeq, b.StartSeq)
	})
	return out, err
}

// RolloutOrder returns the start sequences of a workload's rollouts in start order (the order
// khist rollouts numbers them in), reading their spans only.
func (db *DB) RolloutOrder(ctx context.Context, w WorkloadRef) ([]uint64, error) {
	type span struct {
		start time.Time
		seq   uint64
	}
	var all []span
	err := db.view(func(tx *bolt.Tx) error {
		p := prefix(w.Cluster, w.Namespace, w.Kind, w.Name)
		c := tx.Bucket(bRollSpan).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			start, _, err := readSpan(v)
			if err != nil {
				return err
			}
			all = append(all, span{start, readBE8(k[len(k)-8:])})
		}
		return nil
	})
	slices.SortFunc(all, func(a, b span) int { return cmp.Or(a.start.Compare(b.start), cmp.Compare(a.seq, b.seq)) })
	out := make([]uint64, len(all))
	for i := range all {
		out[i] = all[i].seq
	}
	return out, err
}

// Rollout returns the rollout of a workload that started at log sequence start, nil if none.
func (db *DB) Rollout(ctx context.Context, w WorkloadRef, start uint64) (*Rollout, error) {
	var out *Rollout
	err := db.view(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bRollouts).Get(rolloutKey(w.Cluster, w.Namespace, w.Kind, w.Name, start))
		if raw == nil {
			return nil
		}
		out = new(Rollout)
		return unmarshalRecord(raw, out)
	})
	return out, err
}

// RolloutNumber returns a rollout's number among its workload's rollouts in start order (1 for
// the first; 0 when the views hold no such rollout) and the rollout before it (nil for the
// first). It reads the workload's spans and one record.
func (db *DB) RolloutNumber(ctx context.Context, r Rollout) (int, *Rollout, error) {
	w := WorkloadRef{Cluster: r.Cluster, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}
	order, err := db.RolloutOrder(ctx, w)
	if err != nil {
		return 0, nil, err
	}
	i := slices.Index(order, r.StartSeq)
	if i <= 0 {
		return i + 1, nil, nil
	}
	prev, err := db.Rollout(ctx, w, order[i-1])
	return i + 1, prev, err
}

// RolloutSteps returns the reconcile steps attributed to the rollout's workload between its
// start and its end (or now, while it lasts).
func (db *DB) RolloutSteps(ctx context.Context, r Rollout) ([]Step, error) {
	return db.Steps(ctx, StepFilter{Cluster: r.Cluster, Namespace: r.Namespace, Kind: r.Kind, Name: r.Name, FromSeq: r.StartSeq, ToSeq: r.EndSeq})
}

// RolloutStepCount returns len(RolloutSteps(r)) without reading the steps: the number of step
// keys of the rollout's workload in its sequence range.
func (db *DB) RolloutStepCount(ctx context.Context, r Rollout) (int, error) {
	n := 0
	err := db.view(func(tx *bolt.Tx) error {
		p := prefix(r.Cluster, r.Namespace, r.Kind, r.Name)
		c := tx.Bucket(bSteps).Cursor()
		for k, _ := c.Seek(appendBE8(slices.Clone(p), r.StartSeq)); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			if seq := readBE8(k[len(k)-9:]); r.EndSeq > 0 && seq > r.EndSeq {
				break
			}
			n++
		}
		return nil
	})
	return n, err
}

// seekBefore returns the last entry of b whose key is before k.
func seekBefore(b *bolt.Bucket, k []byte) ([]byte, []byte) {
	c := b.Cursor()
	if kk, _ := c.Seek(k); kk == nil {
		return c.Last()
	}
	return c.Prev()
}
