package query

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/khist/khist/eventlog/kinds"
	"github.com/khist/khist/projector"
	"sigs.k8s.io/yaml"
)

// RolloutsArgs are the arguments of khist rollouts.
type RolloutsArgs struct {
	Object        string       // optional KIND or KIND/NAME (deploy, sts/db)
	Namespace     string       // -n
	AllNamespaces bool         // -A
	Since, Until  string       // --since, --until: rollouts that overlap the window
	Output        string       // -o: table, wide, json, yaml, csv or md
	Table         TableOptions // --no-headers, --sort-by (table and wide)
	// Printer, when set, prints the rows (a kubectl List of them, as -o json writes each)
	// instead of Output: kubectl's -o jsonpath=..., go-template=..., custom-columns=....
	Printer Printer
}

// RolloutsFormats are the -o values of khist rollouts.
var RolloutsFormats = []string{OutTable, OutWide, OutJSON, OutYAML, OutCSV, OutMD}

// RolloutRow is one rollout of the audit: what changed, when, how long it took, how it ended
// and what it cost in availability.
type RolloutRow struct {
	Cluster  string    `json:"cluster"` // the recorded cluster
	ID       uint64    `json:"id"`      // the stream sequence at which it started
	Number   int       `json:"number"`  // its number among the workload's rollouts, from 1
	Ref      string    `json:"rollout"` // kind/name#number, e.g. deployment/web#3: --rollout accepts it
	Workload ObjectKey `json:"workload"`
	// UndidFailed: a rollback of a revision whose rollout failed its progress deadline.
	UndidFailed bool `json:"undidFailed,omitempty"`
	// BackTo: of a rollback, the number the revision it went back to had before.
	BackTo       int64  `json:"backTo,omitempty"`
	FromRevision int64  `json:"fromRevision,omitempty"`
	ToRevision   int64  `json:"toRevision,omitempty"`
	FromHash     string `json:"fromHash,omitempty"`
	ToHash       string `json:"toHash,omitempty"`
	// Job: of a Job run (the Job's or a CronJob's rows), what it did.
	Job          *JobInfo      `json:"job,omitempty"`
	FromImages   []string      `json:"fromImages,omitempty"`
	ToImages     []string      `json:"toImages,omitempty"`
	Initial      bool          `json:"initial,omitempty"`
	Rollback     bool          `json:"rollback,omitempty"`
	Started      time.Time     `json:"started"`
	Ended        time.Time     `json:"ended,omitzero"`
	EndSeq       uint64        `json:"endSeq,omitempty"`
	Duration     time.Duration `json:"durationNanos,omitempty"` // to the end, or to the end of the history while it lasts
	Outcome      string        `json:"outcome"`
	Desired      int32         `json:"desired"`
	MinAvailable int32         `json:"minAvailable"`
	MinShare     float64       `json:"minAvailableShare"`
	MinAt        time.Time     `json:"minAvailableAt,omitzero"`
	PeakPods     int32         `json:"peakPods"`
	Steps        int           `json:"steps"`
	Actor        string        `json:"actor,omitempty"`
	Who          *Who          `json:"who,omitempty"` // the audit record of Actor's request, when the log holds it
	ChangeCause  string        `json:"changeCause,omitempty"`
	Strategy     string        `json:"strategy,omitempty"`
}

// outcomeWords are the outcomes as the tables print them.
var outcomeWords = map[string]string{
	projector.OutcomeComplete: "complete", projector.OutcomeProgressing: "progressing",
	projector.OutcomeFailed: "failed", projector.OutcomePaused: "paused",
	projector.OutcomeSuperseded: "superseded", projector.OutcomeRolledBack: "rolled back",
}

func outcomeWord(o string) string {
	if w, ok := outcomeWords[o]; ok {
		return w
	}
	return o
}

// rolloutOutcome is a rollout's outcome as the tables print it; a rollout that failed its
// progress deadline before it ended otherwise says so ("failed, rolled back"; one that
// completed all the same: "complete after its progress deadline").
func rolloutOutcome(r *projector.Rollout) string {
	w := outcomeWord(r.Outcome)
	switch {
	case r.FailedSeq == 0 || r.Outcome == projector.OutcomeFailed:
	case r.Outcome == projector.OutcomeComplete:
		w += " after its progress deadline"
	default:
		w = "failed, " + w
	}
	return w
}

// workloadKinds are the kinds that roll out.
var workloadKinds = kinds.RolloutKinds()

// parseWorkloadArg reads an optional KIND or KIND/NAME of a workload.
func (v *Views) parseWorkloadArg(ctx context.Context, cmd, arg string, nameRequired bool) (Kind, string, error) {
	if arg == "" {
		return Kind{}, "", nil
	}
	var k Kind
	var name string
	var err error
	if nameRequired {
		k, name, err = v.ParseObject(ctx, arg)
	} else {
		k, name, err = v.parseKindName(ctx, arg, true)
	}
	if err != nil {
		return Kind{}, "", err
	}
	if isJobKind(k) {
		return k, name, nil
	}
	if err := RequireWorkload(cmd, k); err != nil {
		return Kind{}, "", err
	}
	return k, name, nil
}

// rolloutRows reads rollouts and completes them with images and step counts.
func (v *Views) rolloutRows(ctx context.Context, f projector.RolloutFilter, end time.Time) ([]RolloutRow, error) {
	rs, err := v.DB.Rollouts(ctx, f)
	if err != nil {
		return nil, err
	}
	// The revisions the rows name, each read once (without its pods): images and numbers.
	revs := map[string]*projector.Revision{} // namespace/kind/name/hash
	revisionOf := func(r *projector.Rollout, hash string) *projector.Revision {
		if hash == "" {
			return nil
		}
		k := r.Namespace + "/" + r.Kind + "/" + r.Name + "/" + hash
		rv, ok := revs[k]
		if !ok {
			rv, _ = v.DB.Revision(ctx, projector.WorkloadRef{Cluster: r.Cluster, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}, hash)
			revs[k] = rv
		}
		return rv
	}
	imagesOf := func(r *projector.Rollout, hash string) []string {
		if rv := revisionOf(r, hash); rv != nil {
			return rv.Images
		}
		return nil
	}
	// Each rollout's number among its workload's rollouts, whichever the filter selects, and
	// the one before it.
	orders := map[string][]uint64{} // namespace/kind/name -> start sequences in start order
	numberOf := func(r *projector.Rollout) (int, *projector.Rollout, error) {
		w := projector.WorkloadRef{Cluster: r.Cluster, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}
		k := r.Namespace + "/" + r.Kind + "/" + r.Name
		order, ok := orders[k]
		if !ok {
			var err error
			if order, err = v.DB.RolloutOrder(ctx, w); err != nil {
				return 0, nil, err
			}
			orders[k] = order
		}
		i := slices.Index(order, r.StartSeq)
		if i <= 0 {
			return i + 1, nil, nil
		}
		prev, err := v.DB.Rollout(ctx, w, order[i-1])
		return i + 1, prev, err
	}
	out := make([]RolloutRow, 0, len(rs))
	for i := range rs {
		r := &rs[i]
		num, prev, err := numberOf(r)
		if err != nil {
			return nil, err
		}
		steps, err := v.DB.RolloutStepCount(ctx, *r)
		if err != nil {
			return nil, err
		}
		row := RolloutRow{
			Cluster: r.Cluster, ID: r.StartSeq, Number: num, Ref: fmt.Sprintf("%s/%s#%d", strings.ToLower(r.Kind), r.Name, num),
			UndidFailed:  r.Rollback && prev != nil && prev.ToHash == r.FromHash && (prev.FailedSeq != 0 || prev.Outcome == projector.OutcomeFailed),
			Workload:     ObjectKey{Group: "apps", Kind: r.Kind, Namespace: r.Namespace, Name: r.Name},
			FromRevision: r.FromRevision, ToRevision: r.ToRevision, FromHash: r.FromHash, ToHash: r.ToHash,
			FromImages: imagesOf(r, r.FromHash), ToImages: imagesOf(r, r.ToHash),
			Initial: r.Initial, Rollback: r.Rollback, Started: r.Start, Ended: r.End, EndSeq: r.EndSeq, Outcome: rolloutOutcome(r),
			Desired: r.Desired, MinAvailable: r.MinAvailable, MinShare: r.MinAvailableShare, MinAt: r.MinAvailableAt,
			PeakPods: r.PeakPods, Steps: steps, Actor: r.Actor, ChangeCause: r.ChangeCause, Strategy: r.Strategy,
		}
		row.Actor, row.Who = v.who(ctx, row.Workload, "", r.Start, r.Actor, false)
		if r.Rollback {
			// The number the revision had before the rollback renumbered it.
			if rv := revisionOf(r, r.ToHash); rv != nil {
				for i := len(rv.Numbers) - 1; i >= 0; i-- {
					if n := rv.Numbers[i].Number; n != r.ToRevision {
						row.BackTo = n
						break
					}
				}
			}
		}
		if !r.End.IsZero() {
			row.Duration = r.End.Sub(r.Start)
		} else if end.After(r.Start) {
			row.Duration = end.Sub(r.Start)
		}
		out = append(out, row)
	}
	return out, nil
}

// Rollouts writes the rollout audit: one row per rollout of the selected workloads, of every
// selected cluster (a CLUSTER column when several are).
func (v *Views) Rollouts(ctx context.Context, a RolloutsArgs, w io.Writer) error {
	out, err := OutJSON, error(nil)
	if a.Printer == nil {
		if out, err = ParseOutput(a.Output, RolloutsFormats...); err != nil {
			return err
		}
	}
	scope, err := ScopeOf(a.Namespace, a.AllNamespaces, "default")
	if err != nil {
		return err
	}
	cs := v.Clusters()
	var rows []RolloutRow
	for _, c := range cs {
		rs, err := v.In(c).rollouts(ctx, a, scope, len(cs) > 1)
		if err != nil {
			return err
		}
		rows = append(rows, rs...)
	}
	if len(cs) > 1 {
		slices.SortStableFunc(rows, func(a, b RolloutRow) int { return a.Started.Compare(b.Started) })
	}
	if a.Printer != nil {
		return printRows(a.Printer, rows, w)
	}
	return renderRollouts(w, rows, out, scope, len(cs) > 1, v.Env, a.Table)
}

// rollouts returns the rows of the rollouts of v's cluster. Of one of several clusters, a
// workload it lacks is no error.
func (v *Views) rollouts(ctx context.Context, a RolloutsArgs, scope Scope, several bool) ([]RolloutRow, error) {
	k, name, err := v.parseWorkloadArg(ctx, "rollouts", a.Object, false)
	if err != nil {
		return nil, err
	}
	since, until, err := v.Env.Window(a.Since, a.Until)
	if err != nil {
		return nil, err
	}
	first, last, err := v.Span(ctx)
	if err != nil {
		return nil, err
	}
	if first.IsZero() {
		if several {
			return nil, nil
		}
		return nil, errorf(ErrNotFound, "the views of cluster %q are empty: record (khist collect) or import (khist import) first, or pick --cluster", v.Cluster)
	}
	end := last.Add(time.Second)
	if !since.IsZero() && since.After(end) {
		return nil, &RangeError{Flag: "--since", Time: since, Subject: "the recorded history", From: first, To: end, Loc: v.Env.loc()}
	}
	if !until.IsZero() && until.Before(first) {
		return nil, &RangeError{Flag: "--until", Time: until, Subject: "the recorded history", From: first, To: end, Loc: v.Env.loc()}
	}
	f := projector.RolloutFilter{Cluster: v.Cluster, Kind: k.Kind, Name: name, From: since, To: until}
	if !scope.AllNamespaces {
		f.Namespace = scope.Namespace
	}
	if name != "" && !scope.AllNamespaces {
		if _, err := v.lifetimes(ctx, k, scope.Namespace, name); err != nil && !several {
			return nil, err
		}
	}
	rows, err := v.rolloutRows(ctx, f, last)
	if err != nil {
		return nil, err
	}
	jobs, err := v.jobRolloutRows(ctx, f, last)
	if err != nil {
		return nil, err
	}
	return mergeRows(rows, jobs), nil
}

func revisionText(r RolloutRow) string {
	if r.Job != nil {
		return "-"
	}
	rev := func(n int64) string {
		if n == 0 {
			return "?"
		}
		return strconv.FormatInt(n, 10)
	}
	if r.Initial {
		return "-> " + rev(r.ToRevision)
	}
	return rev(r.FromRevision) + " -> " + rev(r.ToRevision)
}

func imagesText(r RolloutRow) string {
	from, to := strings.Join(r.FromImages, ","), strings.Join(r.ToImages, ",")
	if from == "" || from == to || r.Initial {
		return orNone(to)
	}
	return from + " -> " + to
}

func outcomeText(r RolloutRow) string {
	s := r.Outcome
	if r.Job != nil {
		return s
	}
	switch {
	case r.Initial:
		s += " (created)"
	case r.Rollback && r.UndidFailed && r.FromRevision != 0:
		s += fmt.Sprintf(" (rollback of failed revision %d)", r.FromRevision)
	case r.Rollback && r.BackTo != 0:
		s += fmt.Sprintf(" (rollback to revision %d)", r.BackTo)
	case r.Rollback:
		s += " (rollback)"
	}
	return s
}

func durationText(r RolloutRow) string {
	if r.Ended.IsZero() {
		if r.Duration == 0 {
			return "-"
		}
		return FormatDuration(r.Duration) + "+"
	}
	return FormatDuration(r.Duration)
}

func availText(r RolloutRow) string {
	if r.Job != nil {
		return jobPodsText(r)
	}
	return fmt.Sprintf("%d/%d (%d%%)", r.MinAvailable, r.Desired, int(r.MinShare*100+0.5))
}

func renderRollouts(w io.Writer, rows []RolloutRow, format string, scope Scope, clusters bool, env Env, opts TableOptions) error {
	switch format {
	case OutJSON, OutYAML:
		if rows == nil {
			rows = []RolloutRow{}
		}
		j, err := json.MarshalIndent(map[string]any{"rollouts": rows}, "", "  ")
		if err != nil {
			return err
		}
		if format == OutYAML {
			if j, err = yaml.JSONToYAML(j); err != nil {
				return err
			}
			_, err = w.Write(j)
			return err
		}
		_, err = w.Write(append(j, '\n'))
		return err
	}
	if len(rows) == 0 && (format == OutTable || format == OutWide) {
		where := "in namespace " + scope.Namespace
		if scope.AllNamespaces {
			where = "in any namespace"
		}
		_, err := fmt.Fprintf(w, "No rollouts recorded %s.\n", where)
		return err
	}
	head := []string{"ROLLOUT", "REVISION", "IMAGES", "STARTED", "DURATION", "OUTCOME", "MIN AVAILABLE", "PEAK PODS", "STEPS", "BY"}
	if format == OutWide || format == OutCSV || format == OutMD {
		head = append(head, "STRATEGY", "CHANGE-CAUSE")
	}
	if scope.AllNamespaces || format == OutCSV || format == OutMD {
		head = append([]string{"NAMESPACE"}, head...)
	}
	if clusters {
		head = append([]string{"CLUSTER"}, head...)
	}
	cells := func(r RolloutRow) []string {
		c := []string{r.Ref, revisionText(r), imagesText(r), env.FormatTime(r.Started),
			durationText(r), outcomeText(r), availText(r), strconv.Itoa(int(r.PeakPods)), strconv.Itoa(r.Steps), orNone(r.Actor)}
		if format == OutWide || format == OutCSV || format == OutMD {
			c = append(c, orNone(r.Strategy), orNone(r.ChangeCause))
		}
		if scope.AllNamespaces || format == OutCSV || format == OutMD {
			c = append([]string{r.Workload.Namespace}, c...)
		}
		if clusters {
			c = append([]string{r.Cluster}, c...)
		}
		return c
	}
	switch format {
	case OutCSV:
		cw := csv.NewWriter(w)
		cw.Write(head)
		for _, r := range rows {
			cw.Write(cells(r))
		}
		cw.Flush()
		return cw.Error()
	case OutMD:
		fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
		for _, r := range rows {
			cs := cells(r)
			for i := range cs {
				cs[i] = mdEscape(cs[i])
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(cs, " | "))
		}
		return nil
	}
	t := &table{}
	for _, h := range head {
		t.columns = append(t.columns, column{name: h})
	}
	for _, r := range rows {
		t.add(r, cells(r)...)
	}
	return t.print(w, format == OutWide, opts)
}

// HistoryArgs are the arguments of khist history.
type HistoryArgs struct {
	Object    string       // KIND/NAME of a workload
	Namespace string       // -n
	Output    string       // -o: table, json or yaml
	Table     TableOptions // --no-headers, --sort-by (table)
	// Printer, when set, prints the rows (a kubectl List of them, as -o json writes each)
	// instead of Output: kubectl's -o jsonpath=..., go-template=..., custom-columns=....
	Printer Printer
}

// HistoryFormats are the -o values of khist history.
var HistoryFormats = []string{OutTable, OutJSON, OutYAML}

// HistoryRow is one revision of a workload.
type HistoryRow struct {
	Revision     int64       `json:"revision"`
	Numbers      []int64     `json:"numbers,omitempty"` // every number it had, when renumbered by a rollback
	Hash         string      `json:"hash"`
	Object       string      `json:"object"` // the ReplicaSet or ControllerRevision
	Images       []string    `json:"images,omitempty"`
	Created      time.Time   `json:"created"`
	Current      []Period    `json:"current,omitempty"`
	Actor        string      `json:"actor,omitempty"`
	Who          *Who        `json:"who,omitempty"` // the audit record of Actor's request, when the log holds it
	ChangeCause  string      `json:"changeCause,omitempty"`
	Rollout      *RolloutRow `json:"rollout,omitempty"` // the rollout that introduced it
	Pods         int         `json:"pods"`              // pods created from it
	Deleted      time.Time   `json:"deleted,omitzero"`  // its ReplicaSet or ControllerRevision deleted
	StillCurrent bool        `json:"current_now,omitempty"`
}

// Period is an interval during which a revision was current; To is zero while it lasts.
type Period struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to,omitzero"`
}

// History writes every revision of a workload (also one deleted since): its template hash,
// images, when it was current, who made it, its change-cause and the outcome of the rollout
// that introduced it.
func (v *Views) History(ctx context.Context, a HistoryArgs, w io.Writer) error {
	out, err := OutJSON, error(nil)
	if a.Printer == nil {
		if out, err = ParseOutput(a.Output, HistoryFormats...); err != nil {
			return err
		}
	}
	k, name, err := v.parseWorkloadArg(ctx, "history", a.Object, true)
	if err != nil {
		return err
	}
	ns := namespaceOf(k, Scope{Namespace: a.Namespace})
	lts, err := v.lifetimes(ctx, k, ns, name)
	if err != nil {
		return err
	}
	revs, err := v.DB.Revisions(ctx, projector.WorkloadRef{Cluster: v.Cluster, Kind: k.Kind, Namespace: ns, Name: name})
	if err != nil {
		return err
	}
	_, last, err := v.Span(ctx)
	if err != nil {
		return err
	}
	rollouts, err := v.rolloutRows(ctx, projector.RolloutFilter{Cluster: v.Cluster, Namespace: ns, Kind: k.Kind, Name: name}, last)
	if err != nil {
		return err
	}
	var rows []HistoryRow
	if isJobKind(k) {
		if rows, err = v.jobHistoryRows(ctx, k, ns, name, last); err != nil {
			return err
		}
	}
	for _, r := range revs {
		row := HistoryRow{Revision: r.Number(), Hash: r.Hash, Object: r.Object.Name, Images: r.Images, Created: r.Created,
			Actor: r.Actor, ChangeCause: r.ChangeCause, Pods: len(r.Pods), Deleted: r.Deleted}
		if len(r.Numbers) > 1 {
			for _, n := range r.Numbers {
				row.Numbers = append(row.Numbers, n.Number)
			}
		}
		for _, p := range r.Current {
			row.Current = append(row.Current, Period{From: p.From, To: p.To})
		}
		row.StillCurrent = len(r.Current) > 0 && r.Current[len(r.Current)-1].To.IsZero()
		// The latest rollout to it: a revision made current again by a rollback shows the
		// rollback, under its new number.
		for i := len(rollouts) - 1; i >= 0; i-- {
			if rollouts[i].ToHash == r.Hash {
				ro := rollouts[i]
				row.Rollout = &ro
				break
			}
		}
		// Who changed the template: the rollout's user, or the request nearest to the
		// revision's creation.
		if row.Rollout != nil && row.Rollout.Who != nil && row.Rollout.Who.Manager == r.Actor {
			row.Actor, row.Who = row.Rollout.Actor, row.Rollout.Who
		} else {
			row.Actor, row.Who = v.who(ctx, ObjectKey{Group: k.Group, Kind: k.Kind, Namespace: ns, Name: name}, "", r.Created, r.Actor, false)
		}
		rows = append(rows, row)
	}
	last0 := lts[len(lts)-1]
	if a.Printer != nil {
		return printRows(a.Printer, rows, w)
	}
	switch out {
	case OutJSON, OutYAML:
		if rows == nil {
			rows = []HistoryRow{}
		}
		doc := map[string]any{"workload": ObjectKey{Group: k.Group, Kind: k.Kind, Namespace: ns, Name: name}, "revisions": rows}
		if !last0.Gone.IsZero() {
			doc["deleted"] = last0.Gone
		}
		j, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return err
		}
		if out == OutYAML {
			if j, err = yaml.JSONToYAML(j); err != nil {
				return err
			}
			_, err = w.Write(j)
			return err
		}
		_, err = w.Write(append(j, '\n'))
		return err
	}
	fmt.Fprintf(w, "%s", ObjectKey{Group: k.Group, Kind: k.Kind, Name: name}.Ref())
	if ns != "" {
		fmt.Fprintf(w, " in namespace %s", ns)
	}
	if !last0.Gone.IsZero() {
		fmt.Fprintf(w, " (deleted at %s)", v.Env.FormatTime(last0.Gone))
	}
	fmt.Fprintln(w)
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "No revisions recorded.")
		return err
	}
	t := &table{}
	for _, h := range []string{"REVISION", "HASH", "IMAGES", "CURRENT FROM", "UNTIL", "BY", "CHANGE-CAUSE", "ROLLOUT", "PODS"} {
		t.columns = append(t.columns, column{name: h})
	}
	for _, r := range rows {
		rev := strconv.FormatInt(r.Revision, 10)
		if len(r.Numbers) > 1 {
			var was []string
			for _, n := range r.Numbers[:len(r.Numbers)-1] {
				was = append(was, strconv.FormatInt(n, 10))
			}
			rev += " (was " + strings.Join(was, ", ") + ")"
		}
		from, until := "-", "-"
		if len(r.Current) > 0 {
			from = v.Env.FormatTime(r.Current[0].From)
			lp := r.Current[len(r.Current)-1]
			until = "now"
			switch {
			case !lp.To.IsZero():
				until = v.Env.FormatTime(lp.To)
			case !last0.Gone.IsZero():
				until = v.Env.FormatTime(last0.Gone) + " (deleted)"
			}
			if len(r.Current) > 1 {
				until += fmt.Sprintf(" (current %d times)", len(r.Current))
			}
		}
		ro := "-"
		if r.Rollout != nil {
			ro = fmt.Sprintf("#%d %s", r.Rollout.Number, outcomeText(*r.Rollout))
			if d := durationText(*r.Rollout); d != "-" {
				ro += " in " + d
			}
		}
		t.add(r, rev, r.Hash, orNone(strings.Join(r.Images, ",")), from, until,
			orNone(r.Actor), orNone(r.ChangeCause), ro, strconv.Itoa(r.Pods))
	}
	return t.print(w, false, a.Table)
}

// StepsArgs are the arguments of khist steps.
type StepsArgs struct {
	Object    string       // KIND/NAME of a workload
	Namespace string       // -n
	Rollout   string       // --rollout: #N or KIND/NAME#N (from khist rollouts), revN, latest (default), all, or the older log sequence
	Output    string       // -o: table or json
	Table     TableOptions // --no-headers, --sort-by (table: within each rollout)
	// Printer, when set, prints the rows (a kubectl List of them, as -o json writes each)
	// instead of Output: kubectl's -o jsonpath=..., go-template=..., custom-columns=....
	Printer Printer
}

// StepsFormats are the -o values of khist steps.
var StepsFormats = []string{OutTable, OutJSON}

// StepRow is one reconcile step of a rollout.
type StepRow struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Action  string    `json:"action"`
	Text    string    `json:"text"` // e.g. Scaled up replica set web-5d4f from 1 to 2
	Target  string    `json:"target"`
	Event   string    `json:"event,omitempty"` // the reason of the Event that announced it
	Elapsed string    `json:"elapsed"`         // since the rollout started
}

// stepText says a step in the words of the controllers' Events.
func stepText(s projector.Step) string {
	switch s.Action {
	case projector.ActionScale:
		from, to := int32(0), int32(0)
		if s.From != nil {
			from = *s.From
		}
		if s.To != nil {
			to = *s.To
		}
		dir := "up"
		if to < from {
			dir = "down"
		}
		return fmt.Sprintf("Scaled %s replica set %s from %d to %d", dir, s.Target.Name, from, to)
	case projector.ActionCreatePod:
		t := "Created pod " + s.Target.Name
		if s.Node != "" {
			t += " on node " + s.Node
		}
		return t
	case projector.ActionDeletePod:
		return "Deleted pod " + s.Target.Name
	case projector.ActionCreateClaim:
		return "Created PVC " + s.Target.Name
	case projector.ActionBindClaim:
		t := "PVC " + s.Target.Name + " bound"
		if s.Volume != "" {
			t += " to volume " + s.Volume
		}
		return t
	}
	return s.Action + " " + s.Target.Kind + " " + s.Target.Name
}

// Steps writes the reconcile steps of a rollout of a workload, with their times.
func (v *Views) Steps(ctx context.Context, a StepsArgs, w io.Writer) error {
	out, err := OutJSON, error(nil)
	if a.Printer == nil {
		if out, err = ParseOutput(a.Output, StepsFormats...); err != nil {
			return err
		}
	}
	k, name, err := v.parseWorkloadArg(ctx, "steps", a.Object, true)
	if err != nil {
		return err
	}
	ns := namespaceOf(k, Scope{Namespace: a.Namespace})
	if _, err := v.lifetimes(ctx, k, ns, name); err != nil {
		return err
	}
	if isJobKind(k) {
		return v.jobSteps(ctx, a, k, name, ns, out, w)
	}
	_, last, err := v.Span(ctx)
	if err != nil {
		return err
	}
	rows, err := v.rolloutRows(ctx, projector.RolloutFilter{Cluster: v.Cluster, Namespace: ns, Kind: k.Kind, Name: name}, last)
	if err != nil {
		return err
	}
	subject := k.Singular() + "/" + name
	ids := func() string {
		var s []string
		for _, r := range rows {
			s = append(s, fmt.Sprintf("#%d (revision %s)", r.Number, revisionText(r)))
		}
		if len(s) == 0 {
			return "none recorded"
		}
		return strings.Join(s, ", ")
	}
	sel := strings.TrimSpace(a.Rollout)
	var chosen []RolloutRow
	switch {
	case len(rows) == 0:
		return errorf(ErrNotFound, "%s in namespace %s has no recorded rollout", subject, ns)
	case sel == "" || sel == "latest":
		chosen = rows[len(rows)-1:]
	case sel == "all":
		chosen = rows
	default:
		// #N or KIND/NAME#N: the workload's Nth rollout; revN: the rollouts to revision N;
		// a plain number: the log sequence at which it started (the IDs of older khists).
		byNumber := false
		num := sel
		if i := strings.LastIndexByte(sel, '#'); i >= 0 {
			num, byNumber = sel[i+1:], true
		} else {
			num = strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(sel, "revision="), "rev"), "r")
		}
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			return errorf(ErrBadArgument, "--rollout: %q: use #N (a rollout of khist rollouts, e.g. %s#1), revN (the rollout to revision N), latest or all; %s has %s", sel, subject, subject, ids())
		}
		for _, r := range rows {
			switch {
			case byNumber && r.Number == int(n),
				!byNumber && num == sel && r.ID == n,
				!byNumber && num != sel && r.ToRevision == int64(n):
				chosen = append(chosen, r)
			}
		}
		if len(chosen) == 0 {
			return errorf(ErrNotFound, "--rollout: %s has no rollout %s: it has %s", subject, sel, ids())
		}
	}
	type rolloutSteps struct {
		Rollout RolloutRow `json:"rollout"`
		Steps   []StepRow  `json:"steps"`
	}
	var doc []rolloutSteps
	for _, r := range chosen {
		steps, err := v.DB.Steps(ctx, projector.StepFilter{Cluster: v.Cluster, Namespace: ns, Kind: k.Kind, Name: name, FromSeq: r.ID, ToSeq: endSeq(r, rows)})
		if err != nil {
			return err
		}
		rs := rolloutSteps{Rollout: r, Steps: []StepRow{}}
		for _, s := range steps {
			rs.Steps = append(rs.Steps, stepRow(s, r))
		}
		doc = append(doc, rs)
	}
	if handled, err := writeRows(w, doc, out, a.Printer); handled {
		return err
	}
	for i, rs := range doc {
		if i > 0 {
			fmt.Fprintln(w)
		}
		r := rs.Rollout
		fmt.Fprintf(w, "Rollout %s in namespace %s: revision %s, %s, started %s", r.Ref, ns, revisionText(r), imagesText(r), v.Env.FormatTime(r.Started))
		if r.Actor != "" {
			fmt.Fprintf(w, " by %s", r.Actor)
		}
		fmt.Fprintf(w, ", %s", outcomeText(r))
		if d := durationText(r); d != "-" {
			fmt.Fprintf(w, " after %s", d)
		}
		fmt.Fprintf(w, "; lowest availability %s, peak %s\n", availText(r), plural(int64(r.PeakPods), "pod", "pods"))
		if len(rs.Steps) == 0 {
			fmt.Fprintln(w, "No reconcile steps recorded.")
			continue
		}
		t := &table{columns: []column{{name: "TIME"}, {name: "ELAPSED"}, {name: "STEP"}, {name: "EVENT"}}}
		for _, s := range rs.Steps {
			t.add(s, v.Env.FormatClock(s.Time), s.Elapsed, s.Text, orDash(s.Event))
		}
		if err := t.print(w, false, a.Table); err != nil {
			return err
		}
	}
	return nil
}

// stepRow is a step as khist steps shows it, in a rollout that started at r.Started.
func stepRow(s projector.Step, r RolloutRow) StepRow {
	sr := StepRow{Seq: s.Seq, Time: s.At, Action: s.Action, Text: stepText(s), Target: s.Target.Kind + "/" + s.Target.Name,
		Elapsed: "+" + FormatDuration(s.At.Sub(r.Started))}
	if s.Event != nil {
		sr.Event = s.Event.Reason
	}
	return sr
}

// endSeq is the last sequence of a rollout's steps: its end, or (while it lasts, or when it
// was superseded without ending) the one before the start of the next rollout of the
// workload, or 0 (no end).
func endSeq(r RolloutRow, all []RolloutRow) uint64 {
	if r.EndSeq > 0 {
		return r.EndSeq
	}
	next := uint64(0)
	for _, o := range all {
		if o.ID > r.ID && (next == 0 || o.ID < next) {
			next = o.ID
		}
	}
	if next > 0 {
		return next - 1
	}
	return 0
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
