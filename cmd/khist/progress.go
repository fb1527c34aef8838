package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/khist/khist/projector"
)

// progressBar draws a fold's progress on one terminal line (events done, rate, ETA), redrawn
// at most every 200ms. Pass its Update to projector.WithProgress and call Done at the end.
// When w is not a terminal, it writes a plain line every 10 seconds instead.
type progressBar struct {
	w     io.Writer
	label string
	tty   bool
	last  time.Time
	drawn bool
	now   func() time.Time // injectable clock for tests
}

// newProgressBar returns a bar that writes to w (typically os.Stderr).
func newProgressBar(w io.Writer, label string) *progressBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progressBar{w: w, label: label, tty: tty, now: time.Now}
}

// Update redraws the bar if 200ms have passed since the last drawing, or the fold is done.
func (b *progressBar) Update(p projector.Progress) {
	now := b.now()
	if !b.tty {
		if now.Sub(b.last) >= 10*time.Second {
			if !b.last.IsZero() {
				fmt.Fprintln(b.w, b.line(p))
			}
			b.last = now
		}
		return
	}
	if b.drawn && now.Sub(b.last) < 200*time.Millisecond && (p.Total == 0 || p.Done < p.Total) {
		return
	}
	b.last, b.drawn = now, true
	fmt.Fprint(b.w, "\r"+b.line(p)+"\x1b[K")
}

// Stop clears the bar's line, for a fold that failed.
func (b *progressBar) Stop() {
	if b.drawn {
		fmt.Fprint(b.w, "\r\x1b[K")
		b.drawn = false
	}
}

// Done ends the bar's line with a summary.
func (b *progressBar) Done(st projector.Stats) {
	if b.drawn {
		fmt.Fprint(b.w, "\r\x1b[K")
	}
	fmt.Fprintf(b.w, "%s: %d events (%d applied, %d already applied) in %s, %s/s\n",
		b.label, st.Events, st.Applied, st.Skipped, st.Elapsed.Round(time.Millisecond), human(st.Rate()))
}

func (b *progressBar) line(p projector.Progress) string {
	rate := 0.0
	if p.Elapsed > 0 {
		rate = float64(p.Done) / p.Elapsed.Seconds()
	}
	if p.Total == 0 {
		return fmt.Sprintf("%s %d events %s/s", b.label, p.Done, human(rate))
	}
	const width = 30
	frac := min(float64(p.Done)/float64(p.Total), 1)
	bar := barOf(frac, width)
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(p.Total-min(p.Done, p.Total))/rate) * time.Second).Round(time.Second).String()
	}
	return fmt.Sprintf("%s [%s] %3.0f%% %d/%d events %s/s ETA %s", b.label, bar, frac*100, p.Done, p.Total, human(rate), eta)
}

// barOf draws a bar of width characters filled to frac (0 to 1): ===>   .
func barOf(frac float64, width int) string {
	fill := int(frac * float64(width))
	bar := strings.Repeat("=", fill)
	if fill < width {
		bar += ">" + strings.Repeat(" ", width-fill-1)
	}
	return bar
}

// human renders a rate with a k or M suffix.
func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
