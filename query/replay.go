package query

// The replay commands over the views (compare, what-if, all): the history of a workload comes
// from projector.WorkloadHistory, or for one rollout projector.WorkloadWindow (never from the
// raw log), converted to replay.Version, and the answer is written as a table or as JSON.
// khist replay and khist serve's API both call these.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/khist/khist/eventlog/kinds"
	"github.com/khist/khist/projector"
	"github.com/khist/khist/replay"
)

// ReplayCompareArgs are the arguments of khist replay compare.
type ReplayCompareArgs struct {
	Object    string // KIND/NAME of a Deployment, StatefulSet or DaemonSet
	Namespace string // -n; "" for default
	// Rollout is --rollout: #N or KIND/NAME#N (from khist rollouts), revN, latest, all or "" (all),
	// or the older log sequence.
	Rollout string
	FreeRun bool          // --free-run: judge by the free-running simulation
	MaxLag  time.Duration // --max-lag (the CLI's default is replay.DefaultMaxLag)
	Output  string        // -o: table or json
}

// ReplayWhatIfArgs are the arguments of khist replay what-if.
type ReplayWhatIfArgs struct {
	Object       string   // KIND/NAME of a Deployment, StatefulSet or DaemonSet
	Namespace    string   // -n; "" for default
	Rollout      string   // --rollout: as ReplayCompareArgs, but not all; "" is latest
	Set          []string // --set PATH=VALUE
	ReadyLatency string   // --ready-latency: recorded (""), p50, p90, max or a duration
	Output       string   // -o: table or json
}

// ReplayAllArgs are the arguments of khist replay all.
type ReplayAllArgs struct {
	Namespace     string // -n; "" for default
	AllNamespaces bool   // -A
	Since         string // --since
	FreeRun       bool
	MaxLag        time.Duration
	Output        string // -o: table or json
	// Progress, when set, is called as workloads are replayed.
	Progress func(done, total int)
	// Allow, when set, keeps only the namespaces it allows (khist serve: those the user may
	// read).
	Allow func(namespace string) bool
}

// ReplayFormats are the -o values of the replay commands.
var ReplayFormats = []string{OutTable, OutJSON}

// auditOptions are the compare options of --free-run and --max-lag.
func auditOptions(freeRun bool, maxLag time.Duration) (replay.CompareOptions, error) {
	if maxLag < 0 {
		return replay.CompareOptions{}, errorf(ErrBadArgument, "--max-lag %s: use a duration of 0 or more, e.g. 5s", maxLag)
	}
	return replay.CompareOptions{FreeRun: freeRun, Audit: replay.AuditOptions{MaxLag: maxLag}}, nil
}

// ReplayCompare audits the recorded rollouts of a workload (khist replay compare).
func (v *Views) ReplayCompare(ctx context.Context, a ReplayCompareArgs, w io.Writer) error {
	out, err := ParseOutput(a.Output, ReplayFormats...)
	if err != nil {
		return err
	}
	wl, err := v.replayWorkload(ctx, a.Object, a.Namespace)
	if err != nil {
		return err
	}
	id, err := v.rolloutID(ctx, wl, a.Rollout, true)
	if err != nil {
		return err
	}
	opts, err := auditOptions(a.FreeRun, a.MaxLag)
	if err != nil {
		return err
	}
	opts.RolloutID = id
	one := id
	if id == "" {
		one = "all"
	}
	h, before, err := v.rolloutHistory(ctx, wl, one)
	if err != nil {
		return err
	}
	opts.RolloutsBefore = before
	res, err := replay.CompareReport(h, wl.Kind, wl.Namespace, wl.Name, opts)
	if err != nil {
		return replayErr(err)
	}
	if out == OutJSON {
		return writeIndentedJSON(w, res)
	}
	return res.WriteTable(w)
}

// CheckReplayWhatIf checks what-if's arguments that need no history: -o, --rollout, the kind,
// --set and --ready-latency. ReplayWhatIf checks them too; khist replay what-if calls it
// first, so that a bad --set fails before the views are opened.
func CheckReplayWhatIf(a ReplayWhatIfArgs) error {
	if _, err := ParseOutput(a.Output, ReplayFormats...); err != nil {
		return err
	}
	if a.Rollout == "all" {
		return errorf(ErrBadArgument, "--rollout all: what-if replays one rollout: use an ID from khist rollouts, revN, #N or latest")
	}
	k, _, err := ParseKindName(a.Object, nil, false)
	if err != nil {
		return err
	}
	if replayKind(k) != "" {
		if err := replay.CheckWhatIf(k.Kind, whatIfOptions(a)); err != nil {
			return errorf(ErrBadArgument, "%s", err.Error())
		}
	}
	return nil
}

func whatIfOptions(a ReplayWhatIfArgs) replay.WhatIfOptions {
	rl := a.ReadyLatency
	if rl == "" {
		rl = "recorded"
	}
	return replay.WhatIfOptions{Set: a.Set, ReadyLatency: rl}
}

// ReplayWhatIf replays a recorded rollout with other settings (khist replay what-if).
func (v *Views) ReplayWhatIf(ctx context.Context, a ReplayWhatIfArgs, w io.Writer) error {
	if err := CheckReplayWhatIf(a); err != nil {
		return err
	}
	out, _ := ParseOutput(a.Output, ReplayFormats...)
	wl, err := v.replayWorkload(ctx, a.Object, a.Namespace)
	if err != nil {
		return err
	}
	opts := whatIfOptions(a)
	if opts.RolloutID, err = v.rolloutID(ctx, wl, a.Rollout, false); err != nil {
		return err
	}
	h, before, err := v.rolloutHistory(ctx, wl, opts.RolloutID)
	if err != nil {
		return err
	}
	opts.RolloutsBefore = before
	res, err := replay.WhatIfReport(h, wl.Kind, wl.Namespace, wl.Name, opts)
	if err != nil {
		return replayErr(err)
	}
	if out == OutJSON {
		return writeIndentedJSON(w, res)
	}
	return res.WriteTable(w)
}

// ReplayAll audits every recorded rollout of the workloads of a namespace, or of all of them
// (khist replay all).
func (v *Views) ReplayAll(ctx context.Context, a ReplayAllArgs, w io.Writer) error {
	out, err := ParseOutput(a.Output, ReplayFormats...)
	if err != nil {
		return err
	}
	if _, err := ScopeOf(a.Namespace, a.AllNamespaces, "default"); err != nil {
		return err
	}
	var since time.Time
	if a.Since != "" {
		if since, err = v.Env.Time("--since", a.Since); err != nil {
			return err
		}
	}
	wls, err := v.listWorkloads(ctx, a.Namespace, a.AllNamespaces, a.Allow)
	if err != nil {
		return err
	}
	copts, err := auditOptions(a.FreeRun, a.MaxLag)
	if err != nil {
		return err
	}
	res, err := replay.CompareAll(ctx, wls, v.ReplayLoader(), replay.SurveyOptions{Since: since, Progress: a.Progress, Compare: copts})
	if err != nil {
		return err
	}
	if out == OutJSON {
		return writeIndentedJSON(w, res)
	}
	return res.WriteTable(w)
}

// replayKind returns the replay kind of a workload kind, "" for other kinds: the built-in
// kinds whose controller replay re-runs (replay.Kinds).
func replayKind(k Kind) string {
	if _, ok := kinds.Lookup(k.Group, k.Kind); ok && slices.Contains(replay.Kinds(), k.Kind) {
		return k.Kind
	}
	return ""
}

// replayKindsHint names the kinds replay re-runs the controllers of and how to ask for them:
// "the Deployment, StatefulSet, DaemonSet and Job controllers: use deploy/NAME, ...".
func replayKindsHint() string {
	ks := replay.Kinds()
	var uses []string
	for _, k := range ks {
		n := strings.ToLower(k)
		if b, ok := kinds.Lookup(kindGroup(k), k); ok && len(b.Short) > 0 {
			n = b.Short[0]
		}
		uses = append(uses, n+"/NAME")
	}
	and := func(xs []string, word string) string {
		if len(xs) < 2 {
			return strings.Join(xs, "")
		}
		return strings.Join(xs[:len(xs)-1], ", ") + " " + word + " " + xs[len(xs)-1]
	}
	return "the " + and(ks, "and") + " controllers: use " + and(uses, "or")
}

// kindGroup is the API group of a built-in workload kind.
func kindGroup(kind string) string {
	for _, b := range kinds.Builtin() {
		if b.Kind == kind {
			return b.Group
		}
	}
	return ""
}

// replayWorkload resolves KIND/NAME in namespace ns to a workload of a kind replay re-runs
// whose history the views hold.
func (v *Views) replayWorkload(ctx context.Context, arg, ns string) (replay.WorkloadRef, error) {
	k, name, err := v.ParseObject(ctx, arg)
	if err != nil {
		return replay.WorkloadRef{}, err
	}
	if replayKind(k) == "" {
		return replay.WorkloadRef{}, errorf(ErrBadArgument, "%s: replay re-runs %s", arg, replayKindsHint())
	}
	if ns == "" {
		ns = "default"
	}
	wl := replay.WorkloadRef{Kind: k.Kind, Namespace: ns, Name: name}
	lts, err := v.DB.Lifetimes(ctx, projector.ObjectRef{Cluster: v.Cluster, Kind: k.Kind, Namespace: ns, Name: name})
	if err != nil {
		return wl, err
	}
	if len(lts) == 0 {
		names, _ := v.DB.Names(ctx, v.Cluster, k.Group, k.Kind, ns)
		return wl, &NotFoundError{Kind: k, Namespace: ns, Name: name, Nearest: Nearest(name, names, 3)}
	}
	return wl, nil
}

// rolloutHistory reads the history a replay of the rollout id needs (as rolloutID returns it,
// "" for the latest, or "all"), and the number of the workload's rollouts that started before
// it (replay's RolloutsBefore). One rollout of the rollouts view is replayed on a window of the history
// (rolloutWindow); all rollouts, and those the view does not hold, on the whole history.
func (v *Views) rolloutHistory(ctx context.Context, wl replay.WorkloadRef, id string) ([]replay.Version, int, error) {
	from, to, before, err := v.rolloutWindow(ctx, wl, id)
	if err != nil {
		return nil, 0, err
	}
	hv, err := v.DB.WorkloadWindow(ctx, projector.WorkloadRef{Cluster: v.Cluster, Kind: wl.Kind, Namespace: wl.Namespace, Name: wl.Name}, from, to)
	if err != nil {
		return nil, 0, err
	}
	return replayVersions(hv), before, nil
}

// replayVersions is a history read from the views as the replay takes it.
func replayVersions(hv []projector.HistoryVersion) []replay.Version {
	h := make([]replay.Version, len(hv))
	for i := range hv {
		h[i] = replay.Version(hv[i])
	}
	return h
}

// RolloutLookback is how many of a workload's rollouts before the one replayed the replay's
// window holds: the replay of a rollout reads the history from the start of the rollout
// RolloutLookback before it (from the beginning for the first RolloutLookback), with the state
// of every object then, to the start of the rollout RolloutLookback after it (to the end for
// the last ones). The free run calibrates itself (the controllers' latencies, the pods'
// termination, the never-Ready cutoff) on that window; the rollout after the next ends the
// replayed rollout where the whole history's replay ends it (at the next rollout's start) and
// lets its pods become Ready as recorded. A rollout's answer thus does not change as the
// history grows, and costs what its window holds, not the whole history.
const RolloutLookback = 2

// rolloutWindow returns the log sequences [from, to) (0: open) of the window of the history
// that the replay of the rollout id reads, and the number of the workload's rollouts before it
// (see RolloutLookback): id is as rolloutID returns it ("" or "latest" for the latest), or
// "all". The whole history (0, 0, 0) for all rollouts or a rollout the rollouts view does not
// hold.
func (v *Views) rolloutWindow(ctx context.Context, wl replay.WorkloadRef, id string) (from, to uint64, before int, err error) {
	if id == "all" || strings.HasPrefix(id, "#") {
		return 0, 0, 0, nil
	}
	order, err := v.DB.RolloutOrder(ctx, projector.WorkloadRef{Cluster: v.Cluster, Kind: wl.Kind, Namespace: wl.Namespace, Name: wl.Name})
	if err != nil || len(order) == 0 {
		return 0, 0, 0, err
	}
	i := len(order) - 1 // latest
	if seq, ok := strings.CutPrefix(id, "@"); ok {
		n, err := strconv.ParseUint(seq, 10, 64)
		if i = slices.Index(order, n); err != nil || i < 0 {
			return 0, 0, 0, nil
		}
	}
	if i >= RolloutLookback {
		before = i - RolloutLookback
		from = order[before]
	}
	if i+RolloutLookback < len(order) {
		to = order[i+RolloutLookback]
	}
	return from, to, before, nil
}

// ReplayLoader reads workload histories from the views.
func (v *Views) ReplayLoader() replay.HistoryLoader {
	return func(ctx context.Context, w replay.WorkloadRef) ([]replay.Version, error) {
		hv, err := v.DB.WorkloadHistory(ctx, projector.WorkloadRef{Cluster: v.Cluster, Kind: w.Kind, Namespace: w.Namespace, Name: w.Name}, time.Time{}, time.Time{})
		if err != nil {
			return nil, err
		}
		return replayVersions(hv), nil
	}
}

// listWorkloads lists the workloads of the kinds replay re-runs (replay.Kinds: Deployments,
// StatefulSets, DaemonSets, Jobs, CronJobs) the history holds in a namespace, or in all (those
// allow allows, when set).
func (v *Views) listWorkloads(ctx context.Context, ns string, all bool, allow func(string) bool) ([]replay.WorkloadRef, error) {
	namespaces := []string{ns}
	if all {
		var err error
		if namespaces, err = v.DB.Namespaces(ctx, v.Cluster); err != nil {
			return nil, err
		}
	} else if ns == "" {
		namespaces = []string{"default"}
	}
	var out []replay.WorkloadRef
	for _, n := range namespaces {
		if n == "" || allow != nil && !allow(n) {
			continue // workloads are namespaced
		}
		for _, kind := range replay.Kinds() {
			names, err := v.DB.Names(ctx, v.Cluster, kindGroup(kind), kind, n)
			if err != nil {
				return nil, err
			}
			for _, name := range names {
				out = append(out, replay.WorkloadRef{Kind: kind, Namespace: n, Name: name})
			}
		}
	}
	return out, nil
}

// rolloutID turns --rollout into a replay rollout ID: "" (all, or the latest when !all is
// allowed), "#N" for #N or KIND/NAME#N as khist rollouts shows it, or "@SEQ" for the log
// sequence at which the rollout started (older khists' IDs) or revN (the rollout to revision N,
// as the rollouts view numbers them).
func (v *Views) rolloutID(ctx context.Context, wl replay.WorkloadRef, sel string, allowAll bool) (string, error) {
	sel = strings.TrimSpace(sel)
	switch {
	case sel == "all" && allowAll, sel == "":
		return "", nil
	case sel == "latest":
		if allowAll {
			return "latest", nil
		}
		return "", nil
	case strings.Contains(sel, "#"):
		// #N or KIND/NAME#N as khist rollouts shows it (deploy/web#3): the workload's Nth
		// rollout of the rollouts view, passed to the replay by the sequence at which it
		// started, so that the replay runs the rollout khist rollouts showed as #N.
		n, err := strconv.ParseUint(sel[strings.LastIndexByte(sel, '#')+1:], 10, 64)
		if err != nil || n == 0 {
			break
		}
		// (Kinds the rollouts view does not hold, Jobs, and numbers past its last rollout go
		// to the replay as #N: it numbers them alike, or says which it has.)
		order, err := v.DB.RolloutOrder(ctx, projector.WorkloadRef{Cluster: v.Cluster, Kind: wl.Kind, Namespace: wl.Namespace, Name: wl.Name})
		if err != nil {
			return "", err
		}
		if n > uint64(len(order)) {
			return "#" + strconv.FormatUint(n, 10), nil
		}
		return "@" + strconv.FormatUint(order[n-1], 10), nil
	case strings.HasPrefix(sel, "rev"):
		n, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimPrefix(sel, "revision="), "rev"), 10, 64)
		if err != nil {
			break
		}
		rs, err := v.DB.Rollouts(ctx, projector.RolloutFilter{Cluster: v.Cluster, Namespace: wl.Namespace, Kind: wl.Kind, Name: wl.Name})
		if err != nil {
			return "", err
		}
		var revs []string
		for _, r := range rs {
			if r.ToRevision == n {
				return "@" + strconv.FormatUint(r.StartSeq, 10), nil
			}
			revs = append(revs, "rev"+strconv.FormatInt(r.ToRevision, 10))
		}
		return "", errorf(ErrNotFound, "--rollout %s: %s/%s has no rollout to revision %d: it has %s", sel, strings.ToLower(wl.Kind), wl.Name, n, noneRecorded(revs))
	default:
		if _, err := strconv.ParseUint(sel, 10, 64); err == nil {
			return "@" + sel, nil
		}
	}
	ways := "#N or KIND/NAME#N (a rollout of khist rollouts, e.g. deployment/web#2), revN, latest"
	if allowAll {
		ways += " or all"
	}
	return "", errorf(ErrBadArgument, "--rollout %q: use %s", sel, ways)
}

func noneRecorded(s []string) string {
	if len(s) == 0 {
		return "none recorded"
	}
	return strings.Join(s, ", ")
}

// replayErr makes replay's errors read as the command's: without the package prefix, and
// "--rollout" where the rollout asked for does not exist. A rollout or workload the history
// lacks wraps ErrNotFound, an invalid override ErrBadArgument.
func replayErr(err error) error {
	msg := strings.TrimPrefix(err.Error(), "replay: ")
	if errors.Is(err, replay.ErrNoRollout) && strings.HasPrefix(msg, "no rollout ") && !strings.Contains(msg, "in the history of") {
		msg = "--rollout: " + msg
	}
	switch {
	case errors.Is(err, replay.ErrNoRollout), errors.Is(err, replay.ErrWorkloadNotFound), errors.Is(err, replay.ErrNoHistory):
		return errorf(ErrNotFound, "%s", msg)
	case errors.Is(err, replay.ErrInvalidOverride), errors.Is(err, replay.ErrInvalidStrategy), errors.Is(err, replay.ErrUnsupportedKind):
		return errorf(ErrBadArgument, "%s", msg)
	}
	return errors.New(msg)
}

// writeIndentedJSON writes v as the replay commands' -o json does: indented by two spaces,
// with a final newline.
func writeIndentedJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// AuditRollout runs the decision audit (khist replay compare) on one recorded rollout of the
// views, on the window of the history a replay of it reads (RolloutLookback), and returns its
// comparison: nil, without error, for a kind replay does not re-run.
func (v *Views) AuditRollout(ctx context.Context, r projector.Rollout) (*replay.RolloutComparison, error) {
	if replayKind(Kind{Group: "apps", Kind: r.Kind}) == "" {
		return nil, nil
	}
	wl := replay.WorkloadRef{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}
	opts, _ := auditOptions(false, replay.DefaultMaxLag)
	opts.RolloutID = "@" + strconv.FormatUint(r.StartSeq, 10)
	h, before, err := v.rolloutHistory(ctx, wl, opts.RolloutID)
	if err != nil {
		return nil, err
	}
	opts.RolloutsBefore = before
	res, err := replay.Compare(h, r.Kind, r.Namespace, r.Name, opts)
	if err != nil {
		return nil, replayErr(err)
	}
	if len(res.Rollouts) != 1 {
		return nil, fmt.Errorf("replay of %s/%s rollout @%d: %d rollouts compared", r.Kind, r.Name, r.StartSeq, len(res.Rollouts))
	}
	return &res.Rollouts[0], nil
}
