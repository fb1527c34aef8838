package query

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// chromiumPath finds the browser the HTML test drives (Debian's chromium; test/setup.sh installs
// it). It skips the test only when the browser is missing and -short is set.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if testing.Short() {
		t.Skip("chromium is not installed (apt-get install chromium, or test/setup.sh); skipped with -short")
	}
	t.Fatal("chromium is not installed: run test/setup.sh (apt-get install chromium) or use -short to skip this test")
	return ""
}

// artifactDir is where tests leave files for a human to look at: test/artifacts at the root of
// the module (git-ignored).
func artifactDir(t *testing.T) string {
	d := filepath.Join("..", "test", "artifacts")
	if err := os.MkdirAll(d, 0o755); err != nil {
		d = t.TempDir()
	}
	abs, _ := filepath.Abs(d)
	return abs
}

// TestTimelineHTMLInBrowser opens the HTML timeline of every recorded scenario in headless
// Chromium with the network disabled, checks that swimlanes and markers render, that a click on
// a marker shows its change, that zoom works and that the page needs no network, and saves a
// screenshot under test/artifacts.
func TestTimelineHTMLInBrowser(t *testing.T) {
	browser := chromiumPath(t)
	dir := t.TempDir()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// Any request that escapes the blocklist goes to a proxy that is not there.
		chromedp.ProxyServer("http://127.0.0.1:9"),
		chromedp.WindowSize(1400, 1000),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting chromium (%s): %v", browser, err)
	}
	for _, name := range scenarioNames(t) {
		t.Run(name, func(t *testing.T) { checkTimelineHTML(t, bctx, name) })
	}
}

func checkTimelineHTML(t *testing.T, bctx context.Context, name string) {
	s := loadScenario(t, name)
	since, until := s.first, s.last.Add(time.Second)
	tl, err := BuildTimeline(s.views, TimelineOptions{Scope: Scope{AllNamespaces: true}, Since: since, Until: until, Diffs: true})
	if err != nil {
		t.Fatal(err)
	}
	var html bytes.Buffer
	if err := s.views.Timeline(context.Background(), TimelineArgs{AllNamespaces: true, Since: rfc(since), Until: rfc(until), Output: "html"}, &html); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(t.TempDir(), "timeline.html")
	if err := os.WriteFile(page, html.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	// What the page must show: every lane, every entry, and for the first spec change (the
	// first .marker.c-spec in document order) its summary and diff.
	lanes, markers := 0, 0
	var spec *TimelineEntry
	var specLane ObjectKey
	for _, g := range tl.Groups {
		lanes += len(g.Lanes)
		for _, l := range g.Lanes {
			markers += len(l.Entries)
			// The page draws a lane's routine markers first and its notable (marked) ones on
			// top: the first spec marker in the page is the first one in that order.
			for _, marked := range []bool{false, true} {
				for i := range l.Entries {
					if e := &l.Entries[i]; spec == nil && e.Class == ClassSpec && e.Marked == marked {
						spec, specLane = e, l.Object
					}
				}
			}
		}
	}
	if spec == nil {
		t.Fatalf("scenario %s has no spec change to click", name)
	}
	var added string
	for _, line := range strings.Split(spec.Diff, "\n") {
		if strings.HasPrefix(line, "+") && !strings.HasPrefix(line, "+++") {
			added = line
			break
		}
	}

	ctx, cancel := chromedp.NewContext(bctx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var mu sync.Mutex
	var requests []string
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests = append(requests, e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("network domain: %v", err)
	}
	var block []*network.BlockPattern
	for _, p := range []string{"http://*:*/*", "https://*:*/*", "ws://*:*/*", "wss://*:*/*"} {
		block = append(block, &network.BlockPattern{URLPattern: p, Block: true})
	}
	if _, err := chromedp.Call(ctx, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: block}); err != nil {
		t.Fatalf("blocking the network: %v", err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("driving chromium: %v", err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		must(err)
		return s
	}
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('`+sel+`').length`))
		must(err)
		return n
	}
	must(chromedp.Do(ctx,
		chromedp.Navigate("file://"+page),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)),
	))
	if n := count(".row.lane"); n != lanes {
		t.Errorf("the page shows %d swimlanes, the timeline has %d", n, lanes)
	}
	if n := count(".marker"); n != markers || n == 0 {
		t.Errorf("the page shows %d markers, the timeline has %d entries", n, markers)
	}
	if n := count(".row.group"); n != len(tl.Groups) {
		t.Errorf("the page shows %d workload groups, the timeline has %d", n, len(tl.Groups))
	}
	rangeBefore := text("#range")
	// Dispatched on the element itself: markers at the same instant overlap, and a click at the
	// first one's position would land on whichever is drawn on top.
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('.marker.c-spec').dispatchEvent(new MouseEvent('click', {bubbles: true}))`))
	must(err)
	must(chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#detail-diff"))))
	title, diff := text("#detail h2"), text("#detail-diff")
	if !strings.Contains(title, specLane.Name) || !strings.Contains(title, spec.Summary) {
		t.Errorf("clicking the spec marker of %s shows %q, want its change %q", specLane.Ref(), title, spec.Summary)
	}
	if added == "" || !strings.Contains(diff, added) {
		t.Errorf("the diff shown for %s lacks %q:\n%s", specLane.Ref(), added, diff)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	must(err)
	must(chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#zoom-in"))))
	if after := text("#range"); after == rangeBefore {
		t.Errorf("zoom in did not change the visible range (%q)", rangeBefore)
	}
	mu.Lock()
	for _, u := range requests {
		if !strings.HasPrefix(u, "file://") && !strings.HasPrefix(u, "data:") {
			t.Errorf("the page requested %s: it must need no network", u)
		}
	}
	mu.Unlock()
	// And the network is really off: a fetch from the page fails.
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch("http://example.com/").then(() => "reached", () => "blocked")`, chromedp.EvalAwaitPromise))
	must(err)
	if got != "blocked" {
		t.Errorf("a fetch from the page was %s: the test must run without network", got)
	}
	out := filepath.Join(artifactDir(t), "timeline-"+name+".png")
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(artifactDir(t), "timeline-"+name+".html"), html.Bytes(), 0o644)
	t.Logf("screenshot: %s", out)
}

// TestTimelineHTMLVirtualRows checks, in headless Chromium, that a timeline of many lanes keeps
// only the rows near the visible part of the page in the document, that scrolling to the end
// draws the last lanes, and that the filter finds a lane that was not drawn. The timeline is
// made up (fakeWideTimeline): 50 workloads of 20 objects, 3 changes each.
func TestTimelineHTMLVirtualRows(t *testing.T) {
	browser := chromiumPath(t)
	actx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(browser), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1400, 1000))
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	tl := fakeWideTimeline(50, 20)
	var html bytes.Buffer
	if err := TimelineHTML(&html, tl, Env{Loc: time.UTC}); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(t.TempDir(), "timeline.html")
	if err := os.WriteFile(page, html.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('`+sel+`').length`))
		must(err)
		return n
	}
	label := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(function(){var e=document.querySelector('`+sel+`'); return e ? e.textContent : ''})()`))
		must(err)
		return s
	}
	must(chromedp.Do(ctx, chromedp.Navigate("file://"+page), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`))))
	total := 50 * 20
	if n := count(".row.lane"); n == 0 || n >= total/2 {
		t.Errorf("at the top of the page %d of %d lanes are in the document, want the ones near the view only", n, total)
	}
	if n := count(".marker"); n == 0 || n >= 3*total/2 {
		t.Errorf("at the top of the page %d of %d markers are in the document", n, 3*total)
	}
	if got := label(`.row.lane[data-lane="0"] text.label tspan:nth-of-type(2)`); got != "app-0-pod-0" {
		t.Errorf("the first lane reads %q", got)
	}
	// Scrolled to the end: the last lane is drawn (on the next frame).
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.scrollTo(0, document.body.scrollHeight); true`))
	must(err)
	last := total - 1
	must(chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS(`.row.lane[data-lane="`+strconv.Itoa(last)+`"]`))))
	if got := label(`.row.lane[data-lane="` + strconv.Itoa(last) + `"] text.label tspan:nth-of-type(2)`); got != "app-49-pod-19" {
		t.Errorf("the last lane reads %q", got)
	}
	if n := count(`.row.lane[data-lane="0"]`); n != 0 {
		t.Errorf("scrolled to the end, the first lane is still in the document")
	}
	// The filter reaches lanes that were not drawn.
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`window.scrollTo(0, 0); var f=document.getElementById('filter'); f.value='app-25-pod-7'; f.dispatchEvent(new Event('input')); true`))
	must(err)
	if n, got := count(".row.lane"), label(".row.lane text.label tspan:nth-of-type(2)"); n != 1 || got != "app-25-pod-7" {
		t.Errorf("filtered to app-25-pod-7: %d lanes, the first %q", n, got)
	}
}

// fakeWideTimeline is a made-up timeline of groups workloads with lanes pods each, every pod
// created, changed and made ready a minute apart.
func fakeWideTimeline(groups, lanes int) *Timeline {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tl := &Timeline{Cluster: "fake", Scope: "all namespaces", Since: t0, Until: t0.Add(time.Hour)}
	seq := uint64(0)
	for g := range groups {
		grp := &TimelineGroup{Workload: ObjectKey{Group: "apps", Kind: "Deployment", Namespace: "ns", Name: fmt.Sprintf("app-%d", g)}}
		for l := range lanes {
			obj := ObjectKey{Kind: "Pod", Namespace: "ns", Name: fmt.Sprintf("app-%d-pod-%d", g, l)}
			lane := &TimelineLane{Object: obj, Depth: 1}
			for i, c := range []Class{ClassCreated, ClassSpec, ClassReady} {
				seq++
				lane.Entries = append(lane.Entries, TimelineEntry{Seq: seq, Time: t0.Add(time.Duration(g+l+i) * time.Minute), Object: obj,
					Type: "MODIFIED", Class: c, Marked: c != ClassCreated, Summary: string(c)})
			}
			grp.Lanes = append(grp.Lanes, lane)
		}
		tl.Groups = append(tl.Groups, grp)
	}
	return tl
}
