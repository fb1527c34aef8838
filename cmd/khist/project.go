package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/projector"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
)

// viewsFlags say where the views live.
type viewsFlags struct {
	db      string // --db: the bbolt file; default DATA_DIR/views.db
	durable string // --durable: the JetStream consumer's name
}

func (f *viewsFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.db, "db", "", "views file (default DATA_DIR/views.db)")
	cmd.Flags().StringVar(&f.durable, "durable", projector.DefaultDurable, "name of the durable JetStream consumer (one per views file followed from the same stream); default khist-projector, or with --nats-url a name of the views' own, kept in VIEWS.consumer")
}

// viewsPath is the views file: --db, or views.db in the data directory.
func viewsPath(g *globalFlags, db string) string {
	if db != "" {
		return db
	}
	return filepath.Join(g.DataDir, "views.db")
}

func newProjectCmd(g *globalFlags) *cobra.Command {
	f := &viewsFlags{}
	var metricsAddr string
	var notify notifyFlags
	cmd := &cobra.Command{
		Use:   "project",
		Short: "Fold the event log into the views and keep following it until interrupted",
		Long: `project runs the projector alone: it folds every event of the log that the views lack, then
follows the log, committing new events within about half a second (what arrives within 500 ms
of an event is folded in one transaction with it), until Ctrl-C.
khist import and khist collect run the projector in-process; run project when they were told
not to (--no-project), or to build views from an external NATS JetStream.

While it runs, read commands in other terminals work on the same views: project keeps the
views file locked only while it folds, and lets others in at least every second.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runProject(cmd, g, f, metricsAddr, &notify) },
	}
	f.add(cmd)
	notify.add(cmd)
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus metrics (khist_projector_*: lag, fold rate, views size, rebuilds) at /metrics, and /healthz and /readyz, on this address (e.g. :9091); empty: none")
	return cmd
}

func runProject(cmd *cobra.Command, g *globalFlags, f *viewsFlags, metricsAddr string, notify *notifyFlags) error {
	ctx := cmd.Context()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	watch, err := notify.watcher(g, reg, slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)))
	if err != nil {
		return err
	}
	l, err := openLog(ctx, g)
	if err != nil {
		return err
	}
	defer l.Close()
	m := projector.NewMetrics(reg)
	if metricsAddr != "" {
		logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
		ready := func(ctx context.Context) error {
			if !m.CaughtUp(ctx) {
				return errors.New("the projector has not caught up with the log yet")
			}
			return nil
		}
		stop, err := serveMetrics(metricsAddr, reg, ready, logger)
		if err != nil {
			return err
		}
		defer stop()
	}
	db, err := openFolding(ctx, cmd.ErrOrStderr(), l, viewsPath(g, f.db), m)
	if err != nil {
		return err
	}
	defer db.Close()
	m.Watch(l, db)
	durable := f.durable
	if g.NATS.URL != "" && !cmd.Flags().Changed("durable") {
		// A shared stream, which other processes may follow too: a consumer of these views' own.
		if durable, err = projector.ViewsDurable(db.Path()); err != nil {
			return err
		}
	}
	seq, _ := db.Seq()
	fmt.Fprintf(cmd.ErrOrStderr(), "projecting into %s from sequence %d; Ctrl-C stops\n", db.Path(), seq+1)
	if err := runFold(ctx, l, db, watch, projector.WithDurable(durable), projector.WithMetrics(m),
		projector.WithLogger(slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)))); err != nil {
		return err
	}
	c, _ := db.Counts()
	fmt.Fprintf(cmd.ErrOrStderr(), "stopped at sequence %d (%d events applied, %d already applied)\n", c.Seq, c.Applied, c.Skipped)
	return nil
}

// projectInProcess is the projector khist collect runs beside the collector: it folds l into
// the views file under --data-dir and follows it until ctx ends.
func projectInProcess(ctx context.Context, g *globalFlags, l *eventlog.Log, m *projector.Metrics, w viewsWatcher) error {
	db, err := openFolding(ctx, os.Stderr, l, viewsPath(g, ""), m)
	if err != nil {
		return err
	}
	defer db.Close()
	m.Watch(l, db)
	opts := []projector.Option{projector.WithMetrics(m), projector.WithLogger(g.Logger)}
	if g.NATS.URL != "" {
		// A shared stream: these views follow it with a consumer of their own.
		name, err := projector.ViewsDurable(db.Path())
		if err != nil {
			return err
		}
		opts = append(opts, projector.WithDurable(name))
	}
	return runFold(ctx, l, db, w, opts...)
}

// foldLinger is how long collect's and project's folds gather the events of a live log into
// one transaction (projector.WithLinger): the views lag the log by up to that much more, for a
// third less CPU per event at a live pace (BenchmarkFollowLive, BENCHMARKS.md).
const foldLinger = 500 * time.Millisecond

// runFold follows the log into the views until ctx ends, with w (when not nil) running beside
// it on the views; it returns once both have stopped.
func runFold(ctx context.Context, l *eventlog.Log, db *projector.DB, w viewsWatcher, opts ...projector.Option) error {
	opts = append([]projector.Option{projector.WithLinger(foldLinger)}, opts...)
	if w == nil {
		return projector.Run(ctx, l, db, opts...)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w(ctx, db)
	}()
	err := projector.Run(ctx, l, db, opts...)
	cancel()
	<-done
	return err
}

// foldImported is khist import's afterImport: it folds what was imported into the views file
// under --data-dir.
func foldImported(cmd *cobra.Command, g *globalFlags) error { return catchUpViews(cmd, g, "") }

// catchUpViews folds the events the views lack (after khist import), with an ephemeral
// consumer: khist collect or project may be following the same views with the durable one.
func catchUpViews(cmd *cobra.Command, g *globalFlags, dbPath string) error {
	ctx := cmd.Context()
	l, err := openLog(ctx, g)
	if err != nil {
		return err
	}
	defer l.Close()
	db, err := openFolding(ctx, cmd.ErrOrStderr(), l, viewsPath(g, dbPath), nil)
	if err != nil {
		return err
	}
	defer db.Close()
	bar := newProgressBar(cmd.ErrOrStderr(), "views")
	st, err := projector.CatchUp(ctx, l, db, projector.WithProgress(bar.Update))
	if err != nil {
		bar.Stop()
		return err
	}
	bar.Done(st)
	warnFolded(cmd.ErrOrStderr(), st)
	return nil
}

func newRebuildCmd(g *globalFlags) *cobra.Command {
	f := &viewsFlags{}
	var force bool
	cmd := &cobra.Command{
		Use:   "rebuild",
		Short: "Delete the views and fold the whole event log again",
		Long: `rebuild re-creates the views file from the whole event log, the source of truth, showing
progress on stderr. The old views stay in place until the new ones are complete.

When the log holds fewer events than the views were folded from (its store was damaged or
deleted, or its retention dropped old events), or part of it cannot be read, the views are the
last copy of that history: rebuild then keeps them and fails, saying what is missing (khist
doctor tells more). --force rebuilds anyway from every event that can be read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			l, err := openLog(ctx, g)
			if err != nil {
				return err
			}
			defer l.Close()
			bar := newProgressBar(cmd.ErrOrStderr(), "rebuild")
			opts := []projector.Option{projector.WithProgress(bar.Update)}
			if cmd.Flags().Changed("durable") {
				// Else an ephemeral consumer: the default durable one may be another views
				// file's projector's (khist collect or project with --db elsewhere).
				opts = append(opts, projector.WithDurable(f.durable))
			}
			if force {
				opts = append(opts, projector.WithForce())
			}
			st, err := projector.Rebuild(ctx, l, viewsPath(g, f.db), opts...)
			if err != nil {
				bar.Stop()
				if errors.Is(err, eventlog.ErrDamaged) {
					return fmt.Errorf("%w; the views are kept (rebuild --force folds what can be read)", err)
				}
				return err
			}
			bar.Done(st)
			warnFolded(cmd.ErrOrStderr(), st)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&force, "force", false, "replace the views even with fewer events than they hold, folding every event of a damaged log that can be read")
	return cmd
}

// warnFolded says on stderr what a fold left out: events of a damaged log, quarantined events.
func warnFolded(w io.Writer, st projector.Stats) {
	if st.Damage != nil {
		fmt.Fprintf(w, "khist: warning: folded without %d events: %v\n", st.Damage.Lost(), st.Damage)
	}
	if st.Quarantined > 0 {
		fmt.Fprintf(w, "khist: warning: %d events could not be folded and are quarantined: khist doctor lists them\n", st.Quarantined)
	}
}

// openFolding opens the views at path for folding the log l into them. Views of another
// schema (an older khist's) are rebuilt from the log first, with a progress bar: they are a
// cache of the log, and a read command should not fail on an upgrade.
// m (may be nil) counts the rebuild.
func openFolding(ctx context.Context, stderr io.Writer, l *eventlog.Log, path string, m *projector.Metrics) (*projector.DB, error) {
	db, err := projector.Open(path, nil)
	if !errors.Is(err, projector.ErrOtherSchema) {
		return db, err
	}
	fmt.Fprintf(stderr, "khist: the views at %s were made by another version of khist: rebuilding them from the log\n", path)
	bar := newProgressBar(stderr, "rebuild")
	st, err := projector.Rebuild(ctx, l, path, projector.WithProgress(bar.Update), projector.WithMetrics(m))
	if err != nil {
		return nil, err
	}
	bar.Done(st)
	return projector.Open(path, nil)
}
