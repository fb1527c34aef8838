package soak

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// Plot geometry, in SVG user units.
const (
	plotWidth, plotHeight   = 720, 400
	marginLeft, marginRight = 70, 20
	marginTop, marginBottom = 40, 55
)

// WriteSVG writes a line plot of khist's RSS (MB) against events recorded: axes from 0 with
// rounded ticks, axis labels, a title, and one polyline through the samples. It needs no
// dependency: the SVG is written by hand.
func WriteSVG(w io.Writer, title string, samples []Sample) error {
	var maxX, maxY float64
	for _, s := range samples {
		maxX = math.Max(maxX, float64(s.Events))
		maxY = math.Max(maxY, mb(s.RSS))
	}
	xStep, xMax := niceAxis(maxX, 6)
	yStep, yMax := niceAxis(maxY, 5)
	iw := float64(plotWidth - marginLeft - marginRight)
	ih := float64(plotHeight - marginTop - marginBottom)
	px := func(x float64) float64 { return marginLeft + x/xMax*iw }
	py := func(y float64) float64 { return marginTop + ih - y/yMax*ih }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		plotWidth, plotHeight, plotWidth, plotHeight)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", plotWidth, plotHeight)
	fmt.Fprintf(&b, `<text x="%d" y="22" text-anchor="middle" font-size="14">%s</text>`+"\n", plotWidth/2, escape(title))
	// Grid and ticks.
	for x := 0.0; x <= xMax+xStep/2; x += xStep {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", px(x), py(0), px(x), py(yMax))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px(x), py(0)+18, tickLabel(x))
	}
	for y := 0.0; y <= yMax+yStep/2; y += yStep {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", px(0), py(y), px(xMax), py(y))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", px(0)-6, py(y)+4, tickLabel(y))
	}
	// Axes and their labels.
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", px(0), py(0), px(xMax), py(0))
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", px(0), py(0), px(0), py(yMax))
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">events recorded (khist_collector_events_total)</text>`+"\n", px(xMax/2), plotHeight-12)
	fmt.Fprintf(&b, `<text x="16" y="%.1f" text-anchor="middle" transform="rotate(-90 16 %.1f)">RSS (MB)</text>`+"\n", py(yMax/2), py(yMax/2))
	// The samples.
	var pts []string
	for _, s := range samples {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(float64(s.Events)), py(mb(s.RSS))))
	}
	fmt.Fprintf(&b, `<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="%s"/>`+"\n", strings.Join(pts, " "))
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func mb(bytes int64) float64 { return float64(bytes) / 1e6 }

// niceAxis returns a tick step of 1, 2 or 5 times a power of ten that cuts [0, max] into at
// most n intervals, and the axis end: the first tick at or above max (one step for an empty
// range).
func niceAxis(max float64, n int) (step, end float64) {
	if max <= 0 || math.IsNaN(max) || math.IsInf(max, 0) {
		return 1, 1
	}
	raw := max / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			step = m * p
			break
		}
	}
	return step, math.Ceil(max/step-1e-9) * step
}

// tickLabel prints a tick value shortly: 150, 2.5, 40k, 1.2M.
func tickLabel(v float64) string {
	switch {
	case v >= 1e6:
		return trimFloat(v/1e6) + "M"
	case v >= 1e3:
		return trimFloat(v/1e3) + "k"
	}
	return trimFloat(v)
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
