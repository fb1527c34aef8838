package soak

import (
	"bytes"
	"encoding/xml"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
)

func TestCSVRoundTrip(t *testing.T) {
	in := []Sample{
		{Elapsed: 5 * time.Second, RSS: 80 << 20, RSSFile: 12 << 20, CPU: 1500 * time.Millisecond, Events: 1200, Objects: 300, Disk: 4096, KubectlCPU: 250 * time.Millisecond, KubectlEvents: 900, Load1: 1.25, Folded: 1100, Lag: 0.5, HWM: 90 << 20},
		{Elapsed: 10 * time.Second, RSS: 81 << 20, CPU: 2 * time.Second, Events: 2400, Objects: 310, Disk: 8192, KubectlCPU: 500 * time.Millisecond, KubectlEvents: 1800, Load1: 1.5, Folded: 2400},
	}
	var b bytes.Buffer
	if err := WriteCSV(&b, in); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "elapsed_s,rss_bytes,rss_file_bytes,cpu_s,events,objects,disk_bytes,kubectl_cpu_s,kubectl_events,load1,folded,projector_lag_s,rss_hwm_bytes\n5.0,83886080,12582912,1.50,1200,300,4096,0.25,900,1.25,1100,0.5,94371840\n") {
		t.Errorf("CSV:\n%s", b.String())
	}
	out, err := ReadCSV(&b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("read %d samples, wrote %d", len(out), len(in))
	}
	for i := range in {
		if out[i] != in[i] {
			t.Errorf("sample %d: read %+v, wrote %+v", i, out[i], in[i])
		}
	}
	// A file written before the projector's columns existed reads with them at zero.
	old, err := ReadCSV(strings.NewReader("elapsed_s,rss_bytes,cpu_s,events,objects,disk_bytes,kubectl_cpu_s,kubectl_events,load1\n5.0,83886080,1.50,1200,300,4096,0.25,900,1.25\n"))
	if err != nil || len(old) != 1 || old[0].Events != 1200 || old[0].Folded != 0 {
		t.Errorf("old file: %+v, %v", old, err)
	}
}

func TestSVG(t *testing.T) {
	samples := []Sample{{Events: 0, RSS: 60e6}, {Events: 35000, RSS: 90e6}, {Events: 71000, RSS: 95e6}}
	var b bytes.Buffer
	if err := WriteSVG(&b, "RSS <soak>", samples); err != nil {
		t.Fatal(err)
	}
	// Well-formed XML, one polyline through every sample, the axes' labels and ticks.
	var doc struct {
		XMLName  xml.Name `xml:"svg"`
		Polyline []struct {
			Points string `xml:"points,attr"`
		} `xml:"polyline"`
		Text []string `xml:"text"`
	}
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, b.String())
	}
	if len(doc.Polyline) != 1 || len(strings.Fields(doc.Polyline[0].Points)) != len(samples) {
		t.Fatalf("want one polyline of %d points: %+v", len(samples), doc.Polyline)
	}
	// The first sample sits on the y axis (x = marginLeft), the x axis ends at 80k (the tick
	// after 71k, by 20k), the y axis at 100 MB.
	if p := strings.Fields(doc.Polyline[0].Points)[0]; !strings.HasPrefix(p, "70.0,") {
		t.Errorf("first point %s, want x=70.0", p)
	}
	text := strings.Join(doc.Text, "|")
	for _, want := range []string{"RSS <soak>", "RSS (MB)", "events recorded", "|80k|", "|100|", "|0|"} {
		if !strings.Contains("|"+text+"|", want) {
			t.Errorf("no %q in the labels %s", want, text)
		}
	}
}

func TestNiceAxis(t *testing.T) {
	for _, c := range []struct{ max, step, end float64 }{
		{71000, 20000, 80000},
		{95, 20, 100},
		{100, 20, 100},
		{0.3, 0.1, 0.3},
		{0, 1, 1},
	} {
		step, end := niceAxis(c.max, 5)
		if c.max == 71000 {
			step, end = niceAxis(c.max, 6)
		}
		if abs(step-c.step) > 1e-9 || abs(end-c.end) > 1e-9 {
			t.Errorf("niceAxis(%v) = %v, %v; want %v, %v", c.max, step, end, c.step, c.end)
		}
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestProcParsing(t *testing.T) {
	status := "Name:\tkhist\nVmPeak:\t  999 kB\nVmHWM:\t  91234 kB\nVmRSS:\t  81234 kB\nRssAnon:\t  61234 kB\nRssFile:\t  20000 kB\n"
	rss, err := parseStatus(status, "VmRSS:")
	if err != nil || rss != 81234*1024 {
		t.Errorf("VmRSS = %d, %v", rss, err)
	}
	if hwm, err := parseStatus(status, "VmHWM:"); err != nil || hwm != 91234*1024 {
		t.Errorf("VmHWM = %d, %v", hwm, err)
	}
	if file, err := parseStatus(status, "RssFile:"); err != nil || file != 20000*1024 {
		t.Errorf("RssFile = %d, %v", file, err)
	}
	// The command name may hold spaces and parentheses; utime=250, stime=50 ticks.
	cpu, err := parseStatCPU("4242 (kh (i) st) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 0 0")
	if err != nil || cpu != 3*time.Second {
		t.Errorf("parseStatCPU = %s, %v", cpu, err)
	}
	// This process: some CPU, some memory.
	st, err := ReadProc(os.Getpid())
	if err != nil || st.RSS <= 0 {
		t.Errorf("ReadProc(self) = %+v, %v", st, err)
	}
}

func TestMetricSum(t *testing.T) {
	text := `# HELP khist_collector_events_total Object versions sent to the log.
# TYPE khist_collector_events_total counter
khist_collector_events_total{group="",resource="pods",type="ADDED"} 10
khist_collector_events_total{group="apps",resource="deployments",type="MODIFIED"} 2.5e+01
khist_collector_events_total_extra 1000
khist_collector_objects 42
`
	if v, ok := MetricSum(text, "khist_collector_events_total"); !ok || v != 35 {
		t.Errorf("events = %v, %v; want 35", v, ok)
	}
	if v, ok := MetricSum(text, "khist_collector_objects"); !ok || v != 42 {
		t.Errorf("objects = %v, %v; want 42", v, ok)
	}
	if _, ok := MetricSum(text, "khist_nothing"); ok {
		t.Error("found a metric that is not there")
	}
}

// kubectlOutput is what kubectl get -w --output-watch-events -o json prints: indented
// documents, one per event, the initial list as ADDED.
const kubectlOutput = `{
    "type": "ADDED",
    "object": {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "soak", "uid": "u1", "resourceVersion": "100"}
    }
}
{
    "type": "MODIFIED",
    "object": {"kind": "Pod", "metadata": {"name": "web-1", "namespace": "soak", "uid": "u1", "resourceVersion": "105"}}
}
{"type": "BOOKMARK", "object": {"kind": "Pod", "metadata": {"resourceVersion": "107"}}}
{
    "type": "DELETED",
    "object": {"kind": "Pod", "metadata": {"name": "web-1", "namespace": "soak", "uid": "u1", "resourceVersion": "110"}}
}
`

func TestReadWatchAndMissed(t *testing.T) {
	seen := map[Key]Seen{}
	var n int
	err := ReadWatch(strings.NewReader(kubectlOutput), "pods", func(s Seen) {
		n++
		seen[s.Key] = s
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("read %d events, want 3 (the bookmark is not one)", n)
	}
	// The log has the listed version (as RESYNC) and the deletion, not the update.
	logged := map[Key]bool{}
	for _, e := range []*eventlog.Envelope{
		{Type: eventlog.Resync, Resource: "pods", UID: "u1", ResourceVersion: "100"},
		{Type: eventlog.Deleted, Resource: "pods", UID: "u1", ResourceVersion: "110"},
		{Type: eventlog.Modified, Resource: "deployments", UID: "u9", ResourceVersion: "105"},
	} {
		logged[LogKey(e)] = true
	}
	missed := Missed(seen, logged)
	if len(missed) != 1 || missed[0].String() != "MODIFIED pods soak/web-1 uid=u1 rv=105" {
		t.Errorf("missed %v", missed)
	}
	// A truncated stream (a killed kubectl) is an error, not a silent end.
	if err := ReadWatch(strings.NewReader(kubectlOutput[:60]), "pods", func(Seen) {}); err == nil {
		t.Error("a truncated document was read without error")
	}
}

func TestRSSFigures(t *testing.T) {
	// RSS climbs over the first quarter (the initial lists), then grows by 2 B per event.
	var s []Sample
	for i := int64(0); i <= 100; i++ {
		rss := int64(100e6) + 2*i*1000
		if i < 25 {
			rss = int64(50e6) + i*2e6
		}
		s = append(s, Sample{Events: i * 1000, RSS: rss, Objects: 1000 + i})
	}
	f := rssFigures(s)
	if f.First != 50e6 || f.Last != 100e6+200e3 || f.Peak != 100e6+200e3 || f.MaxObjects != 1100 {
		t.Errorf("figures %+v", f)
	}
	if abs(f.SlopePerEvent-2) > 1e-6 {
		t.Errorf("slope %v B/event, want 2", f.SlopePerEvent)
	}
}

// kubectlPages is the start of kubectl get pods -A -w --output-watch-events -o json when there
// are more pods than its --chunk-size (500): one ADDED document per page of the list (seen on
// kubectl v1.33 after a watch restart with ~3000 pods), then the watch.
const kubectlPages = `{"type":"ADDED","object":{"apiVersion":"v1","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"soak","uid":"ua","resourceVersion":"7"}},{"apiVersion":"v1","kind":"Pod","metadata":{"name":"b","namespace":"soak","uid":"ub","resourceVersion":"9"}}],"kind":"PodList","metadata":{"resourceVersion":"2760"}}}
{"type":"ADDED","object":{"apiVersion":"v1","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"c","namespace":"soak","uid":"uc","resourceVersion":"12"}}],"kind":"PodList","metadata":{"resourceVersion":"2760"}}}
{"type":"MODIFIED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"c","namespace":"soak","uid":"uc","resourceVersion":"2761"}}}
`

func TestReadWatchListPages(t *testing.T) {
	var got []string
	err := ReadWatch(strings.NewReader(kubectlPages), "pods", func(s Seen) { got = append(got, s.String()) })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ADDED pods soak/a uid=ua rv=7",
		"ADDED pods soak/b uid=ub rv=9",
		"ADDED pods soak/c uid=uc rv=12",
		"MODIFIED pods soak/c uid=uc rv=2761",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant (each item of a page is an event, the page is not):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestWindows(t *testing.T) {
	// A sample every minute for 12 minutes: 1,000 events and 1 s of CPU a minute, 2 s in the
	// last 2 minutes.
	var s []Sample
	var cpu time.Duration
	for i := 0; i <= 12; i++ {
		if i > 0 {
			cpu += time.Second
			if i > 10 {
				cpu += time.Second
			}
		}
		s = append(s, Sample{Elapsed: time.Duration(i) * time.Minute, Events: int64(i) * 1000, CPU: cpu, RSS: 100e6, Load1: 2, Lag: float64(i)})
	}
	w := Windows(s, 5*time.Minute)
	if len(w) != 3 {
		t.Fatalf("%d windows: %+v", len(w), w)
	}
	if w[0].From != 0 || w[0].To != 5*time.Minute || w[0].Events != 5000 || w[0].CPU != 5*time.Second || w[0].MaxLag != 5 {
		t.Errorf("first window %+v", w[0])
	}
	if w[2].From != 10*time.Minute || w[2].Events != 2000 || perEvent(w[2].CPU, w[2].Events) != 2*time.Millisecond {
		t.Errorf("last window %+v", w[2])
	}
	if w[1].MeanRSS != 100e6 || w[1].MeanLoad1 != 2 {
		t.Errorf("means %+v", w[1])
	}
	if got := windowsMarkdown(s); !strings.Contains(got, "| 10-12 | 2000 | 2.000 ms |") {
		t.Errorf("table:\n%s", got)
	}
}

func TestParseFractions(t *testing.T) {
	if f, err := ParseFractions("0.5, 0.9"); err != nil || len(f) != 2 || f[1] != 0.9 {
		t.Errorf("ParseFractions = %v, %v", f, err)
	}
	if f, err := ParseFractions(""); err != nil || len(f) != 0 {
		t.Errorf("empty: %v, %v", f, err)
	}
	for _, bad := range []string{"1.5", "0.9,0.5", "half"} {
		if _, err := ParseFractions(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
