package grafana

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/khist/khist/query"
)

// ErrBadOptions is returned by Push for options it cannot work with.
var ErrBadOptions = errors.New("grafana")

// Options configure Push. Every field says its default.
type Options struct {
	// URL is Grafana's base URL (http or https), e.g. https://grafana.example.com; required.
	URL string
	// Token is a service account token (Bearer), with the annotations:write and :read
	// permissions. Default none (a Grafana that lets anonymous users annotate).
	Token string
	// DashboardUID and PanelID put the annotations on one dashboard (and panel). Default:
	// organization-wide annotations, which any dashboard can show.
	DashboardUID string
	PanelID      int64
	// Client sends the requests. Default a client with a 30s timeout.
	Client *http.Client
}

// Check returns a one-line error for options Push cannot work with. The token is not shown.
func Check(o Options) error {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: --url %q is not an http:// or https:// URL: give Grafana's base URL, e.g. https://grafana.example.com", ErrBadOptions, o.URL)
	}
	return nil
}

// Stats count what a Push did.
type Stats struct {
	Created, Updated, Unchanged int
}

// Annotation is an annotation as Grafana's API takes it: POST /api/annotations's body.
type Annotation struct {
	DashboardUID string   `json:"dashboardUID,omitempty"`
	PanelID      int64    `json:"panelId,omitempty"`
	Time         int64    `json:"time"`              // Unix milliseconds
	TimeEnd      int64    `json:"timeEnd,omitempty"` // of a region
	Tags         []string `json:"tags"`
	Text         string   `json:"text"`
}

// existing is an annotation as GET /api/annotations answers it.
type existing struct {
	ID      int64    `json:"id"`
	Time    int64    `json:"time"`
	TimeEnd int64    `json:"timeEnd"`
	Tags    []string `json:"tags"`
	Text    string   `json:"text"`
}

// Of is the Grafana annotation of a khist annotation.
func Of(a query.Annotation, o Options) Annotation {
	g := Annotation{DashboardUID: o.DashboardUID, PanelID: o.PanelID, Time: a.Time.UnixMilli(), Tags: a.Tags, Text: a.Text}
	if !a.TimeEnd.IsZero() && a.TimeEnd.After(a.Time) {
		g.TimeEnd = a.TimeEnd.UnixMilli()
	}
	return g
}

// key is an annotation's identity tag (khist-rollout:SEQ or khist-change:SEQ).
func key(tags []string) string {
	for _, t := range tags {
		if strings.HasPrefix(t, "khist-rollout:") || strings.HasPrefix(t, "khist-change:") {
			return t
		}
	}
	return ""
}

// Push adds to Grafana the annotations it lacks and updates those that changed.
func Push(ctx context.Context, as []query.Annotation, o Options) (Stats, error) {
	var st Stats
	if err := Check(o); err != nil {
		return st, err
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if len(as) == 0 {
		return st, nil
	}
	from, to := as[0].Time, as[0].Time
	for _, a := range as {
		from = minTime(from, a.Time)
		to = maxTime(to, maxTime(a.Time, a.TimeEnd))
	}
	q := url.Values{"tags": {"khist"}, "type": {"annotation"}, "limit": {strconv.Itoa(10 * len(as))},
		"from": {strconv.FormatInt(from.UnixMilli(), 10)}, "to": {strconv.FormatInt(to.UnixMilli(), 10)}}
	if o.DashboardUID != "" {
		q.Set("dashboardUID", o.DashboardUID)
	}
	var have []existing
	if err := do(ctx, o, http.MethodGet, "/api/annotations?"+q.Encode(), nil, &have); err != nil {
		return st, err
	}
	byKey := map[string]existing{}
	for _, e := range have {
		if k := key(e.Tags); k != "" {
			byKey[k] = e
		}
	}
	for _, a := range as {
		g := Of(a, o)
		e, ok := byKey[key(g.Tags)]
		switch {
		case !ok || key(g.Tags) == "":
			if err := do(ctx, o, http.MethodPost, "/api/annotations", g, nil); err != nil {
				return st, err
			}
			st.Created++
		case e.Time != g.Time || !sameEnd(e, g) || e.Text != g.Text || !sameTags(e.Tags, g.Tags):
			patch := struct {
				Time    int64    `json:"time"`
				TimeEnd int64    `json:"timeEnd,omitempty"`
				Tags    []string `json:"tags"`
				Text    string   `json:"text"`
			}{g.Time, g.TimeEnd, g.Tags, g.Text}
			if err := do(ctx, o, http.MethodPatch, "/api/annotations/"+strconv.FormatInt(e.ID, 10), patch, nil); err != nil {
				return st, err
			}
			st.Updated++
		default:
			st.Unchanged++
		}
	}
	return st, nil
}

// sameEnd: Grafana answers a point's timeEnd as its time, or as 0.
func sameEnd(e existing, g Annotation) bool {
	return e.TimeEnd == g.TimeEnd || g.TimeEnd == 0 && e.TimeEnd == g.Time
}

func sameTags(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// do sends one request to Grafana's API and decodes its answer into out (when not nil).
func do(ctx context.Context, o Options, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(body); err != nil {
			return err
		}
		rd = &buf
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(o.URL, "/")+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if o.Token != "" {
		req.Header.Set("Authorization", "Bearer "+o.Token)
	}
	resp, err := o.Client.Do(req)
	if err != nil {
		return fmt.Errorf("grafana: %s %s: %w", method, strings.SplitN(path, "?", 2)[0], err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("grafana: %s %s: %s: give a service account token with the annotations:read and annotations:write permissions (--token-file)", method, strings.SplitN(path, "?", 2)[0], resp.Status)
	case resp.StatusCode >= 300:
		return fmt.Errorf("grafana: %s %s: %s: %s", method, strings.SplitN(path, "?", 2)[0], resp.Status, bytes.TrimSpace(b[:min(len(b), 512)]))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("grafana: %s %s: the answer is not Grafana's: %v", method, strings.SplitN(path, "?", 2)[0], err)
		}
	}
	return nil
}
