package main

// khist replay: the replay engine over the projector's views. The history of a workload comes
// from projector.WorkloadHistory or WorkloadWindow (never from the raw log), converted to
// replay.Version.

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/khist/khist/query"
	"github.com/khist/khist/replay"
	"github.com/spf13/cobra"
)

func newReplayCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Re-run the workload controllers over recorded rollouts: compare with what happened, or ask what if",
		Long: `replay re-runs the Deployment, ReplicaSet, StatefulSet, DaemonSet and Job controllers,
re-implemented from upstream, in a deterministic simulation of a recorded rollout (a Job's run;
for a CronJob, its schedule decisions over the recorded window):
the spec changes people made and the environment (how long each pod took to become Ready or to
succeed or fail, nodes coming and going) come from the recorded history.

  compare   replay rollouts as they were recorded and compare the controller's steps
  what-if   replay a rollout with other settings (maxSurge, replicas, partition, a Job's
            parallelism or backoffLimit, a CronJob's concurrencyPolicy or schedule ...)
  all       compare every recorded rollout and report the share that replays step for step`,
	}
	cmd.AddCommand(newReplayCompareCmd(g), newReplayWhatIfCmd(g), newReplayAllCmd(g))
	return cmd
}

type replayFlags struct {
	queryFlags
	rollout string
}

// auditFlags select compare's verdict: the decision audit (default) or the free run.
type auditFlags struct {
	freeRun bool
	maxLag  time.Duration
}

func (a *auditFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&a.freeRun, "free-run", false, "judge by the free-running simulation (step for step, its own timing) instead of the decision audit")
	cmd.Flags().DurationVar(&a.maxLag, "max-lag", replay.DefaultMaxLag, "how far behind the log a controller's view may be when it decides (decision audit)")
}

// --- compare ---

func newReplayCompareCmd(g *globalFlags) *cobra.Command {
	f := &replayFlags{}
	af := &auditFlags{}
	cmd := &cobra.Command{
		Use:   "compare KIND/NAME [-n NS] [--rollout ID] [-o table|json]",
		Short: "Audit a workload's recorded rollouts: does each controller decision follow from what the controller saw?",
		Long: `compare audits the recorded rollouts of a Deployment, StatefulSet or DaemonSet (all of them, or the
one --rollout names). For each write the controller was recorded making (a ReplicaSet scaled, a
pod created or deleted), it rebuilds from the log the state the controller could have seen at
that moment (informers may lag: up to --max-lag), runs the re-implemented controller's sync on
it and checks that the sync makes the same write. It prints the recorded decisions beside the
sync's, MATCH or the first divergence with the state it was decided on, and the changes others
made (spec edits, scales, pods deleted by hand, nodes), which are inputs, not divergences.
Writes issued in one burst compare as a set.

Beside the audit, each rollout is also replayed by the free-running simulation, which decides
when the controllers run by itself; its verdict is shown on each rollout's last line, and
--free-run makes it the verdict. A divergence usually means that something outside the
controller acted (an admission webhook, a controller the history does not show) or a
controller bug.

--rollout takes an ID from khist rollouts (the sequence at which the rollout started), revN (the
rollout to revision N), #N (the N-th rollout of the history), latest, or all (the default).`,
		Example: `  khist replay compare deploy/web -n shop
  khist replay compare sts/db -n shop --rollout latest -o json`,
		Args:              objectArgs,
		ValidArgsFunction: completeObject(g, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := query.ParseOutput(f.output, query.ReplayFormats...); err != nil {
				return err
			}
			v, done, err := openViews(cmd, g, &f.queryFlags)
			if err != nil {
				return err
			}
			defer done()
			if v, err = oneCluster(cmd, v, &f.queryFlags, args); err != nil {
				return err
			}
			return v.ReplayCompare(cmd.Context(), query.ReplayCompareArgs{
				Object: objectArg(args), Namespace: f.ns(), Rollout: f.rollout,
				FreeRun: af.freeRun, MaxLag: af.maxLag, Output: f.output,
			}, cmd.OutOrStdout())
		},
	}
	f.addNamespace(cmd, g, false)
	f.clusters = objectCluster
	f.addViews(cmd)
	cmd.Flags().StringVar(&f.rollout, "rollout", "all", "the rollout: KIND/NAME#N or '#N' as khist rollouts numbers them, revN (the rollout to revision N), latest or all")
	af.add(cmd)
	cmd.Flags().StringVarP(&f.output, "output", "o", "table", "table or json")
	cmd.RegisterFlagCompletionFunc("output", completeWords(query.OutTable, query.OutJSON))
	cmd.RegisterFlagCompletionFunc("rollout", completeRollouts(g))
	return cmd
}

// --- what-if ---

type whatIfFlags struct {
	replayFlags
	set          []string
	readyLatency string
}

func newReplayWhatIfCmd(g *globalFlags) *cobra.Command {
	f := &whatIfFlags{}
	cmd := &cobra.Command{
		Use:   "what-if KIND/NAME [-n NS] [--rollout ID] --set PATH=VALUE... [--ready-latency L] [-o table|json]",
		Short: "Replay a recorded rollout with other settings and show recorded, replayed and what-if side by side",
		Long: `what-if replays a recorded rollout twice in the same simulated environment, once with the
recorded settings and once with the --set overrides, and shows the recorded rollout, the replay
and the what-if side by side (duration, lowest availability, peak pods, steps, outcome), then
the what-if's steps.

--set PATH=VALUE (repeatable; the spec. prefix may be left out):
  Deployment   replicas, minReadySeconds, progressDeadlineSeconds, revisionHistoryLimit, paused,
               strategy.type, strategy.rollingUpdate.maxSurge, strategy.rollingUpdate.maxUnavailable
  StatefulSet  replicas, minReadySeconds, podManagementPolicy, updateStrategy.type,
               updateStrategy.rollingUpdate.partition, revisionHistoryLimit
  DaemonSet    minReadySeconds, updateStrategy.type, updateStrategy.rollingUpdate.maxSurge,
               updateStrategy.rollingUpdate.maxUnavailable, revisionHistoryLimit

--ready-latency is how long new pods take to become Ready: recorded (each pod as its recorded
counterpart), p50, p90, max (that percentile of the recorded latencies) or a duration (4s).
--rollout takes an ID from khist rollouts, revN, #N or latest (the default).`,
		Example: `  khist replay what-if deploy/web -n shop --set strategy.rollingUpdate.maxSurge=50%
  khist replay what-if sts/db -n shop --set podManagementPolicy=Parallel --ready-latency p90`,
		Args:              objectArgs,
		ValidArgsFunction: completeObject(g, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			a := query.ReplayWhatIfArgs{
				Object: objectArg(args), Namespace: f.ns(), Rollout: f.rollout,
				Set: f.set, ReadyLatency: f.readyLatency, Output: f.output,
			}
			// Bad --set and --ready-latency fail before any history is read.
			if err := query.CheckReplayWhatIf(a); err != nil {
				return err
			}
			v, done, err := openViews(cmd, g, &f.queryFlags)
			if err != nil {
				return err
			}
			defer done()
			if v, err = oneCluster(cmd, v, &f.queryFlags, args); err != nil {
				return err
			}
			a.Namespace = f.ns()
			return v.ReplayWhatIf(cmd.Context(), a, cmd.OutOrStdout())
		},
	}
	f.addNamespace(cmd, g, false)
	f.clusters = objectCluster
	f.addViews(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.rollout, "rollout", "latest", "the rollout: KIND/NAME#N or '#N' as khist rollouts numbers them, revN (the rollout to revision N) or latest")
	fl.StringArrayVar(&f.set, "set", nil, "override a spec field, PATH=VALUE (repeatable), e.g. strategy.rollingUpdate.maxSurge=50%")
	fl.StringVar(&f.readyLatency, "ready-latency", "recorded", "how long new pods take to become Ready: recorded, p50, p90, max or a duration")
	fl.StringVarP(&f.output, "output", "o", "table", "table or json")
	cmd.RegisterFlagCompletionFunc("output", completeWords(query.OutTable, query.OutJSON))
	cmd.RegisterFlagCompletionFunc("rollout", completeRollouts(g))
	cmd.RegisterFlagCompletionFunc("ready-latency", completeWords("recorded", "p50", "p90", "max"))
	return cmd
}

// --- all ---

type replayAllFlags struct {
	queryFlags
	since string
}

func newReplayAllCmd(g *globalFlags) *cobra.Command {
	f := &replayAllFlags{}
	af := &auditFlags{}
	cmd := &cobra.Command{
		Use:   "all [-n NS | -A] [--since T] [-o table|json]",
		Short: "Audit every recorded rollout of every Deployment, StatefulSet and DaemonSet and report the share that matched",
		Long: `all audits every recorded rollout of every Deployment, StatefulSet and DaemonSet of a namespace
(or of all of them) as compare does, and reports the share of rollouts whose every controller
decision the re-implemented controllers reproduce, the share of decisions, and the share the
free-running simulation reproduces step for step (--free-run makes that the verdict); then the
rollouts that diverged. A divergence usually means that something outside the controller acted
or a controller bug; khist replay compare shows it side by side. On a terminal, a progress bar
is drawn on stderr.`,
		Example: `  khist replay all -A
  khist replay all -n shop --since 7d -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := query.ParseOutput(f.output, query.ReplayFormats...); err != nil {
				return err
			}
			v, done, err := openViews(cmd, g, &f.queryFlags)
			if err != nil {
				return err
			}
			defer done()
			bar := newReplayBar(cmd.ErrOrStderr())
			defer bar.done()
			progress := func(done, total int) {
				bar.update(done, total)
				if done == total {
					bar.done() // before the answer is written
				}
			}
			return v.ReplayAll(cmd.Context(), query.ReplayAllArgs{
				Namespace: f.ns(), AllNamespaces: f.allNamespaces, Since: f.since,
				FreeRun: af.freeRun, MaxLag: af.maxLag, Output: f.output, Progress: progress,
			}, cmd.OutOrStdout())
		},
	}
	f.addNamespace(cmd, g, true)
	f.addViews(cmd)
	cmd.Flags().StringVar(&f.since, "since", "", "only rollouts that ran at or after this time ("+query.TimeForms+")")
	af.add(cmd)
	cmd.Flags().StringVarP(&f.output, "output", "o", "table", "table or json")
	cmd.RegisterFlagCompletionFunc("output", completeWords(query.OutTable, query.OutJSON))
	return cmd
}

// --- shared ---

// replayBar draws the progress of replay all on one terminal line, at most every 200ms; it
// draws nothing when w is not a terminal.
type replayBar struct {
	w     io.Writer
	on    bool
	start time.Time
	last  time.Time
	drawn bool
}

func newReplayBar(w io.Writer) *replayBar {
	return &replayBar{w: w, on: isTerminal(w), start: time.Now()}
}

func (b *replayBar) update(done, total int) {
	if !b.on {
		return
	}
	now := time.Now()
	if b.drawn && now.Sub(b.last) < 200*time.Millisecond && done < total {
		return
	}
	b.last, b.drawn = now, true
	const width = 30
	frac := float64(done) / float64(max(total, 1))
	fill := int(frac * width)
	bar := strings.Repeat("=", fill)
	if fill < width {
		bar += ">" + strings.Repeat(" ", width-fill-1)
	}
	rate := float64(done) / max(now.Sub(b.start).Seconds(), 1e-9)
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second).String()
	}
	fmt.Fprintf(b.w, "\rreplay [%s] %3.0f%% %d/%d workloads %.0f/s ETA %s\x1b[K", bar, frac*100, done, total, rate, eta)
}

func (b *replayBar) done() {
	if b.drawn {
		fmt.Fprint(b.w, "\r\x1b[K")
		b.drawn = false
	}
}
