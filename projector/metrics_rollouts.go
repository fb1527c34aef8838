package projector

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// The rollout metrics are read from the views at each scrape, as the lag is: they survive a
// restart and a rebuild of the views, and say what the views hold (a Prometheus that missed
// scrapes loses nothing). A rollout counts once it has ended; the ones in progress are a gauge.
var (
	rolloutLabels = []string{"cluster", "namespace", "kind", "outcome"}

	descRollouts = prometheus.NewDesc("khist_rollouts_total",
		"Rollouts that ended, by outcome: complete, failed (progress deadline exceeded), superseded (another rollout started first), rolled-back (superseded by the rollout that undid it).",
		rolloutLabels, nil)
	descRolloutsInProgress = prometheus.NewDesc("khist_rollouts_in_progress",
		"Rollouts not ended yet, by state: progressing or paused.",
		rolloutLabels, nil)
	descRolloutsFailed = prometheus.NewDesc("khist_rollouts_deadline_exceeded_total",
		"Rollouts whose workload reported ProgressDeadlineExceeded, whatever happened next (most are then undone: outcome rolled-back).",
		rolloutLabels[:3], nil)
	descRolloutDuration = prometheus.NewDesc("khist_rollout_duration_seconds",
		"How long the rollouts that ended took, from the change that started them to their end.",
		rolloutLabels, nil)
	descRolloutLowest = prometheus.NewDesc("khist_rollout_lowest_available_ratio",
		"The lowest share of the desired replicas that stayed available during each rollout that ended (1: availability never dropped).",
		rolloutLabels, nil)

	// rolloutDurationBuckets span a quiet rollout of seconds to one stuck for an hour.
	rolloutDurationBuckets = []float64{5, 10, 30, 60, 120, 300, 600, 1800, 3600}
	rolloutLowestBuckets   = []float64{0, 0.25, 0.5, 0.75, 0.9, 0.99, 1}
)

// rolloutSeries is what the scrape gathers for one set of labels.
type rolloutSeries struct {
	n                 uint64
	durSum, lowSum    float64
	durCount, lowCnts []uint64
}

// collectRollouts sends the rollout metrics of the views. Rollouts of the initial creation of
// a workload count as the others do (outcome complete, most often).
func collectRollouts(ctx context.Context, db *DB, ch chan<- prometheus.Metric) error {
	rs, err := db.Rollouts(ctx, RolloutFilter{})
	if err != nil {
		return err
	}
	type key struct{ cluster, ns, kind, outcome string }
	type wl struct{ cluster, ns, kind string }
	ended, open, failed := map[key]*rolloutSeries{}, map[key]uint64{}, map[wl]uint64{}
	for i := range rs {
		r := &rs[i]
		k := key{r.Cluster, r.Namespace, r.Kind, r.Outcome}
		if r.FailedSeq != 0 {
			failed[wl{r.Cluster, r.Namespace, r.Kind}]++
		}
		if r.End.IsZero() {
			open[k]++
			continue
		}
		s := ended[k]
		if s == nil {
			s = &rolloutSeries{durCount: make([]uint64, len(rolloutDurationBuckets)), lowCnts: make([]uint64, len(rolloutLowestBuckets))}
			ended[k] = s
		}
		s.n++
		d := r.Duration().Seconds()
		s.durSum += d
		for j, b := range rolloutDurationBuckets {
			if d <= b {
				s.durCount[j]++
			}
		}
		s.lowSum += r.MinAvailableShare
		for j, b := range rolloutLowestBuckets {
			if r.MinAvailableShare <= b {
				s.lowCnts[j]++
			}
		}
	}
	for k, s := range ended {
		ch <- prometheus.MustNewConstMetric(descRollouts, prometheus.CounterValue, float64(s.n), k.cluster, k.ns, k.kind, k.outcome)
		ch <- prometheus.MustNewConstHistogram(descRolloutDuration, s.n, s.durSum, buckets(rolloutDurationBuckets, s.durCount), k.cluster, k.ns, k.kind, k.outcome)
		ch <- prometheus.MustNewConstHistogram(descRolloutLowest, s.n, s.lowSum, buckets(rolloutLowestBuckets, s.lowCnts), k.cluster, k.ns, k.kind, k.outcome)
	}
	for k, n := range failed {
		ch <- prometheus.MustNewConstMetric(descRolloutsFailed, prometheus.CounterValue, float64(n), k.cluster, k.ns, k.kind)
	}
	for k, n := range open {
		ch <- prometheus.MustNewConstMetric(descRolloutsInProgress, prometheus.GaugeValue, float64(n), k.cluster, k.ns, k.kind, k.outcome)
	}
	return nil
}

func buckets(bounds []float64, counts []uint64) map[float64]uint64 {
	m := make(map[float64]uint64, len(bounds))
	for i, b := range bounds {
		m[b] = counts[i]
	}
	return m
}
