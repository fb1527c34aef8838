package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/khist/khist/notify"
	"github.com/khist/khist/projector"
	"github.com/khist/khist/query"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
)

// envNotifyWebhook gives the webhook without a flag (a webhook URL holds a token).
const envNotifyWebhook = "KHIST_NOTIFY_WEBHOOK"

// notifyFlags are --notify-webhook and its file form, of collect and project.
type notifyFlags struct {
	url, file string
	otlp      otlpFlags // --otlp-endpoint: rollouts as traces, beside the notifications
}

func (n *notifyFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&n.url, "notify-webhook", "", "post a JSON message (Slack-compatible text) to this URL for each rollout that misses its progress deadline, is rolled back, or does not do what its controller's algorithm does (khist replay compare), once per rollout; also "+envNotifyWebhook+" (a webhook URL holds a token: prefer the file or the environment)")
	cmd.Flags().StringVar(&n.file, "notify-webhook-file", "", "a file holding the --notify-webhook URL")
	n.otlp.add(cmd)
}

// viewsWatcher runs beside a fold, on its views, until ctx ends.
type viewsWatcher func(ctx context.Context, db *projector.DB)

// watcher resolves the webhook and returns the notifier to run beside the fold (nil: none).
// Its state file sits beside the views: notify.json in the data directory.
func (n *notifyFlags) watcher(g *globalFlags, reg prometheus.Registerer, logger *slog.Logger) (viewsWatcher, error) {
	traces, err := n.otlp.watcher(g, reg, logger)
	if err != nil {
		return nil, err
	}
	notes, err := n.webhook(g, reg, logger)
	return both(notes, traces), err
}

// webhook resolves the webhook and returns the notifier (nil: none).
func (n *notifyFlags) webhook(g *globalFlags, reg prometheus.Registerer, logger *slog.Logger) (viewsWatcher, error) {
	s := secret{"--notify-webhook", "--notify-webhook-file", envNotifyWebhook, &n.url, &n.file}
	if err := s.resolve(); err != nil {
		return nil, err
	}
	if n.url == "" {
		return nil, nil
	}
	o := notify.Options{URL: n.url, StateFile: filepath.Join(g.DataDir, "notify.json"), Registerer: reg, Logger: logger}
	if err := notify.Check(o); err != nil {
		return nil, err
	}
	return func(ctx context.Context, db *projector.DB) {
		v := query.NewViews(db, g.Cluster, query.DefaultEnv())
		o.Audit = func(ctx context.Context, r projector.Rollout) (bool, string, error) {
			rc, err := v.AuditRollout(ctx, r)
			if err != nil || rc == nil || rc.Match {
				return false, "", err
			}
			detail := ""
			if d := rc.Divergence; d != nil {
				detail = fmt.Sprintf("step %d: %s", d.Step, d.Reason)
			}
			return true, detail, nil
		}
		if err := notify.Run(ctx, db, o); err != nil {
			logger.Error("rollout notifications stopped", "err", err)
		}
	}, nil
}
