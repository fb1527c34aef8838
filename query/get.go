package query

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/khist/khist/projector"
)

// GetArgs are the arguments of khist get.
type GetArgs struct {
	Object        string // KIND/NAME, or KIND alone: every object of the kind that existed at --at
	Namespace     string // -n; "" for default
	AllNamespaces bool   // -A, with KIND alone
	At            string // --at; "" for the last recorded version (KIND alone: the latest state)
	Output        string // -o: yaml (default), json or name; KIND alone: as khist state, table by default
	// Printer, when set, prints the object instead of Output (kubectl's -o jsonpath=...,
	// go-template=..., custom-columns=...); KIND alone: the list, as khist state.
	Printer Printer
	Note    io.Writer    // receives, for -o name and Printer, what yaml writes as a comment (deleted since ...); nil drops it
	Table   TableOptions // --no-headers, --sort-by: KIND alone, as khist state
}

// GetFormats are the -o values of khist get.
var GetFormats = []string{OutYAML, OutJSON, OutName}

// farFuture is a time after every recorded one.
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// Get writes the object as it was at a time (by default its last recorded version, also for
// objects deleted since), as kubectl get -o yaml|json would have shown it.
//
// With a kind and no name, it lists the objects of that kind that existed at --at (default:
// the latest recorded state), as kubectl get KIND does: khist state --kind KIND.
func (v *Views) Get(ctx context.Context, a GetArgs, w io.Writer) error {
	if ks, _, hasName := strings.Cut(a.Object, "/"); !hasName && strings.TrimSpace(ks) != "" {
		// A kind, a category (all) or a comma-separated list of them, as kubectl get takes.
		for _, s := range strings.Split(ks, ",") {
			if _, err := v.resolveKinds(ctx, s); err != nil {
				if errors.Is(err, ErrUnknownKind) {
					return errorf(ErrBadArgument, "%q is not a kind: expected KIND/NAME, e.g. deploy/web, or a kind to list, e.g. deploy", a.Object)
				}
				return err
			}
		}
		at := a.At
		if at == "" {
			at = "now"
		}
		return v.State(ctx, StateArgs{Namespace: a.Namespace, AllNamespaces: a.AllNamespaces, At: at, Kinds: []string{ks},
			Output: a.Output, Printer: a.Printer, Note: a.Note, Table: a.Table}, w)
	}
	if a.AllNamespaces {
		return errorf(ErrBadArgument, "-A: lists every object of a kind: give the kind alone (get %s), or a namespace with -n", strings.SplitN(a.Object, "/", 2)[0])
	}
	if a.Output == "" {
		a.Output = OutYAML
	}
	out := ""
	if a.Printer == nil {
		var err error
		if out, err = ParseOutput(a.Output, GetFormats...); err != nil {
			return err
		}
	}
	k, name, err := v.ParseObject(ctx, a.Object)
	if err != nil {
		return err
	}
	var at time.Time
	if a.At != "" {
		if at, err = v.Env.Time("--at", a.At); err != nil {
			return err
		}
	}
	ns := namespaceOf(k, Scope{Namespace: a.Namespace})
	ver, note, err := v.objectAt(ctx, k, ns, name, at, "--at")
	if err != nil {
		return err
	}
	if note != "" && (a.Printer != nil || out == OutName) && a.Note != nil {
		fmt.Fprintln(a.Note, note)
	}
	switch {
	case a.Printer != nil:
		u, err := unstructuredOf(ver)
		if err != nil {
			return err
		}
		return a.Printer.PrintObj(u, w)
	case out == OutName:
		_, err := fmt.Fprintln(w, ver.Ref())
		return err
	case out == OutJSON:
		var buf bytes.Buffer
		if err := json.Indent(&buf, ver.Object, "", "    "); err != nil {
			return fmt.Errorf("%s: the recorded version is not JSON: %w", ver.Short(), err)
		}
		buf.WriteByte('\n')
		_, err := w.Write(buf.Bytes())
		return err
	}
	y, err := ObjectYAML(ver.Object, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "# %s", ver.Ref())
	if ver.Namespace != "" {
		fmt.Fprintf(w, " in namespace %s", ver.Namespace)
	}
	if !at.IsZero() {
		fmt.Fprintf(w, " at %s", v.Env.FormatTime(at))
	}
	fmt.Fprintf(w, "\n# recorded version: %s at %s, resourceVersion %s", ver.Type, v.Env.FormatTime(ver.Time), ver.ResourceVersion)
	if by, who := v.who(ctx, ver.ObjectKey, ver.ResourceVersion, ver.Time, ver.Actor, ver.Type == "DELETED"); who != nil {
		fmt.Fprintf(w, ", by %s (groups %s; user agent %s)", by, strings.Join(who.Groups, ","), who.UserAgent)
	} else if ver.Actor != "" {
		fmt.Fprintf(w, ", by %s", ver.Actor)
	}
	fmt.Fprintln(w)
	if note != "" {
		fmt.Fprintf(w, "# %s\n", note)
	}
	_, err = w.Write(y)
	return err
}

// objectAt returns the version of the named object current at t (its last recorded version
// when t is zero), with a note for the reader ("deleted at ...") and the errors a user can act
// on: no such name (with the nearest ones), a time before the object's recorded history (with
// its range), a time at which no object held the name.
func (v *Views) objectAt(ctx context.Context, k Kind, ns, name string, t time.Time, flag string) (Version, string, error) {
	lts, err := v.lifetimes(ctx, k, ns, name)
	if err != nil {
		return Version{}, "", err
	}
	first, last := lts[0], lts[len(lts)-1]
	subject := k.Singular() + "/" + name
	// end is where the name's recorded history ends, for the messages of errors.
	end := func() time.Time {
		if !last.Gone.IsZero() {
			return last.Gone
		}
		_, hEnd, _ := v.Span(ctx)
		return hEnd
	}
	if t.IsZero() {
		ref := v.ref(k, ns, name)
		ref.UID = last.UID
		at := farFuture
		if !last.Gone.IsZero() {
			at = last.Gone
		}
		pv, err := v.DB.VersionAt(ctx, ref, at)
		if err != nil {
			return Version{}, "", fmt.Errorf("%s: %w", subject, err)
		}
		ver := fromProjector(pv)
		note := ""
		if ver.IsDelete() {
			note = fmt.Sprintf("deleted at %s: this is its final recorded state", v.Env.FormatTime(ver.Time))
			if ver.Type == "DELETED_UNOBSERVED" {
				note = fmt.Sprintf("found deleted at %s: this is the last state recorded before", v.Env.FormatTime(ver.Time))
			}
		}
		return ver, note, nil
	}
	if t.Before(first.FirstSeen) {
		return Version{}, "", &RangeError{Flag: flag, Time: t, Subject: "the recorded history of " + subject, From: first.FirstSeen, To: end(), Loc: v.Env.loc()}
	}
	if !v.Env.Now.IsZero() && t.After(v.Env.Now.Add(time.Minute)) {
		return Version{}, "", errorf(ErrOutOfRange, "%s: %s is in the future: the recorded history of %s covers %s to %s",
			flag, v.Env.FormatTime(t), subject, v.Env.FormatTime(first.FirstSeen), v.Env.FormatTime(end()))
	}
	pv, err := v.DB.VersionAt(ctx, v.ref(k, ns, name), t)
	if errors.Is(err, projector.ErrNotFound) {
		// Between two lives of the name, or after the last one ended.
		var gone, next time.Time
		for _, lt := range lts {
			if !lt.Gone.IsZero() && !lt.Gone.After(t) {
				gone = lt.Gone
			}
			if next.IsZero() && lt.FirstSeen.After(t) {
				next = lt.FirstSeen
			}
		}
		msg := fmt.Sprintf("%s: %s did not exist at %s", flag, subject, v.Env.FormatTime(t))
		if !gone.IsZero() {
			msg += ": it was deleted at " + v.Env.FormatTime(gone)
		}
		if !next.IsZero() {
			msg += " and re-created at " + v.Env.FormatTime(next)
		} else if !gone.IsZero() {
			msg += " (omit " + flag + " for its final state)"
		}
		return Version{}, "", errorf(ErrNotFound, "%s", msg)
	}
	if err != nil {
		return Version{}, "", fmt.Errorf("%s: %w", subject, err)
	}
	return fromProjector(pv), "", nil
}
