package notify

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/khist/khist/eventlog/kinds"
	"github.com/khist/khist/projector"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure Run.
type Options struct {
	// URL is the webhook (http or https).
	URL string
	// StateFile keeps what was sent; required.
	StateFile string
	// Interval is how often the views are read; default 5s.
	Interval time.Duration
	// Client posts the messages; default a client with a 10 s timeout.
	Client *http.Client
	// Retry is the delay before the first retry, doubled at each one; default 1s. Attempts
	// is how many posts a message gets; default 9 (about 4 minutes of retries with 1s).
	Retry    time.Duration
	Attempts int
	// Audit, when set, replays each rollout that ends (the decision audit of khist replay
	// compare) and says whether the recorded controller did what its algorithm does; a
	// divergence is announced like a failure, once per rollout. detail names the first
	// divergent step.
	Audit func(ctx context.Context, r projector.Rollout) (diverged bool, detail string, err error)
	// Registerer receives khist_notify_* and khist_replay_* metrics; nil: none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Message is the JSON posted for a rollout.
type Message struct {
	// Text is one line for people (Slack's text).
	Text string `json:"text"`
	// Event is deadline-exceeded or rolled-back.
	Event   string             `json:"event"`
	Ref     string             `json:"rollout"` // kind/name#number, as khist rollouts numbers it
	Rollout *projector.Rollout `json:"detail"`
}

// Events of a Message.
const (
	EventDeadlineExceeded = "deadline-exceeded"
	EventRolledBack       = "rolled-back"
	EventDivergence       = "divergence"
)

// state is the state file: the views' position when notifications began, and the rollouts
// announced since (or given up on).
type state struct {
	Since uint64   `json:"since"`
	Sent  []string `json:"sent"`
	// Audited is the end sequence up to which ended rollouts were audited (see Options.Audit).
	Audited uint64 `json:"audited,omitempty"`
}

// Check returns a one-line error for options Run cannot work with. The URL is not shown (it
// may hold a token).
func Check(o Options) error {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: --notify-webhook is not an http:// or https:// URL: give the webhook's URL", ErrBadOptions)
	}
	if o.StateFile == "" {
		return fmt.Errorf("%w: no state file", ErrBadOptions)
	}
	return nil
}

// ErrBadOptions is returned by Run for options it cannot work with.
var ErrBadOptions = errors.New("notify")

// Run follows the views until ctx ends, posting a message for each rollout that misses its
// progress deadline or is rolled back after notifications began.
func Run(ctx context.Context, db *projector.DB, o Options) error {
	if err := Check(o); err != nil {
		return err
	}
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Retry <= 0 {
		o.Retry = time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 9
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	n := &notifier{o: o, db: db}
	n.sent = prometheus.NewCounter(prometheus.CounterOpts{Name: "khist_notify_sent_total", Help: "Rollout messages the webhook accepted."})
	n.failed = prometheus.NewCounter(prometheus.CounterOpts{Name: "khist_notify_failures_total", Help: "Rollout messages given up after their retries (or refused by the webhook)."})
	n.audited = prometheus.NewCounter(prometheus.CounterOpts{Name: "khist_replay_audited_total", Help: "Rollouts that ended and were replayed (the decision audit) since khist started."})
	n.diverged = prometheus.NewCounter(prometheus.CounterOpts{Name: "khist_replay_divergences_total", Help: "Rollouts whose recorded controller did not do what its algorithm does, since khist started."})
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{n.sent, n.failed, n.audited, n.diverged} {
			if err := o.Registerer.Register(c); err != nil {
				return err
			}
		}
	}
	if err := n.load(); err != nil {
		return err
	}
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for {
		if err := n.check(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			o.Logger.Warn("notify: reading the views failed; trying again", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

type notifier struct {
	o                               Options
	db                              *projector.DB
	st                              state
	sent, failed, audited, diverged prometheus.Counter
}

// load reads the state file, or starts one at the views' position.
func (n *notifier) load() error {
	b, err := os.ReadFile(n.o.StateFile)
	if err == nil {
		if err := json.Unmarshal(b, &n.st); err != nil {
			return fmt.Errorf("%w: state file %s: %v: remove it to start notifying from now", ErrBadOptions, n.o.StateFile, err)
		}
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: state file: %v", ErrBadOptions, err)
	}
	seq, err := n.db.Seq()
	if err != nil {
		return err
	}
	n.st = state{Since: seq, Sent: []string{}, Audited: seq}
	return n.save()
}

// save writes the state file atomically.
func (n *notifier) save() error {
	b, err := json.Marshal(n.st)
	if err != nil {
		return err
	}
	tmp := n.o.StateFile + ".tmp"
	if err := os.MkdirAll(filepath.Dir(n.o.StateFile), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, n.o.StateFile)
}

// pending is a rollout to announce, with the sequence of what made it one.
type pending struct {
	key string
	seq uint64
	msg Message
}

// check announces the rollouts that qualify and were not announced yet, in log order.
func (n *notifier) check(ctx context.Context) error {
	rs, err := n.db.Rollouts(ctx, projector.RolloutFilter{})
	if err != nil {
		return err
	}
	number := map[string]int{} // rollouts are in start order: numbered per workload
	var todo []pending
	var toAudit []pending
	for i := range rs {
		r := &rs[i]
		wl := r.Cluster + "/" + r.Namespace + "/" + r.Kind + "/" + r.Name
		number[wl]++
		if n.o.Audit != nil && r.EndSeq > max(n.st.Audited, n.st.Since) {
			ref := fmt.Sprintf("%s/%s#%d", strings.ToLower(r.Kind), r.Name, number[wl])
			toAudit = append(toAudit, pending{key: "divergence/" + fmt.Sprintf("%s/%d", wl, r.StartSeq), seq: r.EndSeq, msg: Message{Event: EventDivergence, Ref: ref, Rollout: r}})
		}
		var p pending
		switch {
		case r.FailedSeq != 0:
			p = pending{seq: r.FailedSeq, msg: Message{Event: EventDeadlineExceeded}}
		case r.Outcome == projector.OutcomeRolledBack:
			p = pending{seq: r.EndSeq, msg: Message{Event: EventRolledBack}}
		default:
			continue
		}
		if p.seq <= n.st.Since {
			continue
		}
		p.key = fmt.Sprintf("%s/%d", wl, r.StartSeq)
		if slices.Contains(n.st.Sent, p.key) {
			continue
		}
		p.msg.Ref = fmt.Sprintf("%s/%s#%d", strings.ToLower(r.Kind), r.Name, number[wl])
		p.msg.Rollout = r
		p.msg.Text = text(r, n.starter(ctx, r), p.msg.Ref, p.msg.Event)
		todo = append(todo, p)
	}
	slices.SortFunc(toAudit, func(a, b pending) int { return cmp.Compare(a.seq, b.seq) })
	for _, p := range toAudit {
		diverged, detail, err := n.o.Audit(ctx, *p.msg.Rollout)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			n.o.Logger.Warn("notify: replay of a rollout failed", "rollout", p.msg.Ref, "namespace", p.msg.Rollout.Namespace, "err", err)
		} else {
			n.audited.Inc()
			if diverged {
				n.diverged.Inc()
				p.msg.Text = divergenceText(p.msg.Rollout, p.msg.Ref, detail)
				todo = append(todo, p)
			}
		}
		n.st.Audited = p.seq
	}
	if len(toAudit) > 0 && len(todo) == 0 {
		if err := n.save(); err != nil {
			return fmt.Errorf("state file: %w", err)
		}
	}
	slices.SortFunc(todo, func(a, b pending) int { return cmp.Compare(a.seq, b.seq) })
	for _, p := range todo {
		err := n.deliver(ctx, p.msg)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			n.failed.Inc()
			n.o.Logger.Error("notify: message given up", "rollout", p.msg.Ref, "namespace", p.msg.Rollout.Namespace, "err", err)
		} else {
			n.sent.Inc()
		}
		n.st.Sent = append(n.st.Sent, p.key)
		if err := n.save(); err != nil {
			return fmt.Errorf("state file: %w", err)
		}
	}
	return nil
}

// divergenceText is the line of a divergence.
func divergenceText(r *projector.Rollout, ref, detail string) string {
	s := fmt.Sprintf("khist: rollout %s in namespace %s", ref, r.Namespace)
	if r.Cluster != "" {
		s += " of cluster " + r.Cluster
	}
	s += " did not do what the " + r.Kind + " controller's algorithm does"
	if detail != "" {
		s += ": " + detail
	}
	_, num, _ := strings.Cut(ref, "#")
	return s + ". khist replay compare -n " + r.Namespace + " " + strings.ToLower(r.Kind) + "/" + r.Name + " --rollout '#" + num + "' shows it."
}

// starter is who started r: the user of the request that changed the workload's template when
// the log holds its audit record (khist collect --audit-webhook), else the field manager that
// wrote it.
func (n *notifier) starter(ctx context.Context, r *projector.Rollout) string {
	if r.Actor == "" {
		return ""
	}
	group := ""
	for _, w := range kinds.Workloads() {
		if w.Kind == r.Kind {
			group = w.Group
			break
		}
	}
	ref := projector.ObjectRef{Cluster: r.Cluster, Group: group, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}
	rec, err := n.db.Who(ctx, ref, projector.WhoOf{At: r.Start, Manager: r.Actor})
	if err != nil || rec == nil {
		return r.Actor
	}
	return rec.Acting()
}

// text is the message's line for people; starter is who started the rollout.
func text(r *projector.Rollout, starter, ref, event string) string {
	where := "namespace " + r.Namespace
	if r.Cluster != "" {
		where += " of cluster " + r.Cluster
	}
	var what string
	switch event {
	case EventDeadlineExceeded:
		what = "missed its progress deadline"
		if !r.FailedAt.IsZero() {
			what += fmt.Sprintf(" %s after it started", r.FailedAt.Sub(r.Start).Round(time.Second))
		}
	default:
		what = "was rolled back"
	}
	s := fmt.Sprintf("khist: rollout %s in %s %s", ref, where, what)
	if r.FromRevision > 0 || r.ToRevision > 0 {
		s += fmt.Sprintf(" (revision %d -> %d)", r.FromRevision, r.ToRevision)
	}
	if r.Desired > 0 {
		s += fmt.Sprintf("; lowest availability %d/%d", r.MinAvailable, r.Desired)
	}
	if starter != "" {
		s += "; started by " + starter
	}
	return s + ". khist rollouts -n " + r.Namespace + " " + strings.ToLower(r.Kind) + "/" + r.Name + " tells more."
}

// deliver posts a message, retrying with a doubling delay until it is accepted, refused
// (4xx but 429) or its attempts are spent.
func (n *notifier) deliver(ctx context.Context, m Message) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "1 -> 2" as written, not "1 -\u003e 2"
	if err := enc.Encode(m); err != nil {
		return err
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	delay := n.o.Retry
	var last error
	for attempt := 1; attempt <= n.o.Attempts; attempt++ {
		retry, err := n.post(ctx, body)
		if err == nil {
			return nil
		}
		last = err
		if !retry || attempt == n.o.Attempts {
			break
		}
		n.o.Logger.Warn("notify: post failed; retrying", "rollout", m.Ref, "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay *= 2
	}
	return last
}

// post sends body once; retry says whether a failure is worth another attempt.
func (n *notifier) post(ctx context.Context, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.o.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.o.Client.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return true, fmt.Errorf("webhook answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return false, fmt.Errorf("webhook refused the message with %s: %s (check --notify-webhook)", resp.Status, bytes.TrimSpace(msg))
}
