package projector

import (
	"hash/fnv"
	"time"

	"github.com/khist/khist/eventlog/kinds"
)

// Workload state, shared by the revisions, rollouts and steps folds (bucket "wl": cluster NUL
// namespace NUL kind NUL name -> JSON workloadState). It is the fold state of one workload
// name: when a workload is deleted and created again under the same name, the new object
// takes the state over.
var bWorkloads = []byte("wl")

func init() { registerBuckets(bWorkloads) }

// isWorkload reports whether the head is of a kind followed by the rollouts view (one that
// rolls out revisions, see kinds.RollsOut).
func isWorkload(h *objHead) bool { return kinds.RollsOut(h.Group, h.Kind) }

// holdsRevision reports whether the head holds a revision of its owner, a workload that rolls
// out: a Deployment's ReplicaSet, a StatefulSet's or a DaemonSet's ControllerRevision.
func holdsRevision(h *objHead) bool {
	w, ok := kinds.LookupWorkload(h.Group, h.Owner.Kind)
	return ok && w.RollsOut && w.Revisions == h.Kind
}

type workloadState struct {
	UID string `json:"uid"`
	// Current is the key (hash) of the current revision, MaxRevision the highest revision
	// number seen among its ReplicaSets or ControllerRevisions.
	Current     string `json:"current,omitempty"`
	MaxRevision int64  `json:"maxRevision,omitempty"`
	// The last change of the pod template: when, by whom, why.
	TemplateSeq         uint64    `json:"templateSeq,omitempty"`
	TemplateAt          time.Time `json:"templateAt,omitzero"`
	TemplateActor       string    `json:"templateActor,omitempty"`
	TemplateChangeCause string    `json:"templateChangeCause,omitempty"`
	// OpenSeq is the start of the rollout in progress, 0 when none.
	OpenSeq uint64 `json:"openSeq,omitempty"`
	// LastSeq is the start of the latest rollout.
	LastSeq uint64 `json:"lastSeq,omitempty"`
	// ClaimTemplates are a StatefulSet's volumeClaimTemplates names.
	ClaimTemplates []string `json:"claimTemplates,omitempty"`
}

func workloadKey(cluster, namespace, kind, name string) []byte {
	return key(cluster, namespace, kind, name)
}

// loadWorkload reads a workload's state; ok is false when it has none yet.
func loadWorkload(t *txn, cluster, namespace, kind, name string) (*workloadState, bool, error) {
	raw := t.bucket(bWorkloads).Get(workloadKey(cluster, namespace, kind, name))
	if raw == nil {
		return &workloadState{}, false, nil
	}
	var w workloadState
	if err := unmarshalRecord(raw, &w); err != nil {
		return nil, false, err
	}
	return &w, true, nil
}

func saveWorkload(t *txn, cluster, namespace, kind, name string, w *workloadState) error {
	b, err := marshalRecord(w)
	if err != nil {
		return err
	}
	return t.bucket(bWorkloads).Put(workloadKey(cluster, namespace, kind, name), b)
}

// templateHash hashes a pod template's JSON (the API server writes it in a stable order).
func templateHash(tmpl []byte) uint64 {
	if len(tmpl) == 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write(tmpl)
	return h.Sum64() | 1
}

// topOwner follows controller owners up from ref (at most three hops), e.g. Pod ->
// ReplicaSet -> Deployment, and returns the last one known.
func topOwner(t *txn, cluster string, ref Ref) Ref {
	for i := 0; i < 3 && ref.UID != ""; i++ {
		h, err := t.head(objKey(cluster, ref.UID, "", "", ""))
		if err != nil || h == nil || h.Owner.UID == "" {
			break
		}
		ref = h.Owner
	}
	return ref
}
