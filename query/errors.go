package query

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors returned by this package, grouped by what the user got wrong. Each is wrapped with the
// detail of the case, in one line that says what to do; test with errors.Is.
var (
	// ErrUnknownKind is returned when a kind is neither a built-in kind (by name, plural or short
	// name) nor a kind found in the recorded history.
	ErrUnknownKind = errors.New("unknown kind")
	// ErrBadArgument is returned when an argument or flag value is malformed: KIND/NAME without a
	// name, an unknown output format, a bad label selector, a bad revision.
	ErrBadArgument = errors.New("bad argument")
	// ErrBadTime is returned when a time cannot be parsed; the message lists the accepted forms.
	ErrBadTime = errors.New("bad time")
	// ErrNotFound is returned when the recorded history holds no such object; NotFoundError
	// carries the nearest names that exist.
	ErrNotFound = errors.New("not found")
	// ErrOutOfRange is returned when a time lies outside the recorded history; RangeError carries
	// the range.
	ErrOutOfRange = errors.New("outside the recorded history")
	// ErrViewsBehind is returned when the views lag behind the log and cannot be brought up to
	// date.
	ErrViewsBehind = errors.New("views behind the log")
)

// NotFoundError is an object the recorded history does not hold. Its message names the nearest
// names that exist, so that a typo is one glance away from its fix.
type NotFoundError struct {
	Kind      Kind
	Namespace string // "" for cluster-scoped kinds or when searched in all namespaces
	Name      string
	What      string   // optional: what was looked for instead of the object, e.g. "revision 7"
	Nearest   []string // nearest existing names, best first (possibly "ns/name" across namespaces)
}

func (e *NotFoundError) Error() string {
	var b strings.Builder
	if e.What != "" {
		fmt.Fprintf(&b, "%s/%s", e.Kind.Singular(), e.Name)
		if e.Namespace != "" {
			fmt.Fprintf(&b, " in namespace %s", e.Namespace)
		}
		fmt.Fprintf(&b, " has no %s", e.What)
	} else {
		fmt.Fprintf(&b, "no %s %q", e.Kind.Singular(), e.Name)
		if e.Namespace != "" {
			fmt.Fprintf(&b, " in namespace %s", e.Namespace)
		}
		b.WriteString(" in the recorded history")
	}
	switch {
	case len(e.Nearest) > 0:
		fmt.Fprintf(&b, ": nearest: %s", strings.Join(e.Nearest, ", "))
	case e.What == "":
		b.WriteString(": none recorded of that kind here (try -A, another -n or --cluster)")
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// RangeError is a time outside the range the history covers.
type RangeError struct {
	Flag     string    // the flag that gave the time, e.g. --at
	Time     time.Time // the time asked for
	Subject  string    // what has the range: "the recorded history" or "deployment/web"
	From, To time.Time // the range
	Loc      *time.Location
}

func (e *RangeError) Error() string {
	loc := e.Loc
	if loc == nil {
		loc = time.Local
	}
	where := "before"
	if e.Time.After(e.To) {
		where = "after"
	}
	return fmt.Sprintf("%s: %s is %s %s, which covers %s to %s",
		e.Flag, formatTimeLoc(e.Time, loc), where, e.Subject, formatTimeLoc(e.From, loc), formatTimeLoc(e.To, loc))
}

// Unwrap makes errors.Is(err, ErrOutOfRange) true.
func (e *RangeError) Unwrap() error { return ErrOutOfRange }

// userError is a one-line message for the user that wraps one of the sentinels above without
// printing it.
type userError struct {
	msg      string
	sentinel error
}

func (e *userError) Error() string { return e.msg }
func (e *userError) Unwrap() error { return e.sentinel }

// errorf returns a userError.
func errorf(sentinel error, format string, a ...any) error {
	return &userError{msg: fmt.Sprintf(format, a...), sentinel: sentinel}
}

func formatTimeLoc(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(loc).Format("2006-01-02 15:04:05 MST")
}
