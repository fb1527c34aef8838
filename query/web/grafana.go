package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/khist/khist/query"
)

// Grafana's JSON data sources read annotations from /api/v1/grafana, in the contract of the
// JSON data source (simpod-json-datasource): GET / answers the "Test connection", POST /metrics
// lists what can be queried (rollouts, spec-changes), POST /query answers each target with a
// table whose columns time, timeEnd, title, text and tags Grafana maps onto its annotations'
// fields; and in the older Simple JSON contract, which other data sources still speak, POST
// /annotations answers a list of annotations. A target (or an annotation's query) is
// "rollouts", "spec-changes" or "all", optionally followed by namespace=NS; the namespace can
// also come as the target's payload {"namespace": "NS"}. Without one: every namespace the user
// may read.

// grafanaRange is the time range of a request.
type grafanaRange struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// grafanaTarget is one query of a panel or of an annotation.
type grafanaTarget struct {
	Target  string            `json:"target"`
	RefID   string            `json:"refId,omitempty"`
	Payload map[string]string `json:"payload,omitempty"`
}

// grafanaColumn and grafanaTable are a table answer of /query.
type grafanaColumn struct {
	Text string `json:"text"`
	Type string `json:"type"`
}

type grafanaTable struct {
	Type    string          `json:"type"`
	RefID   string          `json:"refId,omitempty"`
	Columns []grafanaColumn `json:"columns"`
	Rows    [][]any         `json:"rows"`
}

// grafanaAnnotation is an annotation of the Simple JSON contract.
type grafanaAnnotation struct {
	Annotation json.RawMessage `json:"annotation,omitempty"` // the request's, sent back
	Time       int64           `json:"time"`                 // Unix milliseconds
	TimeEnd    int64           `json:"timeEnd,omitempty"`
	IsRegion   bool            `json:"isRegion,omitempty"`
	Title      string          `json:"title"`
	Text       string          `json:"text"`
	Tags       []string        `json:"tags"`
}

func (s *Server) grafanaRoutes() {
	s.mux.HandleFunc("GET /api/v1/grafana/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	s.mux.HandleFunc("POST /api/v1/grafana/metrics", func(w http.ResponseWriter, r *http.Request) {
		ns := map[string]any{"name": "namespace", "label": "Namespace", "type": "input", "placeholder": "all namespaces"}
		writeJSON(w, []map[string]any{
			{"label": "Rollouts (regions from start to end, tagged with their outcome)", "value": "rollouts", "payloads": []any{ns}},
			{"label": "Spec changes of workloads", "value": "spec-changes", "payloads": []any{ns}},
			{"label": "Rollouts and spec changes", "value": "all", "payloads": []any{ns}},
		})
	})
	s.mux.HandleFunc("POST /api/v1/grafana/metric-payload-options", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, []any{})
	})
	s.mux.HandleFunc("POST /api/v1/grafana/query", s.grafana(func(ctx context.Context, v *query.Views, a *access, body []byte) (any, error) {
		var req struct {
			Range   grafanaRange    `json:"range"`
			Targets []grafanaTarget `json:"targets"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, badArg("the body is not a Grafana query (%v): send {\"range\": {\"from\", \"to\"}, \"targets\": [{\"target\": \"rollouts\"}]}", err)
		}
		out := []grafanaTable{}
		for _, t := range req.Targets {
			ans, err := grafanaAnswer(ctx, v, a, t, req.Range)
			if err != nil {
				return nil, err
			}
			tab := grafanaTable{Type: "table", RefID: t.RefID, Rows: [][]any{}, Columns: []grafanaColumn{
				{"time", "time"}, {"timeEnd", "time"}, {"title", "string"}, {"text", "string"}, {"tags", "string"}}}
			for _, an := range ans {
				end := an.Time.UnixMilli()
				if !an.TimeEnd.IsZero() {
					end = an.TimeEnd.UnixMilli()
				}
				tab.Rows = append(tab.Rows, []any{an.Time.UnixMilli(), end, an.Title, an.Text, strings.Join(an.Tags, ",")})
			}
			out = append(out, tab)
		}
		return out, nil
	}))
	s.mux.HandleFunc("POST /api/v1/grafana/annotations", s.grafana(func(ctx context.Context, v *query.Views, a *access, body []byte) (any, error) {
		var req struct {
			Range      grafanaRange    `json:"range"`
			Annotation json.RawMessage `json:"annotation"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, badArg("the body is not a Grafana annotation query (%v): send {\"range\": {\"from\", \"to\"}, \"annotation\": {\"query\": \"rollouts\"}}", err)
		}
		var an struct {
			Query string `json:"query"`
		}
		if len(req.Annotation) > 0 {
			if err := json.Unmarshal(req.Annotation, &an); err != nil {
				return nil, badArg("annotation: %v: send {\"query\": \"rollouts\"}", err)
			}
		}
		ans, err := grafanaAnswer(ctx, v, a, grafanaTarget{Target: an.Query}, req.Range)
		if err != nil {
			return nil, err
		}
		out := []grafanaAnnotation{}
		for _, x := range ans {
			g := grafanaAnnotation{Annotation: req.Annotation, Time: x.Time.UnixMilli(), Title: x.Title, Text: x.Text, Tags: x.Tags}
			if !x.TimeEnd.IsZero() {
				g.TimeEnd, g.IsRegion = x.TimeEnd.UnixMilli(), true
			}
			out = append(out, g)
		}
		return out, nil
	}))
}

// grafana serves a POST of a Grafana data source: its body read, the views opened.
func (s *Server) grafana(fn func(ctx context.Context, v *query.Views, a *access, body []byte) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, _ := r.Context().Value(userKey{}).(*User)
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeError(w, http.StatusBadRequest, oneLine(err))
			return
		}
		ans, err := func() (any, error) {
			v, done, err := s.openViews()
			if err != nil {
				return nil, err
			}
			defer done()
			return fn(r.Context(), v, &access{s: s, user: u}, body)
		}()
		if err != nil {
			status := statusOf(err)
			if status == http.StatusInternalServerError {
				s.log.Error("request failed", "path", r.URL.Path, "err", err)
			}
			writeError(w, status, oneLine(err))
			return
		}
		writeJSON(w, ans)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "1 -> 2" as written
	if err := enc.Encode(v); err != nil {
		writeError(w, http.StatusInternalServerError, oneLine(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(buf.Bytes())
}

// grafanaAnswer reads one target's annotations in the range, for what the user may read.
func grafanaAnswer(ctx context.Context, v *query.Views, a *access, t grafanaTarget, rg grafanaRange) ([]query.Annotation, error) {
	words := strings.Fields(t.Target)
	what, ns := "", t.Payload["namespace"]
	for i, w := range words {
		switch {
		case strings.HasPrefix(w, "namespace="):
			ns = strings.TrimPrefix(w, "namespace=")
		case i == 0 && (w == "all" || w == "*"):
		case i == 0:
			what = w
		default:
			return nil, badArg("target %q: use rollouts, spec-changes or all, then optionally namespace=NS", t.Target)
		}
	}
	args := query.AnnotationsArgs{Namespace: ns, AllNamespaces: ns == "", Since: rg.From, Until: rg.To, What: what}
	if !rg.From.IsZero() && !rg.To.IsZero() && rg.To.Before(rg.From) {
		return nil, badArg("range: to %s is before from %s", rg.To.Format(time.RFC3339), rg.From.Format(time.RFC3339))
	}
	if ns != "" {
		if err := a.check(ctx, ns); err != nil {
			return nil, err
		}
		return v.Annotations(ctx, args)
	}
	allow, err := a.filter(ctx)
	if err != nil {
		return nil, err
	}
	ans, err := v.Annotations(ctx, args)
	if err != nil || allow == nil {
		return ans, err
	}
	kept := ans[:0]
	for _, an := range ans {
		if allow(an.Namespace) {
			kept = append(kept, an)
		}
	}
	return kept, nil
}
