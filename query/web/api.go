package web

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

	"github.com/khist/khist/projector"
	"github.com/khist/khist/query"
	"github.com/khist/khist/replay"
)

// The API: GET /api/v1/COMMAND with the command's flags as query parameters, by their long
// names (namespace, all-namespaces, since, until, at, kind, selector, rollout, from, to, all,
// unified, set, ready-latency, free-run, max-lag) and its KIND/NAME argument as object. Each
// answers what the command's -o json writes (diff: {"diff": the unified diff}).

// params reads a request's query parameters and says which were not used.
type params struct {
	v    url.Values
	used map[string]bool
}

func (p *params) str(name string) string {
	p.used[name] = true
	return p.v.Get(name)
}

func (p *params) list(name string) []string {
	p.used[name] = true
	var out []string
	for _, s := range p.v[name] {
		for _, e := range strings.Split(s, ",") {
			if e = strings.TrimSpace(e); e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}

// repeated returns every value of a repeatable parameter (set), commas kept.
func (p *params) repeated(name string) []string {
	p.used[name] = true
	return p.v[name]
}

func (p *params) bool(name string) (bool, error) {
	p.used[name] = true
	s := p.v.Get(name)
	if s == "" {
		return p.v.Has(name), nil // ?all means all=true
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, badArg("%s=%q: use true or false", name, s)
	}
	return b, nil
}

func (p *params) duration(name string, def time.Duration) (time.Duration, error) {
	p.used[name] = true
	s := p.v.Get(name)
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, badArg("--%s %q: use a duration, e.g. 5s", name, s)
	}
	return d, nil
}

func (p *params) int(name string, def int) (int, error) {
	p.used[name] = true
	s := p.v.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, badArg("--%s %q: use a number of 0 or more", name, s)
	}
	return n, nil
}

// unknown returns an error naming the parameters that were given but not read.
func (p *params) unknown(endpoint string) error {
	var bad, known []string
	for k := range p.v {
		if !p.used[k] {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	for k := range p.used {
		known = append(known, k)
	}
	slices.Sort(bad)
	slices.Sort(known)
	return badArg("%s takes no parameter %s: use %s", endpoint, strings.Join(bad, ", "), strings.Join(known, ", "))
}

// scope is a request's namespace: namespace=NS, or all-namespaces=true; default "default".
type scope struct {
	ns  string
	all bool
}

func (p *params) scope(allowAll bool) (scope, error) {
	sc := scope{ns: p.str("namespace")}
	if allowAll {
		var err error
		if sc.all, err = p.bool("all-namespaces"); err != nil {
			return sc, err
		}
	}
	if sc.all && sc.ns != "" {
		return sc, badArg("-n %s and -A exclude each other: use one", sc.ns)
	}
	if !sc.all && sc.ns == "" {
		sc.ns = "default"
	}
	return sc, nil
}

// argError is a bad parameter: its message is the user's, and it wraps query.ErrBadArgument.
type argError struct{ msg string }

func (e *argError) Error() string { return e.msg }
func (e *argError) Unwrap() error { return query.ErrBadArgument }

func badArg(format string, a ...any) error { return &argError{fmt.Sprintf(format, a...)} }

// errForbidden is a namespace the user may not read.
var errForbidden = errors.New("forbidden")

type forbiddenError struct{ msg string }

func (e *forbiddenError) Error() string { return e.msg }
func (e *forbiddenError) Unwrap() error { return errForbidden }

// access is what the user of a request may read.
type access struct {
	s    *Server
	user *User
}

// may reports whether the user may read namespace ns ("": cluster-scoped objects and every
// namespace).
func (a *access) may(ctx context.Context, ns string) (bool, error) {
	if a.s.opts.Authorizer == nil || a.user == nil {
		return true, nil
	}
	return a.s.opts.Authorizer.Authorize(ctx, a.user, ns)
}

// check returns errForbidden unless the user may read ns.
func (a *access) check(ctx context.Context, ns string) error {
	ok, err := a.may(ctx, ns)
	if err != nil {
		return err
	}
	if !ok {
		what := "namespace " + ns
		if ns == "" {
			what = "cluster-scoped objects and all namespaces"
		}
		return &forbiddenError{fmt.Sprintf("%s may not read the history of %s: it takes get pods there in the live cluster", a.user.Name, what)}
	}
	return nil
}

// filter returns the function that keeps what the user may read, nil when they may read all.
func (a *access) filter(ctx context.Context) (func(ns string) bool, error) {
	all, err := a.may(ctx, "")
	if err != nil || all {
		return nil, err
	}
	memo := map[string]bool{}
	return func(ns string) bool {
		if ns == "" {
			return false
		}
		ok, seen := memo[ns]
		if !seen {
			ok, _ = a.may(ctx, ns)
			memo[ns] = ok
		}
		return ok
	}, nil
}

// answer is one endpoint: it reads the parameters, checks access and writes the answer.
type answer func(ctx context.Context, v *query.Views, p *params, a *access, w io.Writer) error

// api serves one endpoint.
func (s *Server) api(name string, fn answer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, _ := r.Context().Value(userKey{}).(*User)
		p := &params{v: r.URL.Query(), used: map[string]bool{}}
		body, err := s.run(r.Context(), name, fn, p, &access{s: s, user: u})
		if err != nil {
			status := statusOf(err)
			if status == http.StatusInternalServerError {
				s.log.Error("request failed", "path", r.URL.Path, "err", err)
			}
			writeError(w, status, oneLine(err))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}
}

// run computes an answer into a buffer, so that an error found half-way is still a clean
// error response.
func (s *Server) run(ctx context.Context, name string, fn answer, p *params, a *access) ([]byte, error) {
	v, done, err := s.openViews()
	if err != nil {
		return nil, err
	}
	defer done()
	p.used["allClusters"] = true
	if err := s.chooseClusters(ctx, v, p.list("cluster"), p.v.Get("allClusters")); err != nil {
		return nil, err
	}
	if v, err = narrowClusters(ctx, v, name, p.v.Get("object"), p.v.Get("namespace")); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := fn(ctx, v, p, a, &buf); err != nil {
		if filtered := a.nearestOnly(ctx, err); filtered != nil {
			return nil, filtered
		}
		return nil, err
	}
	return buf.Bytes(), nil
}

// nearestOnly drops, for a user who may not read every namespace, the nearest names a
// not-found error suggests in other namespaces.
func (a *access) nearestOnly(ctx context.Context, err error) error {
	var nf *query.NotFoundError
	if !errors.As(err, &nf) {
		return nil
	}
	allow, ferr := a.filter(ctx)
	if ferr != nil || allow == nil {
		return nil
	}
	c := *nf
	c.Nearest = nil
	for _, n := range nf.Nearest {
		if _, ns, ok := strings.Cut(n, " in namespace "); ok {
			ns, _, _ = strings.Cut(ns, " ")
			if !allow(ns) {
				continue
			}
		}
		c.Nearest = append(c.Nearest, n)
	}
	return &c
}

// statusOf is the HTTP status of an error.
func statusOf(err error) int {
	switch {
	case errors.Is(err, errForbidden):
		return http.StatusForbidden
	case errors.Is(err, query.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, query.ErrBadArgument), errors.Is(err, query.ErrBadTime),
		errors.Is(err, query.ErrUnknownKind), errors.Is(err, query.ErrOutOfRange):
		return http.StatusBadRequest
	case errors.Is(err, projector.ErrInUse):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeError writes {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Write(append(b, '\n'))
}

// checkObject checks that the user may read the object named by arg in namespace ns: its
// namespace, or the cluster scope for a cluster-scoped kind.
func checkObject(ctx context.Context, v *query.Views, a *access, arg, ns string) error {
	kind, _, _ := strings.Cut(arg, "/")
	if k, err := v.ResolveKind(ctx, kind); err == nil && !k.Namespaced {
		return a.check(ctx, "")
	}
	return a.check(ctx, ns)
}

// checkKinds checks that the user may read the kinds asked for in a namespace: cluster-scoped
// ones need the cluster scope.
func checkKinds(ctx context.Context, v *query.Views, a *access, kinds []string, sc scope) error {
	if sc.all {
		return nil // filtered
	}
	for _, ks := range kinds {
		if k, err := v.ResolveKind(ctx, ks); err == nil && !k.Namespaced {
			return a.check(ctx, "")
		}
	}
	// The timeline takes several namespaces (a,b): each must be readable.
	for _, ns := range strings.Split(sc.ns, ",") {
		if ns = strings.TrimSpace(ns); ns == "" {
			continue
		}
		if err := a.check(ctx, ns); err != nil {
			return err
		}
	}
	return nil
}

// filtered writes the JSON of a list answer keeping only the items of the namespaces the user
// may read; when they may read all, the answer as the CLI writes it.
func filtered(ctx context.Context, a *access, w io.Writer, shape string, write func(io.Writer) error) error {
	allow, err := a.filter(ctx)
	if err != nil {
		return err
	}
	if allow == nil {
		return write(w)
	}
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return err
	}
	b, err := filterJSON(buf.Bytes(), shape, allow)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// filterJSON keeps the items of a list answer whose namespace allow allows: shape "rollouts"
// ({"rollouts": [{"workload": {"namespace"}}]}), "list" (a kubectl List: {"items":
// [{"metadata": {"namespace"}}]}) or "timeline" ({"groups": [{"workload": {"namespace"}}]}).
func filterJSON(b []byte, shape string, allow func(string) bool) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	field := map[string]string{"rollouts": "rollouts", "list": "items", "timeline": "groups"}[shape]
	var items []json.RawMessage
	if raw := doc[field]; len(raw) > 0 {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
	}
	kept := []json.RawMessage{}
	for _, it := range items {
		var ns struct {
			Workload struct{ Namespace string } `json:"workload"`
			Metadata struct{ Namespace string } `json:"metadata"`
		}
		if err := json.Unmarshal(it, &ns); err != nil {
			return nil, err
		}
		n := ns.Workload.Namespace
		if shape == "list" {
			n = ns.Metadata.Namespace
		}
		if allow(n) {
			kept = append(kept, it)
		}
	}
	k, err := json.Marshal(kept)
	if err != nil {
		return nil, err
	}
	doc[field] = k
	out, err := json.MarshalIndent(doc, "", "  ")
	return append(out, '\n'), err
}

func (s *Server) routes() {
	for path, fn := range map[string]answer{
		"rollouts":       apiRollouts,
		"history":        apiHistory,
		"steps":          apiSteps,
		"get":            apiGet,
		"diff":           apiDiff,
		"state":          apiState,
		"timeline":       apiTimeline,
		"replay/compare": apiCompare,
		"replay/what-if": apiWhatIf,
		"replay/all":     apiReplayAll,
		"change":         apiChange,
	} {
		s.mux.Handle("GET /api/v1/"+path, s.api(path, fn))
	}
	s.mux.HandleFunc("GET /api/v1/events", s.events)
	s.mux.HandleFunc("GET /api/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, r.URL.Path+": no such endpoint: use /api/v1/ rollouts, history, steps, get, diff, state, timeline, replay/compare, replay/what-if, replay/all or events (or POST /api/v1/grafana/query, Grafana's JSON data source)")
	})
	s.grafanaRoutes()
	s.pages()
}

func apiRollouts(ctx context.Context, v *query.Views, p *params, a *access, w io.Writer) error {
	sc, err := p.scope(true)
	if err != nil {
		return err
	}
	args := query.RolloutsArgs{Object: p.str("object"), Namespace: sc.ns, AllNamespaces: sc.all,
		Since: p.str("since"), Until: p.str("until"), Output: query.OutJSON}
	if err := p.unknown("rollouts"); err != nil {
		return err
	}
	if sc.all {
		args.Namespace = ""
		return filtered(ctx, a, w, "rollouts", func(w io.Writer) error { return v.Rollouts(ctx, args, w) })
	}
	if err := a.check(ctx, sc.ns); err != nil {
		return err
	}
	return v.Rollouts(ctx, args, w)
}

func apiHistory(ctx context.Context, v *query.Views, p *params, a *access, w io.Writer) error {
	sc, err := p.scope(false)
	if err != nil {
		return err
	}
	args := query.HistoryArgs{Object: p.str("object"), Namespace: sc.ns, Output: query.OutJSON}
	if err := p.unknown("history"); err != nil {
		return err
	}
	if err := a.check(ctx, sc.ns); err != nil {
		return err
	}
	return v.History(ctx, args, w)
}

func apiSteps(ctx context.Context, v *query.Views, p *params, a *access, w io.Writer) error {
	sc, err := p.scope(false)
	if err != nil {
		return err
	}
	args := query.StepsArgs{Object: p.str("object"), Namespace: sc.ns, Rollout: p.str("rollout"), Output: query.OutJSON}
	if args.Rollout == "" {
		args.Rollout = "latest"
	}
	if err := p.unknown("steps"); err != nil {
		return err
	}
	if err := a.check(ctx, sc.ns); err != nil {
		return err
	}
	return v.Steps(ctx, args, w)
}

func apiGet(ctx context.Context, v *query.Views, p *params, a *access, w io.Writer) error {
	sc, err := p.scope(true)
	if err != nil {
		return err
	}
	args := query.GetArgs{Object: p.str("object"), Namespace: sc.ns, AllNamespaces: sc.all, At: p.str("at"), Output: query.OutJSON}
	if err := p.unknown("get"); err != nil {
		return err
	}
	if args.Object == "" {
		return badArg("get: KIND/NAME or KIND is needed, e.g. get deploy/web, or get deploy to list them")
	}
	if sc.all {
		args.Namespace = ""
	}
	if !strings.Contains(args.Object, "/") {
		// A list of the kind's objects, as khist state.
		if !sc.all {
			if err := checkKinds(ctx, v, a, []string{args.Object}, sc); err != nil {
				return err
			}
		}
		return filtered(ctx, a, w, "list", func(w io.Writer) error { return v.Get(ctx, args, w) })
	}
	if sc.all {
		return badArg("get KIND/NAME: -A lists a kind (get deploy -A): give the object's namespace instead")
	}
	if err := checkObject(ctx, v, a, args.Object, sc.ns); err != nil {
		return err
	}
	return v.Get(ctx, args, w)
}

func apiDiff(ctx context.Context, v *query.Views, p *params, a *access, w io.Writer) error {
	sc, err := p.scope(false)
	if err != nil {
		return err
	}
	args := query.DiffArgs{Object: p.str("object"), Namespace: sc.ns, From: p.str("from"), To: p.str("to")}
	if args.All, err = p.bool("all"); err != nil {
		return err
	}
	if args.Context, err = p.int("unified", 3); err != nil {
		return err
	}
	if err := p.unknown("diff"); err != nil {
		return err
	}
	if args.Object == "" {
		return badArg("diff: KIND/NAME is needed, e.g. diff deploy/web")
	}
	if err := checkObject(ctx, v, a, args.Object, sc.ns); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := v.Diff(ctx, args, &buf); err != nil {
		return err
	}
	b, err := json.MarshalIndent(map[string]string{"diff": buf.String()}, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func apiState(ctx context.Context, v *query.Views, p *params, a *access, w io.Writer) error {
	sc, err := p.scope(true)
	if err != nil {
		return err
	}
	args := query.StateArgs{Namespace: sc.ns, AllNamespaces: sc.all, At: p.str("at"), Kinds: p.list("kind"), Output: query.OutJSON}
	if err := p.unknown("state"); err != nil {
		return err
	}
	if sc.all {
		args.Namespace = ""
	}
	if err := checkKinds(ctx, v, a, args.Kinds, sc); err != nil {
		return err
	}
	return filtered(ctx, a, w, "list", func(w io.Writer) error { return v.State(ctx, args, w) })
}

func apiTimeline(ctx context.Context, v *query.Views, p *params, a *access, w io.Writer) error {
	sc, err := p.scope(true)
	if err != nil {
		return err
	}
	args := query.TimelineArgs{Namespace: sc.ns, AllNamespaces: sc.all, Since: p.str("since"), Until: p.str("until"),
		Kinds: p.list("kind"), Selector: p.str("selector"), Output: query.OutJSON, Workload: p.str("workload")}
	if args.All, err = p.bool("all"); err != nil {
		return err
	}
	if err := p.unknown("timeline"); err != nil {
		return err
	}
	if sc.all {
		args.Namespace = ""
	} else if err := checkKinds(ctx, v, a, args.Kinds, sc); err != nil {
		return err
	}
	return filtered(ctx, a, w, "timeline", func(w io.Writer) error { return v.Timeline(ctx, args, w) })
}

func apiCompare(ctx context.Context, v *query.Views, p *params, a *access, w io.Writer) error {
	sc, err := p.scope(false)
	if err != nil {
		return err
	}
	args := query.ReplayCompareArgs{Object: p.str("object"), Namespace: sc.ns, Rollout: p.str("rollout"), Output: query.OutJSON}
	if args.FreeRun, err = p.bool("free-run"); err != nil {
		return err
	}
	if args.MaxLag, err = p.duration("max-lag", replay.DefaultMaxLag); err != nil {
		return err
	}
	if err := p.unknown("replay/compare"); err != nil {
		return err
	}
	if err := a.check(ctx, sc.ns); err != nil {
		return err
	}
	return v.ReplayCompare(ctx, args, w)
}

func apiWhatIf(ctx context.Context, v *query.Views, p *params, a *access, w io.Writer) error {
	sc, err := p.scope(false)
	if err != nil {
		return err
	}
	args := query.ReplayWhatIfArgs{Object: p.str("object"), Namespace: sc.ns, Rollout: p.str("rollout"),
		Set: p.repeated("set"), ReadyLatency: p.str("ready-latency"), Output: query.OutJSON}
	if err := p.unknown("replay/what-if"); err != nil {
		return err
	}
	if err := query.CheckReplayWhatIf(args); err != nil {
		return err
	}
	if err := a.check(ctx, sc.ns); err != nil {
		return err
	}
	return v.ReplayWhatIf(ctx, args, w)
}

// apiChange answers the diff of one change of the timeline, by its sequence: what the HTML
// timeline inlines, fetched by the served timeline page on a click.
func apiChange(ctx context.Context, v *query.Views, p *params, a *access, w io.Writer) error {
	s := p.str("seq")
	if err := p.unknown("change"); err != nil {
		return err
	}
	seq, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return badArg("seq=%q: give the sequence of a change (its seq in the timeline)", s)
	}
	key, ver, d, err := v.ChangeDiff(ctx, seq)
	if err != nil {
		return err
	}
	if err := a.check(ctx, ver.Namespace); err != nil {
		return err
	}
	b, err := json.MarshalIndent(map[string]any{"seq": seq, "object": key, "diff": d}, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func apiReplayAll(ctx context.Context, v *query.Views, p *params, a *access, w io.Writer) error {
	sc, err := p.scope(true)
	if err != nil {
		return err
	}
	args := query.ReplayAllArgs{Namespace: sc.ns, AllNamespaces: sc.all, Since: p.str("since"), Output: query.OutJSON}
	if args.FreeRun, err = p.bool("free-run"); err != nil {
		return err
	}
	if args.MaxLag, err = p.duration("max-lag", replay.DefaultMaxLag); err != nil {
		return err
	}
	if err := p.unknown("replay/all"); err != nil {
		return err
	}
	if sc.all {
		args.Namespace = ""
		if args.Allow, err = a.filter(ctx); err != nil {
			return err
		}
	} else if err := a.check(ctx, sc.ns); err != nil {
		return err
	}
	return v.ReplayAll(ctx, args, w)
}
