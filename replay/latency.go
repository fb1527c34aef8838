package replay

import (
	"cmp"
	"slices"
	"sort"
	"time"
)

// The control plane's pace. On a quiet cluster the controllers act within milliseconds of the
// change that concerns them, and the simulation lets them act at once. On a busy one they are
// late: a key waits in its workqueue behind others (and behind kube-controller-manager's client
// rate limit) while more changes of the same object arrive, and one sync then acts on all of
// them (workqueue coalescing): a ReplicaSet status write reports fifty pods Ready at once, and
// the Deployment controller scales the old ReplicaSet down by fifty in one step.
//
// The free-running simulation reproduces this with a reaction latency per controller: a key
// enqueued at t is synced at t+d, and enqueues while it waits fold into that sync, as the
// workqueue does (the ReplicaSet controller reacts so to scales of its ReplicaSet, and at once
// to its pods' changes); and the ReplicaSet controller's status writes land late, each
// reporting what the syncs computed until it landed. The latencies are read from the recording itself, in the
// order they happened: for the ReplicaSet controller's syncs, from a scale of its ReplicaSet to
// its first pod created or deleted; for its status writes, from the first change of a
// ReplicaSet's pods to the status write that follows it; for the workload's controller, from
// the last change of what it reads to each of its writes. The k-th sync of a controller waits
// the k-th latency recorded for it (cycling), so the same history always gives the same run.
//
// While a free run takes the recorded steps in the recorded world (compare --free-run, and a
// what-if until it departs from the recording), the ReplicaSet controller is part of that world,
// as the kubelets are: it acts on each scale when the recorded one acted on the same recorded
// scale, and each of its status writes lands with a recorded write of that ReplicaSet (one
// simulated write per recorded one at most), reporting what that write had seen. Only the
// Deployment controller under test runs on the simulation's own clock. Once the run departs,
// the cycled latencies above take over.
//
// Latencies are best read from observation times finer than the objects' one-second
// timestamps: collector recordings have them (and the fixtures khist records keep them). From
// histories without them (kubectl watch files, imports of them) only latencies of seconds can be
// told apart from the estimates' resolution.

// latencyModel holds the recorded reaction latencies per controller.
type latencyModel struct {
	lat  map[controllerID][]time.Duration
	next map[controllerID]int
	// reacted is when the ReplicaSet controller first acted on each recorded scale of a
	// ReplicaSet (its first pod created or asked to delete after it), by the scale's step.
	reacted map[stepKey]time.Time
}

// stepKey identifies a recorded Deployment step.
type stepKey struct {
	rs       string
	from, to int32
	t        int64
}

func keyOf(s Step) stepKey { return stepKey{s.ReplicaSet, s.From, s.To, s.Time.UnixNano()} }

// reaction returns when the ReplicaSet controller acted on the recorded step s.
func (m *latencyModel) reaction(s Step) (time.Time, bool) {
	if m == nil {
		return time.Time{}, false
	}
	t, ok := m.reacted[keyOf(s)]
	return t, ok
}

// delay returns the latency of the next sync of controller c.
func (m *latencyModel) delay(c controllerID) time.Duration {
	if m == nil {
		return 0
	}
	ls := m.lat[c]
	if len(ls) == 0 {
		return 0
	}
	i := m.next[c] % len(ls)
	m.next[c]++
	return ls[i]
}

// fresh returns a copy with the cycles started over (a model is shared by the runs of a
// scenario).
func (m *latencyModel) fresh() *latencyModel {
	if m == nil {
		return nil
	}
	return &latencyModel{lat: m.lat, next: map[controllerID]int{}, reacted: m.reacted}
}

// preciseTimes reports whether the history's observation times were observed rather than
// estimated: most versions have a time of their own (estimates from one-second timestamps
// repeat, as the running maximum they are stays put across many versions).
func preciseTimes(h []Version) bool {
	distinct := 0
	for i := range h {
		if i == 0 || !h[i].Observed.Equal(h[i-1].Observed) {
			distinct++
		}
	}
	return len(h) > 0 && 10*distinct >= 9*len(h)
}

// busyLatency is the median reaction latency from which a controller counts as late: below it,
// as on a quiet control plane, it is simulated as acting at once.
const busyLatency = 100 * time.Millisecond

// coarseBusyLatency is busyLatency for histories whose times are one-second estimates.
const coarseBusyLatency = time.Second

// maxLatency bounds a recorded latency: a controller that did not act for longer was not late
// but waiting for something the simulation models otherwise (minReadySeconds, a deadline).
const maxLatency = 5 * time.Minute

// calibrateLatency reads the controllers' reaction latencies from the scenario (see above).
// A controller whose median latency is under busyLatency (or, when the history's times are
// estimates of one-second resolution, under coarseBusyLatency) is taken to act at once; nil
// when none was late.
func calibrateLatency(scn *Scenario, precise bool) *latencyModel {
	x := scn.x
	threshold := busyLatency
	if !precise {
		threshold = coarseBusyLatency
	}
	m := &latencyModel{lat: map[controllerID][]time.Duration{}, next: map[controllerID]int{}, reacted: map[stepKey]time.Time{}}
	points := viewPoints(scn)
	add := func(c controllerID, d time.Duration) {
		if d >= 0 && d <= maxLatency {
			m.lat[c] = append(m.lat[c], d)
		}
	}
	// The workload's controller: from the last change of what it reads to each write that
	// starts a sync (the writes of one sync follow each other: the first one counts).
	ctrl := kindOf(scn.Kind).controller()
	var prevSeq uint64
	for _, ls := range x.steps {
		if ls.external {
			continue
		}
		j := sort.Search(len(points), func(i int) bool { return points[i].seq >= ls.seq }) - 1
		if j >= 0 && points[j].seq > prevSeq {
			add(ctrl, ls.s.Time.Sub(points[j].t))
		}
		prevSeq = ls.seq
	}
	// The ReplicaSet controller: its syncs, from a scale of its ReplicaSet to the first pod it
	// created or asked to delete after it; its status writes, from the first change of a
	// ReplicaSet's pods after its previous status write to the next status write.
	if viaReplicaSets(scn.Kind) {
		for _, ls := range x.steps {
			if ls.external || ls.s.To == ls.s.From {
				continue
			}
			var first time.Time
			for i := range scn.Pods {
				p := &scn.Pods[i]
				if p.Revision != ls.s.ReplicaSet {
					continue
				}
				var seq uint64
				var t time.Time
				if ls.s.To > ls.s.From {
					seq, t = p.createSeq, p.Created
				} else if p.DeletedBy == deletedByController {
					seq, t = p.delSeq, p.DeleteRequested
				}
				if seq > ls.seq && (first.IsZero() || t.Before(first)) {
					first = t
				}
			}
			if !first.IsZero() {
				add(ctrlReplicaSet, first.Sub(ls.s.Time))
				m.reacted[keyOf(ls.s)] = first
			}
		}
		type podEv struct {
			seq uint64
			t   time.Time
		}
		byRS := map[string][]podEv{}
		for i := range scn.Pods {
			p := &scn.Pods[i]
			for _, e := range []podEv{{p.createSeq, p.Created}, {p.readySeq, p.Ready}, {p.delSeq, p.DeleteRequested}, {p.goneSeq, p.Gone}} {
				if e.seq != 0 {
					byRS[p.Revision] = append(byRS[p.Revision], e)
				}
			}
		}
		for _, rs := range x.rs {
			evs := byRS[rs.name]
			slices.SortFunc(evs, func(a, b podEv) int { return cmp.Compare(a.seq, b.seq) })
			k := 0
			for i := 1; i < len(rs.vers); i++ {
				v, pv := rs.vers[i], rs.vers[i-1]
				if v.deleted || pv.deleted || v.o.status == pv.o.status {
					continue
				}
				for k < len(evs) && evs[k].seq <= pv.seq {
					k++
				}
				if k < len(evs) && evs[k].seq < v.seq {
					add(ctrlReplicaSetStatus, v.t.Sub(evs[k].t))
				}
			}
		}
	}
	busy := false
	for c, ls := range m.lat {
		if percentile(ls, 50) >= threshold {
			busy = true
			continue
		}
		delete(m.lat, c)
	}
	if !busy {
		return nil
	}
	return m
}

// nextStatusWrite returns the first status write of the recorded ReplicaSet of that name at or
// after t and after the log position after: its time, its position in the log and the status
// it wrote.
func (x *extraction) nextStatusWrite(rs string, t time.Time, after uint64) (time.Time, uint64, rsStatus, bool) {
	for _, r := range x.rs {
		if r.name != rs {
			continue
		}
		// The versions are in log order: start after the write last used.
		start := max(1, sort.Search(len(r.vers), func(i int) bool { return r.vers[i].seq > after }))
		for i := start; i < len(r.vers); i++ {
			v, pv := r.vers[i], r.vers[i-1]
			if v.deleted || pv.deleted || v.o.status == pv.o.status || v.t.Before(t) {
				continue
			}
			return v.t, v.seq, v.o.status, true
		}
	}
	return time.Time{}, 0, rsStatus{}, false
}
