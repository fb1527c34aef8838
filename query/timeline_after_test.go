package query

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestTimelinePageDataAfter checks what a live timeline page fetches: the changes of its window
// after the newest one it holds are exactly the full window's changes after it, with the same
// summaries (their earlier state comes from the versions before the cut, read undecoded).
func TestTimelinePageDataAfter(t *testing.T) {
	checked := 0
	for _, name := range scenarioNames(t) {
		s := loadScenario(t, name)
		v := s.views
		window := TimelineArgs{AllNamespaces: true, Since: rfc(s.first), Until: rfc(s.last.Add(time.Second)), DiffURL: "/d?seq="}
		full := pageData(t, v, window)
		var all []string
		var seqs []uint64
		for _, e := range pageEntries(full) {
			all = append(all, e.key)
			seqs = append(seqs, e.seq)
		}
		if len(seqs) < 10 {
			continue
		}
		slices.Sort(seqs)
		for _, cut := range []uint64{seqs[len(seqs)/2], seqs[len(seqs)*9/10], seqs[len(seqs)-1]} {
			a := window
			a.After = cut
			var want, got []string
			for _, e := range pageEntries(full) {
				if e.seq > cut {
					want = append(want, e.key)
				}
			}
			for _, e := range pageEntries(pageData(t, v, a)) {
				got = append(got, e.key)
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s: after seq %d (of %d): %d changes, want %d\n got: %q\nwant: %q", name, cut, seqs[len(seqs)-1], len(got), len(want), got, want)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no scenario had a timeline to cut")
	}
}

func pageData(t *testing.T, v *Views, a TimelineArgs) htmlTimeline {
	t.Helper()
	var buf bytes.Buffer
	if err := v.TimelinePageData(context.Background(), a, &buf); err != nil {
		t.Fatal(err)
	}
	var d htmlTimeline
	if err := json.Unmarshal(buf.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

type pageEntry struct {
	seq uint64
	key string
}

// pageEntries lists d's changes, each named by its group, lane and what the page shows of it.
func pageEntries(d htmlTimeline) []pageEntry {
	var out []pageEntry
	for _, g := range d.Groups {
		for _, li := range g.Lanes {
			l := d.Lanes[li]
			for _, e := range l.Entries {
				out = append(out, pageEntry{e.Seq, fmt.Sprintf("%s | %s | %d %s %s %v %s %s", g.Label, l.Ref, e.Seq, e.Type, e.Class, e.Marked, e.Summary, e.Actor)})
			}
		}
	}
	return out
}
