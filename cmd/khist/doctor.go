package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/internal/diskuse"
	"github.com/khist/khist/projector"
	"github.com/spf13/cobra"
)

// errDoctor is doctor's error when it found something wrong: the report on stdout says what.
var errDoctor = errors.New("doctor")

func newDoctorCmd(g *globalFlags) *cobra.Command {
	f := &viewsFlags{}
	var list int
	var space bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the event log and the views: what is missing, damaged or quarantined, and what can be restored",
		Long: `doctor reads the whole event log (its headers only: about a second per million events) and the
views, and reports events the log lost (a store file deleted, truncated or overwritten, a
purge), events it cannot read, whether the views still hold those events' history (then keep
the views: a rebuild would lose it), events the views could not fold (quarantined), and a
damaged views file. It changes nothing. It exits 1 when anything is wrong.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			l, err := openLog(ctx, g)
			if err != nil {
				return err
			}
			defer l.Close()
			d := projector.Diagnose(ctx, l, viewsPath(g, f.db))
			printDiagnosis(cmd.OutOrStdout(), l, d, list)
			if space && d.HasViews {
				printSpace(cmd.OutOrStdout(), g, d.ViewsPath)
			}
			if d.Damaged() {
				return fmt.Errorf("%w: found problems (see above)", errDoctor)
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().IntVar(&list, "list", 20, "list at most this many quarantined events")
	cmd.Flags().BoolVar(&space, "space", false, "also report where the bytes on disk go: the embedded log's store and each bucket of the views")
	return cmd
}

func printDiagnosis(w io.Writer, l *eventlog.Log, d *projector.Diagnosis, list int) {
	st := d.Log.State
	switch {
	case d.LogErr != nil:
		fmt.Fprintf(w, "log:    cannot be verified: %v\n", d.LogErr)
	case st.LastSeq == 0:
		fmt.Fprintf(w, "log:    stream %s is empty\n", l.StreamName())
	default:
		fmt.Fprintf(w, "log:    stream %s: events %d-%d, %d stored, %d readable\n", l.StreamName(), st.FirstSeq, st.LastSeq, st.Msgs, d.Log.Readable)
		if d.Log.Limits && st.FirstSeq > 1 {
			fmt.Fprintf(w, "        events 1-%d were dropped by the stream's retention (max age or max bytes)\n", st.FirstSeq-1)
		}
	}
	for _, r := range d.Log.Damage {
		fmt.Fprintf(w, "        DAMAGED: %s (%d events)\n", r, r.Count())
	}
	switch {
	case d.ViewsErr != nil:
		fmt.Fprintf(w, "views:  %v\n", d.ViewsErr)
	case !d.HasViews:
		fmt.Fprintf(w, "views:  none at %s\n", d.ViewsPath)
	default:
		c := d.Views
		fmt.Fprintf(w, "views:  %s: folded up to event %d (%d events: %d changed the views, %d repeats, %d quarantined)\n",
			d.ViewsPath, c.Seq, c.Applied+c.Skipped+c.Quarantined, c.Applied, c.Skipped, c.Quarantined)
	}
	if d.Ahead {
		fmt.Fprintf(w, "        AHEAD: the views hold events up to %d but the log ends at %d: the stream was deleted or replaced; the views are the last copy of events %d-%d: keep them (rebuild refuses without --force)\n",
			d.Views.Seq, st.LastSeq, st.LastSeq+1, d.Views.Seq)
	}
	if d.Quarantined > 0 && d.HasViews {
		fmt.Fprintf(w, "quarantined: %d events could not be folded (the log keeps them):\n", d.Quarantined)
		if db, err := projector.Open(d.ViewsPath, &projector.Options{ReadOnly: true}); err == nil {
			qs, _ := db.QuarantineList(list)
			db.Close()
			for _, q := range qs {
				fmt.Fprintf(w, "        %d %s\n", q.Seq, q.Reason)
			}
		}
	}
	// What can be restored.
	for _, r := range d.Held {
		fmt.Fprintf(w, "restore: %s: the views hold their history; keep the views (rebuild refuses without --force); re-import the files they came from to put them back in the log\n", r)
	}
	for _, r := range d.Lost {
		fmt.Fprintf(w, "restore: %s: not in the views: lost unless re-imported (khist import of the files they came from); objects still in the cluster are recorded again by khist collect\n", r)
	}
	if d.ViewsErr != nil && errors.Is(d.ViewsErr, projector.ErrDamaged) {
		fmt.Fprintf(w, "restore: views damaged: run khist rebuild\n")
	}
	if !d.Damaged() {
		fmt.Fprintf(w, "ok: nothing missing, damaged or quarantined\n")
	}
}

// printSpace reports the bytes on disk of the embedded log's store (when there is one under
// --data-dir) and of the views, bucket by bucket: pages, what they hold, and how full they are.
func printSpace(w io.Writer, g *globalFlags, path string) {
	if g.NATS.URL == "" {
		fmt.Fprintf(w, "space:  log store %s\n", mib(diskuse.DirBytes(filepath.Join(g.DataDir, "jetstream"))))
	}
	db, err := projector.Open(path, &projector.Options{ReadOnly: true})
	if err != nil {
		fmt.Fprintf(w, "space:  views: %v\n", err)
		return
	}
	defer db.Close()
	u, err := db.Space()
	if err != nil {
		fmt.Fprintf(w, "space:  views: %v\n", err)
		return
	}
	fmt.Fprintf(w, "space:  views file %s: pages %s (of which free %s), in use %s, grown ahead %s\n",
		mib(u.FileBytes), mib(u.PageBytes), mib(u.FreeBytes), mib(u.InuseBytes), mib(max(0, u.FileBytes-u.PageBytes)))
	for _, b := range u.Buckets {
		if b.PageBytes == 0 {
			continue
		}
		fmt.Fprintf(w, "        %-10s %9d keys  pages %9s  in use %9s  %3.0f%% full\n", b.Name, b.Keys, mib(b.PageBytes), mib(b.InuseBytes), 100*float64(b.InuseBytes)/float64(b.PageBytes))
	}
}

func mib(n int64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }
