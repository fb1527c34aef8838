package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/khist/khist/eventlog/importer"
	"github.com/khist/khist/projector"
)

// twoClusterViews folds two recordings as clusters prod (max-surge-0) and stage
// (never-ready-undo), and the seed rollout into both, into one views file.
func twoClusterViews(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "views.db")
	db, err := projector.Open(path, &projector.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	seq := uint64(0)
	for _, c := range [][2]string{{"prod", "max-surge-0"}, {"stage", "never-ready-undo"}, {"prod", "seed-rolling"}, {"stage", "seed-rolling"}} {
		f := "../../test/fidelity/testdata/" + c[1] + ".json.gz"
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := importer.ReadWatch(c[0], importer.Input{Name: f, R: fh})
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range res.Envelopes {
			seq++
			e.Seq = seq
		}
		if err := db.Apply(context.Background(), res.Envelopes); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// TestClusters: the API's cluster=a,b and allClusters=true select clusters as the read
// commands' --cluster and --all-clusters do, the server's --cluster is the default, and the
// rollouts page shows a cluster column when several are shown.
func TestClusters(t *testing.T) {
	s, err := New(Options{Views: twoClusterViews(t), Addr: "127.0.0.1:0", Cluster: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	rollouts := func(q string) map[string]int {
		t.Helper()
		code, body := get(t, srv.Client(), srv.URL+"/api/v1/rollouts?all-namespaces=true"+q)
		if code != http.StatusOK {
			t.Fatalf("rollouts%s: %d %s", q, code, body)
		}
		var doc struct {
			Rollouts []struct {
				Cluster  string
				Workload struct{ Namespace string }
			}
		}
		if err := json.Unmarshal([]byte(body), &doc); err != nil {
			t.Fatal(err)
		}
		per := map[string]int{}
		for _, r := range doc.Rollouts {
			per[r.Cluster+" "+r.Workload.Namespace]++
		}
		return per
	}
	both := map[string]int{"prod max-surge-0": 2, "prod seed-rolling": 2, "stage never-ready-undo": 3, "stage seed-rolling": 2}
	for q, want := range map[string]map[string]int{
		"":                            {"prod max-surge-0": 2, "prod seed-rolling": 2},
		"&cluster=stage":              {"stage never-ready-undo": 3, "stage seed-rolling": 2},
		"&cluster=prod,stage":         both,
		"&allClusters=true":           both,
		"&cluster=stage&cluster=prod": both,
	} {
		got := rollouts(q)
		if len(got) != len(want) {
			t.Errorf("rollouts%s: %v, want %v", q, got, want)
			continue
		}
		for k, n := range want {
			if got[k] != n {
				t.Errorf("rollouts%s: %v, want %v", q, got, want)
				break
			}
		}
	}
	for _, c := range []struct{ path, want string }{
		{"/api/v1/get?namespace=seed-rolling&object=deploy/nginx-deployment&allClusters=true", "get: deploy/nginx-deployment exists in clusters prod, stage: pick one with --cluster"},
		{"/api/v1/state?allClusters=true", "state answers about one cluster at a time, not prod, stage"},
		{"/api/v1/rollouts?cluster=qa", `qa\" in the history (it holds prod, stage): pick one with --cluster`},
		{"/api/v1/rollouts?allClusters=maybe", "allClusters=maybe: use true or false"},
	} {
		code, body := get(t, srv.Client(), srv.URL+c.path)
		if code != http.StatusBadRequest && code != http.StatusNotFound || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s; want an error with %q", c.path, code, body, c.want)
		}
	}
	if code, body := get(t, srv.Client(), srv.URL+"/api/v1/history?namespace=never-ready-undo&object=deploy/web&allClusters=true"); code != http.StatusOK || !strings.Contains(body, "web:broken") {
		t.Errorf("history of stage's deploy/web with allClusters: %d %.300s", code, body)
	}

	code, body := get(t, srv.Client(), srv.URL+"/api/v1/timeline?all-namespaces=true&kind=deploy&since=2026-11-22T02:09:00Z&until=2026-11-22T02:12:00Z&allClusters=true")
	if code != http.StatusOK || !strings.Contains(body, `"cluster": "stage"`) || !strings.Contains(body, `"cluster": "prod"`) {
		t.Errorf("timeline of all clusters: %d %.300s", code, body)
	}
	code, page := get(t, srv.Client(), srv.URL+"/timeline?all-namespaces=true&since=2026-11-22T02:09:00Z&until=2026-11-22T02:12:00Z&allClusters=true")
	if code != http.StatusOK || !strings.Contains(page, "(stage, never-ready-undo)") {
		t.Errorf("timeline page of all clusters: %d, no group of stage:\n%.1000s", code, page)
	}

	_, page = get(t, srv.Client(), srv.URL+"/rollouts?allClusters=true")
	if !strings.Contains(page, "<th>cluster</th>") || !strings.Contains(page, `<td class="cluster">stage</td>`) || !strings.Contains(page, "cluster=stage") {
		t.Errorf("rollouts page of all clusters lacks the cluster column or links:\n%.3000s", page)
	}
	_, page = get(t, srv.Client(), srv.URL+"/rollouts")
	if strings.Contains(page, "<th>cluster</th>") || strings.Contains(page, "never-ready-undo") || !strings.Contains(page, "max-surge-0") {
		t.Errorf("rollouts page of prod: a cluster column, or stage's rollouts:\n%.3000s", page)
	}

	// khist serve --all-clusters: every cluster when a request names none.
	sa, err := New(Options{Views: s.opts.Views, Addr: "127.0.0.1:0", AllClusters: true})
	if err != nil {
		t.Fatal(err)
	}
	srvAll := httptest.NewServer(sa.Handler())
	defer srvAll.Close()
	if code, body := get(t, srvAll.Client(), srvAll.URL+"/api/v1/rollouts?all-namespaces=true"); code != http.StatusOK || !strings.Contains(body, `"cluster": "prod"`) || !strings.Contains(body, `"cluster": "stage"`) {
		t.Errorf("rollouts of a server with AllClusters: %d %.300s", code, body)
	}
}
