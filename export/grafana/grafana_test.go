package grafana

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/khist/khist/internal/recording"
	"github.com/khist/khist/projector"
	"github.com/khist/khist/query"
)

// testViews folds recordings made on a real control plane (complete rollouts in namespace
// default-25, a failed rollout rolled back in never-ready-undo) into views of cluster "default".
func testViews(t testing.TB) *query.Views {
	t.Helper()
	envs, err := recording.Envelopes("default", "../../test/fidelity/testdata/default-25.json.gz", "../../test/fidelity/testdata/never-ready-undo.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	db, err := projector.Open(filepath.Join(t.TempDir(), "views.db"), &projector.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Apply(context.Background(), envs); err != nil {
		t.Fatal(err)
	}
	return query.NewViews(db, "default", query.DefaultEnv())
}

// request is one request the Grafana stand-in received.
type request struct {
	Method, Path, Query, Auth, ContentType string
	Body                                   string
}

// grafanaAPI is a stand-in for Grafana's annotations HTTP API (named so: a fake): it keeps the
// annotations POSTed, answers GET /api/annotations with those whose tags and time match as
// Grafana's does, and applies PATCHes. It records every request.
type grafanaAPI struct {
	mu   sync.Mutex
	reqs []request
	ann  map[int64]map[string]any
	next int64
}

func (g *grafanaAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reqs = append(g.reqs, request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)})
	if r.Header.Get("Authorization") != "Bearer glsa_test" {
		http.Error(w, `{"message":"Unauthorized"}`, http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/annotations":
		q := r.URL.Query()
		from, _ := strconv.ParseInt(q.Get("from"), 10, 64)
		to, _ := strconv.ParseInt(q.Get("to"), 10, 64)
		out := []map[string]any{}
		for id, a := range g.ann {
			tags := a["tags"].([]any)
			end := int64(a["timeEnd"].(float64))
			if !slices.Contains(tags, any(q.Get("tags"))) || int64(a["time"].(float64)) > to || end < from {
				continue
			}
			c := map[string]any{"id": id, "time": a["time"], "timeEnd": end, "tags": tags, "text": a["text"]}
			out = append(out, c)
		}
		json.NewEncoder(w).Encode(out)
	case r.Method == http.MethodPost && r.URL.Path == "/api/annotations":
		var a map[string]any
		if err := json.Unmarshal(b, &a); err != nil {
			http.Error(w, `{"message":"bad request data"}`, http.StatusBadRequest)
			return
		}
		if _, ok := a["timeEnd"]; !ok {
			a["timeEnd"] = a["time"] // Grafana answers a point's end as its time
		}
		g.next++
		g.ann[g.next] = a
		fmt.Fprintf(w, `{"message":"Annotation added","id":%d}`, g.next)
	case r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, "/api/annotations/"):
		id, _ := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, "/api/annotations/"), 10, 64)
		a, ok := g.ann[id]
		if !ok {
			http.Error(w, `{"message":"Could not find annotation to update"}`, http.StatusNotFound)
			return
		}
		var p map[string]any
		json.Unmarshal(b, &p)
		for k, v := range p {
			a[k] = v
		}
		w.Write([]byte(`{"message":"Annotation patched"}`))
	default:
		http.NotFound(w, r)
	}
}

func (g *grafanaAPI) take() []request {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.reqs
	g.reqs = nil
	return r
}

// TestPush: the first push POSTs one annotation per rollout and spec change, each body exactly
// the fields Grafana's API documents (time, timeEnd, tags, text; dashboardUID and panelId when
// given) with the rollout's times, outcome and identity; a second push reads them back and
// sends nothing; an annotation that differs from khist's answer is PATCHed; a bad token is a
// one-line error saying what to give.
func TestPush(t *testing.T) {
	v := testViews(t)
	ctx := context.Background()
	as, err := v.Annotations(ctx, query.AnnotationsArgs{AllNamespaces: true})
	if err != nil {
		t.Fatal(err)
	}
	var rollouts int
	for _, a := range as {
		if slices.Contains(a.Tags, "rollout") {
			rollouts++
		}
	}
	if rollouts < 3 || len(as) == rollouts {
		t.Fatalf("%d annotations, %d of rollouts: the recordings have rollouts and spec changes", len(as), rollouts)
	}
	api := &grafanaAPI{ann: map[int64]map[string]any{}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	o := Options{URL: srv.URL + "/", Token: "glsa_test", DashboardUID: "khist-rollouts", PanelID: 2}

	st, err := Push(ctx, as, o)
	if err != nil || st != (Stats{Created: len(as)}) {
		t.Fatalf("first push: %+v %v, want %d created", st, err, len(as))
	}
	reqs := api.take()
	if len(reqs) != 1+len(as) || reqs[0].Method != http.MethodGet || reqs[0].Path != "/api/annotations" {
		t.Fatalf("first push sent %d requests (%v), want a GET then %d POSTs", len(reqs), reqs[0], len(as))
	}
	if q := reqs[0].Query; !strings.Contains(q, "tags=khist") || !strings.Contains(q, "type=annotation") || !strings.Contains(q, "dashboardUID=khist-rollouts") {
		t.Errorf("GET /api/annotations?%s", q)
	}
	// The rollouts as khist rollouts answers them, by ID.
	var doc struct {
		Rollouts []query.RolloutRow `json:"rollouts"`
	}
	var sb strings.Builder
	if err := v.Rollouts(ctx, query.RolloutsArgs{AllNamespaces: true, Output: "json"}, &sb); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(sb.String()), &doc); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for i, r := range reqs[1:] {
		if r.Method != http.MethodPost || r.Path != "/api/annotations" || r.Auth != "Bearer glsa_test" || r.ContentType != "application/json" {
			t.Fatalf("request %d: %+v", i+1, r)
		}
		var body map[string]json.RawMessage
		if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for k := range body {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		a := as[i]
		want := Annotation{DashboardUID: "khist-rollouts", PanelID: 2, Time: a.Time.UnixMilli(), Tags: a.Tags, Text: a.Text}
		wantKeys := "dashboardUID panelId tags text time"
		if a.TimeEnd.After(a.Time) { // a region; a rollout that took no time is a point
			want.TimeEnd = a.TimeEnd.UnixMilli()
			wantKeys = "dashboardUID panelId tags text time timeEnd"
		}
		var got Annotation
		json.Unmarshal([]byte(r.Body), &got)
		wb, _ := json.Marshal(want)
		if strings.Join(keys, " ") != wantKeys || !reflect.DeepEqual(got, want) {
			t.Errorf("POST body %s, want %s", r.Body, wb)
		}
		for _, ro := range doc.Rollouts {
			if slices.Contains(a.Tags, fmt.Sprintf("khist-rollout:%d", ro.ID)) {
				seen++
				if want.Time != ro.Started.UnixMilli() || max(want.TimeEnd, want.Time) != ro.Ended.UnixMilli() || !strings.Contains(a.Text, ro.Outcome) {
					t.Errorf("%s: annotation %s, want %s to %s, %s", ro.Ref, wb, ro.Started, ro.Ended, ro.Outcome)
				}
			}
		}
	}
	if seen != len(doc.Rollouts) {
		t.Errorf("%d of %d rollouts annotated", seen, len(doc.Rollouts))
	}

	// Again: everything is there already.
	st, err = Push(ctx, as, o)
	if reqs := api.take(); err != nil || st != (Stats{Unchanged: len(as)}) || len(reqs) != 1 {
		t.Fatalf("second push: %+v %v, %d requests", st, err, len(reqs))
	}

	// One that Grafana holds differently (as a rollout in progress, before it ended) is patched.
	api.mu.Lock()
	var id int64
	for k, a := range api.ann {
		if strings.Contains(fmt.Sprint(a["tags"]), "rolled-back") {
			id = k
			a["timeEnd"] = a["time"]
			a["text"] = "in progress"
		}
	}
	api.mu.Unlock()
	st, err = Push(ctx, as, o)
	reqs = api.take()
	if err != nil || st != (Stats{Updated: 1, Unchanged: len(as) - 1}) || len(reqs) != 2 || reqs[1].Method != http.MethodPatch || reqs[1].Path != fmt.Sprintf("/api/annotations/%d", id) {
		t.Fatalf("push after a change: %+v %v %+v", st, err, reqs)
	}
	var patch map[string]any
	json.Unmarshal([]byte(reqs[1].Body), &patch)
	if patch["text"] == "in progress" || patch["timeEnd"] == patch["time"] || len(patch) != 4 {
		t.Errorf("PATCH body %s", reqs[1].Body)
	}

	// A wrong token, a bad URL.
	_, err = Push(ctx, as, Options{URL: srv.URL, Token: "wrong"})
	if err == nil || !strings.Contains(err.Error(), "service account token") || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("wrong token: %v", err)
	}
	if err := Check(Options{URL: "grafana:3000"}); err == nil || !strings.Contains(err.Error(), "give Grafana's base URL") {
		t.Errorf("bad URL: %v", err)
	}
}
