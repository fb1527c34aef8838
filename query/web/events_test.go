package web

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/internal/recording"
	"github.com/khist/khist/projector"
)

// recordedEnvelopes reads the test recordings into envelopes numbered from 1.
func recordedEnvelopes(t testing.TB) []*eventlog.Envelope {
	t.Helper()
	es, err := recording.Envelopes("default", recordings...)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// fold folds envelopes into the views file as khist project beside the server would: its own
// read-write open, retried while the server's readers hold the file.
func fold(t testing.TB, path string, es []*eventlog.Envelope) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		db, err := projector.Open(path, &projector.Options{NoSync: true})
		if err == nil {
			err = db.Apply(context.Background(), es)
			db.Close()
			if err != nil {
				t.Fatal(err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("opening the views to fold: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sseEvent is one Server-Sent Event, or a comment (Comment set).
type sseEvent struct {
	ID, Event, Data, Comment string
}

// readSSE reads the events of a stream into a channel, closed at the stream's end.
func readSSE(body *bufio.Reader) <-chan sseEvent {
	out := make(chan sseEvent, 64)
	go func() {
		defer close(out)
		var e sseEvent
		for {
			line, err := body.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			switch {
			case line == "":
				if e != (sseEvent{}) {
					out <- e
				}
				e = sseEvent{}
			case strings.HasPrefix(line, ":"):
				e.Comment = strings.TrimSpace(line[1:])
			default:
				k, v, _ := strings.Cut(line, ":")
				v = strings.TrimPrefix(v, " ")
				switch k {
				case "id":
					e.ID = v
				case "event":
					e.Event = v
				case "data":
					e.Data = v
				}
			}
		}
	}()
	return out
}

// TestEventsAnnounceFolds reads /api/v1/events as a Go client: the current position on
// connecting, heartbeats while nothing happens, an announcement of the new position once
// more of the recordings are folded into the views (by a writer beside the server), the
// subscription dropped when the client goes, and the stream ended when the server shuts down.
func TestEventsAnnounceFolds(t *testing.T) {
	es := recordedEnvelopes(t)
	half := len(es) / 2
	path := filepath.Join(t.TempDir(), "views.db")
	fold(t, path, es[:half])
	s, err := New(Options{Views: path, Addr: "127.0.0.1:0", Watch: 50 * time.Millisecond, Heartbeat: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc, runc := make(chan string, 1), make(chan error, 1)
	go func() { runc <- s.Run(ctx, func(a string) { addrc <- a }) }()
	base := "http://" + <-addrc

	if status, body := get(t, http.DefaultClient, base+"/api/v1/events?since=1h"); status != http.StatusBadRequest {
		t.Errorf("events?since=1h: %d %s, want 400", status, body)
	}
	open := func() (*http.Response, <-chan sseEvent) {
		t.Helper()
		resp, err := http.Get(base + "/api/v1/events")
		if err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
			t.Fatalf("events: %d %s", resp.StatusCode, ct)
		}
		return resp, readSSE(bufio.NewReader(resp.Body))
	}
	next := func(c <-chan sseEvent, want func(sseEvent) bool, what string) sseEvent {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case e, ok := <-c:
				if !ok {
					t.Fatalf("the stream ended before %s", what)
				}
				if want(e) {
					return e
				}
			case <-timeout:
				t.Fatalf("no %s in 20s", what)
			}
		}
	}
	position := func(e sseEvent) uint64 {
		var p positionEvent
		if err := json.Unmarshal([]byte(e.Data), &p); err != nil {
			t.Fatalf("event %+v: %v", e, err)
		}
		if e.ID == "" {
			t.Errorf("event %+v has no id", e)
		}
		return p.Seq
	}
	isPosition := func(e sseEvent) bool { return e.Event == "position" }

	resp, stream := open()
	if got := position(next(stream, isPosition, "the current position")); got != uint64(half) {
		t.Errorf("on connecting: position %d, want %d", got, half)
	}
	next(stream, func(e sseEvent) bool { return e.Comment == "heartbeat" }, "heartbeat")
	fold(t, path, es[half:])
	if got := position(next(stream, isPosition, "an announcement of the fold")); got != uint64(len(es)) {
		t.Errorf("after the fold: position %d, want %d", got, len(es))
	}

	// The client goes: its subscription ends.
	resp.Body.Close()
	waitFor(t, "the subscription of a client gone", func() bool {
		s.watch.mu.Lock()
		defer s.watch.mu.Unlock()
		return len(s.watch.subs) == 0
	})

	// The server stops: the stream ends at once, not at Shutdown's 10 s timeout.
	_, stream = open()
	next(stream, isPosition, "the position of a second client")
	t0 := time.Now()
	cancel()
	for range stream {
	}
	if err := <-runc; err != nil {
		t.Errorf("Run: %v", err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("the server took %s to stop with a client listening", d)
	}
}

// TestEventsAuth: the event stream takes the same authentication and, with namespace=, the
// same authorisation as the API.
func TestEventsAuth(t *testing.T) {
	tf, err := ReadTokenFile(strings.NewReader("a,alice,1\n"), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Views: testViews(t), Addr: "127.0.0.1:0", Authenticator: tf, Authorizer: onlyNamespaces{"alice": {"sample-rolling"}}})
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + runServer(t, s)
	if status, body := get(t, http.DefaultClient, base+"/api/v1/events"); status != http.StatusUnauthorized {
		t.Errorf("events without a token: %d %s, want 401", status, body)
	}
	if status, body := get(t, http.DefaultClient, base+"/api/v1/events?namespace=default-25", "Authorization", "Bearer a"); status != http.StatusForbidden {
		t.Errorf("events of a namespace alice may not read: %d %s, want 403", status, body)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/events?namespace=sample-rolling", nil)
	req.Header.Set("Authorization", "Bearer a")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("events as alice: %d", resp.StatusCode)
	}
	select {
	case e := <-readSSE(bufio.NewReader(resp.Body)):
		if e.Event != "position" {
			t.Errorf("first event as alice: %+v", e)
		}
	case <-time.After(20 * time.Second):
		t.Error("no position as alice")
	}
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
	}
}
