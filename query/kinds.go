package query

import (
	"sort"
	"strings"
)

// Kind is a resource kind as the log names it.
type Kind struct {
	Group      string // "" for the core group
	Kind       string // e.g. Deployment
	Resource   string // plural, e.g. deployments
	Namespaced bool
}

// knownKinds are the built-in kinds with kubectl's plural and short names.
var knownKinds = []struct {
	Kind
	short []string
}{
	{Kind{"", "Pod", "pods", true}, []string{"po"}},
	{Kind{"", "Service", "services", true}, []string{"svc"}},
	{Kind{"", "Endpoints", "endpoints", true}, []string{"ep"}},
	{Kind{"", "PersistentVolumeClaim", "persistentvolumeclaims", true}, []string{"pvc"}},
	{Kind{"", "PersistentVolume", "persistentvolumes", false}, []string{"pv"}},
	{Kind{"", "ConfigMap", "configmaps", true}, []string{"cm"}},
	{Kind{"", "Secret", "secrets", true}, nil},
	{Kind{"", "Node", "nodes", false}, []string{"no"}},
	{Kind{"", "Namespace", "namespaces", false}, []string{"ns"}},
	{Kind{"", "Event", "events", true}, []string{"ev"}},
	{Kind{"", "ServiceAccount", "serviceaccounts", true}, []string{"sa"}},
	{Kind{"", "ReplicationController", "replicationcontrollers", true}, []string{"rc"}},
	{Kind{"", "ResourceQuota", "resourcequotas", true}, []string{"quota"}},
	{Kind{"", "LimitRange", "limitranges", true}, []string{"limits"}},
	{Kind{"apps", "Deployment", "deployments", true}, []string{"deploy"}},
	{Kind{"apps", "ReplicaSet", "replicasets", true}, []string{"rs"}},
	{Kind{"apps", "StatefulSet", "statefulsets", true}, []string{"sts"}},
	{Kind{"apps", "DaemonSet", "daemonsets", true}, []string{"ds"}},
	{Kind{"apps", "ControllerRevision", "controllerrevisions", true}, nil},
	{Kind{"batch", "Job", "jobs", true}, nil},
	{Kind{"batch", "CronJob", "cronjobs", true}, []string{"cj"}},
	{Kind{"discovery.k8s.io", "EndpointSlice", "endpointslices", true}, nil},
	{Kind{"networking.k8s.io", "Ingress", "ingresses", true}, []string{"ing"}},
	{Kind{"networking.k8s.io", "NetworkPolicy", "networkpolicies", true}, []string{"netpol"}},
	{Kind{"policy", "PodDisruptionBudget", "poddisruptionbudgets", true}, []string{"pdb"}},
	{Kind{"autoscaling", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true}, []string{"hpa"}},
	{Kind{"storage.k8s.io", "StorageClass", "storageclasses", false}, []string{"sc"}},
	{Kind{"coordination.k8s.io", "Lease", "leases", true}, nil},
	{Kind{"rbac.authorization.k8s.io", "Role", "roles", true}, nil},
	{Kind{"rbac.authorization.k8s.io", "RoleBinding", "rolebindings", true}, nil},
	{Kind{"rbac.authorization.k8s.io", "ClusterRole", "clusterroles", false}, nil},
	{Kind{"rbac.authorization.k8s.io", "ClusterRoleBinding", "clusterrolebindings", false}, nil},
	{Kind{"apiextensions.k8s.io", "CustomResourceDefinition", "customresourcedefinitions", false}, []string{"crd", "crds"}},
}

// ResolveKind reads a kind as kubectl accepts it: a kind (Deployment), its plural
// (deployments), singular (deployment) or short name (deploy), optionally qualified with its
// group (deployments.apps). extra lists kinds known from the recorded history (e.g. CRDs), which
// are matched by kind, plural and lowercase kind. An unknown kind is an ErrUnknownKind whose
// message suggests the nearest kind names.
func ResolveKind(s string, extra []Kind) (Kind, error) {
	in := strings.ToLower(strings.TrimSpace(s))
	name, group, _ := strings.Cut(in, ".")
	match := func(k Kind, short []string) bool {
		if group != "" && strings.ToLower(k.Group) != group && !(group == "core" && k.Group == "") {
			return false
		}
		lk := strings.ToLower(k.Kind)
		if name == lk || name == k.Resource {
			return true
		}
		for _, sn := range short {
			if name == sn {
				return true
			}
		}
		return false
	}
	if name != "" {
		for _, k := range knownKinds {
			if match(k.Kind, k.short) {
				return k.Kind, nil
			}
		}
		for _, k := range extra {
			if match(k, nil) {
				return k, nil
			}
		}
	}
	hint := ""
	if near := Nearest(name, kindWords(extra), 3); len(near) > 0 && name != "" {
		hint = "did you mean " + strings.Join(near, ", ") + "? "
	}
	return Kind{}, errorf(ErrUnknownKind, "unknown kind %q: %suse a kind, plural or short name such as deploy, rs, sts, ds, po, svc, pvc (kubectl api-resources lists them)", s, hint)
}

// kindWords are the words ResolveKind accepts, for suggestions: plurals and short names.
func kindWords(extra []Kind) []string {
	var out []string
	for _, k := range knownKinds {
		out = append(out, k.Resource, strings.ToLower(k.Kind.Kind))
		out = append(out, k.short...)
	}
	for _, k := range extra {
		out = append(out, k.Resource, strings.ToLower(k.Kind))
	}
	return out
}

// ParseKindName splits KIND/NAME; NAME may be empty (the argument is just KIND) when
// allowEmptyName.
func ParseKindName(arg string, extra []Kind, allowEmptyName bool) (Kind, string, error) {
	ks, name, ok := strings.Cut(arg, "/")
	if !ok && !allowEmptyName {
		if _, err := ResolveKind(arg, extra); err == nil {
			return Kind{}, "", errorf(ErrBadArgument, "%q: a name is needed: expected KIND/NAME, e.g. %s/web", arg, arg)
		}
		return Kind{}, "", errorf(ErrBadArgument, "%q: expected KIND/NAME, e.g. deploy/web", arg)
	}
	if ok && name == "" {
		return Kind{}, "", errorf(ErrBadArgument, "%q: the name after / is empty: expected KIND/NAME, e.g. deploy/web", arg)
	}
	if strings.Contains(name, "/") {
		return Kind{}, "", errorf(ErrBadArgument, "%q: expected KIND/NAME with one /, e.g. deploy/web (the namespace goes in -n)", arg)
	}
	k, err := ResolveKind(ks, extra)
	return k, name, err
}

// KindNames returns the names completion offers for kinds.
func KindNames() []string {
	var out []string
	for _, k := range knownKinds {
		out = append(out, k.Resource)
		out = append(out, k.short...)
	}
	sort.Strings(out)
	return out
}

// LookupKind returns the Kind the log calls kind (e.g. "Deployment"): a built-in kind with its
// plural, or for other kinds (CRDs) one whose plural is guessed as kubectl would print it.
func LookupKind(group, kind string) Kind {
	for _, k := range knownKinds {
		if k.Kind.Kind == kind && (group == "" || k.Group == group) {
			return k.Kind
		}
	}
	return Kind{Group: group, Kind: kind, Resource: guessPlural(strings.ToLower(kind)), Namespaced: true}
}

func guessPlural(s string) string {
	switch {
	case strings.HasSuffix(s, "s"), strings.HasSuffix(s, "x"), strings.HasSuffix(s, "ch"), strings.HasSuffix(s, "sh"):
		return s + "es"
	case strings.HasSuffix(s, "y") && len(s) > 1 && !strings.ContainsRune("aeiou", rune(s[len(s)-2])):
		return s[:len(s)-1] + "ies"
	}
	return s + "s"
}

// Singular is the lowercase kind, as kubectl prints it in KIND/NAME (deployment/web).
func (k Kind) Singular() string { return strings.ToLower(k.Kind) }

// Qualified is the kind as kubectl get prints it in front of names: deployment.apps, pod.
func (k Kind) Qualified() string {
	if k.Group == "" {
		return k.Singular()
	}
	return k.Singular() + "." + k.Group
}

// String is kubectl's KIND form without a name: deployment.apps.
func (k Kind) String() string { return k.Qualified() }

// IsWorkload reports whether the kind rolls out revisions: Deployment, StatefulSet, DaemonSet.
func (k Kind) IsWorkload() bool {
	return k.Group == "apps" && (k.Kind == "Deployment" || k.Kind == "StatefulSet" || k.Kind == "DaemonSet")
}

// RequireWorkload returns an ErrBadArgument unless k rolls out revisions; cmd names the command.
func RequireWorkload(cmd string, k Kind) error {
	if k.IsWorkload() {
		return nil
	}
	return errorf(ErrBadArgument, "%s: %s have no rollouts: use a deployment, statefulset or daemonset (deploy, sts, ds)", cmd, k.Resource)
}
