package query

import (
	"fmt"
	"strings"
	"time"
)

// TimeForms lists the accepted time forms, for error messages and help.
const TimeForms = "RFC 3339 (2026-11-20T10:00:00Z), a local date and time (2026-11-20 10:00[:05] or 2026-11-20T10:00), a date (2026-11-20), a duration ago (90s, 2h, 3d) or now"

var localLayouts = []string{
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
	"2006-01-02",
}

// ParseTime reads a time as a user writes it on the command line: RFC 3339, a date and time
// without zone (read in loc), a date, a duration meaning that long before now ("2h", "3d"), or
// "now". flag names the flag in the error message.
func ParseTime(flag, s string, now time.Time, loc *time.Location) (time.Time, error) {
	v := strings.TrimSpace(s)
	if v == "now" {
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	for _, l := range localLayouts {
		if t, err := time.ParseInLocation(l, v, loc); err == nil {
			return t, nil
		}
	}
	if d, ok := parseAgo(v); ok {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%s: cannot parse %q: use %s", flag, s, TimeForms)
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
