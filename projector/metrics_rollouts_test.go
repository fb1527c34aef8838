package projector

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/khist/khist/eventlog/importer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// rolloutCollector exposes collectRollouts alone, for the test.
type rolloutCollector struct{ db *DB }

func (c rolloutCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRollouts
	ch <- descRolloutsInProgress
	ch <- descRolloutsFailed
	ch <- descRolloutDuration
	ch <- descRolloutLowest
}

func (c rolloutCollector) Collect(ch chan<- prometheus.Metric) {
	if err := collectRollouts(context.Background(), c.db, ch); err != nil {
		panic(err)
	}
}

// TestRolloutMetrics: on the recording of a rollout that failed and was undone, the metrics
// count two complete rollouts and one rolled back after its deadline, with their durations and
// lowest availability.
func TestRolloutMetrics(t *testing.T) {
	fh, err := os.Open("../test/fidelity/testdata/never-ready-undo.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	res, err := importer.ReadWatch("test", importer.Input{Name: fh.Name(), R: fh})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range res.Envelopes {
		e.Seq = uint64(i + 1)
	}
	db := MustOpenDB(t)
	c := rolloutCollector{db}
	if n, err := testutil.GatherAndCount(registryOf(t, c)); err != nil || n != 0 {
		t.Fatalf("empty views: %d series, %v", n, err)
	}
	if err := db.Apply(context.Background(), res.Envelopes); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP khist_rollouts_total Rollouts that ended, by outcome: complete, failed (progress deadline exceeded), superseded (another rollout started first), rolled-back (superseded by the rollout that undid it).
# TYPE khist_rollouts_total counter
khist_rollouts_total{cluster="test",kind="Deployment",namespace="never-ready-undo",outcome="complete"} 2
khist_rollouts_total{cluster="test",kind="Deployment",namespace="never-ready-undo",outcome="rolled-back"} 1
# HELP khist_rollouts_deadline_exceeded_total Rollouts whose workload reported ProgressDeadlineExceeded, whatever happened next (most are then undone: outcome rolled-back).
# TYPE khist_rollouts_deadline_exceeded_total counter
khist_rollouts_deadline_exceeded_total{cluster="test",kind="Deployment",namespace="never-ready-undo"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "khist_rollouts_total", "khist_rollouts_deadline_exceeded_total"); err != nil {
		t.Fatal(err)
	}
	mfs, err := registryOf(t, c).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			outcome := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" {
					outcome = l.GetValue()
				}
			}
			switch mf.GetName() {
			case "khist_rollout_duration_seconds":
				h := m.GetHistogram()
				// complete: the creation (1s) and the undo (0s); failed: 9s to the deadline.
				if outcome == "rolled-back" && (h.GetSampleCount() != 1 || h.GetSampleSum() < 8 || h.GetSampleSum() > 11) {
					t.Errorf("failed rollout's duration: %d samples, sum %v s", h.GetSampleCount(), h.GetSampleSum())
				}
				if outcome == "complete" && (h.GetSampleCount() != 2 || h.GetSampleSum() > 3) {
					t.Errorf("complete rollouts' durations: %d samples, sum %v s", h.GetSampleCount(), h.GetSampleSum())
				}
			case "khist_rollout_lowest_available_ratio":
				h := m.GetHistogram()
				// The creation starts from 0 of 3 available; the failed one and the undo keep 3/3.
				if outcome == "rolled-back" && h.GetSampleSum() != 1 {
					t.Errorf("failed rollout's lowest availability: sum %v, want 1", h.GetSampleSum())
				}
				if outcome == "complete" && h.GetSampleSum() != 1 {
					t.Errorf("complete rollouts' lowest availability: sum %v, want 0 + 1", h.GetSampleSum())
				}
			case "khist_rollouts_in_progress":
				t.Errorf("a rollout in progress: %v", m)
			}
		}
	}
}

func registryOf(t *testing.T, c prometheus.Collector) *prometheus.Registry {
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	return reg
}
