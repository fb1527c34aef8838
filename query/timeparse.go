package query

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TimeForms lists the accepted time forms, for error messages and help.
const TimeForms = "RFC 3339 (2026-11-20T10:00:00Z), a local date and time (2026-11-20 10:00[:05] or 2026-11-20T10:00), a date (2026-11-20), a duration ago (90s, 2h, 3d) or now"

// zonedLayouts are RFC 3339 and its shorter forms, with a zone.
var zonedLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04Z07:00",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04Z07:00",
}

var localLayouts = []string{
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
	"2006-01-02",
}

// ParseTime reads a time as a user writes it on the command line: RFC 3339, a date and time
// without zone (read in loc), a date, a duration meaning that long before now ("2h", "3d"), or
// "now". flag names the flag in the error message, an ErrBadTime.
func ParseTime(flag, s string, now time.Time, loc *time.Location) (time.Time, error) {
	v := strings.TrimSpace(s)
	if v == "now" {
		return now, nil
	}
	for _, l := range zonedLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t, nil
		}
	}
	for _, l := range localLayouts {
		if t, err := time.ParseInLocation(l, v, loc); err == nil {
			return t, nil
		}
	}
	if d, ok := parseAgo(v); ok {
		return now.Add(-d), nil
	}
	if v == "" {
		return time.Time{}, errorf(ErrBadTime, "%s: a time is needed: use %s", flag, TimeForms)
	}
	return time.Time{}, errorf(ErrBadTime, "%s: cannot parse %q: use %s", flag, s, TimeForms)
}

// parseAgo reads a Go duration, also accepting days ("3d", "1d12h").
func parseAgo(v string) (time.Duration, bool) {
	if v == "" || v[0] == '-' {
		return 0, false
	}
	var days time.Duration
	if i := strings.IndexByte(v, 'd'); i > 0 {
		var n int
		if _, err := fmt.Sscanf(v[:i], "%d", &n); err != nil || fmt.Sprint(n) != v[:i] {
			return 0, false
		}
		days = time.Duration(n) * 24 * time.Hour
		v = v[i+1:]
		if v == "" {
			return days, true
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, false
	}
	return days + d, true
}

// CheckRange returns a RangeError when t lies outside [from, to], the range that subject
// ("the recorded history", "deployment/web") covers. A zero from or to leaves that side open.
func CheckRange(flag string, t time.Time, subject string, from, to time.Time, loc *time.Location) error {
	if !from.IsZero() && t.Before(from) || !to.IsZero() && t.After(to) {
		return &RangeError{Flag: flag, Time: t, Subject: subject, From: from, To: to, Loc: loc}
	}
	return nil
}

// Window reads an optional --since/--until window (either may be empty: that side stays open)
// and checks that since comes before until.
func (e Env) Window(since, until string) (from, to time.Time, err error) {
	if since != "" {
		if from, err = e.Time("--since", since); err != nil {
			return from, to, err
		}
	}
	if until != "" {
		if to, err = e.Time("--until", until); err != nil {
			return from, to, err
		}
	}
	return from, to, CheckWindow(from, to, e.loc())
}

// CheckWindow validates a --since/--until window: since must come before until.
func CheckWindow(since, until time.Time, loc *time.Location) error {
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		return errorf(ErrBadTime, "--since %s is not before --until %s: the window is empty",
			formatTimeLoc(since, loc), formatTimeLoc(until, loc))
	}
	return nil
}

// Point is a moment in an object's history as --from and --to name it: a revision of a
// workload or a time.
type Point struct {
	Revision int64     // > 0 when the point is a revision number
	Time     time.Time // otherwise
	Text     string    // as the user wrote it
}

// String is the point as the user wrote it.
func (p Point) String() string { return p.Text }

// ParsePoint reads a revision number (3, rev3, revision=3) or a time (see ParseTime).
func ParsePoint(flag, s string, now time.Time, loc *time.Location) (Point, error) {
	v := strings.TrimSpace(s)
	if v == "" {
		return Point{}, errorf(ErrBadArgument, "%s: a revision number (3) or a time is needed: %s", flag, TimeForms)
	}
	num := strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(v, "revision="), "rev"), "r")
	if n, err := strconv.ParseInt(num, 10, 64); err == nil && num != "" && num[0] != '-' && num[0] != '+' {
		if n <= 0 {
			return Point{}, errorf(ErrBadArgument, "%s: revision %q: revisions count from 1", flag, s)
		}
		return Point{Revision: n, Text: v}, nil
	}
	t, err := ParseTime(flag, s, now, loc)
	if err != nil {
		return Point{}, errorf(ErrBadTime, "%s: cannot parse %q: use a revision number (3) or a time: %s", flag, s, TimeForms)
	}
	return Point{Time: t, Text: v}, nil
}
