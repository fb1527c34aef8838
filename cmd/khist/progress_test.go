package main

import (
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/projector"
)

func TestProgressBar(t *testing.T) {
	var out strings.Builder
	b := newProgressBar(&out, "rebuild")
	b.tty = true
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.now = func() time.Time { return now }
	b.Update(projector.Progress{Done: 1000, Total: 4000, Elapsed: time.Second})
	now = now.Add(100 * time.Millisecond)
	b.Update(projector.Progress{Done: 1100, Total: 4000, Elapsed: 1100 * time.Millisecond}) // too soon: not drawn
	now = now.Add(time.Second)
	b.Update(projector.Progress{Done: 2000, Total: 4000, Elapsed: 2 * time.Second})
	b.Done(projector.Stats{Events: 4000, Applied: 3990, Skipped: 10, Elapsed: 4 * time.Second})
	got := out.String()
	for _, want := range []string{
		"\rrebuild [=======>                      ]  25% 1000/4000 events 1.0k/s ETA 3s\x1b[K",
		"\rrebuild [===============>              ]  50% 2000/4000 events 1.0k/s ETA 2s\x1b[K",
		"\r\x1b[Krebuild: 4000 events (3990 applied, 10 already applied) in 4s, 1.0k/s\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in %q", want, got)
		}
	}
	if strings.Contains(got, "1100/4000") {
		t.Errorf("redrawn within 200ms: %q", got)
	}
}
