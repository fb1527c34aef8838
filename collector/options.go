package collector

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Errors returned by this package.
var (
	// ErrInvalidOption is returned by New when an option has a value that cannot work.
	ErrInvalidOption = errors.New("invalid option")
)

// Options configure a Collector. Zero values mean the documented defaults.
type Options struct {
	// Cluster is the name of the cluster in the log. Required.
	Cluster string

	// Include lists the resources to collect; empty collects every resource that supports
	// list and watch. A resource is named by its plural (pods), plural.group
	// (deployments.apps), kind (Deployment, case-insensitive) or kind.group, or a glob on
	// these (*.example.com). Exclude lists resources not to collect, in the same forms; it
	// wins over Include.
	Include, Exclude []string
	// IncludeNamespaces lists the namespaces (names or globs) whose objects are collected;
	// empty collects all. ExcludeNamespaces wins over it. Cluster-scoped objects are collected
	// whatever the namespace filters, except Namespace objects, which are filtered by name.
	// When IncludeNamespaces holds only plain names, each namespace is listed and watched on
	// its own, so that credentials limited to those namespaces suffice.
	IncludeNamespaces, ExcludeNamespaces []string

	// KeepHeartbeats records Node and Lease updates that only move heartbeat timestamps
	// (Node status.conditions[].lastHeartbeatTime, Lease spec.renewTime). Default false: they
	// are not recorded.
	KeepHeartbeats bool

	// SecretKeyNames watches Secrets in full, to record their type and key names (values are
	// stripped before anything is recorded, but the API server sends them to the collector).
	// Default false: Secrets are watched as metadata only (PartialObjectMetadata), so their
	// values never leave the API server.
	SecretKeyNames bool

	// DiscoveryInterval is how often the API is discovered again to find resources added or
	// removed (CustomResourceDefinitions and APIServices are also watched, and a change to
	// one triggers a discovery at once). Default 1m.
	DiscoveryInterval time.Duration
	// WatchTimeout is the shortest life of one watch request; each lasts a random time
	// between WatchTimeout and twice it, then is started again from where it stopped.
	// Default 5m.
	WatchTimeout time.Duration
	// ListPageSize is the number of objects asked per page of a list. Default 500.
	ListPageSize int64
	// ProgressInterval is how often each watch's progress (the resourceVersion up to which
	// the log holds its changes) is recorded, when it recorded changes since; the first is
	// recorded at once, and that of a watch that only moves every 10 minutes. A collector that starts (a restart, a new
	// leader) resumes each watch from its last progress, and the API server replays the
	// changes made since, as long as its watch history (minutes) reaches back there; else the
	// watch relists and says so. Default 5s.
	ProgressInterval time.Duration

	// MaxInFlight bounds the versions sent to the log and not yet acknowledged; beyond it the
	// watches wait (back-pressure). Default 1024.
	MaxInFlight int
	// PublishAckTimeout is how long one attempt to publish a version waits for the log's
	// acknowledgement (eventlog.PublisherOptions.AckTimeout, which retries 5 times). Default
	// 10s. When a version finally fails, the watches stop and start again, with relists, once
	// the log answers.
	PublishAckTimeout time.Duration
	// MaxInFlightBytes bounds the bytes of those versions. Default 64 MiB. A single object
	// larger than it is still sent, alone.
	MaxInFlightBytes int64

	// Registerer receives the collector's Prometheus metrics (khist_collector_*). Default:
	// none (metrics are kept but not exported).
	Registerer prometheus.Registerer
	// Logger receives structured logs. Default slog.Default().
	Logger *slog.Logger
	// Source is written in each envelope's source header. Default "collector".
	Source string
}

// Defaults of Options.
const (
	DefaultDiscoveryInterval = time.Minute
	DefaultWatchTimeout      = 5 * time.Minute
	DefaultListPageSize      = 500
	DefaultProgressInterval  = 5 * time.Second
	DefaultMaxInFlight       = 1024
	DefaultMaxInFlightBytes  = 64 << 20
)

func (o *Options) defaults() error {
	if o.Cluster == "" {
		return fmt.Errorf("%w: the cluster name is empty (--cluster)", ErrInvalidOption)
	}
	if o.DiscoveryInterval == 0 {
		o.DiscoveryInterval = DefaultDiscoveryInterval
	}
	if o.WatchTimeout == 0 {
		o.WatchTimeout = DefaultWatchTimeout
	}
	if o.ListPageSize == 0 {
		o.ListPageSize = DefaultListPageSize
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.ProgressInterval == 0 {
		o.ProgressInterval = DefaultProgressInterval
	}
	if o.MaxInFlightBytes == 0 {
		o.MaxInFlightBytes = DefaultMaxInFlightBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Source == "" {
		o.Source = "collector"
	}
	switch {
	case o.DiscoveryInterval < time.Second:
		return fmt.Errorf("%w: discovery interval %s is below 1s", ErrInvalidOption, o.DiscoveryInterval)
	case o.WatchTimeout < time.Second:
		return fmt.Errorf("%w: watch timeout %s is below 1s", ErrInvalidOption, o.WatchTimeout)
	case o.ProgressInterval < 500*time.Millisecond:
		return fmt.Errorf("%w: progress interval %s is below 500ms", ErrInvalidOption, o.ProgressInterval)
	case o.ListPageSize < 1:
		return fmt.Errorf("%w: list page size %d: use a positive number", ErrInvalidOption, o.ListPageSize)
	case o.MaxInFlight < 1:
		return fmt.Errorf("%w: max in flight %d: use a positive number", ErrInvalidOption, o.MaxInFlight)
	case o.MaxInFlightBytes < 1:
		return fmt.Errorf("%w: max in flight bytes %d: use a positive number", ErrInvalidOption, o.MaxInFlightBytes)
	}
	return nil
}
