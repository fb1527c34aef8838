package query

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/khist/khist/projector"
)

// ChangeDiff returns the diff the HTML timeline shows for the change at sequence seq (the
// version against the previous version of the same object, as BuildTimeline computes it with
// Diffs), and the object the timeline files it under (an Event's subject).
func (v *Views) ChangeDiff(ctx context.Context, seq uint64) (ObjectKey, Version, string, error) {
	pv, err := v.DB.VersionBySeq(ctx, seq)
	if errors.Is(err, projector.ErrNotFound) || err == nil && !slices.Contains(v.Clusters(), pv.Cluster) {
		return ObjectKey{}, Version{}, "", errorf(ErrNotFound, "seq=%d: no change of cluster %s was recorded at that sequence", seq, strings.Join(v.Clusters(), ", "))
	}
	if err != nil {
		return ObjectKey{}, Version{}, "", err
	}
	v = v.In(pv.Cluster) // of the clusters selected, the change's
	ver := fromProjector(pv)
	vs, err := v.DB.Versions(ctx, projector.ObjectRef{Cluster: v.Cluster, Group: ver.Group, Kind: ver.Kind, Namespace: ver.Namespace, Name: ver.Name, UID: ver.UID})
	if err != nil {
		return ObjectKey{}, Version{}, "", err
	}
	var prev []byte
	for i := range vs {
		if vs[i].Seq >= seq {
			break
		}
		if p := fromProjector(vs[i]); !p.IsDelete() {
			prev = p.Object
		}
	}
	key := ver.ObjectKey
	if ver.Kind == "Event" {
		cur, err := decodeObject(ver.Object)
		if err == nil {
			if subj := EventSubject(cur); subj.Name != "" {
				key = subj
			}
		}
		d, err := DiffObjects(prev, ver.Object, DiffOptions{FromName: "(before)", ToName: "event/" + ver.Name})
		return key, ver, d, err
	}
	to := ver.Object
	if ver.IsDelete() {
		to = nil
	}
	d, err := DiffObjects(prev, to, DiffOptions{FromName: versionName(key, "before"), ToName: versionName(key, ver.Type+" rv "+ver.ResourceVersion)})
	return key, ver, d, err
}
