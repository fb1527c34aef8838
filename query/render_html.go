package query

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"time"
)

// The HTML timeline is one self-contained file: the page, its style, its script and the data,
// with nothing fetched from the network.
var (
	//go:embed assets/timeline.html
	timelineHTML string
	//go:embed assets/timeline.css
	timelineCSS string
	//go:embed assets/timeline.js
	timelineJS string

	timelineTmpl = template.Must(template.New("timeline").Parse(timelineHTML))
)

// htmlTimeline is the data the page's script reads: lanes by index, groups listing their lanes,
// times in milliseconds since the epoch.
type htmlTimeline struct {
	Title    string      `json:"title"`
	Scope    string      `json:"scope"`
	Cluster  string      `json:"cluster"`
	Since    int64       `json:"since"`
	Until    int64       `json:"until"`
	TZ       string      `json:"tz"`
	TZOffset int         `json:"tzOffset"` // minutes east of UTC
	Groups   []htmlGroup `json:"groups"`
	Lanes    []htmlLane  `json:"lanes"`
	DiffURL  string      `json:"diffURL,omitempty"` // fetch a change's diff: DiffURL + seq
}

type htmlGroup struct {
	Label string `json:"label"`
	Lanes []int  `json:"lanes"`
}

type htmlLane struct {
	Kind    string      `json:"kind"`
	Name    string      `json:"name"`
	Label   string      `json:"label"`
	Ref     string      `json:"ref"`
	Depth   int         `json:"depth"`
	Entries []htmlEntry `json:"entries"`
}

type htmlEntry struct {
	T       int64  `json:"t"`
	Seq     uint64 `json:"seq"`
	Type    string `json:"type"`
	Class   Class  `json:"cls"`
	Marked  bool   `json:"marked,omitempty"`
	Summary string `json:"summary"`
	Actor   string `json:"actor,omitempty"`
	Event   string `json:"event,omitempty"`
	Diff    string `json:"diff,omitempty"`
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// timelinePageData is the data of tl's page.
func timelinePageData(tl *Timeline, env Env) htmlTimeline {
	ref := tl.Since
	if ref.IsZero() {
		ref = env.Now
	}
	zone, off := ref.In(env.loc()).Zone()
	d := htmlTimeline{
		Title:    "khist timeline: " + tl.Scope,
		Scope:    tl.Scope,
		Cluster:  tl.Cluster,
		Since:    millis(tl.Since),
		Until:    millis(tl.Until),
		TZ:       zone,
		TZOffset: off / 60,
		DiffURL:  tl.DiffURL,
	}
	for _, g := range tl.Groups {
		hg := htmlGroup{Label: g.Workload.Ref()}
		switch {
		case g.Cluster != "" && g.Workload.Namespace != "":
			hg.Label += "  (" + g.Cluster + ", " + g.Workload.Namespace + ")"
		case g.Cluster != "":
			hg.Label += "  (" + g.Cluster + ")"
		case g.Workload.Namespace != "":
			hg.Label += "  (" + g.Workload.Namespace + ")"
		}
		for _, l := range g.Lanes {
			k := LookupKind(l.Object.Group, l.Object.Kind)
			hl := htmlLane{Kind: k.Singular(), Name: l.Object.Name, Label: l.Object.Short(), Ref: l.Object.nsRef(), Depth: l.Depth}
			for _, e := range l.Entries {
				hl.Entries = append(hl.Entries, htmlEntry{
					T: millis(e.Time), Seq: e.Seq, Type: e.Type, Class: e.Class, Marked: e.Marked,
					Summary: e.Summary, Actor: e.Actor, Event: e.Event, Diff: e.Diff,
				})
			}
			hg.Lanes = append(hg.Lanes, len(d.Lanes))
			d.Lanes = append(d.Lanes, hl)
		}
		d.Groups = append(d.Groups, hg)
	}
	if d.Groups == nil {
		d.Groups = []htmlGroup{}
		d.Lanes = []htmlLane{}
	}
	return d
}

// TimelineHTML writes tl as one self-contained HTML page: swimlanes on a time axis (one lane per
// object, grouped by workload), zoom and pan, and the change of a marker (its diff, when the
// timeline was built with Diffs) shown on a click.
func TimelineHTML(w io.Writer, tl *Timeline, env Env) error {
	d := timelinePageData(tl, env)
	// encoding/json escapes <, > and & in strings, so the data cannot end its script element.
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	sub := fmt.Sprintf("%s, %s to %s, %s", tl.Scope, env.FormatTime(tl.Since), env.FormatTime(tl.Until), plural(int64(tl.Count()), "change", "changes"))
	if tl.Cluster != "" {
		sub = "cluster " + tl.Cluster + ", " + sub
	}
	return timelineTmpl.Execute(w, map[string]any{
		"Title":    d.Title,
		"Subtitle": sub,
		"CSS":      template.CSS(timelineCSS),
		"JS":       template.JS(timelineJS),
		"Data":     template.JS(data),
	})
}
