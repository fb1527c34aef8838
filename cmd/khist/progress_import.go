package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/khist/khist/eventlog/importer"
)

// importProgressBar returns an importer.Options.Progress that draws a one-line bar on w (a terminal): the
// bytes read of the total while reading, the envelopes published of the total while
// publishing, with the rate in events per second and the time left.
//
//	read     [==========>          ]  512.0 MB / 1.0 GB   41.3k events/s  ETA 0:12
//	publish  [===>                 ]  20.1k / 98.3k events  6.2k events/s  ETA 0:13
func importProgressBar(w io.Writer) func(importer.Progress) {
	return func(p importer.Progress) {
		fmt.Fprintf(w, "\r%s\x1b[K", importProgressLine(p))
		if p.Final {
			fmt.Fprintln(w)
		}
	}
}

func importProgressLine(p importer.Progress) string {
	const width = 24
	frac := -1.0
	if p.Total > 0 {
		frac = min(float64(p.Done)/float64(p.Total), 1)
	}
	bar := strings.Repeat(" ", width)
	if frac >= 0 {
		bar = barOf(frac, width)
	}
	secs := p.Elapsed.Seconds()
	var amount string
	events := float64(p.Events)
	if p.Phase == "publish" {
		events = float64(p.Done)
		amount = fmt.Sprintf("%s / %s events", human(float64(p.Done)), human(float64(p.Total)))
	} else if p.Total > 0 {
		amount = fmt.Sprintf("%s / %s", size(p.Done), size(p.Total))
	} else {
		amount = size(p.Done)
	}
	rate := ""
	if secs > 0 {
		rate = fmt.Sprintf("%s events/s", human(events/secs))
	}
	eta := ""
	if frac > 0 && frac < 1 && !p.Final {
		left := time.Duration(p.Elapsed.Seconds() * (1 - frac) / frac * float64(time.Second))
		eta = "ETA " + clock(left)
	} else if p.Final {
		eta = "in " + clock(p.Elapsed)
	}
	return fmt.Sprintf("%-8s [%s] %s  %s  %s", p.Phase, bar, amount, rate, eta)
}

func size(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(b)/(1<<20))
	default:
		return fmt.Sprintf("%.1f kB", float64(b)/(1<<10))
	}
}

func clock(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
