package cluster

import (
	"io"
	"time"
)

// Options configure Start. The zero value is valid: every field says its
// default.
type Options struct {
	// Dir is the state directory: certificates, kubeconfigs, etcd data and,
	// unless LogDir is set, logs. Default: a new temporary directory, which
	// Stop removes unless KeepDir is set. A Dir given here is never removed.
	Dir string
	// KeepDir keeps a temporary Dir after Stop (to read logs). Default false.
	KeepDir bool
	// LogDir receives one log file per component (etcd.log,
	// kube-apiserver.log, ...). Default: Dir/logs.
	LogDir string

	// Nodes is the number of fake kwok Nodes, named kwok-node-0, ... .
	// Default (0): 2. Negative: none.
	Nodes int

	// Audit enables the API server's audit log. It is also enabled by
	// setting AuditPolicyFile or AuditLogPath. Default false.
	Audit bool
	// AuditPolicyFile is the audit policy file. Default: a built-in policy
	// that logs writes at RequestResponse level and reads at
	// Metadata level (Secrets always at Metadata), and skips health checks
	// and reads of Events and Leases.
	AuditPolicyFile string
	// AuditLogPath is where the API server writes its audit log (JSON lines,
	// one audit.k8s.io/v1 Event each). Default: Dir/audit.log.
	AuditLogPath string
	// AuditWebhookConfigFile is a kubeconfig naming an audit webhook (its
	// server URL, certificate-authority-data and, if it asks for one, a
	// client certificate): the API server's --audit-webhook-config-file, in
	// batch mode. It enables auditing with AuditPolicyFile (or the built-in
	// policy), beside the log file only if Audit or AuditLogPath is set.
	// The webhook need not be up when the cluster starts: the API server
	// keeps sending. Default: none.
	AuditWebhookConfigFile string
	// AuditWebhookBatchMaxWait is the API server's
	// --audit-webhook-batch-max-wait: how long it gathers events before it
	// sends a batch. Default: 1 s (upstream: 30 s).
	AuditWebhookBatchMaxWait time.Duration
	// AuditWebhookInitialBackoff is --audit-webhook-initial-backoff: the
	// first wait before a failed batch is sent again (the API server tries
	// 5 times, each wait 1.5 times the last, then drops the batch and counts
	// it in apiserver_audit_error_total{plugin="webhook"}). Default: 1 s
	// (upstream: 10 s), so that a batch is retried for about 8 s.
	AuditWebhookInitialBackoff time.Duration

	// KwokStagesFile is the kwok --config file of Stage objects that drive
	// the pod lifecycle. Default: kwok's "general" pod stages
	// (kustomize/stage/pod/general), in which each pod waits 1–5 s at each
	// stage (created, ready, deleted) unless its annotations say otherwise:
	// see PodTiming. Node stages are kwok's defaults (initialize, heartbeat).
	KwokStagesFile string

	// Extra flags appended to each component's command line; a later flag
	// overrides an earlier one of the same name. Default: none.
	ExtraAPIServerFlags         []string
	ExtraControllerManagerFlags []string
	ExtraSchedulerFlags         []string
	ExtraKwokFlags              []string

	// BinDir holds the binaries. Default: EnsureBinaries, which builds them
	// on first use.
	BinDir string

	// StartTimeout bounds the start-up once the binaries exist, from the
	// first process to a ready cluster. Default: 2 minutes.
	StartTimeout time.Duration
	// Log receives progress lines (building, ready). Default:
	// os.Stderr. Use io.Discard to silence.
	Log io.Writer
}

// Defaults applied by Start.
const (
	DefaultNodes        = 2
	DefaultStartTimeout = 2 * time.Minute
	// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
	stopGrace = 10 * time.Second
)

// Fixed cluster parameters.
const (
	// ServiceClusterIPRange is the --service-cluster-ip-range.
	ServiceClusterIPRange = "10.96.0.0/16"
	// KwokNodeAnnotation marks the Nodes that kwok manages, as
	// kwok.x-k8s.io/node=fake.
	KwokNodeAnnotation = "kwok.x-k8s.io/node"
)

// defaultAuditPolicy is used when AuditLogPath is set without a policy file:
// writes at RequestResponse (request and response bodies), reads at
// Metadata, and no health checks or reads of Events and Leases.
const defaultAuditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  nonResourceURLs: ["/healthz*", "/readyz*", "/livez*", "/version", "/metrics"]
- level: None
  verbs: ["get", "list", "watch"]
  resources:
  - group: ""
    resources: ["events"]
  - group: "events.k8s.io"
    resources: ["events"]
  - group: "coordination.k8s.io"
    resources: ["leases"]
- level: Metadata
  resources:
  - group: ""
    resources: ["secrets"]
- level: Metadata
  verbs: ["get", "list", "watch"]
- level: RequestResponse
`
