package projector

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The steps view keeps the reconcile steps the controllers took, as observed in the objects
// they changed, each attributed to its workload:
//
//   - scale: a ReplicaSet's spec.replicas changed from -> to (a new ReplicaSet counts from 0),
//     attributed to the owning Deployment;
//   - create-pod, delete-pod: a pod created by its owner (ReplicaSet, StatefulSet with its
//     ordinal, DaemonSet with its node, Job ...), or whose deletion was requested (the first
//     version with a deletionTimestamp, or its disappearance when none was seen);
//   - create-claim, bind-claim: a StatefulSet's PersistentVolumeClaim created, then bound to a
//     volume (claims are recognised by ownership or by the name template-statefulset-ordinal).
//
// Each step is linked to the Event (core/v1 or events.k8s.io) that announced it, when one
// exists: ScalingReplicaSet "Scaled up replica set X from 0 to 2", SuccessfulCreate "Created
// pod: X" or "create Pod X in StatefulSet S successful", SuccessfulDelete ... An Event that
// repeats (its count grows) announces again. Steps and announcements are paired first come,
// first served by (workload, action, target, from, to), whichever arrives first; unpaired ones
// wait in "await" and "ann" and are dropped ten minutes (of observed time) later. An Event
// follows its step within seconds (the controller records it right after its request), and
// most steps of a busy controller never get one (its event recorder lets 25 through per
// object, then one every five minutes), so that waiting longer only keeps those.
//
// Buckets: "steps": cluster NUL namespace NUL workload-kind NUL workload NUL seq (8) index (1)
// -> JSON Step; "ann": signature NUL seq -> JSON EventRef; "await": signature NUL seq -> the
// key of the step waiting for its Event.
var bSteps, bAnn, bAwait = []byte("steps"), []byte("ann"), []byte("await")

func init() { registerBuckets(bSteps, bAnn, bAwait) }

// Actions of steps.
const (
	ActionScale       = "scale"
	ActionCreatePod   = "create-pod"
	ActionDeletePod   = "delete-pod"
	ActionCreateClaim = "create-claim"
	ActionBindClaim   = "bind-claim"
)

// Step is one reconcile step.
type Step struct {
	Seq       uint64    `json:"seq"`      // the event that shows it
	At        time.Time `json:"-"`        // its observed time (read from its version)
	Namespace string    `json:"-"`        // from the key
	Workload  Ref       `json:"workload"` // the workload it is attributed to
	Owner     Ref       `json:"owner"`    // the object's direct controller (e.g. the ReplicaSet)
	Action    string    `json:"action"`
	Target    Ref       `json:"target"` // the object changed
	From      *int32    `json:"from,omitempty"`
	To        *int32    `json:"to,omitempty"`
	Ordinal   *int      `json:"ordinal,omitempty"`  // StatefulSet pods and claims
	Node      string    `json:"node,omitempty"`     // DaemonSet pods
	Volume    string    `json:"volume,omitempty"`   // bound claims
	Revision  string    `json:"revision,omitempty"` // the pod's revision hash
	Event     *EventRef `json:"event,omitempty"`    // the Event that announced it
}

// EventRef is an Event version that announced a step. The views store its sequence; the other
// fields are read from the Event's version when steps are read.
type EventRef struct {
	Seq       uint64    `json:"seq"`
	UID       string    `json:"-"`
	Name      string    `json:"-"`
	Reason    string    `json:"-"`
	Message   string    `json:"-"`
	Component string    `json:"-"`
	Count     int64     `json:"-"`
	At        time.Time `json:"-"`
}

// enrich fills the fields of an EventRef that are read from the Event's version.
func (r *EventRef) enrich(tx *bolt.Tx) {
	obj, rec, err := loadVersion(versOf(tx), r.Seq)
	if err != nil {
		return
	}
	r.At = rec.Observed
	var o Object
	if DecodeObject(obj, &o) != nil {
		return
	}
	r.UID, r.Name, r.Reason = o.Metadata.UID, o.Metadata.Name, o.Reason
	r.Count = int64(max(o.Count, o.DeprecatedCount, 1))
	if o.Series != nil {
		r.Count = max(r.Count, int64(o.Series.Count))
	}
	r.Message = o.Message
	if r.Message == "" {
		r.Message = o.Note
	}
	r.Component = o.Source.Component
	if r.Component == "" {
		r.Component = o.ReportingController
	}
	if r.Component == "" {
		r.Component = o.ReportingComponent
	}
}

// pendingTTL is how long, in observed time, an unpaired step or announcement waits for its pair.
const pendingTTL = 10 * time.Minute

func stepKey(cluster, ns string, w Ref, seq uint64) []byte {
	return append(appendBE8(prefix(cluster, ns, w.Kind, w.Name), seq), 0)
}

func sigKey(cluster, ns, action, ownerKind, owner, target, from, to string) []byte {
	return prefix(cluster, ns, action, ownerKind, owner, target, from, to)
}

func foldSteps(t *txn, ev *event) error {
	h, o := ev.head, ev.obj
	if o == nil {
		return nil
	}
	if t.applied%10000 == 9999 {
		if err := prunePending(t, ev.env.Observed); err != nil {
			return err
		}
	}
	switch {
	case h.Kind == "Event" && (h.Group == "" || h.Group == "events.k8s.io"):
		return foldAnnouncement(t, ev)
	case h.Kind == "ReplicaSet" && h.Group == "apps":
		return foldScaleStep(t, ev)
	case h.Kind == "Pod" && h.Group == "":
		return foldPodSteps(t, ev)
	case h.Kind == "PersistentVolumeClaim" && h.Group == "":
		return foldClaimSteps(t, ev)
	}
	return nil
}

func i32(v int32) *int32 { return &v }

func foldScaleStep(t *txn, ev *event) error {
	h, o := ev.head, ev.obj
	n := int64(1)
	if o.Spec.Replicas != nil {
		n = int64(*o.Spec.Replicas)
	}
	from := ev.prev.Replicas
	if ev.isNew && ev.env.Type == "ADDED" {
		from = 0
	}
	if ev.gone {
		return nil
	}
	h.Replicas = n
	if from < 0 || from == n {
		return nil
	}
	owner := Ref{Kind: h.Kind, Name: h.Name, UID: h.UID}
	w := owner
	if h.Owner.UID != "" {
		w = h.Owner
	}
	s := &Step{Action: ActionScale, Workload: w, Owner: w, Target: owner, From: i32(int32(from)), To: i32(int32(n)), Revision: o.Metadata.Labels.TemplateHash}
	return addStep(t, ev, s, strconv.FormatInt(from, 10), strconv.FormatInt(n, 10))
}

func foldPodSteps(t *txn, ev *event) error {
	h, o := ev.head, ev.obj
	if h.Owner.UID == "" {
		h.Deleting = o.Metadata.DeletionTimestamp != nil
		return nil
	}
	var action string
	switch {
	case ev.isNew && ev.env.Type == "ADDED":
		action = ActionCreatePod
	case !ev.prev.Deleting && (o.Metadata.DeletionTimestamp != nil || ev.gone) && !ev.isNew:
		action = ActionDeletePod
	}
	h.Deleting = o.Metadata.DeletionTimestamp != nil || ev.gone
	if action == "" {
		return nil
	}
	w := topOwner(t, h.Cluster, h.Owner)
	s := &Step{Action: action, Workload: w, Owner: h.Owner, Target: Ref{Kind: "Pod", Name: h.Name, UID: h.UID}}
	switch h.Owner.Kind {
	case "StatefulSet":
		if n := ordinal(h.Name); n >= 0 {
			s.Ordinal = &n
		}
		s.Revision = o.Metadata.Labels.RevisionHash
	case "DaemonSet":
		s.Node = o.Spec.daemonNode()
		s.Revision = o.Metadata.Labels.RevisionHash
	default:
		s.Revision = o.Metadata.Labels.TemplateHash
	}
	return addStep(t, ev, s, "", "")
}

// claimOwner finds the StatefulSet a claim belongs to: its controller, or a StatefulSet of the
// namespace with a claim template T such that the claim is T-statefulset-ordinal.
func claimOwner(t *txn, h *objHead) (Ref, int, error) {
	ord := ordinal(h.Name)
	if h.Owner.Kind == "StatefulSet" {
		return h.Owner, ord, nil
	}
	if ord < 0 {
		return Ref{}, -1, nil
	}
	base := h.Name[:strings.LastIndexByte(h.Name, '-')]
	p := prefix(h.Cluster, h.Namespace, "StatefulSet")
	c := t.bucket(bWorkloads).Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		sts := string(k[len(p):])
		var w workloadState
		if err := unmarshalRecord(v, &w); err != nil {
			return Ref{}, -1, err
		}
		for _, tmpl := range w.ClaimTemplates {
			if base == tmpl+"-"+sts {
				return Ref{Kind: "StatefulSet", Name: sts, UID: w.UID}, ord, nil
			}
		}
	}
	return Ref{}, -1, nil
}

func foldClaimSteps(t *txn, ev *event) error {
	h, o := ev.head, ev.obj
	phase := o.Status.Phase
	prevPhase := ev.prev.Phase
	h.Phase = phase
	created := ev.isNew && ev.env.Type == "ADDED"
	bound := phase == "Bound" && prevPhase != "Bound" && !ev.gone
	if !created && !bound {
		return nil
	}
	w, ord, err := claimOwner(t, h)
	if err != nil || w.Name == "" {
		return err
	}
	target := Ref{Kind: "PersistentVolumeClaim", Name: h.Name, UID: h.UID}
	if created {
		s := &Step{Action: ActionCreateClaim, Workload: w, Owner: w, Target: target}
		if ord >= 0 {
			s.Ordinal = &ord
		}
		if err := addStep(t, ev, s, "", ""); err != nil {
			return err
		}
	}
	if bound {
		s := &Step{Action: ActionBindClaim, Workload: w, Owner: w, Target: target, Volume: o.Spec.VolumeName}
		if ord >= 0 {
			s.Ordinal = &ord
		}
		return addStep(t, ev, s, "", "")
	}
	return nil
}

// addStep stores a step of the current event, linked to its announcement if it came first.
func addStep(t *txn, ev *event, s *Step, from, to string) error {
	h := ev.head
	s.Seq, s.At, s.Namespace = ev.env.Seq, ev.env.Observed, h.Namespace
	k := stepKey(h.Cluster, h.Namespace, s.Workload, s.Seq)
	for t.bucket(bSteps).Get(k) != nil {
		k[len(k)-1]++ // a second step of the same event
	}
	if s.Action != ActionBindClaim {
		sigs := [][]byte{sigKey(h.Cluster, h.Namespace, s.Action, s.Owner.Kind, s.Owner.Name, s.Target.Name, from, to)}
		if s.Action == ActionScale {
			sigs = append(sigs, sigKey(h.Cluster, h.Namespace, s.Action, s.Owner.Kind, s.Owner.Name, s.Target.Name, "*", to))
		}
		for _, sig := range sigs {
			ak, av := firstUnder(t.bucket(bAnn), sig)
			if ak == nil {
				continue
			}
			var ref EventRef
			if err := unmarshalRecord(av, &ref); err != nil {
				return err
			}
			s.Event = &ref
			if err := t.bucket(bAnn).Delete(ak); err != nil {
				return err
			}
			break
		}
		if s.Event == nil {
			if err := t.bucket(bAwait).Put(appendBE8(sigs[0], s.Seq), k); err != nil {
				return err
			}
			t.db.pendAt.put(s.Seq, s.At)
		}
	}
	return putRecord(t, bSteps, k, s)
}

// firstUnder returns a copy of the first key under p, and its value.
func firstUnder(b *bolt.Bucket, p []byte) ([]byte, []byte) {
	k, v := b.Cursor().Seek(p)
	if k == nil || !bytes.HasPrefix(k, p) || len(k) != len(p)+8 {
		return nil, nil
	}
	return slices.Clone(k), v
}

// announcement parses an Event's message into the signature of the step it announces.
func announcement(o *Object) (action, ownerKind, owner, target, from, to string, ok bool) {
	subj := eventSubject(o)
	if subj == nil {
		return
	}
	msg := o.Message
	if msg == "" {
		msg = o.Note
	}
	msg = strings.TrimPrefix(msg, "(combined from similar events): ")
	ownerKind, owner = subj.Kind, subj.Name
	f := strings.Fields(msg)
	switch o.Reason {
	case "ScalingReplicaSet":
		// Scaled up replica set NAME from A to B | Scaled down replica set NAME to B
		if len(f) >= 6 && f[0] == "Scaled" && f[2] == "replica" && f[3] == "set" {
			target = f[4]
			switch {
			case len(f) == 9 && f[5] == "from" && f[7] == "to":
				return ActionScale, ownerKind, owner, target, f[6], f[8], true
			case len(f) == 7 && f[5] == "to":
				return ActionScale, ownerKind, owner, target, "*", f[6], true
			}
		}
	case "SuccessfulCreate", "SuccessfulDelete":
		act := ActionCreatePod
		if o.Reason == "SuccessfulDelete" {
			act = ActionDeletePod
		}
		switch {
		case len(f) == 3 && (f[0] == "Created" || f[0] == "Deleted") && f[1] == "pod:":
			return act, ownerKind, owner, f[2], "", "", true
		case len(f) >= 7 && (f[0] == "create" || f[0] == "delete") && f[1] == "Pod" && f[3] == "in" && f[4] == "StatefulSet":
			return act, "StatefulSet", f[5], f[2], "", "", true
		case len(f) >= 9 && f[0] == "create" && f[1] == "Claim" && f[3] == "Pod" && f[5] == "in" && f[6] == "StatefulSet":
			return ActionCreateClaim, "StatefulSet", f[7], f[2], "", "", true
		}
	}
	return
}

func foldAnnouncement(t *txn, ev *event) error {
	h, o := ev.head, ev.obj
	count := int64(o.Count)
	if o.Series != nil && int64(o.Series.Count) > count {
		count = int64(o.Series.Count)
	}
	if int64(o.DeprecatedCount) > count {
		count = int64(o.DeprecatedCount)
	}
	if count == 0 {
		count = 1
	}
	fresh := ev.isNew || count > ev.prev.Count
	h.Count = count
	if !fresh || ev.gone {
		return nil
	}
	action, ownerKind, owner, target, from, to, ok := announcement(o)
	if !ok {
		return nil
	}
	ns := h.Namespace
	if s := eventSubject(o); s.Namespace != "" {
		ns = s.Namespace
	}
	ref := EventRef{Seq: ev.env.Seq}
	sig := sigKey(h.Cluster, ns, action, ownerKind, owner, target, from, to)
	if ak, av := firstUnder(t.bucket(bAwait), sig); ak != nil {
		if linked, err := linkStep(t, ak, slices.Clone(av), &ref); linked || err != nil {
			return err
		}
	}
	if from == "*" {
		// An old-style message without "from": pair with any scale step to the same size.
		p := prefix(h.Cluster, ns, action, ownerKind, owner, target)
		c := t.bucket(bAwait).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			parts := splitKey(k[len(p):len(k)-9], 2)
			if len(parts) == 2 && parts[1] == to {
				if linked, err := linkStep(t, slices.Clone(k), slices.Clone(v), &ref); linked || err != nil {
					return err
				}
				break
			}
		}
	}
	t.db.pendAt.put(ev.env.Seq, ev.env.Observed)
	return putRecord(t, bAnn, appendBE8(sig, ev.env.Seq), &ref)
}

// linkStep ends the wait of the step stored under sk (its entry ak in bucket "await") and
// links it to the Event ref; it reports false when that step is gone.
func linkStep(t *txn, ak, sk []byte, ref *EventRef) (bool, error) {
	raw := t.bucket(bSteps).Get(sk)
	if err := t.bucket(bAwait).Delete(ak); err != nil {
		return false, err
	}
	if raw == nil {
		return false, nil
	}
	var s Step
	if err := unmarshalRecord(raw, &s); err != nil {
		return false, err
	}
	s.Event = ref
	return true, putRecord(t, bSteps, sk, &s)
}

// prunePending drops announcements and waiting steps older than pendingTTL: those whose
// version (the sequence that ends their key) was observed before now - pendingTTL.
func prunePending(t *txn, now time.Time) error {
	limit := now.Add(-pendingTTL)
	pt := &t.db.pendAt
	keep := make(map[uint64]int64, len(pt.m))
	old := func(seq uint64) bool {
		at, ok := pt.get(seq)
		if !ok {
			r, err := decodeVer(t.vs.get(seq), seq)
			if err != nil {
				return true
			}
			at = r.Observed
		}
		if at.Before(limit) {
			return true
		}
		keep[seq] = pendNanos(at)
		return false
	}
	var drop [][]byte
	c := t.bucket(bAnn).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		// The key ends with the Event's sequence, which is the EventRef's.
		if len(k) < 8 || old(readBE8(k[len(k)-8:])) {
			drop = append(drop, slices.Clone(k))
		}
	}
	for _, k := range drop {
		if err := t.bucket(bAnn).Delete(k); err != nil {
			return err
		}
	}
	drop = drop[:0]
	c = t.bucket(bAwait).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		// The key ends with the step's sequence (see addStep); the value is the step's key.
		if len(k) < 8 || t.bucket(bSteps).Get(v) == nil || old(readBE8(k[len(k)-8:])) {
			drop = append(drop, slices.Clone(k))
		}
	}
	for _, k := range drop {
		if err := t.bucket(bAwait).Delete(k); err != nil {
			return err
		}
	}
	if len(keep) <= pendTimesMax {
		pt.m = keep
	} else {
		pt.m = nil
	}
	return nil
}

// pendTimes caches the observed time of the versions that the entries of "ann" and "await"
// are keyed by (an Event's, a step's), put when the entry is, so that prunePending finds the
// entries an hour old without reading each version back from its segment (decoding a
// compressed segment per entry was a fifth of collect's CPU at the end of the soak, issue
// 13). A version's observed time never changes, so the cache cannot be wrong; a miss reads
// the version. It is a cache of the fold (dropped with the others), holds at most
// pendTimesMax entries, and each prune keeps only the entries still waiting. Used under
// DB.foldMu only.
type pendTimes struct{ m map[uint64]int64 } // sequence -> pendNanos(observed)

const pendTimesMax = 1 << 17 // 16 bytes of data each: 2 MiB

func (p *pendTimes) put(seq uint64, at time.Time) {
	if p.m == nil {
		p.m = map[uint64]int64{}
	}
	if len(p.m) < pendTimesMax {
		p.m[seq] = pendNanos(at)
	}
}

func (p *pendTimes) get(seq uint64) (time.Time, bool) {
	ns, ok := p.m[seq]
	if !ok || ns == 0 {
		return time.Time{}, ok
	}
	return time.Unix(0, ns).UTC(), true
}

func (p *pendTimes) reset() { p.m = nil }

// pendNanos is at as a version record stores it (enc.t): 0 for the zero time.
func pendNanos(at time.Time) int64 {
	if at.IsZero() {
		return 0
	}
	return at.UnixNano()
}

// StepFilter selects steps. Zero fields select everything.
type StepFilter struct {
	Cluster   string // "" for every cluster
	Namespace string // "" for every namespace
	Kind      string // the workload's kind; "" for all
	Name      string // the workload's name; "" for all
	Action    string // "" for every action
	// Sequence range [FromSeq, ToSeq] (0: open) and time range [From, To) (zero: open).
	FromSeq, ToSeq uint64
	From, To       time.Time
}

// Steps returns the steps the filter selects, in log order.
func (db *DB) Steps(ctx context.Context, f StepFilter) ([]Step, error) {
	var out []Step
	err := db.view(func(tx *bolt.Tx) error {
		p := filterPrefix(f.Cluster, f.Namespace, f.Kind, f.Name)
		c := tx.Bucket(bSteps).Cursor()
		start := p
		if f.Name != "" && f.FromSeq > 0 {
			start = appendBE8(slices.Clone(p), f.FromSeq)
		}
		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			seq := readBE8(k[len(k)-9:])
			if f.Name != "" && f.ToSeq > 0 && seq > f.ToSeq {
				break
			}
			if f.FromSeq > 0 && seq < f.FromSeq || f.ToSeq > 0 && seq > f.ToSeq {
				continue
			}
			var s Step
			if err := unmarshalRecord(v, &s); err != nil {
				return err
			}
			s.Namespace = splitKey(k, 3)[1]
			if r, err := decodeVer(versOf(tx).get(s.Seq), s.Seq); err == nil {
				s.At = r.Observed
			}
			if s.Event != nil {
				s.Event.enrich(tx)
			}
			if f.Namespace != "" && s.Namespace != f.Namespace || f.Kind != "" && s.Workload.Kind != f.Kind || f.Name != "" && s.Workload.Name != f.Name ||
				f.Action != "" && s.Action != f.Action || !f.From.IsZero() && s.At.Before(f.From) || !f.To.IsZero() && !s.At.Before(f.To) {
				continue
			}
			out = append(out, s)
		}
		return nil
	})
	slices.SortStableFunc(out, func(a, b Step) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, err
}
