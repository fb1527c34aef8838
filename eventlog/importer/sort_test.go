package importer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/khist/khist/eventlog"
)

// TestScanSortsLikeAStableSort reads files whose resourceVersions are partly in order, partly
// shuffled, with repeats across files, with a sort budget so small that runs are spilled and
// merged, and checks the order against a stable sort of everything by resourceVersion.
func TestScanSortsLikeAStableSort(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 7))
	type ev struct {
		name string
		rv   int
	}
	var all []ev
	var inputs []Input
	for f := 0; f < 3; f++ {
		var b strings.Builder
		rv := 0
		for i := 0; i < 400; i++ {
			switch {
			case i < 100: // a List's worth out of order
				rv = rnd.IntN(1000)
			case i%50 == 0: // a jump back
				rv = max(0, rv-rnd.IntN(300))
			default:
				rv += rnd.IntN(3) // repeats included
			}
			name := fmt.Sprintf("f%d-%d", f, i)
			all = append(all, ev{name, rv})
			fmt.Fprintf(&b, `{"type":"MODIFIED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q,"uid":%q,"resourceVersion":"%d"}}}`+"\n", name, name, rv)
		}
		inputs = append(inputs, Input{Name: fmt.Sprint("f", f), R: strings.NewReader(b.String())})
	}
	slices.SortStableFunc(all, func(a, b ev) int { return a.rv - b.rv })
	tmp := t.TempDir()
	var got []string
	_, err := Scan(context.Background(), FormatWatch, "c", Options{SortBytes: 8 << 10, TempDir: tmp}, func(e *eventlog.Envelope) error {
		got = append(got, e.Name)
		return nil
	}, inputs...)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(all) {
		t.Fatalf("%d envelopes, want %d", len(got), len(all))
	}
	for i := range all {
		if got[i] != all[i].name {
			t.Fatalf("envelope %d is %s, want %s (rv %d)", i, got[i], all[i].name, all[i].rv)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// TestReadAuditSpilled reads the audit sample with runs spilled to disk: the same envelopes
// and rejections as in memory.
func TestReadAuditSpilled(t *testing.T) {
	read := func(sortBytes int) string {
		f, err := os.Open("testdata/audit.jsonl")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var got []string
		res, err := Scan(context.Background(), FormatAudit, "c", Options{SortBytes: sortBytes, TempDir: t.TempDir()}, func(e *eventlog.Envelope) error {
			got = append(got, fmt.Sprintf("%s %s %s %s %s", e.Type, e.Name, e.ResourceVersion, e.Observed, e.Object))
			return nil
		}, Input{Name: "a", R: f})
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(got, res.Rejected)
	}
	if mem, disk := read(0), read(1); mem != disk {
		t.Fatalf("in memory:\n%s\nspilled:\n%s", mem, disk)
	}
}
