package main

import (
	"context"
	"os"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/projector"
)

// Connections between commands that live in different files.
func init() {
	runProjector = func(ctx context.Context, g *globalFlags, l *eventlog.Log, m *projector.Metrics) error {
		db, err := openFolding(ctx, os.Stderr, l, viewsPath(g, ""), m)
		if err != nil {
			return err
		}
		defer db.Close()
		m.Watch(l, db)
		return projector.Run(ctx, l, db, projector.WithMetrics(m))
	}
}
