package query

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestRolloutDetails: each finished rollout's detail carries the row khist rollouts -o json
// answers for it and the steps khist steps --rollout #N -o json answers, and its pods'
// readiness changes within the rollout; EndedAfter leaves out those that ended before.
func TestRolloutDetails(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"sample-rolling", "sample-statefulset"} {
		t.Run(name, func(t *testing.T) {
			v := loadScenario(t, name).views
			ds, err := v.RolloutDetails(ctx, RolloutDetailArgs{AllNamespaces: true})
			if err != nil || len(ds) == 0 {
				t.Fatalf("%d details, %v", len(ds), err)
			}
			var rows struct {
				Rollouts []RolloutRow `json:"rollouts"`
			}
			var buf bytes.Buffer
			if err := v.Rollouts(ctx, RolloutsArgs{AllNamespaces: true, Output: OutJSON}, &buf); err != nil {
				t.Fatal(err)
			}
			json.Unmarshal(buf.Bytes(), &rows)
			ready, last := 0, uint64(0)
			for _, d := range ds {
				r := d.Rollout
				if r.EndSeq < last {
					t.Errorf("%s ended at %d, before the one before it (%d)", r.Ref, r.EndSeq, last)
				}
				last = r.EndSeq
				var want *RolloutRow
				for i := range rows.Rollouts {
					if rows.Rollouts[i].ID == r.ID {
						want = &rows.Rollouts[i]
					}
				}
				if want == nil || r.Ended.IsZero() || d.UID == "" {
					t.Errorf("%s: not finished or not in khist rollouts (%v)", r.Ref, want)
					continue
				}
				got, _ := json.Marshal(r)
				exp, _ := json.Marshal(want)
				if !bytes.Equal(got, exp) {
					t.Errorf("%s: row\n%s\nwant\n%s", r.Ref, got, exp)
				}
				buf.Reset()
				if err := v.Steps(ctx, StepsArgs{Object: r.Ref[:strings.IndexByte(r.Ref, '#')], Namespace: r.Workload.Namespace, Rollout: fmt.Sprintf("#%d", r.Number), Output: OutJSON}, &buf); err != nil {
					t.Fatal(err)
				}
				var steps []struct {
					Steps []StepRow `json:"steps"`
				}
				json.Unmarshal(buf.Bytes(), &steps)
				var mine []StepRow
				for _, s := range d.Steps {
					mine = append(mine, s.StepRow)
					if s.Action == "scale" && (s.From == nil || s.To == nil || !strings.Contains(s.Text, fmt.Sprintf("from %d to %d", *s.From, *s.To))) {
						t.Errorf("%s: scale step %+v", r.Ref, s)
					}
				}
				if len(steps) != 1 || len(mine) == 0 || !reflect.DeepEqual(steps[0].Steps, mine) {
					t.Errorf("%s: steps %+v, khist steps says %+v", r.Ref, mine, steps)
				}
				for _, p := range d.Pods {
					if p.Seq < r.ID || p.Seq > r.EndSeq || p.At.Before(r.Started) || p.At.After(r.Ended) || p.Pod == "" {
						t.Errorf("%s (%d-%d): pod readiness %+v", r.Ref, r.ID, r.EndSeq, p)
					}
					if p.Ready {
						ready++
					}
				}
			}
			if ready == 0 {
				t.Error("no pod became ready in any rollout")
			}
			later, err := v.RolloutDetails(ctx, RolloutDetailArgs{AllNamespaces: true, EndedAfter: ds[0].Rollout.EndSeq})
			if err != nil || len(later) != len(ds)-1 {
				t.Errorf("EndedAfter %d: %d details, want %d (%v)", ds[0].Rollout.EndSeq, len(later), len(ds)-1, err)
			}
		})
	}
}
