package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/khist/khist/eventlog"
	"github.com/spf13/cobra"
)

// globalFlags are the flags every command shares: where the log and the views live.
type globalFlags struct {
	DataDir string // --data-dir: embedded NATS store and bbolt views; default $KHIST_DATA_DIR, $XDG_DATA_HOME/khist
	Cluster string // --cluster: name of the recorded cluster
	NATS    natsFlags
	Stream  eventlog.StreamConfig // --stream-*: retention and replication of the log's stream
	// Logger receives the warnings and errors of the embedded NATS server (damage to its store
	// shows there first): stderr, unless a command (collect) sets its own.
	Logger *slog.Logger
}

// natsFlags select an external NATS JetStream instead of the embedded server.
type natsFlags struct {
	URL, Creds, User, Password, Token string
	PasswordFile, TokenFile           string // --nats-password-file, --nats-token-file
	TLSCA, TLSCert, TLSKey            string
	resolved                          bool // resolveSecrets has run
}

// defaultDataDir is --data-dir's default: $KHIST_DATA_DIR, else $XDG_DATA_HOME/khist, else
// ~/.local/share/khist.
func defaultDataDir() string {
	if d := os.Getenv("KHIST_DATA_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "khist")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "khist")
	}
	return ".khist"
}

func newRootCmd() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "khist",
		Annotations:   pluginName(),
		Short:         "Record, query and replay the history of a Kubernetes cluster",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.DataDir, "data-dir", defaultDataDir(), "directory of the embedded NATS store and the bbolt views ($KHIST_DATA_DIR, else $XDG_DATA_HOME/khist)")
	pf.StringVar(&g.Cluster, "cluster", "default", "name of the recorded cluster; read commands take several, --cluster prod,stage")
	root.RegisterFlagCompletionFunc("cluster", completeClusters(g))
	pf.StringVar(&g.NATS.URL, "nats-url", "", "external NATS JetStream URL(s); empty runs an embedded server under --data-dir")
	pf.StringVar(&g.NATS.Creds, "nats-creds", "", "NATS credentials file (JWT + nkey)")
	pf.StringVar(&g.NATS.User, "nats-user", "", "NATS user name")
	pf.StringVar(&g.NATS.Password, "nats-password", "", "NATS password; visible to every local user in /proc/PID/cmdline: prefer $"+envNATSPassword+" or --nats-password-file")
	pf.StringVar(&g.NATS.PasswordFile, "nats-password-file", "", "file holding the NATS password (one trailing newline ignored)")
	pf.StringVar(&g.NATS.Token, "nats-token", "", "NATS token; visible to every local user in /proc/PID/cmdline: prefer $"+envNATSToken+" or --nats-token-file")
	pf.StringVar(&g.NATS.TokenFile, "nats-token-file", "", "file holding the NATS token (one trailing newline ignored)")
	pf.StringVar(&g.NATS.TLSCA, "nats-tls-ca", "", "CA file to verify the NATS server")
	pf.StringVar(&g.NATS.TLSCert, "nats-tls-cert", "", "client certificate for NATS mutual TLS")
	pf.StringVar(&g.NATS.TLSKey, "nats-tls-key", "", "client key for NATS mutual TLS")
	pf.DurationVar(&g.Stream.MaxAge, "stream-max-age", 0, "drop log events older than this (0 keeps them forever)")
	pf.Int64Var(&g.Stream.MaxBytes, "stream-max-bytes", 0, "drop the oldest log events beyond this many bytes (0: no limit)")
	pf.DurationVar(&g.Stream.Duplicates, "stream-dedup-window", 0, "window in which JetStream drops duplicate events (default 10m)")
	pf.IntVar(&g.Stream.Replicas, "stream-replicas", 1, "replicas of the stream on a clustered JetStream")
	// The stream's settings are changed only by a command given one of the --stream-* flags
	// (or when it creates the stream): other commands leave the log's retention alone.
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		g.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
		for _, f := range []string{"stream-max-age", "stream-max-bytes", "stream-dedup-window", "stream-replicas"} {
			if cmd.Flags().Changed(f) {
				g.Stream.Apply = true
			}
		}
	}
	// Every subcommand, with what it depends on: the global flags, and for collect and import
	// the projector that folds what they append into the views. Help lists them by name.
	root.AddCommand(
		newCollectCmd(g, projectInProcess),
		newImportCmd(g, foldImported),
		newProjectCmd(g),
		newRebuildCmd(g),
		newLogCmd(g),
		newGetCmd(g),
		newStateCmd(g),
		newDiffCmd(g),
		newHistoryCmd(g),
		newRolloutsCmd(g),
		newStepsCmd(g),
		newRunsCmd(g),
		newTimelineCmd(g),
		newReplayCmd(g),
		newServeCmd(g),
		newExportCmd(g),
		newDoctorCmd(g),
	)
	sayDiskFull(root, g)
	return root
}

// pluginName makes usage and help say "kubectl khist" when the binary runs as the kubectl plugin
// kubectl-khist.
func pluginName() map[string]string {
	if filepath.Base(os.Args[0]) == "kubectl-khist" {
		return map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl khist"}
	}
	return nil
}

// sayDiskFull makes every command say that the disk is full when a write under --data-dir
// failed for want of space (the views, a rebuild's new file: bbolt's "no space left on
// device"), with the space free and what to do. The log's own errors say it already
// (eventlog.ErrDiskFull).
func sayDiskFull(c *cobra.Command, g *globalFlags) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			return eventlog.DiskFull(run(cmd, args), g.DataDir)
		}
	}
	for _, sub := range c.Commands() {
		sayDiskFull(sub, g)
	}
}

// checkRecordedCluster refuses a --cluster of several names for a command that records: read
// commands read commas as a list of clusters.
func checkRecordedCluster(g *globalFlags) error {
	if strings.Contains(g.Cluster, ",") {
		return fmt.Errorf("--cluster %q: a command that records takes one cluster name, without commas (read commands read them as a list): name one", g.Cluster)
	}
	return nil
}
