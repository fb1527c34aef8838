package query

import (
	"strconv"
	"time"
)

// ObjectKey names an object as kubectl does: its kind, namespace and name. Names are reused
// (a StatefulSet's web-0 is a new object each time it is re-created); UID tells them apart where
// that matters.
type ObjectKey struct {
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// Ref is KIND/NAME as kubectl prints it: deployment.apps/web, pod/web-0.
func (k ObjectKey) Ref() string { return LookupKind(k.Group, k.Kind).Qualified() + "/" + k.Name }

// Short is kind/name with the lowercase kind and no group: deployment/web.
func (k ObjectKey) Short() string { return LookupKind(k.Group, k.Kind).Singular() + "/" + k.Name }

// Version is one recorded version of one object.
type Version struct {
	Seq  uint64    `json:"seq"`  // stream sequence: the order of changes
	Time time.Time `json:"time"` // when it was observed
	Type string    `json:"type"` // ADDED MODIFIED DELETED RESYNC DELETED_UNOBSERVED
	ObjectKey
	UID             string `json:"uid"`
	ResourceVersion string `json:"resourceVersion"`
	Actor           string `json:"actor,omitempty"`
	Object          []byte `json:"-"` // the object's JSON
}

// IsDelete reports whether the version ends the object's life.
func (v *Version) IsDelete() bool { return v.Type == "DELETED" || v.Type == "DELETED_UNOBSERVED" }

// Env is what a query needs from its surroundings: the current time (for "2h" ago and "now")
// and the zone in which times without one are read and all times are printed.
type Env struct {
	Now time.Time
	Loc *time.Location
}

// DefaultEnv is the wall clock in the local zone.
func DefaultEnv() Env { return Env{Now: time.Now(), Loc: time.Local} }

func (e Env) loc() *time.Location {
	if e.Loc == nil {
		return time.Local
	}
	return e.Loc
}

// Time parses a time flag in this environment (see ParseTime).
func (e Env) Time(flag, s string) (time.Time, error) { return ParseTime(flag, s, e.Now, e.loc()) }

// Point parses a revision-or-time flag in this environment (see ParsePoint).
func (e Env) Point(flag, s string) (Point, error) { return ParsePoint(flag, s, e.Now, e.loc()) }

// FormatTime prints a time as the tables do: local date and time to the second.
func (e Env) FormatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(e.loc()).Format("2006-01-02 15:04:05")
}

// FormatClock prints only the time of day, for tables within one day.
func (e Env) FormatClock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(e.loc()).Format("15:04:05")
}

// FormatDuration prints a duration as kubectl's AGE column does: 45s, 3m12s, 2h5m, 3d4h.
func FormatDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		d = d.Round(time.Second)
		m, s := int(d/time.Minute), int(d%time.Minute/time.Second)
		if s == 0 {
			return itoa(m) + "m"
		}
		return itoa(m) + "m" + itoa(s) + "s"
	case d < 48*time.Hour:
		d = d.Round(time.Minute)
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return itoa(h) + "h"
		}
		return itoa(h) + "h" + itoa(m) + "m"
	}
	d = d.Round(time.Hour)
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if h == 0 {
		return itoa(days) + "d"
	}
	return itoa(days) + "d" + itoa(h) + "h"
}

func itoa(i int) string { return strconv.Itoa(i) }
