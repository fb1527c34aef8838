package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/khist/khist/projector"
	"github.com/khist/khist/query"
	"github.com/khist/khist/replay"
)

// The pages: server-rendered HTML over the same answers as the API (each page calls the API's
// answer functions and formats their JSON), with one stylesheet and one small script, embedded.
// Every state is in the URL: filters, the rollout shown, the versions diffed, the what-if's
// settings.

//go:embed assets
var assets embed.FS

var funcs = template.FuncMap{
	"tm": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Local().Format("2006-01-02 15:04:05")
	},
	"dur": func(d time.Duration, ended time.Time) string {
		if d == 0 {
			return "-"
		}
		s := query.FormatDuration(d)
		if ended.IsZero() {
			s += "+"
		}
		return s
	},
	"rowClass": rowClass,
	"inc":      func(i int) int { return i + 1 },
	// revisionObject is KIND/NAME of a workload's revision: a Deployment's ReplicaSet, else a
	// ControllerRevision.
	"revisionObject": func(workload, name string) string {
		if strings.HasPrefix(strings.ToLower(workload), "deploy") {
			return "replicaset/" + name
		}
		return "controllerrevision/" + name
	},
	"pct":   func(f float64) string { return strconv.Itoa(int(math.Round(f*100))) + "%" },
	"join":  strings.Join,
	"lower": strings.ToLower,
	"ref":   func(k query.ObjectKey) string { return strings.ToLower(k.Kind) + "/" + k.Name },
	"outcome": func(r query.RolloutRow) string {
		s := r.Outcome
		switch {
		case r.Initial:
			s += " (created)"
		case r.Rollback && r.BackTo != 0:
			s += fmt.Sprintf(" (rollback to revision %d)", r.BackTo)
		case r.Rollback:
			s += " (rollback)"
		}
		return s
	},
	"workloadURL": func(ns, obj, rollout string, cluster ...string) string {
		q := url.Values{"namespace": {ns}, "object": {obj}}
		if len(cluster) > 0 && cluster[0] != "" {
			q.Set("cluster", cluster[0])
		}
		if rollout != "" {
			q.Set("rollout", rollout)
		}
		return "/workload?" + q.Encode()
	},
	"objectURL": func(ns, obj string) string {
		q := url.Values{"object": {obj}}
		if ns != "" {
			q.Set("namespace", ns)
		}
		return "/object?" + q.Encode()
	},
}

var pageTmpl = map[string]*template.Template{}

func init() {
	for _, p := range []string{"rollouts", "workload", "object", "search", "login"} {
		pageTmpl[p] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets, "assets/layout.html", "assets/"+p+".html"))
	}
}

func (s *Server) pages() {
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/rollouts", http.StatusFound)
	})
	s.mux.HandleFunc("GET /static/{file}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("file")
		b, err := assets.ReadFile("assets/" + name)
		if err != nil || !(strings.HasSuffix(name, ".css") || strings.HasSuffix(name, ".js")) {
			http.NotFound(w, r)
			return
		}
		ct := "text/css; charset=utf-8"
		if strings.HasSuffix(name, ".js") {
			ct = "text/javascript; charset=utf-8"
		}
		w.Header().Set("Content-Type", ct)
		w.Write(b)
	})
	s.mux.Handle("GET /rollouts", s.page("rollouts", rolloutsPage))
	s.mux.Handle("GET /workload", s.page("workload", workloadPage))
	s.mux.Handle("GET /object", s.page("object", objectPage))
	s.mux.Handle("GET /search", s.page("search", searchPage))
	s.mux.HandleFunc("GET /timeline", s.timelinePage)
	s.mux.HandleFunc("GET /timeline/data", s.timelineData)
}

// pageData is what a page's template reads: its own fields, and Title, User and Error.
type pageData map[string]any

// pageFn fills a page's data; an error is shown on the page with its status.
type pageFn func(ctx context.Context, v *query.Views, a *access, q url.Values, d pageData) error

func (s *Server) page(name string, fn pageFn) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, _ := r.Context().Value(userKey{}).(*User)
		d := pageData{"Title": name}
		if u != nil {
			d["User"] = u.Name
		}
		status := http.StatusOK
		v, done, err := s.openViews()
		if err == nil {
			if seq, err := v.DB.Seq(); err == nil {
				d["Position"] = seq // the views' position the page shows (live pages compare it)
			}
			q := r.URL.Query()
			err = s.chooseClusters(r.Context(), v, query.SplitClusters(q.Get("cluster")), q.Get("allClusters"))
			if err == nil {
				v, err = narrowClusters(r.Context(), v, name, q.Get("object"), q.Get("namespace"))
			}
			if err == nil {
				err = fn(r.Context(), v, &access{s: s, user: u}, q, d)
			}
			done()
		}
		if err != nil {
			status = statusOf(err)
			if status == http.StatusInternalServerError {
				s.log.Error("page failed", "path", r.URL.Path, "err", err)
			}
			d["Error"] = oneLine(err)
		}
		var buf bytes.Buffer
		if err := pageTmpl[name].Execute(&buf, d); err != nil {
			s.log.Error("page template", "page", name, "err", err)
			writeError(w, http.StatusInternalServerError, oneLine(err))
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		w.Write(buf.Bytes())
	}
}

// call runs an API answer with the parameters q and decodes its JSON into out.
func call(ctx context.Context, v *query.Views, a *access, fn answer, q url.Values, out any) error {
	var buf bytes.Buffer
	if err := fn(ctx, v, &params{v: q, used: map[string]bool{}}, a, &buf); err != nil {
		if f := a.nearestOnly(ctx, err); f != nil {
			return f
		}
		return err
	}
	return json.Unmarshal(buf.Bytes(), out)
}

// namespaces lists the recorded namespaces the user may read.
func namespaces(ctx context.Context, v *query.Views, a *access) ([]string, error) {
	var nss []string
	for _, c := range v.Clusters() {
		cn, err := v.DB.Namespaces(ctx, c)
		if err != nil {
			return nil, err
		}
		for _, ns := range cn {
			if !slices.Contains(nss, ns) {
				nss = append(nss, ns)
			}
		}
	}
	slices.Sort(nss)
	allow, err := a.filter(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ns := range nss {
		if ns != "" && (allow == nil || allow(ns)) {
			out = append(out, ns)
		}
	}
	return out, nil
}

type option struct{ V, L string }

// --- Rollouts ---

type rolloutFilters struct{ Namespace, Kind, Outcome, Image, Since, Until string }

func rolloutsPage(ctx context.Context, v *query.Views, a *access, q url.Values, d pageData) error {
	d["Title"] = "Rollouts"
	f := rolloutFilters{Namespace: q.Get("namespace"), Kind: q.Get("kind"), Outcome: q.Get("outcome"), Image: strings.TrimSpace(q.Get("image")), Since: q.Get("since"), Until: q.Get("until")}
	d["F"] = f
	d["Kinds"] = []option{{"", "all kinds"}, {"deployment", "Deployments"}, {"statefulset", "StatefulSets"}, {"daemonset", "DaemonSets"}}
	d["Outcomes"] = []option{{"", "any outcome"}, {"bad", "failed or rolled back"}, {projector.OutcomeFailed, "failed"}, {projector.OutcomeRolledBack, "rolled back"},
		{projector.OutcomeComplete, "complete"}, {projector.OutcomeProgressing, "progressing"}, {projector.OutcomeSuperseded, "superseded"}, {projector.OutcomePaused, "paused"}}
	d["Rows"] = []query.RolloutRow{}
	if cs := v.Clusters(); len(cs) > 1 {
		// Several clusters side by side: a cluster column, and links that name the cluster.
		d["Clusters"] = cs
	}
	nss, err := namespaces(ctx, v, a)
	if err != nil {
		return err
	}
	d["Namespaces"] = nss
	aq := url.Values{"since": {f.Since}, "until": {f.Until}, "object": {f.Kind}}
	if f.Namespace == "" {
		aq.Set("all-namespaces", "true")
	} else {
		aq.Set("namespace", f.Namespace)
	}
	var doc struct{ Rollouts []query.RolloutRow }
	if err := call(ctx, v, a, apiRollouts, aq, &doc); err != nil {
		return err
	}
	var rows []query.RolloutRow
	failed := 0
	for _, r := range doc.Rollouts {
		bad := isBad(r.Outcome)
		switch {
		case f.Outcome == "bad" && !bad, f.Outcome != "" && f.Outcome != "bad" && !strings.Contains(r.Outcome, f.Outcome):
			continue
		case f.Image != "" && !slices.ContainsFunc(append(slices.Clone(r.ToImages), r.FromImages...), func(i string) bool { return strings.Contains(i, f.Image) }):
			continue
		}
		if bad {
			failed++
		}
		rows = append(rows, r)
	}
	// Newest first.
	slices.SortStableFunc(rows, func(x, y query.RolloutRow) int { return y.Started.Compare(x.Started) })
	d["Rows"], d["Failed"] = rows, failed
	return nil
}

// isBad reports whether an outcome ("failed", "rolled-back", "failed, rolled back") is one
// that must stand out.
func isBad(outcome string) bool {
	return strings.Contains(outcome, "failed") || strings.Contains(outcome, "rolled")
}

// rowClass is the CSS class of a rollout's row: failed, rolled-back or its outcome.
func rowClass(outcome string) string {
	switch {
	case strings.Contains(outcome, "failed"):
		return "failed"
	case strings.Contains(outcome, "rolled"):
		return "rolled-back"
	}
	return strings.Fields(outcome + " x")[0]
}

// --- Workload ---

type stepPair struct {
	N                   int
	Recorded, Simulated string
	Diverged            bool
}

func workloadPage(ctx context.Context, v *query.Views, a *access, q url.Values, d pageData) error {
	ns, obj, sel := q.Get("namespace"), q.Get("object"), q.Get("rollout")
	if ns == "" {
		ns = "default"
	}
	d["Title"], d["Namespace"], d["Object"] = obj, ns, obj
	sets := q["set"]
	for len(sets) < 3 {
		sets = append(sets, "")
	}
	d["SetInputs"] = sets
	d["ReadyLatency"] = q.Get("ready-latency")
	d["Latencies"] = []string{"recorded", "p50", "p90", "max", "1s", "5s", "30s"}
	d["TimelineURL"] = "/timeline?" + url.Values{"namespace": {ns}}.Encode()
	d["TreeTimelineURL"] = "/timeline?" + url.Values{"namespace": {ns}, "workload": {obj}}.Encode()
	if obj == "" {
		return badArg("workload: object is needed, e.g. /workload?namespace=shop&object=deploy/web")
	}
	base := url.Values{"namespace": {ns}, "object": {obj}}
	var hist struct{ Revisions []query.HistoryRow }
	if err := call(ctx, v, a, apiHistory, base, &hist); err != nil {
		return err
	}
	d["History"] = hist.Revisions
	var ro struct{ Rollouts []query.RolloutRow }
	if err := call(ctx, v, a, apiRollouts, base, &ro); err != nil {
		return err
	}
	d["Rollouts"] = ro.Rollouts
	if len(ro.Rollouts) == 0 {
		return nil
	}
	if sel == "" || sel == "latest" {
		sel = fmt.Sprintf("#%d", ro.Rollouts[len(ro.Rollouts)-1].Number)
	}
	d["Rollout"] = sel
	sq := url.Values{"namespace": {ns}, "object": {obj}, "rollout": {sel}}
	var steps []struct {
		Rollout query.RolloutRow
		Steps   []query.StepRow
	}
	if err := call(ctx, v, a, apiSteps, sq, &steps); err != nil {
		return err
	}
	var recorded *replay.RecordedAvailability
	var desired int32
	if len(steps) > 0 {
		d["Selected"], d["Steps"] = steps[0].Rollout, steps[0].Steps
		kind := steps[0].Rollout.Workload.Kind
		if h, err := v.ReplayLoader()(ctx, replay.WorkloadRef{Kind: kind, Namespace: ns, Name: steps[0].Rollout.Workload.Name}); err == nil {
			if scn, err := replay.ExtractScenario(kind, ns, steps[0].Rollout.Workload.Name, h); err == nil {
				if ra, err := scn.RecordedAvailability(fmt.Sprintf("#%d", steps[0].Rollout.Number)); err == nil {
					recorded, desired = ra, steps[0].Rollout.Desired
				}
			}
		}
	}
	var cmp replay.CompareResult
	if err := call(ctx, v, a, apiCompare, sq, &cmp); err == nil && len(cmp.Rollouts) > 0 {
		rc := cmp.Rollouts[0]
		div := 0
		if rc.Divergence != nil {
			div = rc.Divergence.Step
		}
		var pairs []stepPair
		for i := 0; i < max(len(rc.Recorded), len(rc.Simulated)); i++ {
			p := stepPair{N: i + 1, Diverged: i+1 == div}
			if i < len(rc.Recorded) {
				p.Recorded = rc.Recorded[i].String()
			}
			if i < len(rc.Simulated) {
				p.Simulated = rc.Simulated[i].String()
			}
			pairs = append(pairs, p)
		}
		d["Compare"] = map[string]any{"Match": rc.Match, "Divergence": rc.Divergence, "Decisions": rc.Decisions,
			"DecisionsMatched": rc.DecisionsMatched, "FreeRun": rc.FreeRun, "Pairs": pairs}
	}
	var whatIf []replay.AvailabilityPoint
	var set []string
	for _, s := range q["set"] {
		if strings.TrimSpace(s) != "" {
			set = append(set, strings.TrimSpace(s))
		}
	}
	if len(set) > 0 {
		wq := url.Values{"namespace": {ns}, "object": {obj}, "rollout": {sel}, "set": set, "ready-latency": {q.Get("ready-latency")}}
		var wi replay.WhatIfResult
		if err := call(ctx, v, a, apiWhatIf, wq, &wi); err != nil {
			d["WhatIfError"] = oneLine(err)
		} else {
			d["WhatIf"] = wi
			whatIf = wi.Availability
		}
	}
	if recorded != nil {
		d["Chart"] = availabilityChart(recorded, desired, whatIf)
	}
	return nil
}

// chart is an SVG line chart of a rollout's pods over time.
type chart struct {
	W, H                     int
	Pods, Updated, Available string // polyline points
	// WhatIf is the available pods of the what-if asked, on the same axes ("" without one).
	WhatIf                   string
	Grid                     []chartLine
	Bounds                   []chartLine
	MaxSurge, MaxUnavailable int32
}

type chartLine struct {
	X1, Y1, X2, Y2, TX, TY float64
	Label                  string
}

// availabilityChart draws the recorded rollout's pods over time and, when given, the available
// pods of a what-if of it (from the same start; the time axis spans the longer of the two).
func availabilityChart(ra *replay.RecordedAvailability, desired int32, whatIf []replay.AvailabilityPoint) *chart {
	if len(ra.Points) == 0 {
		return nil
	}
	c := &chart{W: 900, H: 240, MaxSurge: ra.MaxSurge, MaxUnavailable: ra.MaxUnavailable}
	const left, right, top, bottom = 40.0, 10.0, 10.0, 22.0
	t0, t1 := ra.Start, ra.End
	if t1.IsZero() || !t1.After(t0) {
		t1 = ra.Points[len(ra.Points)-1].Time
	}
	if n := len(whatIf); n > 0 && whatIf[n-1].Time.After(t1) {
		t1 = whatIf[n-1].Time
	}
	if !t1.After(t0) {
		t1 = t0.Add(time.Second)
	}
	top0 := int(desired + ra.MaxSurge)
	for _, p := range append(slices.Clip(ra.Points), whatIf...) {
		top0 = max(top0, p.Pods, p.Desired)
	}
	top0 = max(top0, 1)
	x := func(t time.Time) float64 {
		if t.Before(t0) {
			t = t0
		}
		return left + (float64(c.W)-left-right)*float64(t.Sub(t0))/float64(t1.Sub(t0))
	}
	y := func(n int) float64 { return top + (float64(c.H)-top-bottom)*(1-float64(n)/float64(top0)) }
	line := func(points []replay.AvailabilityPoint, val func(replay.AvailabilityPoint) int) string {
		var b strings.Builder
		prev := -1
		for _, p := range points {
			if p.Time.After(t1) {
				break
			}
			n := val(p)
			if prev >= 0 {
				fmt.Fprintf(&b, "%.1f,%.1f ", x(p.Time), y(prev)) // steps, not slopes
			}
			fmt.Fprintf(&b, "%.1f,%.1f ", x(p.Time), y(n))
			prev = n
		}
		if prev >= 0 {
			fmt.Fprintf(&b, "%.1f,%.1f", x(t1), y(prev))
		}
		return b.String()
	}
	c.Pods = line(ra.Points, func(p replay.AvailabilityPoint) int { return p.Pods })
	c.Updated = line(ra.Points, func(p replay.AvailabilityPoint) int { return p.Updated })
	c.Available = line(ra.Points, func(p replay.AvailabilityPoint) int { return p.Available })
	if len(whatIf) > 0 {
		c.WhatIf = line(whatIf, func(p replay.AvailabilityPoint) int { return p.Available })
	}
	step := max(1, top0/4)
	for n := 0; n <= top0; n += step {
		c.Grid = append(c.Grid, chartLine{X1: left, X2: float64(c.W) - right, Y1: y(n), Y2: y(n), TX: 4, TY: y(n) + 4, Label: strconv.Itoa(n)})
	}
	c.Grid = append(c.Grid, chartLine{X1: left, X2: left, Y1: top, Y2: float64(c.H) - bottom, TX: left, TY: float64(c.H) - 6, Label: "+0s"},
		chartLine{X1: float64(c.W) - right, X2: float64(c.W) - right, Y1: top, Y2: float64(c.H) - bottom, TX: float64(c.W) - 60, TY: float64(c.H) - 6, Label: "+" + query.FormatDuration(t1.Sub(t0))})
	if ra.MaxSurge > 0 || ra.MaxUnavailable > 0 {
		c.Bounds = []chartLine{
			{X1: left, X2: float64(c.W) - right, Y1: y(int(desired + ra.MaxSurge)), Y2: y(int(desired + ra.MaxSurge))},
			{X1: left, X2: float64(c.W) - right, Y1: y(int(desired - ra.MaxUnavailable)), Y2: y(int(desired - ra.MaxUnavailable))},
		}
	}
	return c
}

// --- Object ---

type versionRow struct {
	Seq              uint64
	Time             time.Time
	Type, Actor, UID string
	Class            query.Class
	Summary          string
	object           []byte
	label            string
}

type diffLine struct{ Class, Text string }

func objectPage(ctx context.Context, v *query.Views, a *access, q url.Values, d pageData) error {
	ns, obj := q.Get("namespace"), q.Get("object")
	all := q.Get("all") == "1" || q.Get("all") == "true"
	d["Title"], d["Object"] = obj, obj
	d["At"], d["All"] = q.Get("at"), all
	if obj == "" {
		return badArg("object: object is needed, e.g. /object?namespace=shop&object=pod/web-0")
	}
	k, name, err := v.ParseObject(ctx, obj)
	if err != nil {
		return err
	}
	if !k.Namespaced {
		ns = ""
	} else if ns == "" {
		ns = "default"
	}
	d["Namespace"] = ns
	d["Workload"] = k.IsWorkload()
	if err := checkObject(ctx, v, a, obj, ns); err != nil {
		return err
	}
	vs, err := v.DB.Versions(ctx, projector.ObjectRef{Cluster: v.Cluster, Group: k.Group, Kind: k.Kind, Namespace: ns, Name: name})
	if errors.Is(err, projector.ErrNotFound) {
		names, _ := v.DB.Names(ctx, v.Cluster, k.Group, k.Kind, ns)
		return &query.NotFoundError{Kind: k, Namespace: ns, Name: name, Nearest: query.Nearest(name, names, 3)}
	}
	if err != nil {
		return err
	}
	rows := make([]versionRow, 0, len(vs))
	prev := map[string]map[string]any{} // by uid
	for _, pv := range vs {
		var cur map[string]any
		if len(pv.Object) > 0 {
			json.Unmarshal(pv.Object, &cur)
		}
		ch := query.Describe(pv.Kind, pv.Type, prev[pv.UID], cur)
		if cur != nil {
			prev[pv.UID] = cur
		}
		rows = append(rows, versionRow{Seq: pv.Seq, Time: pv.Observed, Type: pv.Type, Actor: pv.Actor, UID: pv.UID, Class: ch.Class, Summary: ch.Summary, object: pv.Object,
			label: fmt.Sprintf("%s/%s (%s %s, resourceVersion %s)", strings.ToLower(k.Kind), name, pv.Type, pv.Observed.Local().Format("2006-01-02 15:04:05"), pv.ResourceVersion)})
	}
	d["Versions"] = rows
	// The diff: the versions chosen, else the last change.
	find := func(s string) int {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return -1
		}
		return slices.IndexFunc(rows, func(r versionRow) bool { return r.Seq == n })
	}
	to, from := len(rows)-1, len(rows)-2
	if q.Get("to") != "" {
		if to = find(q.Get("to")); to < 0 {
			return badArg("to=%s: %s has no version at sequence %s: pick one of the list", q.Get("to"), obj, q.Get("to"))
		}
	}
	if q.Get("from") != "" {
		if from = find(q.Get("from")); from < 0 {
			return badArg("from=%s: %s has no version at sequence %s: pick one of the list", q.Get("from"), obj, q.Get("from"))
		}
	} else {
		// As khist diff: from the newest earlier version that differs (noise aside).
		from = -1
		if target, err := query.ObjectYAML(rows[to].object, all); err == nil {
			for i := to - 1; i >= 0; i-- {
				if y, err := query.ObjectYAML(rows[i].object, all); err == nil && !bytes.Equal(y, target) {
					from = i
					break
				}
			}
		}
	}
	if from > to {
		from, to = to, from
	}
	var fromObj []byte
	fromLabel := "(nothing)"
	if from >= 0 {
		fromObj, fromLabel = rows[from].object, rows[from].label
		d["From"] = rows[from].Seq
	}
	d["To"] = rows[to].Seq
	diff, err := query.DiffObjects(fromObj, rows[to].object, query.DiffOptions{FromName: fromLabel, ToName: rows[to].label, All: all})
	if err != nil {
		return err
	}
	d["DiffTitle"] = fmt.Sprintf("%d → %d", d["From"], rows[to].Seq)
	if diff == "" {
		d["NoDiff"] = fmt.Sprintf("No differences between %s and %s%s.", fromLabel, rows[to].label, map[bool]string{false: " (noise such as resourceVersion and status timestamps ignored; tick all fields to compare everything)", true: ""}[all])
	} else {
		var lines []diffLine
		for _, l := range strings.Split(strings.TrimSuffix(diff, "\n"), "\n") {
			c := ""
			switch {
			case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
			case strings.HasPrefix(l, "+"):
				c = "add"
			case strings.HasPrefix(l, "-"):
				c = "del"
			case strings.HasPrefix(l, "@@"):
				c = "hunk"
			}
			lines = append(lines, diffLine{c, l})
		}
		d["Diff"] = lines
	}
	if at := q.Get("at"); at != "" {
		var raw json.RawMessage
		gq := url.Values{"object": {obj}, "at": {at}}
		if ns != "" {
			gq.Set("namespace", ns)
		}
		if err := call(ctx, v, a, apiGet, gq, &raw); err != nil {
			d["AtError"] = oneLine(err)
		} else if y, err := query.ObjectYAML(raw, true); err == nil {
			d["AtYAML"] = string(y)
		}
	}
	return nil
}

// --- Search ---

type hit struct {
	Object, Namespace, UID, Matched string
	FirstSeen, Gone                 time.Time
}

const maxHits = 200

func searchPage(ctx context.Context, v *query.Views, a *access, q url.Values, d pageData) error {
	d["Title"] = "Search"
	term := strings.TrimSpace(q.Get("q"))
	d["Q"], d["Namespace"] = term, q.Get("namespace")
	nss, err := namespaces(ctx, v, a)
	if err != nil {
		return err
	}
	d["Namespaces"] = nss
	d["Hits"] = []hit{}
	if term == "" {
		return nil
	}
	scope := nss
	if n := q.Get("namespace"); n != "" {
		if err := a.check(ctx, n); err != nil {
			return err
		}
		scope = []string{n}
	} else if ok, _ := a.may(ctx, ""); ok {
		scope = append([]string{""}, scope...)
	}
	kinds, err := v.DB.Kinds(ctx, v.Cluster)
	if err != nil {
		return err
	}
	lkey, lval, isLabel := strings.Cut(term, "=")
	isUID := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(term)
	var hits []hit
	truncated := false
	add := func(k query.Kind, ns string, lt projector.Lifetime, matched string) bool {
		if len(hits) >= maxHits {
			truncated = true
			return false
		}
		hits = append(hits, hit{Object: strings.ToLower(k.Kind) + "/" + lt.Name, Namespace: ns, UID: lt.UID, Matched: matched, FirstSeen: lt.FirstSeen, Gone: lt.Gone})
		return true
	}
	for _, gk := range kinds {
		k := query.LookupKind(gk.Group, gk.Kind)
		for _, ns := range scope {
			if (ns == "") == k.Namespaced {
				continue
			}
			names, err := v.DB.Names(ctx, v.Cluster, gk.Group, gk.Kind, ns)
			if err != nil {
				return err
			}
			for _, name := range names {
				byName := !isLabel && !isUID && strings.Contains(name, term)
				needObject := isLabel || (!byName && !isUID && strings.ContainsAny(term, ":/") && hasImages(gk.Kind))
				if !byName && !isUID && !needObject {
					continue
				}
				ref := projector.ObjectRef{Cluster: v.Cluster, Group: gk.Group, Kind: gk.Kind, Namespace: ns, Name: name}
				lts, err := v.DB.Lifetimes(ctx, ref)
				if err != nil {
					return err
				}
				for _, lt := range lts {
					switch {
					case byName:
						if !add(k, ns, lt, "name") {
							goto done
						}
					case isUID && lt.UID == term:
						if !add(k, ns, lt, "uid") {
							goto done
						}
					case needObject:
						ref.UID = lt.UID
						vs, err := v.DB.Versions(ctx, ref)
						if err != nil || len(vs) == 0 {
							continue
						}
						var m map[string]any
						for i := len(vs) - 1; i >= 0 && m == nil; i-- {
							json.Unmarshal(vs[i].Object, &m)
						}
						if isLabel {
							md, _ := m["metadata"].(map[string]any)
							labels, _ := md["labels"].(map[string]any)
							if val, ok := labels[lkey]; ok && (lval == "" || fmt.Sprint(val) == lval) {
								if !add(k, ns, lt, "label "+term) {
									goto done
								}
							}
						} else if img := imagesOf(m); strings.Contains(img, term) {
							if !add(k, ns, lt, "image "+img) {
								goto done
							}
						}
					}
				}
			}
		}
	}
done:
	d["Hits"], d["Truncated"] = hits, truncated
	return nil
}

func hasImages(kind string) bool {
	switch kind {
	case "Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob":
		return true
	}
	return false
}

// imagesOf returns the images of a pod or of a workload's pod template.
func imagesOf(m map[string]any) string {
	spec, _ := m["spec"].(map[string]any)
	for _, path := range [][]string{{"template", "spec"}, {"jobTemplate", "spec", "template", "spec"}} {
		s := spec
		for _, p := range path {
			s, _ = s[p].(map[string]any)
		}
		if s != nil {
			return query.Images(s)
		}
	}
	return query.Images(spec)
}

// --- Timeline ---

var (
	inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	inlineStyle  = regexp.MustCompile(`(?s)<style>(.*?)</style>`)
)

// timelinePage serves khist timeline -o html for the window of the URL (default: the last hour
// of the history), with a Content-Security-Policy that allows exactly its inline script and
// style (by hash), and the live updates of app.js.
func (s *Server) timelinePage(w http.ResponseWriter, r *http.Request) {
	s.timeline(w, r, false)
}

// timelineData serves the data of the timeline page of the same URL, as JSON, for a live page:
// with after=SEQ, only the changes of sequence above SEQ (those it lacks).
func (s *Server) timelineData(w http.ResponseWriter, r *http.Request) {
	s.timeline(w, r, true)
}

func (s *Server) timeline(w http.ResponseWriter, r *http.Request, data bool) {
	u, _ := r.Context().Value(userKey{}).(*User)
	v, done, err := s.openViews()
	if err != nil {
		writeError(w, statusOf(err), oneLine(err))
		return
	}
	defer done()
	ctx := r.Context()
	q := r.URL.Query()
	err = s.chooseClusters(ctx, v, query.SplitClusters(q.Get("cluster")), q.Get("allClusters"))
	if err != nil {
		writeError(w, statusOf(err), oneLine(err))
		return
	}
	if q.Get("since") == "" {
		_, last, err := v.Span(ctx)
		if err == nil && !last.IsZero() {
			q.Set("since", last.Add(-time.Hour).UTC().Format(time.RFC3339))
			if q.Get("live") != "1" {
				// The last hour of the history; a live page runs to now.
				q.Set("until", last.Add(time.Second).UTC().Format(time.RFC3339))
			}
		}
	}
	if q.Get("namespace") == "" && q.Get("all-namespaces") == "" {
		q.Set("all-namespaces", "true")
	}
	delete(q, "live")
	delete(q, "cluster")
	delete(q, "allClusters")
	p := &params{v: q, used: map[string]bool{}}
	args, err := timelineArgs(ctx, v, p, &access{s: s, user: u})
	if err != nil {
		writeError(w, statusOf(err), oneLine(err))
		return
	}
	var buf bytes.Buffer
	if data {
		err = v.TimelinePageData(ctx, args, &buf)
	} else {
		err = v.Timeline(ctx, args, &buf)
	}
	if err != nil {
		writeError(w, statusOf(err), oneLine(err))
		return
	}
	if data {
		w.Header().Set("Content-Type", "application/json")
		w.Write(buf.Bytes())
		return
	}
	page := buf.Bytes()
	position := ""
	if seq, err := v.DB.Seq(); err == nil {
		position = fmt.Sprintf(` data-position="%d"`, seq)
	}
	csp := "default-src 'none'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; script-src 'self'"
	for _, m := range inlineScript.FindAllSubmatch(page, -1) {
		csp += " " + hashSource(m[1])
	}
	csp += "; style-src 'self'"
	for _, m := range inlineStyle.FindAllSubmatch(page, -1) {
		csp += " " + hashSource(m[1])
	}
	// The pages' navigation bar on top (timeline.css styles it), the live switch's script last.
	user := ""
	if u != nil && u.Name != "" {
		user = `<span>` + html.EscapeString(u.Name) + `</span> <a href="/login?logout=1">log out</a>`
	}
	page = bytes.Replace(page, []byte("<body>"), []byte(`<body>
<nav class="khist-serve"><span class="brand">khist</span> <a href="/rollouts">Rollouts</a> <a href="/timeline">Timeline</a> <a href="/search">Search</a> <span class="right"><span id="updated"></span>`+user+`<label><input type="checkbox" id="live"> live</label></span></nav>`), 1)
	page = bytes.Replace(page, []byte("</body>"), []byte(`<main id="main" hidden`+position+`></main><script src="/static/app.js"></script></body>`), 1)
	w.Header().Set("Content-Security-Policy", csp)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(page)
}

func hashSource(b []byte) string {
	h := sha256.Sum256(b)
	return "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
}

// timelineArgs are the arguments of the timeline page of p, with the API's access rules;
// after=SEQ keeps the changes after SEQ.
func timelineArgs(ctx context.Context, v *query.Views, p *params, a *access) (query.TimelineArgs, error) {
	sc, err := p.scope(true)
	if err != nil {
		return query.TimelineArgs{}, err
	}
	args := query.TimelineArgs{Namespace: sc.ns, AllNamespaces: sc.all, Since: p.str("since"), Until: p.str("until"),
		Kinds: p.list("kind"), Selector: p.str("selector"), Output: query.OutHTML, DiffURL: "/api/v1/change?seq=", Workload: p.str("workload")}
	if args.All, err = p.bool("all"); err != nil {
		return args, err
	}
	if s := p.str("after"); s != "" {
		if args.After, err = strconv.ParseUint(s, 10, 64); err != nil {
			return args, badArg("after=%q: give the sequence of the last change the page holds (a whole number)", s)
		}
	}
	if err := p.unknown("timeline"); err != nil {
		return args, err
	}
	if sc.all {
		args.Namespace = ""
		allow, err := a.filter(ctx)
		if err != nil {
			return args, err
		}
		if allow != nil {
			return args, &forbiddenError{"the timeline of all namespaces shows cluster-scoped objects: name a namespace (namespace=NS)"}
		}
	} else if err := checkKinds(ctx, v, a, args.Kinds, sc); err != nil {
		return args, err
	}
	return args, nil
}

// --- Login ---

// login serves the login page of token authentication: a browser cannot send an Authorization
// header by itself, so the token given here is checked as a request's would be and kept in an
// HttpOnly, SameSite=Strict cookie (Secure over TLS) for 8 hours; GET /login?logout=1 drops it.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	next := r.FormValue("next")
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		next = "/rollouts"
	}
	cookie := &http.Cookie{Name: tokenCookie, Path: "/", HttpOnly: true, Secure: s.opts.TLSCertFile != "", SameSite: http.SameSiteStrictMode}
	d := pageData{"Title": "Log in", "Next": next}
	status := http.StatusOK
	switch {
	case r.Method == http.MethodGet && r.FormValue("logout") != "":
		cookie.MaxAge = -1
		http.SetCookie(w, cookie)
		d["Error"] = "logged out"
	case r.Method == http.MethodPost:
		tok := strings.TrimSpace(r.PostFormValue("token"))
		probe := r.Clone(r.Context())
		probe.Header = http.Header{"Authorization": {"Bearer " + tok}}
		u, err := s.opts.Authenticator.Authenticate(probe)
		if err == nil && tok != "" {
			cookie.Value, cookie.MaxAge = tok, 8*3600
			http.SetCookie(w, cookie)
			s.log.Info("login", "user", u.Name)
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
		status = http.StatusUnauthorized
		if err == nil {
			err = errors.New("no token given")
		}
		d["Error"] = oneLine(err)
	}
	var buf bytes.Buffer
	if err := pageTmpl["login"].Execute(&buf, d); err != nil {
		writeError(w, http.StatusInternalServerError, oneLine(err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
