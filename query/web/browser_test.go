package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/projector"
)

// readyWatch, run in a page before its own scripts, sets window.khistReady to the time the page
// marks its body data-ready and window.khistPainted to the time the frame after it is painted.
const readyWatch = `new MutationObserver(function (ms, o) {
  if (!document.body || document.body.getAttribute('data-ready') !== 'true') return;
  window.khistReady = performance.now();
  o.disconnect();
  requestAnimationFrame(function () { setTimeout(function () { window.khistPainted = performance.now(); }, 0); });
}).observe(document, {attributes: true, subtree: true, attributeFilter: ['data-ready']});`

// browserTab starts headless Chromium (at path browser) with a window 1400 pixels wide and
// height high, and returns a tab's context, ended after timeout (0: with the test).
func browserTab(t *testing.T, browser string, height int, timeout time.Duration) context.Context {
	actx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(browser), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1400, height))
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
		t.Cleanup(cancel)
	}
	return ctx
}

// liveServer serves views folded from es, watched every 100 ms; it returns the server's URL
// and the views' path, for the test to fold more.
func liveServer(t *testing.T, es []*eventlog.Envelope) (base, path string) {
	path = filepath.Join(t.TempDir(), "views.db")
	fold(t, path, es)
	srv, err := New(Options{Views: path, Addr: "127.0.0.1:0", Watch: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + runServer(t, srv), path
}

// chromium finds the browser (Debian's chromium; test/setup.sh installs it). It skips the test
// only when the browser is missing and -short is set.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if testing.Short() {
		t.Skip("chromium is not installed (test/setup.sh); skipped with -short")
	}
	t.Fatal("chromium is not installed: run test/setup.sh (apt-get install chromium) or use -short to skip this test")
	return ""
}

// TestPagesInBrowser drives khist serve's pages in headless Chromium on real recordings: from
// the rollouts page (filtered to failed and rolled-back rollouts) it opens the failed rollout,
// sees its steps, availability chart and replay beside the recording, asks a what-if, opens a
// pod of the rollout, diffs two of its versions, and reloads the URL to see the same diff;
// then it opens the timeline, whose inline script the CSP lets run, zooms and filters it. Screenshots go to
// test/artifacts.
func TestPagesInBrowser(t *testing.T) {
	browser := chromium(t)
	srv, err := New(Options{Views: testViews(t), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + runServer(t, srv)
	art, _ := filepath.Abs(filepath.Join("..", "..", "test", "artifacts"))
	if err := os.MkdirAll(art, 0o755); err != nil {
		art = t.TempDir()
	}
	ctx := browserTab(t, browser, 1100, 90*time.Second)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		must(what, chromedp.Do(ctx, steps...))
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		must("text of "+sel, err)
		return s
	}
	attr := func(sel, name string) string {
		t.Helper()
		a, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
		must("attribute of "+sel, err)
		return a.Value
	}
	loc := func() string {
		t.Helper()
		l, err := chromedp.Run(ctx, chromedp.Location())
		must("location", err)
		return l
	}
	click := func(sel string) { // on the element itself: no dependence on layout
		t.Helper()
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(function(){var e=document.querySelector('`+sel+`'); if(!e) return false; e.click(); return true})()`))
		must("click "+sel, err)
	}
	shot := func(name string) {
		t.Helper()
		b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		must("screenshot", err)
		os.WriteFile(filepath.Join(art, "serve-"+name+".png"), b, 0o644)
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	// Rollouts: the failed and rolled-back ones stand out and the filter is in the URL.
	do("rollouts page",
		chromedp.Navigate(base+"/rollouts"),
		chromedp.WaitVisible(css(`#rollouts tbody tr`)),
		chromedp.SetValue(css(`select[name=outcome]`), "bad"),
		chromedp.Submit(css(`#filters`)),
		chromedp.WaitVisible(css(`#rollouts tr.failed`)),
	)
	count, outcome := text(`#count`), text(`#rollouts tr.failed td.outcome`)
	shot("rollouts")
	if l := loc(); !strings.Contains(l, "outcome=bad") || !strings.Contains(outcome, "failed") || !strings.Contains(count, "failed or rolled back") {
		t.Errorf("rollouts filtered to failed: %s, count %q, outcome %q", l, count, outcome)
	}

	// Workload: the failed rollout's steps, chart and replay; a what-if.
	click(`#rollouts tr.failed a.workload`)
	do("workload page", chromedp.WaitVisible(css(`#steps`)))
	title, verdict, steps := text(`#rollout-title`), text(`#verdict`), text(`#steps`)
	chart := attr(`#availability polyline.available`, "points")
	shot("workload")
	if !strings.Contains(title, "deployment/web#2") || !strings.Contains(title, "failed") || !strings.Contains(steps, "Scaled up replica set") ||
		!strings.Contains(verdict, "decisions reproduced") || strings.Count(chart, ",") < 2 {
		t.Errorf("workload page: title %q, verdict %q, steps %q, chart %q", title, verdict, steps, chart)
	}
	if h := attr(`#tree-timeline`, "href"); !strings.Contains(h, "namespace=never-ready-undo") || !strings.Contains(h, "workload=") || !strings.Contains(h, "web") {
		t.Errorf("workload page: the link to the workload's timeline is %q", h)
	}
	do("what-if",
		chromedp.SetValue(css(`#whatif input[name=set]`), "strategy.rollingUpdate.maxSurge=3"),
		chromedp.Submit(css(`#whatif`)),
		chromedp.WaitVisible(css(`#whatif-result`)),
	)
	whatIf := text(`#whatif-result`)
	shot("whatif")
	if steps := text(`#whatif-steps`); !strings.Contains(steps, "->") {
		t.Errorf("what-if steps: %q", steps)
	}
	if l := loc(); !strings.Contains(whatIf, "peak pods") || !strings.Contains(l, "set=strategy.rollingUpdate.maxSurge%3D3") {
		t.Errorf("what-if: %s\n%q", l, whatIf)
	}
	// The what-if's availability is drawn over the recorded one.
	if wc := attr(`#availability polyline.whatif`, "points"); strings.Count(wc, ",") < 2 {
		t.Errorf("what-if availability on the chart: %q", wc)
	}

	// Object: a pod of the rollout, a diff of its first two versions, the same after a reload.
	click(`#steps a.target[href*="pod%2F"]`)
	do("object page", chromedp.WaitVisible(css(`#versions`)))
	versions := text(`#versions`)
	click(`#versions tbody tr:nth-child(1) input[name=from]`)
	click(`#versions tbody tr:nth-child(2) input[name=to]`)
	click(`#diff-button`)
	do("diff", chromedp.WaitVisible(css(`#diff-title`)))
	diff, objURL := text(`#diff`), loc()
	shot("object")
	do("reload", chromedp.Reload(), chromedp.WaitVisible(css(`#diff`)))
	again := text(`#diff`)
	if !strings.Contains(versions, "created") || !strings.Contains(diff, "+  nodeName: kwok-node") || again != diff || !strings.Contains(objURL, "from=") || !strings.Contains(objURL, "to=") {
		t.Errorf("object page %s:\nversions %q\ndiff %q\nafter reload %q", objURL, versions, diff, again)
	}
	// Pasting the URL into a fresh tab shows the same diff.
	tab, cancelTab := chromedp.NewContext(ctx)
	defer cancelTab()
	err = chromedp.Do(tab, chromedp.Navigate(objURL), chromedp.WaitVisible(css(`#diff`)))
	pasted := ""
	if err == nil {
		pasted, err = chromedp.Run(tab, chromedp.Text(css(`#diff`)))
	}
	if err != nil || pasted != diff {
		t.Errorf("the object URL in a new tab: %v\n%q\nwant %q", err, pasted, diff)
	}

	// Timeline: the served timeline's own inline script runs under the CSP.
	do("timeline page",
		chromedp.Navigate(base+"/timeline?namespace=never-ready-undo"),
		chromedp.WaitVisible(css(`body[data-ready="true"]`)),
	)
	countOf := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('`+sel+`').length`))
		must("count "+sel, err)
		return n
	}
	// A marker's diff, fetched from the API on the click.
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('.marker.c-spec').dispatchEvent(new MouseEvent('click', {bubbles: true}))`))
	must("click a spec marker", err)
	do("marker diff", chromedp.WaitVisible(css(`#detail-diff span.add`)))
	if d := text("#detail-diff"); !strings.Contains(d, "+") {
		t.Errorf("timeline: the clicked change shows %q, want its diff", d)
	}
	lanes, rangeBefore := countOf(".row.lane"), text("#range")
	click("#zoom-in")
	if after := text("#range"); after == rangeBefore {
		t.Errorf("timeline: zoom in left the range at %q", rangeBefore)
	}
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`(function(){var f=document.getElementById('filter'); f.value='58766d45c5-'; f.dispatchEvent(new Event('input')); return true})()`))
	must("filter", err)
	if n := countOf(".row.lane"); n == 0 || n >= lanes {
		t.Errorf("timeline: the filter left %d of %d lanes", n, lanes)
	}
	shot("timeline")

	// Several namespaces on one timeline, then a workload's tree; the state is in the URL.
	const window = "&since=2020-01-01T00:00:00Z&until=2030-01-01T00:00:00Z"
	do("timeline of two namespaces",
		chromedp.Navigate(base+"/timeline?namespace=sample-rolling,never-ready-undo"+window),
		chromedp.WaitVisible(css(`body[data-ready="true"]`)),
	)
	groups, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('.row.group text')).map(function (e) { return e.textContent })`))
	must("group labels", err)
	joined := strings.Join(groups, "\n")
	if h := text("h1"); !strings.Contains(h, "namespaces sample-rolling, never-ready-undo") ||
		!strings.Contains(joined, "(sample-rolling)") || !strings.Contains(joined, "(never-ready-undo)") || strings.Contains(joined, "(default-25)") {
		t.Errorf("timeline of two namespaces: title %q, groups:\n%s", h, joined)
	}
	shot("timeline-namespaces")
	do("timeline of a workload's tree",
		chromedp.Navigate(base+"/timeline?namespace=never-ready-undo&workload=deploy/web"+window),
		chromedp.WaitVisible(css(`body[data-ready="true"]`)),
	)
	kinds, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('.row.lane text.label tspan.kind')).map(function (e) { return e.textContent })`))
	must("lane kinds", err)
	if n := countOf(".row.group"); n != 1 || !slices.Contains(kinds, "replicaset/") || !slices.Contains(kinds, "pod/") {
		t.Errorf("timeline of deploy/web: %d groups, lane kinds %v", n, kinds)
	}
	shot("timeline-workload")
}

// TestTimelinePageSpeed measures, in headless Chromium, how long the served timeline page takes
// to draw about 20,000 changes of all namespaces: from the start of the navigation to the
// frame painted after the script's data-ready mark (the browser's performance timing, see
// readyWatch), and how long a zoom step takes to redraw. It runs on package query's
// synthetic week (see BenchmarkAPI) and is skipped without it, or without
// KHIST_SERVE_TIMELINE_SPEED=1 (it takes minutes).
func TestTimelinePageSpeed(t *testing.T) {
	if os.Getenv("KHIST_SERVE_TIMELINE_SPEED") == "" {
		t.Skip("takes minutes: set KHIST_SERVE_TIMELINE_SPEED=1")
	}
	path := filepath.Join(os.TempDir(), "khist-query-bench-v1-1000000.db")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no views at %s (go test -run x -bench GetPodAt ./query/ builds them)", path)
	}
	browser := chromium(t)
	s, err := New(Options{Views: path, Cluster: "bench"})
	if errors.Is(err, projector.ErrSchema) {
		t.Skipf("the views at %s are of an older schema: go test -run x -bench GetPodAt ./query/ builds them again (%v)", path, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + runServer(t, s)
	ctx := browserTab(t, browser, 1000, 0)
	// The window: hours from the middle of the week until it holds about 20,000 changes.
	var tl struct {
		Since  time.Time
		Groups []struct {
			Lanes []struct{ Entries []json.RawMessage }
		}
	}
	v, done, err := s.openViews()
	if err != nil {
		t.Fatal(err)
	}
	first, last, _ := v.Span(context.Background())
	done()
	since := first.Add(last.Sub(first) / 2).Truncate(time.Hour)
	until, changes := since, 0
	for changes < 20000 && until.Before(last) {
		until = until.Add(30 * time.Minute)
		_, body := get(t, http.DefaultClient, base+"/api/v1/timeline?all-namespaces=true&since="+since.UTC().Format(time.RFC3339)+"&until="+until.UTC().Format(time.RFC3339))
		if err := json.Unmarshal([]byte(body), &tl); err != nil {
			t.Fatalf("%v: %.300s", err, body)
		}
		changes = 0
		for _, g := range tl.Groups {
			for _, l := range g.Lanes {
				changes += len(l.Entries)
			}
		}
	}
	u := base + "/timeline?all-namespaces=true&since=" + since.UTC().Format(time.RFC3339) + "&until=" + until.UTC().Format(time.RFC3339)
	// Installed before the page's own script, whatever that script is: it notes when the page
	// sets its ready mark (the end of its first draw) and when the frame after it is painted (a
	// requestAnimationFrame, then a task: style, layout and paint of that draw are done).
	watch := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: readyWatch})
		return err
	})
	if err := chromedp.Do(ctx, watch); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := chromedp.Do(ctx, chromedp.Navigate(u), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`))); err != nil {
			t.Fatal(err)
		}
		m, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]float64](`new Promise(function (ok) { (function poll() {
			if (window.khistPainted) ok({resp: performance.getEntriesByType('navigation')[0].responseEnd, ready: window.khistReady, painted: window.khistPainted});
			else setTimeout(poll, 10); })() })`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		markers, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.marker').length`))
		// One zoom step, then a pan by a scroll of the page: the time of the redraw.
		zoom, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`(function(){var t=performance.now(); document.getElementById('zoom-in').click(); return performance.now()-t})()`))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d changes (%s): page received in %.0f ms; drawn %.0f ms after it arrived (script done %.0f ms after; %d marker elements in the document); a zoom step redraws in %.0f ms",
			changes, until.Sub(since), m["resp"], m["painted"]-m["resp"], m["ready"]-m["resp"], markers, zoom)
	}
}

// TestLivePageInBrowser: a live rollouts page in headless Chromium updates itself, without a
// reload, when more of the recordings are folded into the views beside the server: its
// EventSource on /api/v1/events hears the new position and the page fetches its content again.
// A page made before a fold and made live after it updates on connecting.
func TestLivePageInBrowser(t *testing.T) {
	browser := chromium(t)
	es := recordedEnvelopes(t)
	half, most := len(es)/2, len(es)*3/4
	base, path := liveServer(t, es[:half])
	ctx := browserTab(t, browser, 1000, 60*time.Second)
	rows := func() int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#rollouts tbody tr').length`))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	wait := func(expr string) error {
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr))
		return err
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/rollouts?all-namespaces=true&live=1"), chromedp.WaitVisible(chromedp.CSS(`#rollouts`))); err != nil {
		t.Fatal(err)
	}
	// Connected: the first announcement came.
	if err := wait(`document.getElementById('updated').textContent === 'live'`); err != nil {
		t.Fatalf("the live page did not connect: %v", err)
	}
	before := rows()
	// A mark that a reload would lose.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.khistNotReloaded = true`)); err != nil {
		t.Fatal(err)
	}
	fold(t, path, es[half:most])
	if err := wait(`document.getElementById('updated').textContent.indexOf('updated ') === 0`); err != nil {
		t.Fatalf("the page did not update after the fold: %v", err)
	}
	after := rows()
	kept, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.khistNotReloaded === true`))
	if err != nil {
		t.Fatal(err)
	}
	if !kept || after <= before {
		t.Errorf("live rollouts page: %d rows before the fold, %d after; not reloaded: %v", before, after, kept)
	}
	position := func() string {
		t.Helper()
		p, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('main').getAttribute('data-position')`))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := position(); p != strconv.Itoa(most) {
		t.Errorf("the updated page shows position %s, want %d", p, most)
	}

	// Not live while the rest is folded; made live, it catches up at once.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('live').click(); document.getElementById('updated').textContent === ''`)); err != nil {
		t.Fatal(err)
	}
	fold(t, path, es[most:])
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('live').click(); true`)); err != nil {
		t.Fatal(err)
	}
	if err := wait(`document.getElementById('main').getAttribute('data-position') === '` + strconv.Itoa(len(es)) + `'`); err != nil {
		t.Errorf("made live after a fold, the page still shows position %s, want %d: %v", position(), len(es), err)
	}
}

// TestLiveTimelineInBrowser opens a live timeline, folds more of the history, and checks that
// the page adds the new changes without a reload, keeping its zoom; then that its state (range,
// filter, selected change) is in the URL: a reload shows the same view.
func TestLiveTimelineInBrowser(t *testing.T) {
	browser := chromium(t)
	es := recordedEnvelopes(t)
	half := len(es) / 2
	base, path := liveServer(t, es[:half])
	ctx := browserTab(t, browser, 1000, 90*time.Second)
	eval := func(what, expr string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return s
	}
	wait := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 300) : ''`))
			t.Fatalf("%s: %v; the page says %q", what, err, body)
		}
	}
	ready := `document.body && document.body.getAttribute('data-ready') === 'true'`
	first, last := es[0].Observed, es[0].Observed
	for _, e := range es {
		if e.Observed.Before(first) {
			first = e.Observed
		}
		if e.Observed.After(last) {
			last = e.Observed
		}
	}
	since := first.Add(-time.Minute).UTC().Format(time.RFC3339)
	page := base + "/timeline?all-namespaces=true&live=1&since=" + since
	if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatal(err)
	}
	wait("the live timeline did not draw", ready)
	wait("the live timeline did not connect", `document.getElementById('updated').textContent === 'live'`)
	count := `String(window.khistTimeline.last().changes) + ' ' + window.khistTimeline.last().seq`
	before := eval("changes", count)
	eval("zoom in", `document.getElementById('zoom-in').click(); document.getElementById('zoom-in').click(); ''`)
	zoomed := eval("range", `document.getElementById('range').textContent`)
	eval("mark", `window.khistNotReloaded = true; ''`)

	fold(t, path, es[half:])
	wait("the page did not add the changes after the fold", `document.getElementById('updated').textContent.indexOf('updated ') === 0`)
	after := eval("changes", count)
	if eval("reloaded?", `String(window.khistNotReloaded === true)`) != "true" {
		t.Fatal("the live timeline reloaded instead of adding the changes")
	}
	if after == before {
		t.Fatalf("the live timeline holds %s changes (count, last seq) before the fold and after it", before)
	}
	if r := eval("range", `document.getElementById('range').textContent`); r != zoomed {
		t.Errorf("the update moved the zoomed view from %q to %q", zoomed, r)
	}
	// The same page drawn fresh holds what the live one added, no more, no less.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatal(err)
	}
	wait("the timeline did not draw again", ready)
	if fresh := eval("changes", count); fresh != after {
		t.Errorf("the live page held %s changes (count, last seq), the page drawn afresh %s", after, fresh)
	}

	// The view's state is in the URL: a filter, a selected change and the zoom survive a reload.
	until := last.Add(time.Minute).UTC().Format(time.RFC3339)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/timeline?all-namespaces=true&since="+since+"&until="+until)); err != nil {
		t.Fatal(err)
	}
	wait("the timeline of the whole recording did not draw", ready)
	eval("filter, select, zoom", `(function () {
	  var f = document.getElementById('filter'); f.value = 'web'; f.dispatchEvent(new Event('input'));
	  document.querySelector('.marker.c-spec').dispatchEvent(new MouseEvent('click', {bubbles: true}));
	  document.getElementById('zoom-in').click();
	  return '';
	})()`)
	state := `[document.getElementById('range').textContent, document.getElementById('filter').value,
	  document.querySelector('#detail h2') ? document.querySelector('#detail h2').textContent : '',
	  document.querySelectorAll('.row.lane').length].join(' | ')`
	want := eval("state", state)
	wait("the state did not reach the URL", `location.hash.indexOf('seq=') >= 0 && location.hash.indexOf('q=web') >= 0 && location.hash.indexOf('t0=') >= 0`)
	hash := eval("hash", `location.hash`)
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	wait("the timeline did not draw after the reload", ready)
	if got := eval("state", state); got != want {
		t.Errorf("after a reload of %s the view is\n%s\nwant\n%s", hash, got, want)
	}
}
