package main

import (
	"context"

	"github.com/khist/khist/eventlog"
)

// openLog opens the event log the global flags name: the embedded server under --data-dir, or
// --nats-url.
// The password and the token come from their flags, files or environment variables
// (resolveSecrets).
func openLog(ctx context.Context, g *globalFlags) (*eventlog.Log, error) {
	if err := g.NATS.resolveSecrets(); err != nil {
		return nil, err
	}
	return eventlog.Open(ctx, eventlog.Options{
		DataDir:  g.DataDir,
		URL:      g.NATS.URL,
		Creds:    g.NATS.Creds,
		User:     g.NATS.User,
		Password: g.NATS.Password,
		Token:    g.NATS.Token,
		TLSCA:    g.NATS.TLSCA,
		TLSCert:  g.NATS.TLSCert,
		TLSKey:   g.NATS.TLSKey,
		Stream:   g.Stream,
		Logger:   g.Logger,
	})
}
