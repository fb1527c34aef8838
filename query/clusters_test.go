package query

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog/importer"
	"github.com/khist/khist/projector"
)

// twoClusters folds two fidelity recordings into one set of views, as clusters prod
// (max-surge-0) and stage (never-ready-undo), the way two collectors fill one log; and the
// seed rollout into both, so that deployment/nginx-deployment in namespace seed-rolling exists in each.
func twoClusters(t *testing.T) *Views {
	t.Helper()
	db, err := projector.Open(filepath.Join(t.TempDir(), "views.db"), &projector.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	seq := uint64(0)
	for _, c := range []struct{ cluster, file string }{
		{"prod", "max-surge-0"}, {"stage", "never-ready-undo"}, {"prod", "seed-rolling"}, {"stage", "seed-rolling"},
	} {
		f := filepath.Join("..", "test", "fidelity", "testdata", c.file+".json.gz")
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := importer.ReadWatch(c.cluster, importer.Input{Name: f, R: fh})
		fh.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, e := range res.Envelopes {
			seq++
			e.Seq = seq
		}
		if err := db.Apply(context.Background(), res.Envelopes); err != nil {
			t.Fatalf("%s: fold: %v", f, err)
		}
	}
	return NewViews(db, "default", Env{Loc: time.UTC})
}

// TestClustersRollouts: --all-clusters shows both clusters' rollouts with a CLUSTER column,
// --cluster prod only prod's without it, and -o json rows carry their cluster.
func TestClustersRollouts(t *testing.T) {
	ctx := context.Background()
	v := twoClusters(t)
	if cs, err := v.DB.Clusters(ctx); err != nil || strings.Join(cs, ",") != "prod,stage" {
		t.Fatalf("clusters %v, %v; want prod, stage", cs, err)
	}
	all := *v
	if err := all.SelectClusters(ctx, ClusterArgs{All: true}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := all.Rollouts(ctx, RolloutsArgs{AllNamespaces: true, Output: OutWide}, &out); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, filepath.Join("testdata", "golden", "clusters", "rollouts-all-clusters.golden"), out.Bytes())

	prod := *v
	if err := prod.SelectClusters(ctx, ClusterArgs{Names: []string{"prod"}}); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := prod.Rollouts(ctx, RolloutsArgs{AllNamespaces: true, Output: OutTable}, &out); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, filepath.Join("testdata", "golden", "clusters", "rollouts-prod.golden"), out.Bytes())
	if strings.Contains(out.String(), "CLUSTER") || strings.Contains(out.String(), "never-ready-undo") {
		t.Errorf("--cluster prod shows a CLUSTER column or stage's rollouts:\n%s", out.String())
	}

	out.Reset()
	if err := all.Rollouts(ctx, RolloutsArgs{AllNamespaces: true, Output: OutJSON}, &out); err != nil {
		t.Fatal(err)
	}
	var doc struct{ Rollouts []RolloutRow }
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, r := range doc.Rollouts {
		per[r.Cluster+"/"+r.Workload.Namespace]++
	}
	if per["prod/max-surge-0"] == 0 || per["stage/never-ready-undo"] == 0 || per["prod/never-ready-undo"] != 0 || per["stage/max-surge-0"] != 0 {
		t.Errorf("-o json rows per cluster/namespace: %v", per)
	}
}

// TestClustersSelect: unknown clusters, both flags, and a command about one object whose
// object exists in several selected clusters are one-line errors that say what to do.
func TestClustersSelect(t *testing.T) {
	ctx := context.Background()
	v := twoClusters(t)
	for _, c := range []struct {
		a    ClusterArgs
		want string
		is   error
	}{
		{ClusterArgs{}, `no cluster "default" in the history (it holds prod, stage)`, ErrNotFound},
		{ClusterArgs{Names: []string{"prod", "qa"}}, `no cluster "qa" in the history (it holds prod, stage)`, ErrNotFound},
		{ClusterArgs{Names: []string{"prod"}, All: true}, "--cluster prod and --all-clusters exclude each other", ErrBadArgument},
	} {
		s := *v
		err := s.SelectClusters(ctx, c.a)
		if !errors.Is(err, c.is) || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v; want %q", c.a, err, c.want)
		}
	}
	all := *v
	if err := all.SelectClusters(ctx, ClusterArgs{Names: []string{"prod", "stage"}}); err != nil {
		t.Fatal(err)
	}
	_, err := all.One(ctx, "get", "deploy/nginx-deployment", "seed-rolling")
	if want := "get: deploy/nginx-deployment exists in clusters prod, stage: pick one with --cluster"; err == nil || err.Error() != want {
		t.Errorf("One of an object in both clusters: %v; want %q", err, want)
	}
	one, err := all.One(ctx, "history", "deploy/web#2", "never-ready-undo")
	if err != nil || one.Cluster != "stage" {
		t.Errorf("One of an object in stage only: %v, %v; want stage", one, err)
	}
	var out bytes.Buffer
	if err := one.History(ctx, HistoryArgs{Object: "deploy/web", Namespace: "never-ready-undo", Output: OutTable}, &out); err != nil || !strings.Contains(out.String(), "web:broken") {
		t.Errorf("history in stage: %v\n%s", err, out.String())
	}
	if _, err := all.Single("state"); err == nil || !strings.Contains(err.Error(), "pick one with --cluster") {
		t.Errorf("Single with two clusters: %v", err)
	}
}

// TestClustersTimeline: the timeline of two clusters shows the groups of each under its
// cluster (text, csv, json); the HTML page's diff of a change is found in its own cluster.
func TestClustersTimeline(t *testing.T) {
	ctx := context.Background()
	v := twoClusters(t)
	if err := v.SelectClusters(ctx, ClusterArgs{All: true}); err != nil {
		t.Fatal(err)
	}
	a := TimelineArgs{AllNamespaces: true, Since: "2026-11-22T02:09:00Z", Until: "2026-11-22T02:12:00Z", Kinds: []string{"deploy"}, Output: OutMD}
	var out bytes.Buffer
	if err := v.Timeline(ctx, a, &out); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, filepath.Join("testdata", "golden", "clusters", "timeline-all-clusters.md.golden"), out.Bytes())
	for _, want := range []string{
		"## deployment.apps/web (cluster prod, namespace max-surge-0)",
		"## deployment.apps/web (cluster stage, namespace never-ready-undo)",
		"## deployment.apps/nginx-deployment (cluster prod, namespace seed-rolling)",
		"## deployment.apps/nginx-deployment (cluster stage, namespace seed-rolling)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("timeline -o md of both clusters lacks %q", want)
		}
	}
	out.Reset()
	a.Output = OutJSON
	if err := v.Timeline(ctx, a, &out); err != nil {
		t.Fatal(err)
	}
	var tl Timeline
	if err := json.Unmarshal(out.Bytes(), &tl); err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	var stageSeq uint64
	for _, g := range tl.Groups {
		per[g.Cluster+" "+g.Workload.Namespace]++
		if g.Cluster == "stage" && g.Workload.Namespace == "never-ready-undo" {
			stageSeq = g.Lanes[0].Entries[1].Seq
		}
	}
	if len(per) != 4 || per["prod max-surge-0"] != 1 || per["stage never-ready-undo"] != 1 {
		t.Errorf("timeline groups per cluster and namespace: %v", per)
	}
	key, _, _, err := v.ChangeDiff(ctx, stageSeq)
	if err != nil || key.Namespace != "never-ready-undo" {
		t.Errorf("ChangeDiff of stage's seq %d with both clusters: %v %v", stageSeq, key, err)
	}
	if _, _, _, err := v.In("prod").ChangeDiff(ctx, stageSeq); !errors.Is(err, ErrNotFound) {
		t.Errorf("ChangeDiff of stage's seq %d in prod: %v, want not found", stageSeq, err)
	}
}
