package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/nats-io/nats.go/jetstream"
)

// load learns what the log holds of the cluster: the last envelope of each object subject,
// headers only, and the last progress record of each watch (where it resumes). Objects whose
// last envelope is a deletion are not kept.
func (c *Collector) load(ctx context.Context) error {
	start := time.Now()
	cons, err := c.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverLastPerSubjectPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		FilterSubjects:    []string{eventlog.Filter(c.opts.Cluster, "*", "*", "*"), eventlog.ProgressFilter(c.opts.Cluster)},
		HeadersOnly:       true,
		InactiveThreshold: time.Minute,
		MaxAckPending:     -1,
		MemoryStorage:     true, // no room on the disk needed to read
	})
	if err != nil {
		return fmt.Errorf("read the log's state: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = c.stream.DeleteConsumer(dctx, cons.CachedInfo().Name)
	}()
	pending := cons.CachedInfo().NumPending
	n, kept, watches := uint64(0), 0, 0
	for n < pending {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return fmt.Errorf("read the log's state: %w", err)
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			n++
			md, err := msg.Metadata()
			if err != nil {
				return fmt.Errorf("read the log's state: %w", err)
			}
			if md.NumPending == 0 {
				pending = n
			}
			e, err := eventlog.FromMsg(msg.Subject(), msg.Headers(), nil)
			if err != nil {
				continue
			}
			if e.Type == eventlog.Progress {
				c.state.setProgress(watchKey{e.Group, e.Resource, e.Namespace}, e.ResourceVersion)
				watches++
				continue
			}
			if !e.Type.IsObject() || e.UID == "" {
				continue
			}
			t := c.state.table(e.Group, e.Kind, e.Resource)
			t.noteStored(e.ResourceVersion)
			if e.Type.IsDelete() {
				continue
			}
			t.load(e.UID, e.Namespace, e.Name, e.ResourceVersion, md.Sequence.Stream)
			kept++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("read the log's state: %w", err)
		}
		if got == 0 {
			info, err := cons.Info(ctx)
			if err != nil {
				return fmt.Errorf("read the log's state: %w", err)
			}
			if info.NumPending == 0 {
				break
			}
		}
	}
	for _, t := range c.state.all() {
		c.metrics.objects.WithLabelValues(t.gk.group, t.gk.kind).Set(float64(t.len()))
	}
	c.log.Info("read the log's state", "objects", kept, "subjects", n, "watch progress records", watches, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// readBack returns the envelope stored at seq, or nil when it is not there or is not the
// object uid's.
func (c *Collector) readBack(ctx context.Context, seq uint64, uid string) *eventlog.Envelope {
	if seq == 0 {
		return nil
	}
	raw, err := c.stream.GetMsg(ctx, seq)
	if err != nil {
		if !errors.Is(err, jetstream.ErrMsgNotFound) {
			c.log.Warn("cannot read a version back from the log", "seq", seq, "err", err)
		}
		return nil
	}
	e, err := eventlog.FromMsg(raw.Subject, raw.Header, raw.Data)
	if err != nil || e.UID != uid {
		return nil
	}
	e.Seq = raw.Sequence
	return e
}

// inLog reports whether the log's last version of an object is version rv (after a publish
// whose acknowledgement was lost, the version may be stored or not); it then records where.
func (c *Collector) inLog(ctx context.Context, t *table, ns, name, uid, rv string) bool {
	last, err := c.elog.LastOf(ctx, eventlog.Subject(c.opts.Cluster, t.gk.group, t.gk.kind, ns, name))
	if err != nil || last == nil || last.UID != uid || last.ResourceVersion != rv || last.Type.IsDelete() {
		return false
	}
	t.confirm(uid, keyOf([]byte(rv)), last.Seq)
	return true
}

// hashAt returns the heartbeat hash of the version stored at seq, or 0 when it cannot be read.
func (c *Collector) hashAt(ctx context.Context, s *scanner, o *scanned, hb heartbeat, uid string, seq uint64) uint64 {
	e := c.readBack(ctx, seq, uid)
	if e == nil {
		return 0
	}
	if err := s.object(e.Object, hb, o); err != nil {
		return 0
	}
	return o.hash
}

// publishVanished records the deletion, unobserved, of an object found missing. Its body is the
// last version the log holds of it or, when that cannot be read, a minimal object with its
// identity.
func (c *Collector) publishVanished(ctx context.Context, pub *publisher, t *table, apiVersion string, v vanished) error {
	group, version := t.gk.group, ""
	if g, ver, ok := cutGroupVersion(apiVersion); ok && g == group {
		version = ver
	}
	rv := v.rv.String()
	var body []byte
	if v.rv == unknownRV {
		// Its deletion may have been stored without its acknowledgement arriving.
		last, err := c.elog.LastOf(ctx, eventlog.Subject(c.opts.Cluster, group, t.gk.kind, v.ns, v.name))
		if err == nil && last != nil && last.UID == v.uid && last.Type.IsDelete() {
			return nil
		}
	}
	if last := c.readBack(ctx, v.seq, v.uid); last != nil {
		body, rv, version = last.Object, last.ResourceVersion, last.Version
	} else if last, err := c.elog.LastOf(ctx, eventlog.Subject(c.opts.Cluster, group, t.gk.kind, v.ns, v.name)); err == nil && last != nil && last.UID == v.uid {
		body, rv, version = last.Object, last.ResourceVersion, last.Version
	}
	if rv == "" {
		rv = "0"
	}
	if version == "" {
		version = "v1"
	}
	if body == nil {
		av := version
		if group != "" {
			av = group + "/" + version
		}
		type meta struct {
			Name            string `json:"name"`
			Namespace       string `json:"namespace,omitempty"`
			UID             string `json:"uid"`
			ResourceVersion string `json:"resourceVersion"`
		}
		body, _ = json.Marshal(struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   meta   `json:"metadata"`
		}{av, t.gk.kind, meta{v.name, v.ns, v.uid, rv}})
	}
	e := &eventlog.Envelope{
		Type:            eventlog.DeletedUnobserved,
		Cluster:         c.opts.Cluster,
		Group:           group,
		Version:         version,
		Kind:            t.gk.kind,
		Resource:        t.resource,
		Namespace:       v.ns,
		Name:            v.name,
		UID:             v.uid,
		ResourceVersion: rv,
		Observed:        time.Now().UTC(),
		Source:          c.opts.Source,
		Object:          body,
	}
	return pub.publish(ctx, t, e)
}

func cutGroupVersion(av string) (group, version string, ok bool) {
	for i := len(av) - 1; i >= 0; i-- {
		if av[i] == '/' {
			return av[:i], av[i+1:], true
		}
	}
	return "", av, av != ""
}
