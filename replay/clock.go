package replay

import (
	"container/heap"
	"time"
)

// The simulator is a discrete-event loop over a virtual clock: nothing sleeps and nothing runs
// concurrently. Every action is an event with a time and a sequence number; events run in
// (time, sequence) order, so the same inputs give the same run.
//
// Controllers follow the workqueue contract of client-go: a store change enqueues the keys of
// the controllers that watch it; a key waiting in the queue is not queued twice; a key is taken
// out of the queue before its sync runs, so changes made during the sync enqueue it again.
// Controllers react without delay (their sync runs at the instant of the change, after every
// event already scheduled for that instant), which is how changes the real controllers saw
// together are seen together here; or, modelling a busy control plane, after their recorded
// reaction latency (see latencyModel).

// maxEvents bounds a run, against controllers that would requeue forever.
const maxEvents = 20_000_000

// maxVirtual bounds a run in virtual time.
const maxVirtual = 24 * time.Hour

type event struct {
	at   int64 // Unix nanoseconds
	seq  uint64
	fn   func()   // an action, or
	sync queueKey // when fn is nil: a controller sync
}

type eventHeap []*event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(*event)) }
func (h *eventHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return e
}

type queueKey struct {
	ctrl controllerID
	key  string
}

// clock is the virtual clock and the event queue.
type clock struct {
	now     time.Time
	start   time.Time
	q       eventHeap
	seq     uint64
	events  int
	stopped bool
	queued  map[queueKey]bool
	syncFn  func(controllerID, string)
	// lat, when set, delays each sync by its controller's recorded reaction latency.
	lat *latencyModel
}

func newClock(start time.Time) *clock {
	return &clock{now: start, start: start, queued: map[queueKey]bool{}}
}

// at schedules fn at t (never in the past).
func (c *clock) at(t time.Time, fn func()) {
	if t.Before(c.now) {
		t = c.now
	}
	c.seq++
	heap.Push(&c.q, &event{at: t.UnixNano(), seq: c.seq, fn: fn})
}

// enqueue adds a controller key to the workqueue, to be synced now, or after the controller's
// reaction latency when the run models a busy control plane (see latencyModel): changes that
// arrive while the key waits fold into that one sync.
func (c *clock) enqueue(ctrl controllerID, key string) { c.enqueueIn(ctrl, key, c.lat.delay(ctrl)) }

// enqueueIn adds a controller key to the workqueue, to be synced after d.
func (c *clock) enqueueIn(ctrl controllerID, key string, d time.Duration) {
	k := queueKey{ctrl, key}
	if c.queued[k] {
		return
	}
	c.queued[k] = true
	c.seq++
	heap.Push(&c.q, &event{at: c.now.Add(d).UnixNano(), seq: c.seq, sync: k})
}

// enqueueAfter adds a controller key to the workqueue after d, as AddAfter does.
func (c *clock) enqueueAfter(ctrl controllerID, key string, d time.Duration) {
	if d <= 0 {
		c.enqueue(ctrl, key)
		return
	}
	c.at(c.now.Add(d), func() { c.enqueue(ctrl, key) })
}

// writeLatency is the time a sync's status write takes to return. The simulated controllers act
// in no time, except here: upstream re-queues a workload after minReadySeconds with AddAfter once
// its status write has returned, so strictly after the readiness that started the wait, whose
// lastTransitionTime the API server stores truncated to the second. A re-sync exactly
// minReadySeconds after a readiness at a whole second (which is what histories with one-second
// timestamps give) would find the pod one instant short of available, as IsPodAvailable
// compares strictly, where upstream's finds it available.
const writeLatency = time.Millisecond

// resyncAfterWrite re-queues a controller key d after the status write a sync just made, as
// upstream's AddAfter calls that follow updateStatus do (see writeLatency).
func (c *clock) resyncAfterWrite(ctrl controllerID, key string, d time.Duration) {
	c.enqueueAfter(ctrl, key, d+writeLatency)
}

// run processes events until the queue is empty, stop is called, or a bound is reached.
func (c *clock) run() {
	limit := c.start.Add(maxVirtual).UnixNano()
	for len(c.q) > 0 && !c.stopped {
		e := heap.Pop(&c.q).(*event)
		if e.at > limit {
			break
		}
		if e.at != c.now.UnixNano() {
			c.now = time.Unix(0, e.at).UTC()
		}
		if e.fn != nil {
			e.fn()
		} else {
			delete(c.queued, e.sync)
			c.syncFn(e.sync.ctrl, e.sync.key)
		}
		c.events++
		if c.events >= maxEvents {
			break
		}
	}
}

func (c *clock) stop() { c.stopped = true }

// metaTime is a time as the API server stores it: truncated to the second.
func metaTime(t time.Time) time.Time { return t.Truncate(time.Second) }
