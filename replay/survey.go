package replay

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// WorkloadRef names one workload of a survey.
type WorkloadRef struct {
	Kind      string `json:"kind"` // a registered kind: KindDeployment ... KindJob, KindCronJob
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// HistoryLoader returns the history of a workload in log order (see Version). It is called
// from several goroutines at once.
type HistoryLoader func(ctx context.Context, w WorkloadRef) ([]Version, error)

// SurveyOptions tune CompareAll. The zero value compares every rollout, on GOMAXPROCS
// goroutines, without reporting progress.
type SurveyOptions struct {
	// Since restricts the survey to the rollouts that ran at or after it (zero: all).
	Since time.Time
	// Workers is how many workloads are replayed at once; 0 means GOMAXPROCS.
	Workers int
	// Progress, when set, is called after each workload with the number done and the total,
	// from one goroutine at a time.
	Progress func(done, total int)
	// Compare selects the verdict (the decision audit by default, or the free run) and tunes
	// the audit; its RolloutID is ignored.
	Compare CompareOptions
}

// SurveyResult is the share of recorded rollouts whose controller decisions the re-implemented
// controllers reproduce (or, in free-run mode, that the free-running simulation reproduces step
// for step), over many workloads, and the rollouts they do not.
type SurveyResult struct {
	Workloads int     `json:"workloads"` // workloads with at least one rollout compared
	Mode      string  `json:"mode"`      // the verdict Matched counts: ModeAudit or ModeFreeRun
	Rollouts  int     `json:"rollouts"`
	Matched   int     `json:"matched"`
	Share     float64 `json:"share"` // Matched / Rollouts; 1 when there is no rollout
	// Decisions and DecisionsMatched count the controller writes audited and reproduced;
	// DecisionShare is their ratio (1 when there is none).
	Decisions        int     `json:"decisions"`
	DecisionsMatched int     `json:"decisionsMatched"`
	DecisionShare    float64 `json:"decisionShare"`
	// FreeRunMatched counts the rollouts the free-running simulation reproduces step for
	// step, whatever the mode; FreeRunShare is its share of Rollouts.
	FreeRunMatched int          `json:"freeRunMatched"`
	FreeRunShare   float64      `json:"freeRunShare"`
	ByKind         []KindShare  `json:"byKind"`
	Diverged       []SurveyItem `json:"diverged"`
	// Failed lists the workloads that could not be replayed, with the reason.
	Failed []SurveyFailure `json:"failed"`
}

// KindShare is the part of a survey about one workload kind.
type KindShare struct {
	Kind             string `json:"kind"`
	Rollouts         int    `json:"rollouts"`
	Matched          int    `json:"matched"`
	Decisions        int    `json:"decisions"`
	DecisionsMatched int    `json:"decisionsMatched"`
	FreeRunMatched   int    `json:"freeRunMatched"`
}

// SurveyItem is one rollout that diverged.
type SurveyItem struct {
	WorkloadRef
	Rollout    string      `json:"rollout"`
	Seq        uint64      `json:"seq"`
	Start      time.Time   `json:"start"`
	Divergence *Divergence `json:"divergence"`
}

// SurveyFailure is a workload whose history could not be read or replayed.
type SurveyFailure struct {
	WorkloadRef
	Error string `json:"error"`
}

// CompareAll compares every recorded rollout of the workloads (see Compare) and counts how
// many the simulated controllers reproduce step for step. Workloads without a rollout (in the
// window) are not counted; a workload whose history cannot be loaded or replayed is listed in
// Failed and the survey goes on. The result does not depend on Workers: items are reported in
// the order of workloads, then rollouts. It returns early with ctx's error when ctx ends.
func CompareAll(ctx context.Context, workloads []WorkloadRef, load HistoryLoader, opts SurveyOptions) (*SurveyResult, error) {
	type outcome struct {
		res *CompareResult
		err error
	}
	out := make([]outcome, len(workloads))
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, len(workloads)))
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				res, err := compareWorkload(ctx, workloads[i], load, opts.Since, opts.Compare)
				out[i] = outcome{res, err}
				if opts.Progress != nil {
					mu.Lock()
					done++
					opts.Progress(done, len(workloads))
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for i := range workloads {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	mode := ModeAudit
	if opts.Compare.FreeRun {
		mode = ModeFreeRun
	}
	sr := &SurveyResult{Mode: mode, Diverged: []SurveyItem{}, Failed: []SurveyFailure{}}
	kinds := map[string]*KindShare{}
	for i, o := range out {
		w := workloads[i]
		if o.err != nil {
			sr.Failed = append(sr.Failed, SurveyFailure{WorkloadRef: w, Error: o.err.Error()})
			continue
		}
		if o.res == nil || len(o.res.Rollouts) == 0 {
			continue
		}
		sr.Workloads++
		ks := kinds[w.Kind]
		if ks == nil {
			ks = &KindShare{Kind: w.Kind}
			kinds[w.Kind] = ks
		}
		for _, rc := range o.res.Rollouts {
			sr.Rollouts++
			ks.Rollouts++
			sr.Decisions += len(rc.Decisions)
			ks.Decisions += len(rc.Decisions)
			sr.DecisionsMatched += rc.DecisionsMatched
			ks.DecisionsMatched += rc.DecisionsMatched
			if rc.FreeRun != nil && rc.FreeRun.Match {
				sr.FreeRunMatched++
				ks.FreeRunMatched++
			}
			if rc.Match {
				sr.Matched++
				ks.Matched++
				continue
			}
			sr.Diverged = append(sr.Diverged, SurveyItem{WorkloadRef: w, Rollout: rc.ID, Seq: rc.Seq, Start: rc.Start, Divergence: rc.Divergence})
		}
	}
	for _, k := range registeredKinds() {
		if ks := kinds[k]; ks != nil {
			sr.ByKind = append(sr.ByKind, *ks)
		}
	}
	sr.Share, sr.FreeRunShare, sr.DecisionShare = 1, 1, 1
	if sr.Rollouts > 0 {
		sr.Share = float64(sr.Matched) / float64(sr.Rollouts)
		sr.FreeRunShare = float64(sr.FreeRunMatched) / float64(sr.Rollouts)
	}
	if sr.Decisions > 0 {
		sr.DecisionShare = float64(sr.DecisionsMatched) / float64(sr.Decisions)
	}
	return sr, nil
}

// compareWorkload compares the rollouts of one workload that ran at or after since; nil when
// it has none.
func compareWorkload(ctx context.Context, w WorkloadRef, load HistoryLoader, since time.Time, copts CompareOptions) (*CompareResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h, err := load(ctx, w)
	if err != nil {
		return nil, err
	}
	if sk := standaloneOf(w.Kind); sk != nil {
		rcs, err := sk.survey(h, w.Namespace, w.Name, since)
		if err != nil || len(rcs) == 0 {
			return nil, err
		}
		return &CompareResult{Workload: strings.ToLower(w.Kind) + "/" + w.Name, Match: true, Rollouts: rcs}, nil
	}
	scn, err := ExtractScenario(w.Kind, w.Namespace, w.Name, h)
	if err != nil {
		return nil, err
	}
	var rollouts []Rollout
	for _, r := range scn.Rollouts {
		if since.IsZero() || !r.End.Before(since) {
			rollouts = append(rollouts, r)
		}
	}
	if len(rollouts) == 0 {
		return nil, nil
	}
	copts.RolloutID = ""
	return compareRollouts(&scn, rollouts, copts)
}

// surveyNote says what a divergence usually means.
const surveyNote = "A divergence usually means that something outside the controller acted (an HPA, a person scaling by hand, an admission webhook) or a controller bug: khist replay compare KIND/NAME -n NS --rollout SEQ shows the steps side by side."

// WriteTable renders the survey for a terminal: the share that matched, by kind, then the
// divergences and the failures.
func (r *SurveyResult) WriteTable(w io.Writer) error {
	if r.Rollouts == 0 && len(r.Failed) == 0 {
		_, err := fmt.Fprintln(w, "No rollout recorded here: record a cluster (khist collect) or import a recording (khist import), or look elsewhere (-n NS, -A, --data-dir).")
		return err
	}
	if r.Mode == ModeFreeRun {
		if _, err := fmt.Fprintf(w, "%d of %d recorded %s of %s replayed step for step by the free run (%.1f%%)\n",
			r.Matched, r.Rollouts, plural(r.Rollouts, "rollout"), count(r.Workloads, "workload"), 100*r.Share); err != nil {
			return err
		}
	} else {
		if _, err := fmt.Fprintf(w, "%d of %d recorded %s of %s: every controller decision reproduced (%.1f%%)\n",
			r.Matched, r.Rollouts, plural(r.Rollouts, "rollout"), count(r.Workloads, "workload"), 100*r.Share); err != nil {
			return err
		}
		fmt.Fprintf(w, "%d of %s reproduced (%.1f%%); free run: %d of %s step for step (%.1f%%)\n",
			r.DecisionsMatched, count(r.Decisions, "decision"), 100*r.DecisionShare, r.FreeRunMatched, count(r.Rollouts, "rollout"), 100*r.FreeRunShare)
	}
	if len(r.ByKind) > 1 {
		for _, k := range r.ByKind {
			if r.Mode == ModeFreeRun {
				fmt.Fprintf(w, "  %-12s %d of %d\n", k.Kind, k.Matched, k.Rollouts)
				continue
			}
			fmt.Fprintf(w, "  %-12s %d of %s, %d of %s, free run %d of %d\n", k.Kind, k.Matched, count(k.Rollouts, "rollout"),
				k.DecisionsMatched, count(k.Decisions, "decision"), k.FreeRunMatched, k.Rollouts)
		}
	}
	if len(r.Diverged) > 0 {
		fmt.Fprintf(w, "\nDIVERGED (%d)\n", len(r.Diverged))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAMESPACE\tROLLOUT\tSEQ\tSTARTED\tSTEP\tRECORDED\tSIMULATED")
		for _, d := range r.Diverged {
			step, rec, sim := "-", "-", "-"
			if dv := d.Divergence; dv != nil {
				step, rec, sim = fmt.Sprint(dv.Step), stepOrNone(dv.Recorded), stepOrNone(dv.Simulated)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", orDash(d.Namespace), d.Rollout, d.Seq, d.Start.UTC().Format(time.RFC3339), step, rec, sim)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w, surveyNote)
	}
	if len(r.Failed) > 0 {
		fmt.Fprintf(w, "\nNOT REPLAYED (%d)\n", len(r.Failed))
		for _, f := range r.Failed {
			fmt.Fprintf(w, "%s %s/%s: %s\n", orDash(f.Namespace), strings.ToLower(f.Kind), f.Name, f.Error)
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
