package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/khist/khist/projector"
)

// GET /api/v1/events: Server-Sent Events announcing the views' position. On connecting a
// client receives the current position, then one announcement each time the views advance
// (whoever folds them: this server's own fold, or a khist collect or project beside it):
//
//	retry: 3000
//
//	id: 1234
//	event: position
//	data: {"seq":1234}
//
// and a comment line (": heartbeat") every Options.Heartbeat while nothing happens, so that
// proxies keep the connection open and a client notices a dead one. The stream ends when the
// client goes or the server shuts down. Pages subscribe to it with an EventSource and refresh
// on each announcement. The position says only that something was recorded, not what or
// where: an authenticated user may subscribe; with namespace=NS it also takes the right to
// read NS, as the other endpoints do.

// positionEvent is the data of an announcement.
type positionEvent struct {
	Seq uint64 `json:"seq"`
}

// watcher reads the views' position every interval while someone listens, and tells the
// listeners when it changes. It runs no goroutine while nobody listens.
type watcher struct {
	s        *Server
	interval time.Duration

	mu      sync.Mutex
	subs    map[chan uint64]struct{}
	seq     uint64
	running bool
}

// subscribe returns a channel that receives the position when it changes (only the latest is
// kept if the listener is slow) and the function that ends the subscription.
func (w *watcher) subscribe() (<-chan uint64, func()) {
	c := make(chan uint64, 1)
	w.mu.Lock()
	if w.subs == nil {
		w.subs = map[chan uint64]struct{}{}
	}
	w.subs[c] = struct{}{}
	if !w.running {
		w.running = true
		go w.run()
	}
	w.mu.Unlock()
	return c, func() {
		w.mu.Lock()
		delete(w.subs, c)
		w.mu.Unlock()
	}
}

// run polls the position until the last listener leaves.
func (w *watcher) run() {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		w.poll()
		<-t.C
		w.mu.Lock()
		if len(w.subs) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
	}
}

// poll reads the position and announces it if it moved.
func (w *watcher) poll() {
	seq, err := w.s.position()
	if err != nil {
		return // unreadable for now (a writer holds the file): the next poll tries again
	}
	w.announce(seq)
}

func (w *watcher) announce(seq uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if seq == w.seq {
		return
	}
	w.seq = seq
	for c := range w.subs {
		select {
		case <-c: // drop the stale position
		default:
		}
		c <- seq
	}
}

// position is the sequence of the last event folded into the views.
func (s *Server) position() (uint64, error) {
	s.views.RLock()
	defer s.views.RUnlock()
	db, err := projector.Open(s.opts.Views, &projector.Options{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	return db.Seq()
}

// events serves GET /api/v1/events.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	u, _ := r.Context().Value(userKey{}).(*User)
	p := &params{v: r.URL.Query(), used: map[string]bool{}}
	if ns := p.str("namespace"); ns != "" {
		if err := (&access{s: s, user: u}).check(r.Context(), ns); err != nil {
			writeError(w, statusOf(err), oneLine(err))
			return
		}
	}
	if err := p.unknown("events"); err != nil {
		writeError(w, statusOf(err), oneLine(err))
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "this connection cannot stream events")
		return
	}
	seq, err := s.position()
	for errors.Is(err, projector.ErrInUse) {
		// A long fold in another process (Open waited for it): a stream that failed here would
		// not be retried by the browser, so wait on.
		select {
		case <-r.Context().Done():
			return
		case <-s.stopping:
			return
		case <-time.After(s.opts.Watch):
		}
		seq, err = s.position()
	}
	if err != nil {
		writeError(w, statusOf(err), oneLine(err))
		return
	}
	updates, stop := s.watch.subscribe()
	defer stop()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // a proxy in front must not hold the stream back
	w.WriteHeader(http.StatusOK)
	send := func(seq uint64) error {
		b, _ := json.Marshal(positionEvent{Seq: seq})
		_, err := fmt.Fprintf(w, "id: %d\nevent: position\ndata: %s\n\n", seq, b)
		flusher.Flush()
		return err
	}
	fmt.Fprint(w, "retry: 3000\n\n")
	if send(seq) != nil {
		return
	}
	beat := time.NewTicker(s.opts.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.stopping:
			return
		case n := <-updates:
			if n == seq {
				continue
			}
			seq = n
			if send(seq) != nil {
				return
			}
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}

// stopStreams ends every event stream (on shutdown: http.Server.Shutdown waits for them
// otherwise).
func (s *Server) stopStreams() {
	s.stopOnce.Do(func() { close(s.stopping) })
}
