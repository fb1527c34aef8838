package query

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/projector"
)

// TestBadInputs checks that every malformed argument gets its documented one-line error, with
// the sentinel a caller can test, and that nothing is written.
func TestBadInputs(t *testing.T) {
	s := loadScenario(t, "sample-rolling")
	ns := "sample-rolling"
	end := rfc(s.last)
	// The times of the recording, as the messages print them (they depend on how the importer
	// estimates observation times).
	T := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }
	first, last, histEnd := T(s.first), T(s.last), T(s.last.Add(time.Second))
	lts, err := s.views.DB.Lifetimes(context.Background(), projector.ObjectRef{Cluster: "test", Kind: "Pod", Namespace: ns, Name: "checkout-59b467b7d8-j4gxg"})
	if err != nil || len(lts) != 1 {
		t.Fatalf("lifetimes of a deleted pod: %v %v", lts, err)
	}
	podGone := T(lts[0].Gone)
	cases := []struct {
		name string
		run  func(ctx context.Context, v *Views, w *bytes.Buffer) error
		is   error
		want string // the whole message
	}{
		{"name with -A", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Get(ctx, GetArgs{Object: "deploy/checkout", AllNamespaces: true}, w)
		}, ErrBadArgument, `-A: lists every object of a kind: give the kind alone (get deploy), or a namespace with -n`},
		{"neither kind nor KIND/NAME", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Get(ctx, GetArgs{Object: "checkout", Namespace: ns}, w)
		}, ErrBadArgument, `"checkout" is not a kind: expected KIND/NAME, e.g. deploy/web, or a kind to list, e.g. deploy`},
		{"empty name", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Get(ctx, GetArgs{Object: "deploy/", Namespace: ns}, w)
		}, ErrBadArgument, `"deploy/": the name after / is empty: expected KIND/NAME, e.g. deploy/web`},
		{"namespace in the name", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Get(ctx, GetArgs{Object: "deploy/sample-rolling/checkout"}, w)
		}, ErrBadArgument, `"deploy/sample-rolling/checkout": expected KIND/NAME with one /, e.g. deploy/web (the namespace goes in -n)`},
		{"unknown kind with a near one", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Get(ctx, GetArgs{Object: "deploymnet/checkout", Namespace: ns}, w)
		}, ErrUnknownKind, `unknown kind "deploymnet": did you mean deployment, deploy, deployments? use a kind, plural or short name such as deploy, rs, sts, ds, po, svc, pvc (kubectl api-resources lists them)`},
		{"unknown kind", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Get(ctx, GetArgs{Object: "frobnicator/x", Namespace: ns}, w)
		}, ErrUnknownKind, `unknown kind "frobnicator": use a kind, plural or short name such as deploy, rs, sts, ds, po, svc, pvc (kubectl api-resources lists them)`},
		{"misspelt name", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Get(ctx, GetArgs{Object: "deploy/chekout", Namespace: ns}, w)
		}, ErrNotFound, `no deployment "chekout" in namespace sample-rolling in the recorded history: nearest: checkout`},
		{"right name, wrong namespace", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Get(ctx, GetArgs{Object: "deploy/checkout"}, w)
		}, ErrNotFound, `no deployment "checkout" in namespace default in the recorded history: nearest: checkout in namespace sample-rolling (-n sample-rolling)`},
		{"nothing near", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Get(ctx, GetArgs{Object: "sts/zookeeper", Namespace: ns}, w)
		}, ErrNotFound, `no statefulset "zookeeper" in namespace sample-rolling in the recorded history: none recorded of that kind here (try -A, another -n or --cluster)`},
		{"unparsable time", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Get(ctx, GetArgs{Object: "deploy/checkout", Namespace: ns, At: "yesterday"}, w)
		}, ErrBadTime, `--at: cannot parse "yesterday": use ` + TimeForms},
		{"negative duration", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Get(ctx, GetArgs{Object: "deploy/checkout", Namespace: ns, At: "-2h"}, w)
		}, ErrBadTime, `--at: cannot parse "-2h": use ` + TimeForms},
		{"time before the object", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Get(ctx, GetArgs{Object: "deploy/checkout", Namespace: ns, At: "2026-11-21T10:00:00Z"}, w)
		}, ErrOutOfRange, `--at: 2026-11-21 10:00:00 UTC is before the recorded history of deployment/checkout, which covers ` + first + ` UTC to ` + last + ` UTC`},
		{"time in the future", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Get(ctx, GetArgs{Object: "deploy/checkout", Namespace: ns, At: "2099-01-01"}, w)
		}, ErrOutOfRange, `--at: 2099-01-01 00:00:00 is in the future: the recorded history of deployment/checkout covers ` + first + ` to ` + last},
		{"pod deleted at that time", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Get(ctx, GetArgs{Object: "pod/checkout-59b467b7d8-j4gxg", Namespace: ns, At: end}, w)
		}, ErrNotFound, `--at: pod/checkout-59b467b7d8-j4gxg did not exist at ` + last + `: it was deleted at ` + podGone + ` (omit --at for its final state)`},
		{"unknown output", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Get(ctx, GetArgs{Object: "deploy/checkout", Namespace: ns, Output: "xml"}, w)
		}, ErrBadArgument, `-o: unknown output format "xml": use yaml, json or name`},
		{"revision that does not exist", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Diff(ctx, DiffArgs{Object: "deploy/checkout", Namespace: ns, From: "1", To: "7"}, w)
		}, ErrNotFound, `deployment/checkout in namespace sample-rolling has no revision 7 (recorded: 1, 2)`},
		{"revision zero", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Diff(ctx, DiffArgs{Object: "deploy/checkout", Namespace: ns, From: "0"}, w)
		}, ErrBadArgument, `--from: revision "0": revisions count from 1`},
		{"revision of a pod", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Diff(ctx, DiffArgs{Object: "pod/checkout-669d5fd697-4vp6c", Namespace: ns, From: "1"}, w)
		}, ErrBadArgument, `diff: pods have no revisions: give --from and --to as times (` + TimeForms + `)`},
		{"bad diff point", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Diff(ctx, DiffArgs{Object: "deploy/checkout", Namespace: ns, From: "last week"}, w)
		}, ErrBadTime, `--from: cannot parse "last week": use a revision number (3) or a time: ` + TimeForms},
		{"state without --at", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.State(ctx, StateArgs{Namespace: ns}, w)
		}, ErrBadTime, `--at: a time is needed: use ` + TimeForms},
		{"-n with -A", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.State(ctx, StateArgs{Namespace: ns, AllNamespaces: true, At: end}, w)
		}, ErrBadArgument, `-n sample-rolling and -A exclude each other: use one`},
		{"state of an unknown kind", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.State(ctx, StateArgs{Namespace: ns, At: end, Kinds: []string{"po,widgets"}}, w)
		}, ErrUnknownKind, `--kind: unknown kind "widgets": use a kind, plural or short name such as deploy, rs, sts, ds, po, svc, pvc (kubectl api-resources lists them)`},
		{"state before the history", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.State(ctx, StateArgs{Namespace: ns, At: "2026-11-22 00:00"}, w)
		}, ErrOutOfRange, `--at: 2026-11-22 00:00:00 UTC is before the recorded history, which covers ` + first + ` UTC to ` + histEnd + ` UTC`},
		{"timeline without --since", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Timeline(ctx, TimelineArgs{Namespace: ns}, w)
		}, ErrBadTime, `--since: the start of the window is needed: use ` + TimeForms},
		{"empty window", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Timeline(ctx, TimelineArgs{Namespace: ns, Since: "1h", Until: "2h"}, w)
		}, ErrBadTime, `--since ` + T(s.views.Env.Now.Add(-time.Hour)) + ` UTC is not before --until ` + T(s.views.Env.Now.Add(-2*time.Hour)) + ` UTC: the window is empty`},
		{"bad selector", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Timeline(ctx, TimelineArgs{Namespace: ns, Since: "2h", Selector: "app in (a"}, w)
		}, ErrBadArgument, `-l: cannot parse selector "app in (a": use key=value, key!=value, key in (a,b), key or !key, joined by commas`},
		{"window after the history", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Timeline(ctx, TimelineArgs{Namespace: ns, Since: "30m"}, w)
		}, ErrOutOfRange, `--since: ` + T(s.views.Env.Now.Add(-30*time.Minute)) + ` UTC is after the recorded history, which covers ` + first + ` UTC to ` + histEnd + ` UTC`},
		{"history of a replicaset", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.History(ctx, HistoryArgs{Object: "rs/checkout-59b467b7d8", Namespace: ns}, w)
		}, ErrBadArgument, `history: replicasets have no rollouts: use a deployment, statefulset or daemonset (deploy, sts, ds)`},
		{"rollout that does not exist", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Steps(ctx, StepsArgs{Object: "deploy/checkout", Namespace: ns, Rollout: "rev9"}, w)
		}, ErrNotFound, `--rollout: deployment/checkout has no rollout rev9: it has #1 (revision -> 1), #2 (revision 1 -> 2)`},
		{"malformed rollout", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Steps(ctx, StepsArgs{Object: "deploy/checkout", Namespace: ns, Rollout: "first"}, w)
		}, ErrBadArgument, `--rollout: "first": use #N (a rollout of khist rollouts, e.g. deployment/checkout#1), revN (the rollout to revision N), latest or all; deployment/checkout has #1 (revision -> 1), #2 (revision 1 -> 2)`},
		{"rollouts of pods", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Rollouts(ctx, RolloutsArgs{Object: "pods", Namespace: ns}, w)
		}, ErrBadArgument, `rollouts: pods have no rollouts: use a deployment, statefulset or daemonset (deploy, sts, ds)`},
		{"timeline output", func(ctx context.Context, v *Views, w *bytes.Buffer) error {
			return v.Timeline(ctx, TimelineArgs{Namespace: ns, Since: "2h", Output: "pdf"}, w)
		}, ErrBadArgument, `-o: unknown output format "pdf": use table, json, csv, md or html`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			err := c.run(context.Background(), s.views, &out)
			if err == nil {
				t.Fatalf("no error; output:\n%s", out.String())
			}
			if !errors.Is(err, c.is) {
				t.Errorf("error %q is not %v", err, c.is)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			if err.Error() != c.want {
				t.Errorf("error:\n got %s\nwant %s", err, c.want)
			}
			if out.Len() > 0 {
				t.Errorf("output despite the error: %q", out.String())
			}
		})
	}
}

// TestParseTime covers every accepted form.
func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	loc := time.FixedZone("CET", 3600)
	for in, want := range map[string]time.Time{
		"now":                       now,
		"2026-11-20T10:00:00Z":      time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC),
		"2026-11-20T10:00:00+02:00": time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC),
		"2026-11-20T10:00Z":         time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC),
		"2026-11-20 10:00:05":       time.Date(2026, 11, 20, 9, 0, 5, 0, time.UTC),
		"2026-11-20T10:00":          time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC),
		"2026-11-20":                time.Date(2026, 11, 19, 23, 0, 0, 0, time.UTC),
		"90s":                       now.Add(-90 * time.Second),
		"2h":                        now.Add(-2 * time.Hour),
		"3d":                        now.Add(-72 * time.Hour),
		"1d12h":                     now.Add(-36 * time.Hour),
	} {
		got, err := ParseTime("--at", in, now, loc)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "yesterday", "2h ago", "-1h", "2026-13-01", "d", "3dd"} {
		if _, err := ParseTime("--at", in, now, loc); !errors.Is(err, ErrBadTime) {
			t.Errorf("ParseTime(%q): %v, want ErrBadTime", in, err)
		}
	}
}

func TestNearest(t *testing.T) {
	names := []string{"checkout", "cart", "checkout-canary", "payments", "web"}
	if got := Nearest("chekout", names, 3); strings.Join(got, ",") != "checkout" {
		t.Errorf("Nearest(chekout) = %v", got)
	}
	if got := Nearest("check", names, 3); strings.Join(got, ",") != "checkout,checkout-canary" {
		t.Errorf("Nearest(check) = %v", got)
	}
	if got := Nearest("zzz", names, 3); len(got) != 0 {
		t.Errorf("Nearest(zzz) = %v", got)
	}
	if d := Levenshtein("kitten", "sitting"); d != 3 {
		t.Errorf("Levenshtein = %d", d)
	}
}

func TestResolveKind(t *testing.T) {
	for in, want := range map[string]string{
		"deploy": "Deployment", "deployments": "Deployment", "Deployment": "Deployment", "deployments.apps": "Deployment",
		"po": "Pod", "pods": "Pod", "sts": "StatefulSet", "pvc": "PersistentVolumeClaim", "ep": "Endpoints",
		"svc.core": "Service", "crd": "CustomResourceDefinition",
	} {
		k, err := ResolveKind(in, nil)
		if err != nil || k.Kind != want {
			t.Errorf("ResolveKind(%q) = %v, %v; want %s", in, k.Kind, err, want)
		}
	}
	extra := []Kind{{Group: "example.com", Kind: "Widget", Resource: "widgets", Namespaced: true}}
	if k, err := ResolveKind("widgets", extra); err != nil || k.Kind != "Widget" {
		t.Errorf("ResolveKind(widgets) with CRDs = %v, %v", k, err)
	}
	if _, err := ResolveKind("deployments.batch", nil); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("deployments.batch: %v", err)
	}
}
