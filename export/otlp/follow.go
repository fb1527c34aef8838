package otlp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/khist/khist/query"
	"github.com/prometheus/client_golang/prometheus"
)

// FollowOptions configure Follow.
type FollowOptions struct {
	Options
	// StateFile keeps the log sequence up to which ended rollouts were sent; required.
	StateFile string
	// Interval is how often the views are read; default 5s.
	Interval time.Duration
	// Registerer receives khist_otlp_* metrics; nil: none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// followState is the state file: the views' position when following began, and the end
// sequence of the last rollout sent.
type followState struct {
	Since uint64 `json:"since"`
	Sent  uint64 `json:"sent"`
}

// Follow sends each rollout that ends after it first started as a trace, once, until ctx
// ends. A send that fails is tried again at the next read (the same IDs: a receiver that got
// it the first time does not show it twice).
func Follow(ctx context.Context, v *query.Views, o FollowOptions) error {
	if err := Check(o.Options); err != nil {
		return err
	}
	if o.StateFile == "" {
		return fmt.Errorf("%w: no state file", ErrBadOptions)
	}
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	traces := prometheus.NewCounter(prometheus.CounterOpts{Name: "khist_otlp_traces_total", Help: "Rollouts sent as OpenTelemetry traces."})
	failures := prometheus.NewCounter(prometheus.CounterOpts{Name: "khist_otlp_failures_total", Help: "Sends of rollout traces that failed (tried again at the next read)."})
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{traces, failures} {
			if err := o.Registerer.Register(c); err != nil {
				return err
			}
		}
	}
	st, err := loadState(o.StateFile, v)
	if err != nil {
		return err
	}
	e, err := New(ctx, o.Options)
	if err != nil {
		return err
	}
	defer e.Close(context.Background())
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for {
		ds, err := v.RolloutDetails(ctx, query.RolloutDetailArgs{AllNamespaces: true, EndedAfter: max(st.Since, st.Sent)})
		if err != nil && ctx.Err() == nil {
			o.Logger.Warn("otlp: reading the views failed; trying again", "err", err)
		}
		for i := range ds {
			if _, err := e.Export(ctx, ds[i:i+1]); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				failures.Inc()
				o.Logger.Warn("otlp: sending a rollout's trace failed; trying again", "rollout", ds[i].Rollout.Ref, "namespace", ds[i].Rollout.Workload.Namespace, "err", err)
				break
			}
			traces.Inc()
			st.Sent = ds[i].Rollout.EndSeq
			if err := saveState(o.StateFile, st); err != nil {
				return fmt.Errorf("otlp: state file: %w", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// loadState reads the state file, or starts one at the views' position.
func loadState(path string, v *query.Views) (followState, error) {
	var st followState
	b, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(b, &st); err != nil {
			return st, fmt.Errorf("%w: state file %s: %v: remove it to start sending from now", ErrBadOptions, path, err)
		}
		return st, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return st, fmt.Errorf("%w: state file: %v", ErrBadOptions, err)
	}
	seq, err := v.DB.Seq()
	if err != nil {
		return st, err
	}
	st = followState{Since: seq, Sent: seq}
	return st, saveState(path, st)
}

// saveState writes the state file atomically.
func saveState(path string, st followState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
