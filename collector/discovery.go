package collector

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/nats-io/nats.go/jetstream"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
)

// discover returns the resources to collect at their preferred versions, the groups whose
// discovery failed, and what discovery returned, to be recorded (see recordDiscovery).
func (c *Collector) discover() ([]apiResource, map[string]bool, *eventlog.APIDiscovery, error) {
	groups, lists, err := c.disco.ServerGroupsAndResources()
	failed := map[string]bool{}
	if err != nil {
		var gerr *discovery.ErrGroupDiscoveryFailed
		if !errors.As(err, &gerr) {
			return nil, nil, nil, err
		}
		for gv, e := range gerr.Groups {
			failed[gv.Group] = true
			c.log.Warn("API group unavailable", "group", gv.String(), "err", e)
		}
		c.metrics.discoveryErrors.Inc()
	}
	byGV := map[string]*metav1.APIResourceList{}
	for _, l := range lists {
		if l != nil {
			byGV[l.GroupVersion] = l
		}
	}
	doc := &eventlog.APIDiscovery{}
	var out []apiResource
	for _, g := range groups {
		if g == nil {
			continue
		}
		dg := eventlog.DiscoveryGroup{Name: g.Name, Preferred: g.PreferredVersion.Version}
		// Each resource is collected at the group's preferred version, or else at the first
		// version (in the server's order of preference) that serves it.
		chosen := map[string]int{} // resource -> index in out
		for _, v := range g.Versions {
			l := byGV[v.GroupVersion]
			if l == nil {
				continue
			}
			dv := eventlog.DiscoveryVersion{Version: v.Version}
			for _, r := range l.APIResources {
				if strings.Contains(r.Name, "/") {
					continue
				}
				dv.Resources = append(dv.Resources, eventlog.DiscoveryResource{Kind: r.Kind, Plural: r.Name, Singular: r.SingularName,
					ShortNames: r.ShortNames, Categories: r.Categories, Namespaced: r.Namespaced, Verbs: slices.Sorted(slices.Values(r.Verbs))})
				i, seen := chosen[r.Name]
				if seen && v.Version != g.PreferredVersion.Version {
					continue
				}
				res := apiResource{group: g.Name, version: v.Version, resource: r.Name, kind: r.Kind, namespaced: r.Namespaced}
				ok := c.collectable(g.Name, r)
				switch {
				case seen && ok:
					out[i] = res
				case seen:
					out[i] = apiResource{} // served at the preferred version without list and watch
				case ok:
					chosen[r.Name] = len(out)
					out = append(out, res)
				default:
					chosen[r.Name] = len(out)
					out = append(out, apiResource{})
				}
			}
			dg.Versions = append(dg.Versions, dv)
		}
		doc.Groups = append(doc.Groups, dg)
	}
	out = slices.DeleteFunc(out, func(r apiResource) bool { return r.resource == "" })
	return out, failed, doc, nil
}

// collectable reports whether the collector records a resource of group that discovery
// listed: one it can list and watch, that the filter lets through.
func (c *Collector) collectable(group string, r metav1.APIResource) bool {
	if !slices.Contains(r.Verbs, "list") || !slices.Contains(r.Verbs, "watch") {
		return false
	}
	// Events are served twice, by the core API and by events.k8s.io: record the core one.
	if group == "events.k8s.io" && r.Name == "events" {
		return false
	}
	return c.filter.resource(group, r.Name, r.Kind)
}

// recordDiscovery publishes what discovery returned as the cluster's discovery record
// (eventlog.Discovered) when it differs from the one the log holds last: at the first
// discovery, and when a CRD or an aggregated API is added or removed. The record's message id
// is its content's hash, and the first call reads the log's last record, so that neither a
// repeated discovery nor a restart records the same content twice. A failure is logged; the
// next discovery tries again.
func (c *Collector) recordDiscovery(ctx context.Context, d *eventlog.APIDiscovery) {
	e, err := eventlog.NewDiscoveryEnvelope(c.opts.Cluster, c.opts.Source, time.Now(), d)
	if err != nil {
		c.log.Warn("cannot record the API discovery", "err", err)
		return
	}
	if c.discoHash == "" {
		last, err := c.elog.LastOf(ctx, eventlog.DiscoverySubject(c.opts.Cluster))
		if err != nil {
			c.log.Warn("cannot read the recorded API discovery", "err", err)
			return
		}
		if last != nil {
			c.discoHash = last.ResourceVersion
		}
	}
	if e.ResourceVersion == c.discoHash {
		return
	}
	if _, err := c.elog.JetStream().PublishMsg(ctx, e.Msg(), jetstream.WithMsgID(e.MsgID())); err != nil {
		c.log.Warn("cannot record the API discovery; trying again at the next discovery", "err", err)
		return
	}
	c.discoHash = e.ResourceVersion
	c.log.Info("recorded the API discovery", "hash", e.ResourceVersion, "bytes", len(e.Object))
}
