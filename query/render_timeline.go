package query

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
)

// TimelineFormats are the -o values of khist timeline.
var TimelineFormats = []string{OutTable, OutJSON, OutCSV, OutMD, OutHTML}

// RenderTimeline writes tl in one of TimelineFormats.
func RenderTimeline(w io.Writer, tl *Timeline, format string, env Env) error {
	switch format {
	case OutTable, "":
		return timelineTable(w, tl, env)
	case OutJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(tl)
	case OutCSV:
		return timelineCSV(w, tl)
	case OutMD:
		return timelineMarkdown(w, tl, env)
	case OutHTML:
		return TimelineHTML(w, tl, env)
	}
	_, err := ParseOutput(format, TimelineFormats...)
	return err
}

// oneDay reports whether the window lies within one local day, so that tables print clock
// times only.
func oneDay(tl *Timeline, env Env) bool {
	first, last := tl.bounds()
	if first.IsZero() {
		return true
	}
	a, b := first.In(env.loc()), last.In(env.loc())
	return a.YearDay() == b.YearDay() && a.Year() == b.Year()
}

// bounds returns the times of the first and the last entry.
func (t *Timeline) bounds() (first, last time.Time) {
	for _, g := range t.Groups {
		for _, l := range g.Lanes {
			for _, e := range l.Entries {
				if first.IsZero() || e.Time.Before(first) {
					first = e.Time
				}
				if e.Time.After(last) {
					last = e.Time
				}
			}
		}
	}
	return first, last
}

func (t *Timeline) header(env Env) string {
	return fmt.Sprintf("Timeline of %s, %s to %s", t.Scope, env.FormatTime(t.Since), env.FormatTime(t.Until))
}

// markOf is the one-character mark of a class in text tables.
func markOf(c Class) string {
	switch c {
	case ClassWarning:
		return "!"
	case ClassSpec:
		return "*"
	case ClassScale:
		return "^"
	case ClassReady:
		return "+"
	case ClassUnready:
		return "-"
	}
	return ""
}

func timelineTable(w io.Writer, tl *Timeline, env Env) error {
	if len(tl.Groups) == 0 {
		_, err := fmt.Fprintf(w, "No changes recorded in %s between %s and %s.\n", tl.Scope, env.FormatTime(tl.Since), env.FormatTime(tl.Until))
		return err
	}
	clock := oneDay(tl, env)
	fmt.Fprintln(w, tl.header(env))
	fmt.Fprintln(w, "Marks: * spec change, ^ scaling, + ready, - not ready, ! warning")
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, g := range tl.Groups {
		fmt.Fprintln(tw)
		fmt.Fprintf(tw, "%s%s\n", g.Workload.Ref(), g.where("  "))
		fmt.Fprintln(tw, "  TIME\t \tOBJECT\tCHANGE\tWHAT\tBY")
		for _, e := range g.Entries() {
			ts := env.FormatTime(e.Time)
			if clock {
				ts = env.FormatClock(e.Time)
			}
			obj := strings.Repeat("  ", g.depthOf(e.Object)) + e.Object.Short()
			if e.Event != "" {
				obj += " (event)"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", ts, markOf(e.Class), obj, e.Class, oneLine(e.Summary, 100), termSafe(e.Actor))
		}
	}
	return tw.Flush()
}

// oneLine keeps text on one line of at most n runes, control characters shown escaped (see
// termSafe).
func oneLine(s string, n int) string {
	s = termSafe(strings.Join(strings.Fields(s), " "))
	if r := []rune(s); len(r) > n {
		return string(r[:n-3]) + "..."
	}
	return s
}

// where is what a group's heading says after the workload: its cluster when the timeline
// shows several, its namespace, after sep; "" when neither.
func (g *TimelineGroup) where(sep string) string {
	var in []string
	if g.Cluster != "" {
		in = append(in, "cluster "+g.Cluster)
	}
	if g.Workload.Namespace != "" {
		in = append(in, "namespace "+g.Workload.Namespace)
	}
	if len(in) == 0 {
		return ""
	}
	return sep + "(" + strings.Join(in, ", ") + ")"
}

func timelineCSV(w io.Writer, tl *Timeline) error {
	cw := csv.NewWriter(w)
	// A cluster column first when the timeline shows several.
	several := len(tl.Groups) > 0 && tl.Groups[0].Cluster != ""
	head := []string{"time", "seq", "workload", "object", "depth", "type", "class", "marked", "summary", "actor", "event"}
	if several {
		head = append([]string{"cluster"}, head...)
	}
	cw.Write(head)
	for _, g := range tl.Groups {
		for _, e := range g.Entries() {
			if several {
				cw.Write(append([]string{g.Cluster},
					e.Time.UTC().Format(time.RFC3339Nano), strconv.FormatUint(e.Seq, 10), g.Workload.nsRef(),
					e.Object.nsRef(), strconv.Itoa(g.depthOf(e.Object)), e.Type, string(e.Class),
					strconv.FormatBool(e.Marked), e.Summary, e.Actor, e.Event))
				continue
			}
			cw.Write([]string{
				e.Time.UTC().Format(time.RFC3339Nano), strconv.FormatUint(e.Seq, 10), g.Workload.nsRef(),
				e.Object.nsRef(), strconv.Itoa(g.depthOf(e.Object)), e.Type, string(e.Class),
				strconv.FormatBool(e.Marked), e.Summary, e.Actor, e.Event,
			})
		}
	}
	cw.Flush()
	return cw.Error()
}

// nsRef is namespace/kind/name, the unambiguous form of exports.
func (k ObjectKey) nsRef() string {
	if k.Namespace == "" {
		return k.Ref()
	}
	return k.Namespace + "/" + k.Ref()
}

// termSafe shows the control characters of recorded text (an Event's message, a field
// manager's name: anyone who can write to the cluster chooses them) as Go escapes, so that
// they cannot drive the terminal or the viewer a table is printed to: ESC [ 2 J becomes \x1b[2J.
func termSafe(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r) // '\x1b', '\u0085'
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// mdEscape makes recorded text one Markdown table cell that renders as the text itself: pipes
// escaped, '<' and '&' as HTML entities (no tag or entity of the text reaches the document),
// control characters escaped.
func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "&", "&amp;")
	s = strings.ReplaceAll(s, "<", "&lt;")
	s = strings.ReplaceAll(s, "|", `\|`)
	return termSafe(strings.Join(strings.Fields(s), " "))
}

func timelineMarkdown(w io.Writer, tl *Timeline, env Env) error {
	fmt.Fprintf(w, "# %s\n\n", tl.header(env))
	if tl.Cluster != "" {
		fmt.Fprintf(w, "Cluster: %s. ", tl.Cluster)
	}
	fmt.Fprintf(w, "%s in %s. Marks: * spec change, ^ scaling, + ready, - not ready, ! warning.\n", plural(int64(tl.Count()), "change", "changes"), plural(int64(len(tl.Groups)), "group", "groups"))
	clock := oneDay(tl, env)
	for _, g := range tl.Groups {
		fmt.Fprintf(w, "\n## %s%s", g.Workload.Ref(), g.where(" "))
		fmt.Fprint(w, "\n\n| time | | object | change | what | by |\n|---|---|---|---|---|---|\n")
		for _, e := range g.Entries() {
			ts := env.FormatTime(e.Time)
			if clock {
				ts = env.FormatClock(e.Time)
			}
			obj := strings.Repeat("&nbsp;&nbsp;", g.depthOf(e.Object)) + "`" + e.Object.Short() + "`"
			if e.Event != "" {
				obj += " (event)"
			}
			m := markOf(e.Class)
			if m != "" {
				m = "`" + m + "`"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", ts, m, obj, e.Class, mdEscape(e.Summary), mdEscape(e.Actor))
		}
	}
	return nil
}
