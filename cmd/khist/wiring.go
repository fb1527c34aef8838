package main

import (
	"context"
	"os"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/projector"
)

// Connections between commands that live in different files.
func init() {
	runProjector = func(ctx context.Context, g *globalFlags, l *eventlog.Log) error {
		db, err := openFolding(ctx, os.Stderr, l, viewsPath(g, ""))
		if err != nil {
			return err
		}
		defer db.Close()
		return projector.Run(ctx, l, db)
	}
}
