package web

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/khist/khist/projector"
	"github.com/khist/khist/query"
)

// TestChangeDiff: the diff /api/v1/change answers for each change of a timeline is the one
// the self-contained HTML timeline inlines for it.
func TestChangeDiff(t *testing.T) {
	path := testViews(t)
	s, err := New(Options{Views: path, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	db, err := projector.Open(path, &projector.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	v := query.NewViews(db, "default", query.Env{Loc: time.UTC})
	first, last, _ := v.Span(context.Background())
	tl, err := query.BuildTimeline(v, query.TimelineOptions{Cluster: "default", Scope: query.Scope{AllNamespaces: true}, Since: first, Until: last.Add(time.Second), Diffs: true})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range tl.Groups {
		for _, l := range g.Lanes {
			for _, e := range l.Entries {
				status, body := get(t, srv.Client(), srv.URL+"/api/v1/change?seq="+strconv.FormatUint(e.Seq, 10))
				var c struct{ Diff string }
				if err := json.Unmarshal([]byte(body), &c); err != nil || status != 200 || c.Diff != e.Diff {
					t.Fatalf("change %d (%s %s): %d %v\n%s\nwant the timeline's diff:\n%s", e.Seq, e.Object.Ref(), e.Summary, status, err, c.Diff, e.Diff)
				}
				n++
			}
		}
	}
	if n < 500 {
		t.Errorf("%d changes compared, want the recordings' hundreds", n)
	}
	if status, _ := get(t, srv.Client(), srv.URL+"/api/v1/change?seq=999999"); status != 404 {
		t.Errorf("a sequence never recorded: %d, want 404", status)
	}
	if status, _ := get(t, srv.Client(), srv.URL+"/api/v1/change?seq=x"); status != 400 {
		t.Errorf("seq=x: %d, want 400", status)
	}
}
