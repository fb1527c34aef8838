package replay

import (
	"math"
	"slices"
	"strings"
	"time"
)

// Environment selects how the simulated world (scheduler, kubelets, people deleting pods)
// behaves around the simulated controllers.
type Environment int

const (
	// EnvAsRecorded replays the environment as it happened: a pod the simulation creates at
	// about the time the recorded controller created its counterpart (the pod of the same
	// revision created in the same order; for StatefulSets the same ordinal, for DaemonSets the
	// same node) is scheduled, runs and becomes Ready at the recorded instants, and is removed
	// when the recorded one was. Readiness changes the real controllers could only have seen
	// together happen at the same instant, except where a ReplicaSet status write shows that
	// its controller saw them one by one (see alignEnvironment). A pod asked to terminate
	// whose removal the history never saw is removed after its end. The run stops where the
	// recorded rollout ends. This is what Compare uses.
	EnvAsRecorded Environment = iota
	// EnvLatency gives each pod the recorded durations of its counterpart (creation -> Ready,
	// deletion -> removal) counted from when the simulation created or deleted it, or the
	// durations SimOptions.ReadyLatency selects, and runs until the rollout completes or can no
	// longer progress. This is what WhatIf uses. With ReadyLatency "recorded", as long as the
	// simulated controller has taken exactly the recorded steps the pods keep their recorded
	// instants, as under EnvAsRecorded: replaying a rollout with its recorded settings then
	// reproduces it, and a what-if starts from the same world.
	EnvLatency
)

// absTolerance is how far the simulated creation of a pod may be from the recorded one for
// the as-recorded environment to keep the recorded instants.
const absTolerance = 2 * time.Second

// readyLatency is a parsed --ready-latency.
type readyLatency struct {
	kind string // "recorded", "p50", "p90", "max", "fixed"
	d    time.Duration
}

// parseReadyLatency parses "recorded", "p50", "p90", "max" or a duration ("4s").
func parseReadyLatency(s string) (readyLatency, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "recorded":
		return readyLatency{kind: "recorded"}, nil
	case "p50", "median":
		return readyLatency{kind: "p50"}, nil
	case "p90":
		return readyLatency{kind: "p90"}, nil
	case "max":
		return readyLatency{kind: "max"}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return readyLatency{}, overrideErr("--ready-latency %q: use recorded, p50, p90, max or a duration such as 4s", s)
	}
	return readyLatency{kind: "fixed", d: d}, nil
}

func (l readyLatency) String() string {
	if l.kind == "fixed" {
		return l.d.String()
	}
	return l.kind
}

type environment struct {
	mode Environment
	lat  readyLatency
	kind string
	pool map[string][]*PodRecord // revision key -> recorded pods created in the window, unclaimed first
	used map[*PodRecord]bool
	next map[string]int // per revision key: no unclaimed pod before this index of the pool
	// per revision key: creation -> Ready latencies of every pod of the history that became Ready
	revLat   map[string][]time.Duration
	revNever map[string]bool // every pod of the revision that could show it never became Ready
	allLat   []time.Duration
	term     time.Duration // median deletion -> removal
	end      time.Time     // end of the history
	// synthetic, when set, decides the latency of pods without a recorded counterpart
	// (false: never Ready); tests use it to generate histories.
	synthetic func(revKey string) (time.Duration, bool)
	// recorded steps, and whether the simulation departed from them
	recorded []Step
	diverged bool
}

// followsRecording reports whether pods keep their recorded instants.
func (e *environment) followsRecording() bool {
	return e.mode == EnvAsRecorded || e.lat.kind == "recorded" && !e.diverged
}

// observeStep notes the simulation's i-th step: once it differs from the recorded one, the
// simulation has left the recorded world.
func (e *environment) observeStep(i int, s Step) {
	if !e.diverged && (i >= len(e.recorded) || !e.recorded[i].sameAction(s)) {
		e.diverged = true
	}
}

func newEnvironment(scn *Scenario, ro *Rollout, mode Environment, lat readyLatency) *environment {
	e := &environment{mode: mode, lat: lat, kind: scn.Kind, pool: map[string][]*PodRecord{}, used: map[*PodRecord]bool{},
		revLat: map[string][]time.Duration{}, revNever: map[string]bool{}, term: scn.x.termMedian, end: scn.End, recorded: ro.Recorded}
	seenReady := map[string]bool{}
	for i := range scn.Pods {
		p := &scn.Pods[i]
		if p.createSeq >= ro.Seq && p.createSeq < ro.EndSeq {
			e.pool[p.revKey] = append(e.pool[p.revKey], p)
		}
		if l := p.Latency(); l >= 0 {
			e.revLat[p.revKey] = append(e.revLat[p.revKey], l)
			e.allLat = append(e.allLat, l)
			seenReady[p.revKey] = true
		} else if p.NeverReady {
			e.revNever[p.revKey] = true
		}
	}
	for k := range seenReady {
		delete(e.revNever, k)
	}
	return e
}

// counterpart claims the recorded pod a new simulated pod stands for: the workload kind
// picks it (see workloadKind.counterpart), most often with claimFirst and claimNext.
func (e *environment) counterpart(ps podSpec) *PodRecord {
	if wk := kindOf(e.kind); wk != nil {
		return wk.counterpart(e, e.pool[ps.revKey], ps)
	}
	return e.claimNext(ps.revKey)
}

// claimFirst claims the first unclaimed recorded pod of list that match accepts; nil when
// none does.
func (e *environment) claimFirst(list []*PodRecord, match func(*PodRecord) bool) *PodRecord {
	for _, r := range list {
		if !e.used[r] && match(r) {
			e.used[r] = true
			return r
		}
	}
	return nil
}

// claimNext claims the recorded pods of a revision in creation order; nil once all are.
func (e *environment) claimNext(revKey string) *PodRecord {
	list := e.pool[revKey]
	if e.next == nil {
		e.next = map[string]int{}
	}
	for i := e.next[revKey]; i < len(list); i++ {
		if r := list[i]; !e.used[r] {
			e.used[r] = true
			e.next[revKey] = i + 1
			return r
		}
	}
	e.next[revKey] = len(list)
	return nil
}

// podPlan is what the environment will do to a new pod.
type podPlan struct {
	scheduled, running, ready time.Time // zero: never
	externalDelete            time.Time // zero: nobody deletes it
	// Job pods: when the pod ends (zero: it runs on), in which phase, with which exit code
	finish      time.Time
	finishPhase string
	exitCode    int32
}

// plan decides the future of a pod created now with recorded counterpart r (nil if none).
func (e *environment) plan(revKey string, r *PodRecord, now time.Time) podPlan {
	var pl podPlan
	if r == nil {
		l, ok := e.typical(revKey)
		if e.synthetic != nil {
			l, ok = e.synthetic(revKey)
		}
		if ok {
			pl.ready = now.Add(l)
			pl.running = pl.ready
		}
		pl.scheduled = now
		return pl
	}
	keepAbs := e.followsRecording() && absDur(now.Sub(r.Created)) <= absTolerance
	at := func(rec, eff time.Time) time.Time {
		if rec.IsZero() {
			return time.Time{}
		}
		if eff.IsZero() {
			eff = rec
		}
		if keepAbs && !eff.Before(now) {
			return eff
		}
		return now.Add(rec.Sub(r.Created))
	}
	pl.scheduled = at(r.Scheduled, time.Time{})
	pl.running = at(r.Running, time.Time{})
	switch {
	case r.readySeq != 0:
		pl.ready = at(r.Ready, r.readyEff)
		if e.mode == EnvLatency && e.lat.kind != "recorded" {
			l, _ := e.typical(revKey)
			pl.ready = now.Add(l)
		}
	case r.NeverReady:
	default:
		// Censored: deleted (or the history ended) before it could show. It took a typical
		// time, but at least as long as it was seen not Ready.
		if l, ok := e.typical(revKey); ok {
			end := r.DeleteRequested
			if end.IsZero() {
				end = e.end
			}
			pl.ready = now.Add(max(l, end.Sub(r.Created)+time.Millisecond))
		}
	}
	if !pl.ready.IsZero() {
		if pl.running.IsZero() || pl.running.After(pl.ready) {
			pl.running = pl.ready
		}
		if pl.scheduled.IsZero() || pl.scheduled.After(pl.running) {
			pl.scheduled = pl.running
		}
	}
	if r.DeletedBy == deletedByExternal {
		pl.externalDelete = at(r.DeleteRequested, time.Time{})
	}
	if r.Phase != "" {
		pl.finish, pl.finishPhase, pl.exitCode = at(r.Finished, time.Time{}), r.Phase, r.ExitCode
	}
	return pl
}

// typical is the creation -> Ready latency of a pod of a revision without a recorded
// counterpart (or any pod when ReadyLatency is a percentile or a duration); false when pods of
// that revision never became Ready.
func (e *environment) typical(revKey string) (time.Duration, bool) {
	if e.lat.kind == "fixed" {
		return e.lat.d, !e.revNever[revKey]
	}
	if e.revNever[revKey] {
		return 0, false
	}
	lats := e.revLat[revKey]
	if len(lats) == 0 {
		lats = e.allLat
	}
	switch e.lat.kind {
	case "p90":
		return percentile(lats, 90), true
	case "max":
		return percentile(lats, 100), true
	}
	return percentile(lats, 50), true
}

// goneAt is when a pod deleted now is removed: as its counterpart was, else after the median
// termination of the history.
func (e *environment) goneAt(p *simPod, now time.Time) time.Time {
	r := p.rec
	if r != nil && r.goneSeq != 0 {
		d := r.Gone.Sub(r.DeleteRequested)
		eff := r.goneEff
		if eff.IsZero() {
			eff = r.Gone
		}
		if e.followsRecording() && absDur(now.Sub(r.DeleteRequested)) <= absTolerance && !eff.Before(now) {
			return eff
		}
		return now.Add(d)
	}
	d := e.term
	if r != nil && r.delSeq != 0 {
		// Censored: the history ended while the pod was still terminating. It took a typical
		// time, but at least as long as it was seen terminating: until after the end.
		d = max(d, e.end.Sub(r.DeleteRequested)+time.Millisecond)
	}
	return now.Add(d)
}

// percentile is the nearest-rank percentile of ds (0 when empty).
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}
