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

// The names view keeps, for every kind/namespace/name, the objects (uids) that held the name
// and when: a StatefulSet's web-0 is a new object each time it is re-created, a Deployment
// deleted and applied again is another object with the same name.
//
// Bucket "names": key cluster NUL group NUL kind NUL namespace NUL name NUL first-seq (8 bytes)
// -> the object's id (uvarint), written once, when its first version is folded; the rest of
// its lifetime (uid, creationTimestamp, first and last observation) is read from its head.
var bNames = []byte("names")

func init() { registerBuckets(bNames) }

// Lifetime is one object that held a name, and when.
type Lifetime struct {
	Cluster   string
	Group     string
	Kind      string
	Namespace string
	Name      string
	UID       string
	Created   time.Time // metadata.creationTimestamp, when known
	FirstSeen time.Time // observed time of its first version
	FirstSeq  uint64
	Gone      time.Time // observed time of its deletion; zero while it exists
	GoneSeq   uint64
}

func nameKey(h *objHead) []byte {
	return appendBE8(prefix(h.Cluster, h.Group, h.Kind, h.Namespace, h.Name), h.FirstSeq)
}

func foldNames(t *txn, ev *event) error {
	if !ev.isNew {
		return nil
	}
	return t.putID(bNames, nameKey(ev.head), ev.head.ID)
}

// putID puts an index entry whose value is an object id (uvarint).
func (t *txn) putID(bucket, k []byte, id uint64) error {
	var b [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(b[:], id)
	return t.bucket(bucket).Put(k, t.keep(b[:n]))
}

// headOfEntry reads the head of the object whose id is the value v of entry k of an index.
func headOfEntry(tx *bolt.Tx, bucket string, k, v []byte) (*objHead, error) {
	id, n := binary.Uvarint(v)
	if n <= 0 {
		return nil, fmt.Errorf("%w: %s entry %q", ErrCorrupt, bucket, k)
	}
	return headByID(tx, id)
}

func decodeLifetime(tx *bolt.Tx, k, v []byte) (Lifetime, error) {
	parts := splitKey(k[:len(k)-9], 5)
	lt := Lifetime{Cluster: parts[0], Group: parts[1], Kind: parts[2], Namespace: parts[3], Name: parts[4], FirstSeq: readBE8(k[len(k)-8:])}
	h, err := headOfEntry(tx, "names", k, v)
	if err != nil {
		return lt, err
	}
	lt.UID, lt.Created, lt.FirstSeen, lt.Gone, lt.GoneSeq = h.UID, h.Created, h.FirstSeen, h.GoneAt, h.GoneSeq
	return lt, nil
}

// lifetimes lists the objects that held ref's name. An empty ref.Group matches every group.
func lifetimes(tx *bolt.Tx, ref ObjectRef) ([]Lifetime, error) {
	var out []Lifetime
	c := tx.Bucket(bNames).Cursor()
	groups := []string{ref.Group}
	if ref.Group == "" {
		var err error
		if groups, err = groupsOf(tx, ref.Cluster, ref.Kind); err != nil {
			return nil, err
		}
	}
	for _, g := range groups {
		p := prefix(ref.Cluster, g, ref.Kind, ref.Namespace, ref.Name)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p) && len(k) == len(p)+8; k, v = c.Next() {
			lt, err := decodeLifetime(tx, k, v)
			if err != nil {
				return nil, err
			}
			out = append(out, lt)
		}
	}
	slices.SortFunc(out, func(a, b Lifetime) int { return cmp.Compare(a.FirstSeq, b.FirstSeq) })
	return out, nil
}

// groupsOf lists the API groups in which a kind has objects in a cluster.
func groupsOf(tx *bolt.Tx, cluster, kind string) ([]string, error) {
	var out []string
	for _, g := range distinct(tx.Bucket(bNames), prefix(cluster)) {
		if bytes.HasPrefix(seekKey(tx.Bucket(bNames), prefix(cluster, g, kind)), prefix(cluster, g, kind)) {
			out = append(out, g)
		}
	}
	return out, nil
}

// seekKey returns the first key at or after k.
func seekKey(b *bolt.Bucket, k []byte) []byte {
	kk, _ := b.Cursor().Seek(k)
	return kk
}

// distinct lists the distinct values of the key part that follows p, skipping over the keys
// under each value (one seek per value).
func distinct(b *bolt.Bucket, p []byte) []string {
	var out []string
	c := b.Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); {
		rest := k[len(p):]
		i := indexByte(rest, 0)
		if i < 0 {
			k, _ = c.Next()
			continue
		}
		v := string(rest[:i])
		out = append(out, v)
		next := append(append(slices.Clone(p), v...), 1)
		k, _ = c.Seek(next)
	}
	return out
}

// GroupKind is an API group and a kind.
type GroupKind struct {
	Group string
	Kind  string
}

// Clusters lists the clusters the views know.
func (db *DB) Clusters(ctx context.Context) ([]string, error) {
	var out []string
	err := db.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bNames).Cursor()
		for k, _ := c.First(); k != nil; {
			i := indexByte(k, 0)
			if i < 0 {
				k, _ = c.Next()
				continue
			}
			out = append(out, string(k[:i]))
			k, _ = c.Seek(append(slices.Clone(k[:i]), 1))
		}
		return nil
	})
	return out, err
}

// Kinds lists the kinds with objects in a cluster.
func (db *DB) Kinds(ctx context.Context, cluster string) ([]GroupKind, error) {
	var out []GroupKind
	err := db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bNames)
		for _, g := range distinct(b, prefix(cluster)) {
			for _, k := range distinct(b, prefix(cluster, g)) {
				out = append(out, GroupKind{Group: g, Kind: k})
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b GroupKind) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Group, b.Group))
	})
	return out, err
}

// Namespaces lists the namespaces with objects in a cluster ("" is included when there are
// cluster-scoped objects).
func (db *DB) Namespaces(ctx context.Context, cluster string) ([]string, error) {
	seen := map[string]bool{}
	err := db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bNames)
		for _, g := range distinct(b, prefix(cluster)) {
			for _, k := range distinct(b, prefix(cluster, g)) {
				for _, ns := range distinct(b, prefix(cluster, g, k)) {
					seen[ns] = true
				}
			}
		}
		return nil
	})
	out := make([]string, 0, len(seen))
	for ns := range seen {
		out = append(out, ns)
	}
	slices.Sort(out)
	return out, err
}

// Names lists the names of a kind in a namespace that ever held an object (group "" matches
// every group).
func (db *DB) Names(ctx context.Context, cluster, group, kind, namespace string) ([]string, error) {
	seen := map[string]bool{}
	err := db.view(func(tx *bolt.Tx) error {
		groups := []string{group}
		if group == "" {
			var err error
			if groups, err = groupsOf(tx, cluster, kind); err != nil {
				return err
			}
		}
		for _, g := range groups {
			for _, n := range distinct(tx.Bucket(bNames), prefix(cluster, g, kind, namespace)) {
				seen[n] = true
			}
		}
		return nil
	})
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, err
}

// Lifetimes returns the objects (uids) that held ref's name and when, oldest first (ref.UID
// is ignored; an empty ref.Group matches every group).
func (db *DB) Lifetimes(ctx context.Context, ref ObjectRef) ([]Lifetime, error) {
	var out []Lifetime
	err := db.view(func(tx *bolt.Tx) error {
		var err error
		ref.UID = ""
		out, err = lifetimes(tx, ref)
		return err
	})
	return out, err
}
