package projector

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/khist/khist/eventlog"
)

// TestEndpointsDeltas rolls 150 pods behind one Service, split over two EndpointSlices (each
// pod becomes ready, then a new one replaces it, in random order), and checks that the
// Service's ready addresses at every change are those the test computes by itself from the
// slices, and that the view keeps changes as deltas: its bucket holds a fraction of what
// whole sets would take.
func TestEndpointsDeltas(t *testing.T) {
	const n = 150
	rng := rand.New(rand.NewSource(11))
	type ep struct {
		ip, pod string
		ready   bool
	}
	sliceOf := map[string][]ep{"web-a": nil, "web-b": nil}
	uids := map[string]string{"web-a": "s1", "web-b": "s2"}
	render := func(name string) string {
		var parts []string
		for _, e := range sliceOf[name] {
			parts = append(parts, fmt.Sprintf(`{"addresses":[%q],"conditions":{"ready":%v},"targetRef":{"kind":"Pod","name":%q}}`, e.ip, e.ready, e.pod))
		}
		return o("discovery.k8s.io/v1", "EndpointSlice", "ns", name, uids[name], `"labels":{"kubernetes.io/service-name":"web"}`,
			`"addressType":"IPv4","endpoints":[`+strings.Join(parts, ",")+`]`)
	}
	union := func() []string {
		var out []string
		for _, s := range sliceOf {
			for _, e := range s {
				if e.ready {
					out = append(out, e.ip+"/"+e.pod)
				}
			}
		}
		slices.Sort(out)
		return out
	}
	var evs []ev
	var want [][]string
	rv, at := 1, 0.0
	emit := func(typ eventlog.EventType, name string) {
		rv++
		at += 0.5
		evs = append(evs, ev{typ, rv, at, render(name)})
		if u := union(); len(want) == 0 || !slices.Equal(want[len(want)-1], u) {
			want = append(want, u)
		}
	}
	emit("ADDED", "web-a")
	emit("ADDED", "web-b")
	// Revision 1: pods added not ready, then ready one by one.
	for i := 0; i < n; i++ {
		name := []string{"web-a", "web-b"}[i%2]
		sliceOf[name] = append(sliceOf[name], ep{fmt.Sprintf("10.0.%d.%d", i/250, i%250), fmt.Sprintf("web-1-%d", i), false})
		emit("MODIFIED", name)
	}
	for _, i := range rng.Perm(n) {
		name := []string{"web-a", "web-b"}[i%2]
		sliceOf[name][i/2].ready = true
		emit("MODIFIED", name)
	}
	// Revision 2: each old pod replaced by a new one, in random order.
	for k, i := range rng.Perm(n) {
		name := []string{"web-a", "web-b"}[i%2]
		sliceOf[name][i/2] = ep{fmt.Sprintf("10.1.%d.%d", k/250, k%250), fmt.Sprintf("web-2-%d", k), false}
		emit("MODIFIED", name)
		sliceOf[name][i/2].ready = true
		emit("MODIFIED", name)
	}
	db := foldTable(t, evs)
	chs, err := db.Endpoints(ctx, ServiceRef{Cluster: "c", Namespace: "ns", Name: "web"}, timeZero, timeZero)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]string
	for _, c := range chs {
		got = append(got, readyNames(c))
	}
	if len(got) != len(want) {
		t.Fatalf("%d changes, want %d", len(got), len(want))
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) && !(len(got[i]) == 0 && len(want[i]) == 0) {
			t.Fatalf("change %d: %d ready %v, want %d %v", i, len(got[i]), got[i], len(want[i]), want[i])
		}
	}
	// Whole sets would take the sum of every set's size; deltas about one address each.
	var stored, whole int
	db.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bEP).ForEach(func(k, v []byte) error { stored += len(v); return nil })
	})
	for _, c := range chs {
		b, _ := json.Marshal(c)
		whole += len(b)
	}
	t.Logf("%d changes: %d bytes stored, %d as whole sets (JSON, uncompressed)", len(chs), stored, whole)
	if stored*10 > whole {
		t.Errorf("the view keeps %d bytes for %d changes whose whole sets are %d bytes: not deltas", stored, len(chs), whole)
	}
}

// TestEndpointsOldRecords: a views file written before deltas holds whole sets; changes folded
// after it are deltas on top of them.
func TestEndpointsOldRecords(t *testing.T) {
	db := MustOpenDB(t)
	old := EndpointsChange{Service: "web", Seq: 1, At: t0, Ready: []Address{{IP: "10.0.0.1", Pod: "p1"}, {IP: "10.0.0.2", Pod: "p2"}}, Added: []Address{{IP: "10.0.0.1", Pod: "p1"}, {IP: "10.0.0.2", Pod: "p2"}}}
	empty := EndpointsChange{Service: "web", Seq: 2, At: t0.Add(time.Second), Ready: []Address{}, Removed: old.Ready}
	again := epRecord{Service: "web", Seq: 3, At: t0.Add(2 * time.Second), Added: []Address{{IP: "10.0.0.3", Pod: "p3"}}, Delta: true}
	err := db.update(ctx, 0, false, func(tx *bolt.Tx) error {
		tt := db.newTxn(tx)
		for _, r := range []any{old, empty, again} {
			var seq uint64
			switch r := r.(type) {
			case EndpointsChange:
				seq = r.Seq
			case epRecord:
				seq = r.Seq
			}
			if err := putRecord(tt, bEP, appendBE8(prefix("c", "ns", "web"), seq), r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	chs, err := db.Endpoints(ctx, ServiceRef{Cluster: "c", Namespace: "ns", Name: "web"}, timeZero, timeZero)
	if err != nil {
		t.Fatal(err)
	}
	check(t, renderEndpoints(chs), []string{"0 [10.0.0.1/p1 10.0.0.2/p2] +2 -0", "1 [] +0 -2", "2 [10.0.0.3/p3] +1 -0"})
}
