package replay

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// ErrInvalidOverride is wrapped by the errors for a --set or --ready-latency that cannot be
// applied; their text starts with the flag and says what to use instead.
var ErrInvalidOverride = errors.New("replay: invalid override")

type overrideError struct{ msg string }

func (e *overrideError) Error() string { return e.msg }
func (e *overrideError) Unwrap() error { return ErrInvalidOverride }

func overrideErr(format string, a ...any) error { return &overrideError{fmt.Sprintf(format, a...)} }

// WhatIfOptions selects the rollout and the changes of a what-if.
type WhatIfOptions struct {
	// RolloutID selects the rollout (see Scenario.Rollout); "" means the last one.
	RolloutID string
	// RolloutsBefore: see CompareOptions.RolloutsBefore.
	RolloutsBefore int
	// Set overrides spec fields as PATH=VALUE. Deployment: spec.replicas,
	// spec.minReadySeconds, spec.progressDeadlineSeconds, spec.revisionHistoryLimit,
	// spec.paused, spec.strategy.type, spec.strategy.rollingUpdate.maxSurge,
	// spec.strategy.rollingUpdate.maxUnavailable. StatefulSet: spec.replicas,
	// spec.minReadySeconds, spec.podManagementPolicy, spec.updateStrategy.type,
	// spec.updateStrategy.rollingUpdate.partition, spec.revisionHistoryLimit. DaemonSet:
	// spec.minReadySeconds, spec.updateStrategy.type,
	// spec.updateStrategy.rollingUpdate.maxSurge, spec.updateStrategy.rollingUpdate.maxUnavailable,
	// spec.revisionHistoryLimit. Job: spec.parallelism, spec.completions, spec.backoffLimit,
	// spec.activeDeadlineSeconds. The "spec." prefix may be left out.
	Set []string
	// ReadyLatency: see SimOptions.ReadyLatency.
	ReadyLatency string
}

// WhatIfResult puts side by side the recorded rollout, its replay with the recorded settings,
// and its replay with the overrides; the replay and the what-if run in the same simulated
// environment (EnvLatency with the chosen ReadyLatency), so their difference is the settings'.
type WhatIfResult struct {
	Workload     string         `json:"workload"`
	Rollout      string         `json:"rollout"`
	Set          []string       `json:"set"`
	ReadyLatency string         `json:"readyLatency"`
	Recorded     RolloutSummary `json:"recorded"`
	Replay       RolloutSummary `json:"replay"`
	WhatIf       RolloutSummary `json:"whatIf"`
	// Steps are the what-if's steps.
	Steps []Step `json:"steps"`
	// Availability is the what-if's pods over time (a point at each change), from the start
	// of the rollout.
	Availability []AvailabilityPoint `json:"availability"`
	start        time.Time
}

// WhatIf replays a recorded rollout with other settings. Invalid overrides are refused with
// an error (wrapping ErrInvalidOverride) that says what to use instead.
func WhatIf(h []Version, kind, ns, name string, opts WhatIfOptions) (*WhatIfResult, error) {
	k, err := normalizeKind(kind)
	if err != nil {
		return nil, err
	}
	if _, err := parseOverrides(k, opts.Set); err != nil {
		return nil, err
	}
	lat, err := parseReadyLatency(opts.ReadyLatency)
	if err != nil {
		return nil, err
	}
	scn, err := ExtractScenario(k, ns, name, h)
	if err != nil {
		return nil, err
	}
	scn.NumberFrom(opts.RolloutsBefore)
	ro, err := scn.Rollout(opts.RolloutID)
	if err != nil {
		return nil, err
	}
	base := SimOptions{RolloutID: ro.ID, Environment: EnvLatency, ReadyLatency: opts.ReadyLatency}
	replay, err := Simulate(scn, base)
	if err != nil {
		return nil, err
	}
	base.Set = opts.Set
	what, err := Simulate(scn, base)
	if err != nil {
		return nil, err
	}
	set := append([]string{}, opts.Set...)
	return &WhatIfResult{Workload: workloadName(&scn), Rollout: ro.ID, Set: set, ReadyLatency: lat.String(),
		Recorded: recordedSummary(&scn, ro), Replay: replay.Summary, WhatIf: what.Summary, Steps: what.Steps, Availability: what.Availability, start: ro.Start}, nil
}

// WhatIfReport replays a workload of any registered kind with other settings: a standalone
// kind's own replay with the overrides opts.Set (a CronJob's schedule decisions over the
// recorded window; RolloutID and ReadyLatency do not apply), else WhatIf.
func WhatIfReport(h []Version, kind, ns, name string, opts WhatIfOptions) (Report, error) {
	if rk := kindByName(kind); rk != nil {
		if sk := standaloneOf(rk.kind()); sk != nil {
			if err := sk.checkSet(opts.Set); err != nil {
				return nil, err
			}
			return sk.compare(h, ns, name, opts.Set)
		}
	}
	return WhatIf(h, kind, ns, name, opts)
}

// CheckWhatIf checks what-if options for a workload kind before any history is read: the
// --set paths and values and the --ready-latency, with the errors WhatIf gives (wrapping
// ErrInvalidOverride). Checks that need the workload's spec (maxSurge and maxUnavailable both
// 0 once the overrides apply to it) are WhatIf's. A standalone kind (CronJob) checks --set
// only.
func CheckWhatIf(kind string, opts WhatIfOptions) error {
	if rk := kindByName(kind); rk != nil {
		if sk := standaloneOf(rk.kind()); sk != nil {
			return sk.checkSet(opts.Set)
		}
	}
	k, err := normalizeKind(kind)
	if err != nil {
		return err
	}
	ov, err := parseOverrides(k, opts.Set)
	if err != nil {
		return err
	}
	if _, err := parseReadyLatency(opts.ReadyLatency); err != nil {
		return err
	}
	// Both set to 0 by the overrides themselves: whatever the spec, invalid (for the kinds
	// that refuse it, see workloadKind.validate).
	sp := spec{Strategy: strategyRollingUpdate}
	_ = ov.apply(&sp)
	if sp.MaxSurge != nil && sp.MaxUnavailable != nil {
		return ov.validate(k, &sp)
	}
	return nil
}

// WriteTable renders the what-if for a terminal: the three columns, then the what-if's steps.
func (r *WhatIfResult) WriteTable(w io.Writer) error {
	set := "no overrides"
	if len(r.Set) > 0 {
		set = strings.Join(r.Set, ", ")
	}
	if _, err := fmt.Fprintf(w, "what-if %s: %s (ready latency: %s)\n\n", r.Rollout, set, r.ReadyLatency); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "\tRECORDED\tREPLAY\tWHAT-IF")
	row := func(name string, f func(RolloutSummary) string) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, f(r.Recorded), f(r.Replay), f(r.WhatIf))
	}
	row("duration", func(s RolloutSummary) string { return time.Duration(s.Duration).Round(time.Millisecond).String() })
	if r.Recorded.Run != nil && r.Replay.Run != nil && r.WhatIf.Run != nil {
		// a run (a Job): what it did, not the availability of a rollout
		row("pods created", func(s RolloutSummary) string { return strconv.Itoa(s.Run.PodsCreated) })
		row("failures", func(s RolloutSummary) string { return strconv.Itoa(s.Run.Failures) })
		row("steps", func(s RolloutSummary) string { return strconv.Itoa(s.Steps) })
		row("outcome", func(s RolloutSummary) string { return s.Outcome })
		return r.writeSteps(w, tw)
	}
	row("lowest available", func(s RolloutSummary) string {
		return fmt.Sprintf("%d (%.0f%%)", s.LowestAvailable, 100*s.LowestAvailableShare)
	})
	row("peak pods", func(s RolloutSummary) string { return strconv.Itoa(s.PeakPods) })
	row("peak incl. terminating", func(s RolloutSummary) string { return strconv.Itoa(s.PeakWithTerminating) })
	row("steps", func(s RolloutSummary) string { return strconv.Itoa(s.Steps) })
	row("outcome", func(s RolloutSummary) string { return s.Outcome })
	return r.writeSteps(w, tw)
}

// writeSteps flushes the summary table tw, then writes the what-if's steps.
func (r *WhatIfResult) writeSteps(w io.Writer, tw *tabwriter.Writer) error {
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nWHAT-IF STEPS\n")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tTIME\tSTEP")
	for i, s := range r.Steps {
		fmt.Fprintf(tw, "  %d\t+%s\t%s\n", i+1, offset(s.Time, r.start), s)
	}
	return tw.Flush()
}

func offset(t, start time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return fmt.Sprintf("%.3fs", t.Sub(start).Seconds())
}

// overrides are parsed --set values.
type overrides struct {
	set      []override
	replicas *int32
}

type override struct {
	path, value string
	apply       func(*spec)
}

// An overrideRefuser is a workload kind that explains why a --set path it does not take is
// refused, when the field exists but replay does not simulate it.
type overrideRefuser interface {
	// refuseOverride returns the error for path, one of the kind's fields that is not among
	// its overrides; nil to give the generic one.
	refuseOverride(path string) error
}

// A rollingUpdateDefaulter is a workload kind whose updateStrategy RollingUpdate, set by a
// what-if without maxSurge and maxUnavailable, takes the API server's defaults for them.
type rollingUpdateDefaulter interface {
	rollingUpdateDefaults() (maxSurge, maxUnavailable *intstr.IntOrString)
}

// overridePaths are the --set paths replay can change for a kind (see workloadKind.overrides).
func overridePaths(kind string) []string {
	if wk := kindOf(kind); wk != nil {
		return wk.overrides()
	}
	return nil
}

// parseOverrides parses PATH=VALUE strings for a workload kind.
func parseOverrides(kind string, set []string) (*overrides, error) {
	ov := &overrides{}
	for _, kv := range set {
		path, value, ok := strings.Cut(kv, "=")
		path, value = strings.TrimSpace(path), strings.TrimSpace(value)
		if !ok || path == "" || value == "" {
			return nil, overrideErr("--set %q: use PATH=VALUE, e.g. spec.replicas=12", kv)
		}
		if !strings.HasPrefix(path, "spec.") {
			path = "spec." + path
		}
		o, err := parseOverride(kind, path, value)
		if err != nil {
			return nil, err
		}
		if path == "spec.replicas" {
			n, _ := strconv.ParseInt(value, 10, 32)
			r := int32(n)
			ov.replicas = &r
		}
		ov.set = append(ov.set, o)
	}
	return ov, nil
}

func parseOverride(kind, path, value string) (override, error) {
	known := false
	for _, p := range overridePaths(kind) {
		known = known || p == path
	}
	if !known {
		if r, ok := kindOf(kind).(overrideRefuser); ok {
			if err := r.refuseOverride(path); err != nil {
				return override{}, err
			}
		}
		last := path[strings.LastIndexByte(path, '.')+1:]
		for _, p := range overridePaths(kind) {
			if strings.HasSuffix(p, "."+last) {
				return override{}, overrideErr("--set %s: not a field replay can change for a %s: use %s=%s", path, kind, p, value)
			}
		}
		return override{}, overrideErr("--set %s: not a field replay can change for a %s: use one of %s", path, kind, strings.Join(overridePaths(kind), ", "))
	}
	o := override{path: path, value: value}
	whole := func(minimum int64) (int32, error) {
		n, err := strconv.ParseInt(value, 10, 32)
		if err != nil || n < minimum {
			return 0, overrideErr("--set %s=%s: use a whole number of at least %d", path, value, minimum)
		}
		return int32(n), nil
	}
	intOrPercent := func(capPercent bool) (*intstr.IntOrString, error) {
		if strings.HasSuffix(value, "%") {
			n, err := strconv.Atoi(strings.TrimSuffix(value, "%"))
			if err != nil || n < 0 {
				return nil, overrideErr("--set %s=%s: use a whole number (2) or a percentage (25%%)", path, value)
			}
			if capPercent && n > 100 {
				return nil, overrideErr("--set %s=%s: must not be more than 100%%", path, value)
			}
			v := intstr.FromString(value)
			return &v, nil
		}
		n, err := strconv.ParseInt(value, 10, 32)
		if err != nil || n < 0 {
			return nil, overrideErr("--set %s=%s: use a whole number (2) or a percentage (25%%)", path, value)
		}
		v := intstr.FromInt32(int32(n))
		return &v, nil
	}
	oneOf := func(vals ...string) (string, error) {
		for _, v := range vals {
			if strings.EqualFold(v, value) {
				return v, nil
			}
		}
		return "", overrideErr("--set %s=%s: use %s", path, value, strings.Join(vals, " or "))
	}
	switch path {
	case "spec.replicas":
		n, err := whole(0)
		if err != nil {
			return o, err
		}
		o.apply = func(s *spec) { s.Replicas = n }
	case "spec.minReadySeconds":
		n, err := whole(0)
		if err != nil {
			return o, err
		}
		o.apply = func(s *spec) { s.MinReadySeconds = n }
	case "spec.progressDeadlineSeconds":
		n, err := whole(1)
		if err != nil {
			return o, err
		}
		o.apply = func(s *spec) { s.ProgressDeadlineSeconds = n }
	case "spec.revisionHistoryLimit":
		n, err := whole(0)
		if err != nil {
			return o, err
		}
		o.apply = func(s *spec) { s.RevisionHistoryLimit = n }
	case "spec.paused":
		b, err := strconv.ParseBool(value)
		if err != nil {
			return o, overrideErr("--set %s=%s: use true or false", path, value)
		}
		o.apply = func(s *spec) { s.Paused = b }
	case "spec.strategy.type":
		v, err := oneOf(strategyRollingUpdate, strategyRecreate)
		if err != nil {
			return o, err
		}
		o.apply = func(s *spec) {
			s.Strategy = v
			if v == strategyRollingUpdate && s.MaxSurge == nil && s.MaxUnavailable == nil {
				s.MaxSurge, s.MaxUnavailable = ptrIS(intstr.FromString("25%")), ptrIS(intstr.FromString("25%"))
			}
		}
	case "spec.updateStrategy.type":
		v, err := oneOf(strategyRollingUpdate, strategyOnDelete)
		if err != nil {
			return o, err
		}
		o.apply = func(s *spec) {
			s.Strategy = v
			if d, ok := kindOf(kind).(rollingUpdateDefaulter); ok && v == strategyRollingUpdate && s.MaxSurge == nil && s.MaxUnavailable == nil {
				s.MaxSurge, s.MaxUnavailable = d.rollingUpdateDefaults()
			}
		}
	case "spec.strategy.rollingUpdate.maxSurge", "spec.updateStrategy.rollingUpdate.maxSurge":
		v, err := intOrPercent(false)
		if err != nil {
			return o, err
		}
		o.apply = func(s *spec) { s.MaxSurge = v }
	case "spec.strategy.rollingUpdate.maxUnavailable", "spec.updateStrategy.rollingUpdate.maxUnavailable":
		v, err := intOrPercent(true)
		if err != nil {
			return o, err
		}
		o.apply = func(s *spec) { s.MaxUnavailable = v }
	case "spec.podManagementPolicy":
		v, err := oneOf("OrderedReady", podManagementParallel)
		if err != nil {
			return o, err
		}
		o.apply = func(s *spec) { s.PodManagementPolicy = v }
	case "spec.parallelism":
		n, err := whole(0)
		if err != nil {
			return o, err
		}
		o.apply = func(s *spec) { s.Parallelism, s.Replicas = n, n }
	case "spec.completions":
		n, err := whole(1)
		if err != nil {
			return o, err
		}
		o.apply = func(s *spec) { s.Completions = n }
	case "spec.backoffLimit":
		n, err := whole(0)
		if err != nil {
			return o, err
		}
		o.apply = func(s *spec) { s.BackoffLimit = n }
	case "spec.activeDeadlineSeconds":
		n, err := whole(1)
		if err != nil {
			return o, err
		}
		o.apply = func(s *spec) { s.ActiveDeadlineSeconds = int64(n) }
	case "spec.updateStrategy.rollingUpdate.partition":
		n, err := whole(0)
		if err != nil {
			return o, err
		}
		o.apply = func(s *spec) { s.Partition = n }
	}
	return o, nil
}

func (ov *overrides) apply(s *spec) error {
	for _, o := range ov.set {
		o.apply(s)
	}
	return nil
}

// touches reports whether an override sets a path containing any of the fragments.
func (ov *overrides) touches(fragments ...string) bool {
	for _, o := range ov.set {
		for _, f := range fragments {
			if strings.Contains(o.path, f) {
				return true
			}
		}
	}
	return false
}

// validate refuses specs the overrides make invalid, as the API server would.
func (ov *overrides) validate(kind string, s *spec) error {
	if wk := kindOf(kind); wk != nil {
		return wk.validate(ov, s)
	}
	return nil
}

// refuseStuckRollingUpdate refuses overrides that leave a rolling update with maxSurge and
// maxUnavailable both 0.
func (ov *overrides) refuseStuckRollingUpdate(s *spec) error {
	if s.Strategy == strategyRollingUpdate && ov.touches("maxSurge", "maxUnavailable", "strategy.type", "updateStrategy.type") {
		zero := func(v *intstr.IntOrString) bool { return v == nil || isZero(v) }
		if zero(s.MaxSurge) && zero(s.MaxUnavailable) {
			return overrideErr("--set: maxSurge and maxUnavailable would both be 0 and the rollout could never progress: set one of them above 0")
		}
	}
	return nil
}

// resizeInitial adapts a steady initial state to an overridden replica count: "what if the
// workload had had N replicas" starts from N available pods of the current revision, not from
// the recorded number being scaled.
func (ov *overrides) resizeInitial(s *simulation) error {
	w := s.st.w
	if ov.replicas == nil || w == nil {
		return nil
	}
	s.wk.resize(s, int(*ov.replicas))
	return nil
}

// steady reports whether pods are n ready, non-terminating pods of one revision.
func steady(pods []*simPod, n int) bool {
	if len(pods) != n || n == 0 {
		return false
	}
	for _, p := range pods {
		if !p.ready || p.deleting || p.revKey != pods[0].revKey {
			return false
		}
	}
	return true
}

// resizePods grows (copying the last pod) or shrinks (from the end) a steady set of pods to n.
func resizePods(s *simulation, pods []*simPod, n int, owner *simRS) {
	for len(pods) > n {
		s.st.dropPod(pods[len(pods)-1])
		pods = pods[:len(pods)-1]
	}
	for i := len(pods); i < n; i++ {
		p := *pods[len(pods)-1]
		p.rec = nil
		p.uid = fmt.Sprintf("sim-initial-%05d", i)
		if byOrdinal(s.scn.Kind) {
			p.ordinal = i
			p.name = fmt.Sprintf("%s-%d", s.scn.Name, i)
			for _, c := range s.st.w.spec.Claims {
				s.st.pvcs[fmt.Sprintf("%s-%s-%d", c, s.scn.Name, i)] = true
			}
		} else {
			p.name = fmt.Sprintf("%s-initial%05d", owner.name, i)
		}
		p.node = s.pickNode()
		s.st.insertPod(&p)
		pods = append(pods, &p)
	}
}
