package soak

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// watchedResources are the resources of the reference kubectl watches.
var watchedResources = []string{"pods", "replicasets", "deployments", "statefulsets", "daemonsets", "services", "endpoints", "events"}

// Targets of issue 13 (from Sloop's figures in the same kind of run).
const (
	// TargetCPUPerEvent is 1/10 of Sloop's CPU per event.
	TargetCPUPerEvent = 280 * time.Microsecond
	// TargetRSSBudget and TargetRSSPerObject bound the RSS: a fixed budget plus so much per
	// watched object.
	TargetRSSBudget    = 256 << 20
	TargetRSSPerObject = 300
	// TargetDiskPerEvent is 31 MB per 70k events (1/15 of Sloop's).
	TargetDiskPerEvent = 31e6 / 70e3
)

// Result is what a soak run measured.
type Result struct {
	Date     time.Time     // when the load started (UTC)
	Duration time.Duration // how long it ran
	Nodes    int
	Load     *Load
	Command  string

	Samples     []Sample
	LogEvents   int64          // envelopes in khist's log after collect stopped
	PerResource map[string]int // of them, per resource

	KhistCPU        time.Duration // getrusage of khist collect, start to exit
	KubectlCPU      time.Duration // getrusage of every kubectl watch
	KubectlEvents   int64         // watch events the kubectl watches printed
	KubectlRestarts int

	Seen   int    // distinct versions the kubectl watches saw
	Missed []Seen // of them, not in khist's log

	StreamBytes, ViewsBytes int64 // after collect stopped
	Uptimes                 []string
}

// Write writes soak-samples.csv, soak-rss.svg and soak-summary.md into dir.
func (r *Result) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var csv strings.Builder
	if err := WriteCSV(&csv, r.Samples); err != nil {
		return err
	}
	var svg strings.Builder
	title := fmt.Sprintf("khist collect: RSS against events recorded (soak of %s, %s)", r.Duration.Round(time.Minute), r.Date.Format("2006-01-02"))
	if err := WriteSVG(&svg, title, r.Samples); err != nil {
		return err
	}
	for name, data := range map[string]string{"soak-samples.csv": csv.String(), "soak-rss.svg": svg.String(), "soak-summary.md": r.Markdown()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func perEvent(d time.Duration, n int64) time.Duration {
	if n <= 0 {
		return 0
	}
	return d / time.Duration(n)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// RSSFigures summarise the RSS samples: the first (after the initial lists), the peak, the
// last, the peak of each half of the run (by time), the most objects watched, and the slope of
// RSS against events over the last three quarters of the run (least squares, bytes per event).
type RSSFigures struct {
	First, Peak, Last           int64
	PeakFirstHalf, PeakLastHalf int64
	// PeakAnon is the peak of RSS less its pages of mapped files (RSSFile): the memory
	// khist holds itself, which the kernel cannot drop.
	PeakAnon int64
	// HWM is the kernel's high-water mark of RSS (VmHWM) at the last sample that read it: the
	// peak between samples as well (0 for samples taken before it was read).
	HWM           int64
	MaxObjects    int64
	SlopePerEvent float64
}

func rssFigures(s []Sample) RSSFigures {
	var f RSSFigures
	if len(s) == 0 {
		return f
	}
	f.First, f.Last = s[0].RSS, s[len(s)-1].RSS
	for i, x := range s {
		f.Peak = max(f.Peak, x.RSS)
		f.PeakAnon = max(f.PeakAnon, x.RSS-x.RSSFile)
		f.HWM = max(f.HWM, x.HWM)
		f.MaxObjects = max(f.MaxObjects, x.Objects)
		if i < len(s)/2 {
			f.PeakFirstHalf = max(f.PeakFirstHalf, x.RSS)
		} else {
			f.PeakLastHalf = max(f.PeakLastHalf, x.RSS)
		}
	}
	tail := s[len(s)/4:]
	var n, sx, sy, sxx, sxy float64
	for _, x := range tail {
		ex, ry := float64(x.Events), float64(x.RSS)
		n++
		sx += ex
		sy += ry
		sxx += ex * ex
		sxy += ex * ry
	}
	if d := n*sxx - sx*sx; n >= 2 && d != 0 {
		f.SlopePerEvent = (n*sxy - sx*sy) / d
	}
	return f
}

// Markdown is the summary: the figures against the targets, the load, the machine's load.
func (r *Result) Markdown() string {
	var b strings.Builder
	khistPer := perEvent(r.KhistCPU, r.LogEvents)
	kubectlPer := perEvent(r.KubectlCPU, r.KubectlEvents)
	rss := rssFigures(r.Samples)
	budget := int64(TargetRSSBudget) + TargetRSSPerObject*rss.MaxObjects
	disk := r.StreamBytes + r.ViewsBytes
	diskPer := 0.0
	if r.LogEvents > 0 {
		diskPer = float64(disk) / float64(r.LogEvents)
	}
	var load1, maxLoad float64
	for _, s := range r.Samples {
		load1 += s.Load1
		maxLoad = math.Max(maxLoad, s.Load1)
	}
	if len(r.Samples) > 0 {
		load1 /= float64(len(r.Samples))
	}
	l := r.Load
	fmt.Fprintf(&b, "Run of %s (UTC), load for %s: %d Deployments x %d replicas (scaled to %d and back, image updated in between, %d changing at once), 3 StatefulSets x 10 and 2 DaemonSets updated in a loop, %d Services; pods Ready after %s-%s (kwok); %d kwok nodes; %d changes made.\n\n",
		r.Date.Format("2006-01-02 15:04"), r.Duration.Round(time.Second), l.Deployments, l.Replicas, l.Scaled, l.Concurrent, l.Services,
		l.Ready, l.Ready+l.Jitter, r.Nodes, l.Actions.Load())
	fmt.Fprintf(&b, "Command: `%s`\n\n", r.Command)
	fmt.Fprintf(&b, "| | measured | target | met |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| CPU per event, khist collect (start to exit) | %s (%.1f s for %d events) | <= %s | %s |\n",
		ms(khistPer), r.KhistCPU.Seconds(), r.LogEvents, ms(TargetCPUPerEvent), yesNo(khistPer <= TargetCPUPerEvent))
	fmt.Fprintf(&b, "| CPU per event, the %d raw kubectl watches (same run) | %s (%.1f s for %d events) | baseline | |\n",
		len(watchedResources), ms(kubectlPer), r.KubectlCPU.Seconds(), r.KubectlEvents)
	fmt.Fprintf(&b, "| peak RSS | %.1f MB (after the initial lists %.1f, last %.1f) | <= 256 MiB + 300 B x %d objects = %.1f MB | %s |\n",
		mb(rss.Peak), mb(rss.First), mb(rss.Last), rss.MaxObjects, mb(budget), yesNo(rss.Peak <= budget))
	if rss.HWM > 0 {
		fmt.Fprintf(&b, "| peak RSS, the kernel's high-water mark (VmHWM, between samples too) | %.1f MB | <= %.1f MB | %s |\n",
			mb(rss.HWM), mb(budget), yesNo(rss.HWM <= budget))
	}
	if rss.PeakAnon != rss.Peak { // samples with RssFile
		fmt.Fprintf(&b, "| peak RSS less mapped files' pages (the views file, the binary) | %.1f MB | <= %.1f MB | %s |\n",
			mb(rss.PeakAnon), mb(budget), yesNo(rss.PeakAnon <= budget))
	}
	fmt.Fprintf(&b, "| RSS flat | peak %.1f MB in the first half, %.1f MB in the second; slope %.1f B per event over the last 3/4 | flat | %s |\n",
		mb(rss.PeakFirstHalf), mb(rss.PeakLastHalf), rss.SlopePerEvent, yesNo(float64(rss.PeakLastHalf) <= 1.1*float64(rss.PeakFirstHalf)))
	fmt.Fprintf(&b, "| disk per event (stream + views) | %.0f B (stream %.1f MB + views %.1f MB for %d events: %.1f MB per 70k) | <= %.0f B (31 MB per 70k) | %s |\n",
		diskPer, mb(r.StreamBytes), mb(r.ViewsBytes), r.LogEvents, diskPer*70e3/1e6, float64(TargetDiskPerEvent), yesNo(diskPer <= TargetDiskPerEvent))
	fmt.Fprintf(&b, "| events missed | %d of %d versions seen by kubectl | 0 | %s |\n\n", len(r.Missed), r.Seen, yesNo(len(r.Missed) == 0))
	fmt.Fprintf(&b, "Events: khist recorded %d (every resource it watches); the kubectl watches (%s) printed %d watch events, %d distinct versions; %d kubectl restarts.\n\n",
		r.LogEvents, strings.Join(watchedResources, ", "), r.KubectlEvents, r.Seen, r.KubectlRestarts)
	fmt.Fprintf(&b, "Per 5 minutes:\n\n%s\n", windowsMarkdown(r.Samples))
	var per []string
	for _, k := range sortedKeys(r.PerResource) {
		per = append(per, fmt.Sprintf("%s %d", k, r.PerResource[k]))
	}
	fmt.Fprintf(&b, "khist's log per resource: %s.\n\n", strings.Join(per, ", "))
	fmt.Fprintf(&b, "Machine load (2 cores, shared with other engineers' builds): load1 mean %.2f, max %.2f over the samples; uptime:\n\n", load1, maxLoad)
	for _, u := range r.Uptimes {
		fmt.Fprintf(&b, "    %s\n", u)
	}
	if len(r.Missed) > 0 {
		b.WriteString("\nMissed (first 10):\n\n")
		for _, m := range r.Missed[:min(10, len(r.Missed))] {
			fmt.Fprintf(&b, "    %s\n", m)
		}
		byRes := map[string]int{}
		for _, m := range r.Missed {
			byRes[m.Resource]++
		}
		var rs []string
		for _, k := range sortedKeys(byRes) {
			rs = append(rs, fmt.Sprintf("%s %d", k, byRes[k]))
		}
		sort.Strings(rs)
		fmt.Fprintf(&b, "\nMissed per resource: %s.\n", strings.Join(rs, ", "))
	}
	return b.String()
}

// sortedKeys returns m's keys in order.
func sortedKeys(m map[string]int) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Window is the cost of a stretch of the run, between two samples.
type Window struct {
	From, To              time.Duration // since collect started
	Events, KubectlEvents int64
	CPU, KubectlCPU       time.Duration
	MeanRSS               int64
	Objects               int64   // at its end
	MaxLag                float64 // the projector's, seconds
	MeanLoad1             float64
}

// Windows cuts the samples into stretches of about d (from one sample to the first at least d
// later; the last one may be shorter).
func Windows(s []Sample, d time.Duration) []Window {
	var out []Window
	for i := 0; i+1 < len(s); {
		j := i + 1
		for j+1 < len(s) && s[j].Elapsed-s[i].Elapsed < d {
			j++
		}
		w := Window{From: s[i].Elapsed, To: s[j].Elapsed, Events: s[j].Events - s[i].Events,
			KubectlEvents: s[j].KubectlEvents - s[i].KubectlEvents, CPU: s[j].CPU - s[i].CPU,
			KubectlCPU: s[j].KubectlCPU - s[i].KubectlCPU, Objects: s[j].Objects}
		var rss int64
		for _, x := range s[i+1 : j+1] {
			rss += x.RSS
			w.MeanLoad1 += x.Load1
			w.MaxLag = math.Max(w.MaxLag, x.Lag)
		}
		w.MeanRSS = rss / int64(j-i)
		w.MeanLoad1 /= float64(j - i)
		out = append(out, w)
		i = j
	}
	return out
}

// windowsMarkdown is a table of the run's 5-minute windows.
func windowsMarkdown(s []Sample) string {
	var b strings.Builder
	b.WriteString("| minutes | events | khist CPU per event | kubectl CPU per event | mean RSS | objects | projector lag (max) | load1 |\n|---|---|---|---|---|---|---|---|\n")
	for _, w := range Windows(s, 5*time.Minute) {
		fmt.Fprintf(&b, "| %.0f-%.0f | %d | %s | %s | %.0f MB | %d | %.0f s | %.1f |\n",
			w.From.Minutes(), w.To.Minutes(), w.Events, ms(perEvent(w.CPU, w.Events)), ms(perEvent(w.KubectlCPU, w.KubectlEvents)),
			mb(w.MeanRSS), w.Objects, w.MaxLag, w.MeanLoad1)
	}
	return b.String()
}
