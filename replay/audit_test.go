package replay

import (
	"encoding/json"
	"math/rand"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fidelityFixtures loads the recordings of the fidelity suite (test/fidelity/testdata), each
// one namespace holding one workload.
func fidelityFixtures(t *testing.T) map[string][]Version {
	t.Helper()
	files, err := filepath.Glob("../test/fidelity/testdata/*.json.gz")
	if err != nil || len(files) == 0 {
		t.Skip("no recordings in test/fidelity/testdata")
	}
	out := map[string][]Version{}
	for _, f := range files {
		h, err := LoadWatchFiles(f)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json.gz")] = h
	}
	return out
}

// workloadsOf lists the workloads a history created in namespace ns.
func workloadsOf(h []Version, ns string) []WorkloadRef {
	var out []WorkloadRef
	for _, v := range h {
		if isWorkloadKind(v.Kind) && v.Type == Added && v.Namespace == ns {
			out = append(out, WorkloadRef{Kind: v.Kind, Namespace: ns, Name: v.Name})
		}
	}
	return out
}

// rsInfo is what the perturbations need of a ReplicaSet version.
type rsInfo struct {
	replicas int64
	owner    string // the Deployment's uid
}

func parseRSInfo(t *testing.T, v *Version) rsInfo {
	var o struct {
		Metadata struct {
			OwnerReferences []struct{ UID string } `json:"ownerReferences"`
		} `json:"metadata"`
		Spec struct {
			Replicas *int64 `json:"replicas"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(v.Object, &o); err != nil {
		t.Fatal(err)
	}
	in := rsInfo{replicas: 1}
	if o.Spec.Replicas != nil {
		in.replicas = *o.Spec.Replicas
	}
	if len(o.Metadata.OwnerReferences) > 0 {
		in.owner = o.Metadata.OwnerReferences[0].UID
	}
	return in
}

func podOwner(t *testing.T, v *Version) string {
	var o struct {
		Metadata struct {
			OwnerReferences []struct{ UID string } `json:"ownerReferences"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(v.Object, &o); err != nil {
		t.Fatal(err)
	}
	if len(o.Metadata.OwnerReferences) == 0 {
		return ""
	}
	return o.Metadata.OwnerReferences[0].UID
}

// busier rewrites a recorded history as a busier control plane would have delivered it, with
// the same controller decisions:
//   - batched: a ReplicaSet status write followed by another of the same ReplicaSet before
//     any scaling decision is dropped, as a ReplicaSet controller that syncs less often folds
//     them into one;
//   - delayed: each ReplicaSet scaling decision moves later in the log, past up to four
//     changes of other objects it does not depend on (other ReplicaSets' status writes,
//     other ReplicaSets' pods) made within two seconds: the Deployment controller decided
//     before its informers delivered them;
//   - observed times lag by up to a second, monotonically.
//
// resourceVersions and sequences are renumbered in the new order. It returns the history and
// how many decisions it moved past at least one change.
func busier(t *testing.T, h []Version, r *rand.Rand) ([]Version, int) {
	h = slices.Clone(h)
	info := map[int]rsInfo{}
	prevRep := map[string]int64{}
	decision := map[int]bool{}
	for i := range h {
		if h[i].Kind == "ReplicaSet" {
			in := parseRSInfo(t, &h[i])
			info[i] = in
			if p, ok := prevRep[h[i].UID]; !ok || p != in.replicas {
				decision[i] = true
			}
			prevRep[h[i].UID] = in.replicas
		}
	}
	// Batched.
	var kept []Version
	var keptDecision []bool
	for i := range h {
		drop := false
		if h[i].Kind == "ReplicaSet" && !decision[i] && h[i].Type == Modified {
			for j := i + 1; j < len(h); j++ {
				if decision[j] {
					break
				}
				if h[j].UID == h[i].UID {
					drop = !decision[j] && h[j].Type == Modified
					break
				}
			}
		}
		if !drop {
			kept = append(kept, h[i])
			keptDecision = append(keptDecision, decision[i])
		}
	}
	h = kept
	// Delayed.
	moved := 0
	for i := len(h) - 1; i >= 0; i-- {
		if !keptDecision[i] || h[i].Type != Modified {
			continue
		}
		rsUID := h[i].UID
		k := r.Intn(5)
		j := i
		for j+1 < len(h) && j-i < k {
			n := &h[j+1]
			if n.Observed.Sub(h[i].Observed) > 2*time.Second || keptDecision[j+1] || n.UID == rsUID {
				break
			}
			ok := n.Kind == "ReplicaSet" || n.Kind == "Pod" && podOwner(t, n) != rsUID
			if !ok {
				break
			}
			j++
		}
		if j == i {
			continue
		}
		moved++
		v, d := h[i], keptDecision[i]
		v.Observed = maxTime(v.Observed, h[j].Observed)
		copy(h[i:j], h[i+1:j+1])
		copy(keptDecision[i:j], keptDecision[i+1:j+1])
		h[j], keptDecision[j] = v, d
	}
	// Observed times and numbering.
	var last time.Time
	for i := range h {
		ts := h[i].Observed.Add(time.Duration(r.Int63n(int64(time.Second))))
		if ts.Before(last) {
			ts = last
		}
		last = ts
		h[i].Observed = ts
		h[i].Seq = uint64(i + 1)
		h[i].ResourceVersion = strconv.Itoa(i + 1)
	}
	return h, moved
}

// TestAuditHoldsUnderLoad is the decision audit's property: every recording of the fidelity
// suite, delivered as a busier control plane would have delivered it (status writes batched,
// the controller's decisions made before its informers caught up, observation times late),
// still audits as a match: the same decisions follow from what the controller could see.
func TestAuditHoldsUnderLoad(t *testing.T) {
	fixtures := fidelityFixtures(t)
	names := make([]string, 0, len(fixtures))
	for n := range fixtures {
		names = append(names, n)
	}
	slices.Sort(names)
	behind, movedAll := 0, 0
	for _, ns := range names {
		for seed := int64(1); seed <= 5; seed++ {
			h, moved := busier(t, fixtures[ns], rand.New(rand.NewSource(seed)))
			movedAll += moved
			for _, wl := range workloadsOf(h, ns) {
				res, err := Compare(h, wl.Kind, wl.Namespace, wl.Name, CompareOptions{})
				if err != nil {
					t.Fatalf("%s seed %d: %v", ns, seed, err)
				}
				for _, rc := range res.Rollouts {
					for _, d := range rc.Decisions {
						if d.Behind > 0 {
							behind++
						}
					}
				}
				if !res.Match {
					var b strings.Builder
					res.WriteTable(&b)
					t.Errorf("%s seed %d (%d decisions delayed): the audit diverges:\n%s", ns, seed, moved, b.String())
				}
			}
		}
	}
	// The perturbation must have made the audit look behind the latest state.
	if movedAll == 0 || behind == 0 {
		t.Fatalf("%d decisions delayed, %d explained by an older state: the property tested nothing", movedAll, behind)
	}
	t.Logf("%d decisions delayed past other changes; %d explained by a state older than the latest", movedAll, behind)
}

// TestAuditBurstsCompareAsSets reorders the pods a DaemonSet controller created in one burst:
// the audit must not care, and a creation on a node the controller had no reason to pick must
// still diverge.
func TestAuditBurstsCompareAsSets(t *testing.T) {
	h := fidelityFixtures(t)["ds-node-added"]
	if h == nil {
		t.Skip("no ds-node-added recording")
	}
	var creates []int
	for i := range h {
		if h[i].Kind == "Pod" && h[i].Type == Added {
			creates = append(creates, i)
		}
		if len(creates) == 2 {
			break
		}
	}
	// The DaemonSet starts on two nodes: its first two pods are one burst.
	if len(creates) < 2 {
		t.Fatal("the recording has no burst of pod creations")
	}
	// Reverse the first burst's order (resourceVersions follow the new order).
	rev := slices.Clone(h)
	a, b := creates[0], creates[len(creates)-1]
	rev[a], rev[b] = rev[b], rev[a]
	rev[a].Seq, rev[b].Seq = h[a].Seq, h[b].Seq
	rev[a].ResourceVersion, rev[b].ResourceVersion = h[a].ResourceVersion, h[b].ResourceVersion
	res, err := Compare(rev, "ds", "ds-node-added", "agent", CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Match {
		var b strings.Builder
		res.WriteTable(&b)
		t.Fatalf("a reordered burst diverges:\n%s", b.String())
	}
}

// TestAuditInputsByOthers makes one of the recorded scale-downs of the old ReplicaSet a
// person's (kubectl scale): the audit must list it as an input with its writer, not count it
// as a decision, and carry on.
func TestAuditInputsByOthers(t *testing.T) {
	h := slices.Clone(fidelityFixtures(t)["max-surge-0"])
	before, err := Compare(h, "deploy", "max-surge-0", "web", CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	prev := map[string]int64{}
	changed := ""
	for i := range h {
		if h[i].Kind != "ReplicaSet" {
			continue
		}
		in := parseRSInfo(t, &h[i])
		p, ok := prev[h[i].UID]
		prev[h[i].UID] = in.replicas
		if ok && in.replicas < p && changed == "" {
			var o map[string]any
			if err := json.Unmarshal(h[i].Object, &o); err != nil {
				t.Fatal(err)
			}
			for _, f := range o["metadata"].(map[string]any)["managedFields"].([]any) {
				if e := f.(map[string]any); e["manager"] == "kube-controller-manager" && e["subresource"] == nil {
					e["manager"] = "kubectl-scale"
				}
			}
			h[i].Object, _ = json.Marshal(o)
			changed = h[i].Name + " " + strconv.FormatInt(p, 10) + "->" + strconv.FormatInt(in.replicas, 10)
		}
	}
	if changed == "" {
		t.Fatal("no scale-down to attribute")
	}
	res, err := Compare(h, "deploy", "max-surge-0", "web", CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	res.WriteTable(&b)
	if !res.Match || res.Decisions != before.Decisions-1 {
		t.Fatalf("match %v with %d decisions (before: %d): want a match with one decision less:\n%s", res.Match, res.Decisions, before.Decisions, b.String())
	}
	found := false
	for _, rc := range res.Rollouts {
		for _, in := range rc.Inputs {
			if in.Actor == "kubectl-scale" && in.Change == "scaled replicaset "+changed {
				found = true
			}
		}
	}
	if !found || !strings.Contains(b.String(), "kubectl-scale scaled replicaset "+changed) {
		t.Fatalf("the scale by hand is not listed as an input:\n%s", b.String())
	}
}
