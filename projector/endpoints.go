package projector

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The endpoints view keeps, for each Service, its ready addresses over time, from its
// EndpointSlices (label kubernetes.io/service-name): an address is ready when its endpoint's
// ready condition is true or unset. A change is recorded whenever the union of the ready
// addresses of all the Service's slices changes.
//
// Buckets: "eps": cluster NUL namespace NUL service NUL slice-uid -> JSON []Address (a
// slice's ready addresses); "epu": cluster NUL namespace NUL service -> JSON []Address (the
// Service's current ready addresses); "ep": cluster NUL namespace NUL service NUL seq -> JSON
// epRecord, a change: after a Service's first, only the addresses it added and removed, so that
// a rollout of N pods behind a Service stores N small changes rather than N sets of up to N
// addresses each (a Service of 150 pods took 19% of a busy cluster's views with whole sets).
var bEPSlice, bEPUnion, bEP = []byte("eps"), []byte("epu"), []byte("ep")

func init() { registerBuckets(bEPSlice, bEPUnion, bEP) }

// Address is one ready address of a Service.
type Address struct {
	IP   string `json:"ip"`
	Pod  string `json:"pod,omitempty"` // the endpoint's targetRef name
	Node string `json:"node,omitempty"`
}

// EndpointsChange is the set of ready addresses of a Service from a point on.
type EndpointsChange struct {
	Service string    `json:"service"`
	Seq     uint64    `json:"seq"`
	At      time.Time `json:"at"`
	Ready   []Address `json:"ready"`
	Added   []Address `json:"added,omitempty"`
	Removed []Address `json:"removed,omitempty"`
}

// epRecord is an EndpointsChange as bucket "ep" stores it. A record with Delta holds only
// Added and Removed: the set is the previous change's with them applied. Other records hold
// the whole set (a Service's first change, a change as large as the set, every change of a
// views file written before deltas).
type epRecord struct {
	Service string    `json:"service"`
	Seq     uint64    `json:"seq"`
	At      time.Time `json:"at"`
	Ready   []Address `json:"ready,omitempty"`
	Added   []Address `json:"added,omitempty"`
	Removed []Address `json:"removed,omitempty"`
	Delta   bool      `json:"delta,omitempty"`
}

// applyAddresses returns the sorted set ready with added put in and removed taken out, in a
// new slice.
func applyAddresses(ready, added, removed []Address) []Address {
	out := make([]Address, 0, len(ready)+len(added))
	for _, a := range ready {
		if _, gone := slices.BinarySearchFunc(removed, a, cmpAddr); !gone {
			out = append(out, a)
		}
	}
	out = append(out, added...)
	slices.SortFunc(out, cmpAddr)
	return slices.CompactFunc(out, func(a, b Address) bool { return a == b })
}

func cmpAddr(a, b Address) int {
	return cmp.Or(cmp.Compare(a.IP, b.IP), cmp.Compare(a.Pod, b.Pod), cmp.Compare(a.Node, b.Node))
}

func readyAddresses(o *Object) []Address {
	out := []Address{}
	for _, ep := range o.Endpoints {
		if r := ep.Conditions.Ready; r != nil && !*r {
			continue
		}
		for _, ip := range ep.Addresses {
			a := Address{IP: ip}
			if ep.TargetRef != nil {
				a.Pod = ep.TargetRef.Name
			}
			if ep.NodeName != nil {
				a.Node = *ep.NodeName
			}
			out = append(out, a)
		}
	}
	slices.SortFunc(out, cmpAddr)
	return slices.CompactFunc(out, func(a, b Address) bool { return a == b })
}

func loadAddresses(b *bolt.Bucket, k []byte) ([]Address, error) {
	raw := b.Get(k)
	if raw == nil {
		return []Address{}, nil
	}
	var out []Address
	if err := unmarshalRecord(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func foldEndpoints(t *txn, ev *event) error {
	h, o := ev.head, ev.obj
	if h.Kind != "EndpointSlice" || h.Group != "discovery.k8s.io" || o == nil {
		return nil
	}
	svc := o.Metadata.Labels.ServiceName
	if svc == "" {
		return nil
	}
	slices_ := t.bucket(bEPSlice)
	sk := key(h.Cluster, h.Namespace, svc, h.UID)
	old, err := loadAddresses(slices_, sk)
	if err != nil {
		return err
	}
	cur := readyAddresses(o)
	if ev.gone {
		cur = []Address{}
	}
	if slices.Equal(old, cur) && !ev.isNew {
		return nil
	}
	if ev.gone {
		if err := slices_.Delete(sk); err != nil {
			return err
		}
	} else if err := putRecord(t, bEPSlice, sk, cur); err != nil {
		return err
	}
	// The union over the Service's slices.
	union := []Address{}
	p := prefix(h.Cluster, h.Namespace, svc)
	c := slices_.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		var as []Address
		if err := unmarshalRecord(v, &as); err != nil {
			return err
		}
		union = append(union, as...)
	}
	slices.SortFunc(union, cmpAddr)
	union = slices.CompactFunc(union, func(a, b Address) bool { return a == b })
	uk := key(h.Cluster, h.Namespace, svc)
	hadPrev := t.bucket(bEPUnion).Get(uk) != nil
	prev, err := loadAddresses(t.bucket(bEPUnion), uk)
	if err != nil {
		return err
	}
	if hadPrev && slices.Equal(prev, union) {
		return nil
	}
	ch := epRecord{Service: svc, Seq: ev.env.Seq, At: ev.env.Observed, Ready: union}
	for _, a := range union {
		if _, found := slices.BinarySearchFunc(prev, a, cmpAddr); !found {
			ch.Added = append(ch.Added, a)
		}
	}
	for _, a := range prev {
		if _, found := slices.BinarySearchFunc(union, a, cmpAddr); !found {
			ch.Removed = append(ch.Removed, a)
		}
	}
	if hadPrev && len(ch.Added)+len(ch.Removed) < len(union) {
		ch.Ready, ch.Delta = nil, true
	}
	if err := putRecord(t, bEPUnion, uk, union); err != nil {
		return err
	}
	return putRecord(t, bEP, appendBE8(prefix(h.Cluster, h.Namespace, svc), ev.env.Seq), &ch)
}

// ServiceRef names a Service.
type ServiceRef struct {
	Cluster   string
	Namespace string
	Name      string
}

// Endpoints returns the changes of a Service's ready addresses, in log order, that happened
// in [from, to) (zero times: open), preceded by the change in effect at from.
func (db *DB) Endpoints(ctx context.Context, s ServiceRef, from, to time.Time) ([]EndpointsChange, error) {
	var out []EndpointsChange
	err := db.view(func(tx *bolt.Tx) error {
		p := prefix(s.Cluster, s.Namespace, s.Name)
		c := tx.Bucket(bEP).Cursor()
		var before *EndpointsChange
		ready := []Address{}
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p) && len(k) == len(p)+8; k, v = c.Next() {
			var r epRecord
			if err := unmarshalRecord(v, &r); err != nil {
				return err
			}
			// Changes are kept as deltas: the set at each is rebuilt from the first on.
			if r.Delta {
				ready = applyAddresses(ready, r.Added, r.Removed)
			} else {
				ready = r.Ready
				if ready == nil {
					ready = []Address{}
				}
			}
			ch := EndpointsChange{Service: r.Service, Seq: r.Seq, At: r.At, Ready: ready, Added: r.Added, Removed: r.Removed}
			if !to.IsZero() && !ch.At.Before(to) {
				break
			}
			if !from.IsZero() && ch.At.Before(from) {
				before = &ch
				continue
			}
			if before != nil {
				out = append(out, *before)
				before = nil
			}
			out = append(out, ch)
		}
		if before != nil {
			out = append(out, *before)
		}
		return nil
	})
	return out, err
}
