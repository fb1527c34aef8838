package kinds

import (
	"slices"
	"strings"

	"github.com/khist/khist/eventlog"
)

// Names of the kinds that workloads are made of.
const (
	Pod                   = "Pod"
	PersistentVolumeClaim = "PersistentVolumeClaim"
	Deployment            = "Deployment"
	ReplicaSet            = "ReplicaSet"
	StatefulSet           = "StatefulSet"
	DaemonSet             = "DaemonSet"
	ControllerRevision    = "ControllerRevision"
	Job                   = "Job"
	CronJob               = "CronJob"
)

// Kind is a built-in kind as discovery describes it.
type Kind struct {
	Group      string   // "" for the core group
	Version    string   // the preferred version
	Kind       string   // e.g. Deployment
	Plural     string   // e.g. deployments
	Short      []string // kubectl's short names, e.g. deploy
	Namespaced bool
	Categories []string // e.g. all
}

// Singular is the lowercase kind, the singular resource name discovery reports.
func (k Kind) Singular() string { return strings.ToLower(k.Kind) }

var all = []string{"all"}

// builtin are the built-in kinds khist knows without discovery, as kubectl api-resources lists
// them.
var builtin = []Kind{
	{"", "v1", Pod, "pods", []string{"po"}, true, all},
	{"", "v1", "Service", "services", []string{"svc"}, true, all},
	{"", "v1", "Endpoints", "endpoints", []string{"ep"}, true, nil},
	{"", "v1", PersistentVolumeClaim, "persistentvolumeclaims", []string{"pvc"}, true, nil},
	{"", "v1", "PersistentVolume", "persistentvolumes", []string{"pv"}, false, nil},
	{"", "v1", "ConfigMap", "configmaps", []string{"cm"}, true, nil},
	{"", "v1", "Secret", "secrets", nil, true, nil},
	{"", "v1", "Node", "nodes", []string{"no"}, false, nil},
	{"", "v1", "Namespace", "namespaces", []string{"ns"}, false, nil},
	{"", "v1", "Event", "events", []string{"ev"}, true, nil},
	{"", "v1", "ServiceAccount", "serviceaccounts", []string{"sa"}, true, nil},
	{"", "v1", "ReplicationController", "replicationcontrollers", []string{"rc"}, true, all},
	{"", "v1", "ResourceQuota", "resourcequotas", []string{"quota"}, true, nil},
	{"", "v1", "LimitRange", "limitranges", []string{"limits"}, true, nil},
	{"apps", "v1", Deployment, "deployments", []string{"deploy"}, true, all},
	{"apps", "v1", ReplicaSet, "replicasets", []string{"rs"}, true, all},
	{"apps", "v1", StatefulSet, "statefulsets", []string{"sts"}, true, all},
	{"apps", "v1", DaemonSet, "daemonsets", []string{"ds"}, true, all},
	{"apps", "v1", ControllerRevision, "controllerrevisions", nil, true, nil},
	{"batch", "v1", Job, "jobs", nil, true, all},
	{"batch", "v1", CronJob, "cronjobs", []string{"cj"}, true, all},
	{"discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", nil, true, nil},
	{"networking.k8s.io", "v1", "Ingress", "ingresses", []string{"ing"}, true, nil},
	{"networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", []string{"netpol"}, true, nil},
	{"policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", []string{"pdb"}, true, nil},
	{"autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", []string{"hpa"}, true, all},
	{"storage.k8s.io", "v1", "StorageClass", "storageclasses", []string{"sc"}, false, nil},
	{"coordination.k8s.io", "v1", "Lease", "leases", nil, true, nil},
	{"rbac.authorization.k8s.io", "v1", "Role", "roles", nil, true, nil},
	{"rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", nil, true, nil},
	{"rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", nil, false, nil},
	{"rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", nil, false, nil},
	{"apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", []string{"crd", "crds"}, false, nil},
}

// Builtin returns the built-in kinds, in kubectl api-resources' order of groups. The caller
// must not modify them.
func Builtin() []Kind { return builtin }

// Lookup returns the built-in kind named kind; group "" matches any group.
func Lookup(group, kind string) (Kind, bool) {
	for _, k := range builtin {
		if k.Kind == kind && (group == "" || k.Group == group) {
			return k, true
		}
	}
	return Kind{}, false
}

// BuiltinDiscovery returns the built-in kinds as a discovery would report them (verbs left
// out): what khist resolves kinds with when the log holds no discovery of the cluster.
func BuiltinDiscovery() *eventlog.APIDiscovery {
	d := &eventlog.APIDiscovery{}
	for _, k := range builtin {
		i := slices.IndexFunc(d.Groups, func(g eventlog.DiscoveryGroup) bool { return g.Name == k.Group })
		if i < 0 {
			d.Groups = append(d.Groups, eventlog.DiscoveryGroup{Name: k.Group, Preferred: k.Version,
				Versions: []eventlog.DiscoveryVersion{{Version: k.Version}}})
			i = len(d.Groups) - 1
		}
		v := &d.Groups[i].Versions[0]
		v.Resources = append(v.Resources, eventlog.DiscoveryResource{Kind: k.Kind, Plural: k.Plural, Singular: k.Singular(),
			ShortNames: k.Short, Categories: k.Categories, Namespaced: k.Namespaced})
	}
	d.Format = eventlog.DiscoveryFormat
	return d
}
