package projector

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetrics: the projector's metrics, on a real in-process JetStream and views file, say how
// far the views are behind the log (events and seconds), what the folds did, how large the
// views are and how many rebuilds there were; CaughtUp turns true once the views reach the
// log's end.
func TestMetrics(t *testing.T) {
	envs := loadRecording(t, "testdata/sample-statefulset", "test")
	l := mustOpenLog(t, "")
	publishAll(t, l, envs)
	db := MustOpenDB(t)
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	ctx := context.Background()
	if m.CaughtUp(ctx) {
		t.Fatal("caught up before watching anything")
	}
	m.Watch(l, db)
	time.Sleep(20 * time.Millisecond)
	pos, lag, behind, err := m.Lag(ctx)
	if err != nil || pos != 0 || lag != uint64(len(envs)) || behind < 20*time.Millisecond || behind > time.Minute {
		t.Fatalf("before folding: position %d, lag %d events, %v, %v", pos, lag, behind, err)
	}
	if m.CaughtUp(ctx) {
		t.Fatal("caught up before folding")
	}
	if _, err := CatchUp(ctx, l, db, WithBatch(50), WithMetrics(m)); err != nil {
		t.Fatal(err)
	}
	if !m.CaughtUp(ctx) {
		t.Fatal("not caught up after folding the whole log")
	}
	fi, err := os.Stat(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	n := len(envs)
	want := strings.NewReader(`
# HELP khist_projector_events_folded_total Events read from the log and folded (rate() of it is the fold rate).
# TYPE khist_projector_events_folded_total counter
khist_projector_events_folded_total ` + itoa(n) + `
# HELP khist_projector_lag_events Events in the log that the views have not folded yet.
# TYPE khist_projector_lag_events gauge
khist_projector_lag_events 0
# HELP khist_projector_lag_seconds How long the oldest event not folded yet has been in the log (0 when the views are current).
# TYPE khist_projector_lag_seconds gauge
khist_projector_lag_seconds 0
# HELP khist_projector_position Stream sequence of the last event folded into the views.
# TYPE khist_projector_position gauge
khist_projector_position ` + itoa(n) + `
# HELP khist_projector_rebuilds_total Times the views were rebuilt from the whole log.
# TYPE khist_projector_rebuilds_total counter
khist_projector_rebuilds_total 0
# HELP khist_projector_views_bytes Size of the views file.
# TYPE khist_projector_views_bytes gauge
khist_projector_views_bytes ` + itoa(int(fi.Size())) + `
`)
	if err := testutil.GatherAndCompare(reg, want, "khist_projector_events_folded_total", "khist_projector_lag_events", "khist_projector_lag_seconds",
		"khist_projector_position", "khist_projector_rebuilds_total", "khist_projector_views_bytes"); err != nil {
		t.Fatal(err)
	}
	if txs := testutil.ToFloat64(m.txs); txs < float64(n/50) {
		t.Errorf("%v transactions for %d events in batches of 50", txs, n)
	}
	// A rebuild counts.
	if _, err := Rebuild(ctx, l, filepath.Join(t.TempDir(), "rebuilt.db"), WithMetrics(m)); err != nil {
		t.Fatal(err)
	}
	if r := testutil.ToFloat64(m.rebuilds); r != 1 {
		t.Errorf("rebuilds: %v, want 1", r)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
