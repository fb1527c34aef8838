package web

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// post sends a JSON body and returns the status and body.
func post(t testing.TB, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestGrafanaAnnotations: the JSON data source endpoints answer, over the imported recordings,
// one annotation per rollout that /api/v1/rollouts lists (its start, end, outcome and ID), and
// the Deployments' spec changes; a range narrows them, a namespace selects them, and a bad
// target or body is a 400 that says what to send.
func TestGrafanaAnnotations(t *testing.T) {
	s, err := New(Options{Views: testViews(t), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + runServer(t, s) + "/api/v1/grafana"

	if status, body := get(t, http.DefaultClient, base+"/"); status != 200 {
		t.Fatalf("test connection: %d %s", status, body)
	}
	status, body := post(t, base+"/metrics", `{}`)
	if status != 200 || !strings.Contains(body, `"value":"rollouts"`) || !strings.Contains(body, `"value":"spec-changes"`) {
		t.Fatalf("metrics: %d %s", status, body)
	}

	// The rollouts as khist rollouts answers them.
	_, rb := get(t, http.DefaultClient, "http://"+strings.TrimSuffix(strings.TrimPrefix(base, "http://"), "/api/v1/grafana")+"/api/v1/rollouts?all-namespaces=true")
	var ro struct {
		Rollouts []struct {
			ID       uint64    `json:"id"`
			Ref      string    `json:"rollout"`
			Started  time.Time `json:"started"`
			Ended    time.Time `json:"ended"`
			Outcome  string    `json:"outcome"`
			Workload struct{ Namespace string }
		} `json:"rollouts"`
	}
	if err := json.Unmarshal([]byte(rb), &ro); err != nil || len(ro.Rollouts) < 3 {
		t.Fatalf("rollouts: %v %s", err, rb)
	}

	query := func(t *testing.T, target, payload string, from, to time.Time) [][]any {
		t.Helper()
		if payload == "" {
			payload = "{}"
		}
		status, body := post(t, base+"/query", fmt.Sprintf(`{"panelId":1,"range":{"from":%q,"to":%q,"raw":{"from":"now-6h","to":"now"}},"targets":[{"target":%q,"refId":"A","payload":%s}]}`,
			from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), target, payload))
		if status != 200 {
			t.Fatalf("query %s: %d %s", target, status, body)
		}
		var tabs []grafanaTable
		if err := json.Unmarshal([]byte(body), &tabs); err != nil || len(tabs) != 1 {
			t.Fatalf("query %s: %v %s", target, err, body)
		}
		tab := tabs[0]
		var cols []string
		for _, c := range tab.Columns {
			cols = append(cols, c.Text+":"+c.Type)
		}
		if tab.Type != "table" || tab.RefID != "A" || strings.Join(cols, " ") != "time:time timeEnd:time title:string text:string tags:string" {
			t.Fatalf("query %s: table %+v", target, tab)
		}
		return tab.Rows
	}
	wide0, wide1 := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

	t.Run("rollouts", func(t *testing.T) {
		rows := query(t, "rollouts", "", wide0, wide1)
		if len(rows) != len(ro.Rollouts) {
			t.Fatalf("%d annotations for %d rollouts: %v", len(rows), len(ro.Rollouts), rows)
		}
		outcomes := map[string]bool{}
		for _, r := range ro.Rollouts {
			id := fmt.Sprintf("khist-rollout:%d", r.ID)
			i := slices.IndexFunc(rows, func(row []any) bool { return slices.Contains(strings.Split(row[4].(string), ","), id) })
			if i < 0 {
				t.Errorf("no annotation tagged %s (%s)", id, r.Ref)
				continue
			}
			row := rows[i]
			if int64(row[0].(float64)) != r.Started.UnixMilli() {
				t.Errorf("%s: time %v, want %d", r.Ref, row[0], r.Started.UnixMilli())
			}
			if !r.Ended.IsZero() && int64(row[1].(float64)) != r.Ended.UnixMilli() {
				t.Errorf("%s: timeEnd %v, want %d", r.Ref, row[1], r.Ended.UnixMilli())
			}
			tags := strings.Split(row[4].(string), ",")
			for _, w := range strings.Split(strings.SplitN(r.Outcome, " after", 2)[0], ", ") {
				word := strings.ReplaceAll(w, " ", "-")
				if !slices.Contains(tags, word) {
					t.Errorf("%s: tags %v, want its outcome %q", r.Ref, tags, word)
				}
				outcomes[word] = true
			}
			if !slices.Contains(tags, r.Workload.Namespace) || !slices.Contains(tags, "rollout") {
				t.Errorf("%s: tags %v, want rollout and its namespace %q", r.Ref, tags, r.Workload.Namespace)
			}
			if !strings.Contains(row[2].(string), r.Ref) || !strings.Contains(row[3].(string), r.Outcome) {
				t.Errorf("%s: title %q text %q", r.Ref, row[2], row[3])
			}
		}
		if !outcomes["complete"] || !outcomes["rolled-back"] {
			t.Errorf("outcomes %v: the recordings have complete and rolled-back rollouts", outcomes)
		}
		// A namespace selects its rollouts only.
		for _, row := range query(t, "rollouts", `{"namespace":"never-ready-undo"}`, wide0, wide1) {
			if !slices.Contains(strings.Split(row[4].(string), ","), "never-ready-undo") {
				t.Errorf("namespace never-ready-undo answered %v", row)
			}
		}
		if n := len(query(t, "rollouts namespace=never-ready-undo", "", wide0, wide1)); n == 0 || n == len(rows) {
			t.Errorf("namespace=never-ready-undo: %d of %d", n, len(rows))
		}
		// A range before the history has none; one that holds a rollout's start has it.
		if rs := query(t, "rollouts", "", wide0, wide0.Add(time.Hour)); len(rs) != 0 {
			t.Errorf("a range before the history: %v", rs)
		}
		r0 := ro.Rollouts[0]
		in := query(t, "rollouts", "", r0.Started.Add(-time.Second), r0.Started.Add(time.Second))
		if !slices.ContainsFunc(in, func(row []any) bool {
			return strings.Contains(row[4].(string), fmt.Sprintf("khist-rollout:%d,", r0.ID)) || strings.HasSuffix(row[4].(string), fmt.Sprintf("khist-rollout:%d", r0.ID))
		}) {
			t.Errorf("a range around %s's start: %v", r0.Ref, in)
		}
	})

	t.Run("spec-changes", func(t *testing.T) {
		rows := query(t, "spec-changes", `{"namespace":"sample-rolling"}`, wide0, wide1)
		image := false
		for _, row := range rows {
			tags := strings.Split(row[4].(string), ",")
			if !slices.Contains(tags, "spec-change") || !slices.Contains(tags, "sample-rolling") || row[0] != row[1] {
				t.Errorf("spec change %v", row)
			}
			image = image || strings.Contains(row[3].(string), "image")
		}
		if !image {
			t.Errorf("no spec change names an image in sample-rolling: %v", rows)
		}
		all := query(t, "all", `{"namespace":"sample-rolling"}`, wide0, wide1)
		if len(all) <= len(rows) {
			t.Errorf("all: %d annotations, spec changes alone %d", len(all), len(rows))
		}
	})

	t.Run("simple-json annotations", func(t *testing.T) {
		status, body := post(t, base+"/annotations", `{"range":{"from":"2000-01-01T00:00:00Z","to":"2100-01-01T00:00:00Z"},"rangeRaw":{"from":"now-1h","to":"now"},"annotation":{"name":"rollouts","enable":true,"query":"rollouts namespace=never-ready-undo"}}`)
		var ans []grafanaAnnotation
		if err := json.Unmarshal([]byte(body), &ans); status != 200 || err != nil || len(ans) == 0 {
			t.Fatalf("annotations: %d %v %s", status, err, body)
		}
		for _, a := range ans {
			if !a.IsRegion || a.TimeEnd < a.Time || !strings.Contains(string(a.Annotation), `"name":"rollouts"`) || !slices.Contains(a.Tags, "never-ready-undo") {
				t.Errorf("annotation %+v", a)
			}
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for _, c := range []struct{ path, body, want string }{
			{"/query", `{"targets":[{"target":"pods"}]}`, "use rollouts or spec-changes"},
			{"/query", `{"targets":[{"target":"rollouts extra"}]}`, "use rollouts, spec-changes or all"},
			{"/query", `not json`, "send {"},
			{"/query", `{"range":{"from":"2026-01-02T00:00:00Z","to":"2026-01-01T00:00:00Z"},"targets":[{"target":"rollouts"}]}`, "before from"},
		} {
			status, body := post(t, base+c.path, c.body)
			if status != 400 || !strings.Contains(body, c.want) || strings.Count(body, "\n") != 1 {
				t.Errorf("%s %s: %d %s, want 400 saying %q", c.path, c.body, status, body, c.want)
			}
		}
	})
}
