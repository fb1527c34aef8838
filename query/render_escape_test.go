package query

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestTimelineEscapesRecordedText renders a timeline whose Event message and writer carry
// terminal escape sequences and HTML: a table must not pass control characters to the terminal,
// and a Markdown document must not pass a tag through.
func TestTimelineEscapesRecordedText(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	obj := ObjectKey{Kind: "Pod", Namespace: "shop", Name: "web-0"}
	tl := &Timeline{Scope: "namespace shop", Since: at.Add(-time.Minute), Until: at.Add(time.Minute), Groups: []*TimelineGroup{{
		Workload: obj,
		Lanes: []*TimelineLane{{Object: obj, Entries: []TimelineEntry{{
			Seq: 1, Time: at, Object: obj, Type: "ADDED", Class: "warning",
			Summary: "Failed: \x1b[2J\x1b]0;owned\x07 <img src=x onerror=alert(1)></script> a|b & c\u0085",
			Actor:   "evil\x1b[31m",
		}}}},
	}}}
	env := DefaultEnv()
	var table, md bytes.Buffer
	if err := RenderTimeline(&table, tl, OutTable, env); err != nil {
		t.Fatal(err)
	}
	if err := RenderTimeline(&md, tl, OutMD, env); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"table": table.String(), "md": md.String()} {
		if i := strings.IndexFunc(out, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || r >= 0x80 && r < 0xa0 }); i >= 0 {
			t.Errorf("%s passes a control character %q through:\n%q", name, out[i], out)
		}
		if !strings.Contains(out, `\x1b[2J`) || !strings.Contains(out, `evil\x1b[31m`) {
			t.Errorf("%s does not show the escapes as text:\n%s", name, out)
		}
	}
	for _, bad := range []string{"<img", "</script>"} {
		if strings.Contains(md.String(), bad) {
			t.Errorf("md passes %q through:\n%s", bad, md.String())
		}
	}
	if !strings.Contains(md.String(), `&lt;img src=x onerror=alert(1)>&lt;/script> a\|b &amp; c`) {
		t.Errorf("md cell not escaped as expected:\n%s", md.String())
	}
}
