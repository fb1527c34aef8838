package projector

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/khist/khist/eventlog"
)

// TestProgressRecordsFoldToNothing: the collector's progress records, interleaved with the
// object versions in a real log, change no view, and the views' position passes them (a log
// that ends with one is current once folded).
func TestProgressRecordsFoldToNothing(t *testing.T) {
	envs := loadRecording(t, "testdata/sample-statefulset", "test")
	var mixed []*eventlog.Envelope
	for i, e := range envs {
		mixed = append(mixed, e)
		if i%10 == 0 {
			mixed = append(mixed, eventlog.NewProgress("test", e.Group, strings.ToLower(e.Kind)+"s", e.Namespace, e.ResourceVersion, "collector"))
		}
	}
	mixed = append(mixed, eventlog.NewProgress("test", "", "pods", "", fmt.Sprint(len(envs)), "collector"))
	l := mustOpenLog(t, "")
	publishAll(t, l, mixed)
	db := MustOpenDB(t)
	ctx := context.Background()
	st, err := CatchUp(ctx, l, db)
	if err != nil {
		t.Fatal(err)
	}
	if st.LastSeq != uint64(len(mixed)) {
		t.Fatalf("views at %d, want %d (the last progress record)", st.LastSeq, len(mixed))
	}
	if st, err := EnsureCurrent(ctx, l, db); err != nil || st.Events != 0 {
		t.Fatalf("current views: %+v, %v", st, err)
	}
	direct := MustOpenDB(t)
	foldAll(t, direct, envs, 1000)
	if a, b := mustDump(t, direct), mustDump(t, db); a != b {
		t.Fatalf("progress records changed the views:\n%s", firstDiff(a, b))
	}
}
