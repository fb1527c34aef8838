package projector

import (
	"strconv"
	"strings"
	"time"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

//go:generate go run ./internal/decodegen/cmd/decodegen

// Object is the part of a Kubernetes object that the views read: the union of the fields of
// the kinds they understand (workloads, ReplicaSets, ControllerRevisions, Pods, PVCs, Events of
// both APIs, EndpointSlices, Nodes). Each event's JSON is decoded into one Object, once, and
// the same Object is handed to every view; fields a kind does not have stay zero.
type Object struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       Spec       `json:"spec"`
	Status     Status     `json:"status"`

	// ControllerRevision.
	Revision int64          `json:"revision"`
	Data     jsontext.Value `json:"data"`

	// core/v1 Event.
	InvolvedObject     *ObjectReference `json:"involvedObject"`
	Reason             string           `json:"reason"`
	Message            string           `json:"message"`
	Count              int32            `json:"count"`
	FirstTimestamp     *time.Time       `json:"firstTimestamp"`
	LastTimestamp      *time.Time       `json:"lastTimestamp"`
	EventTime          *time.Time       `json:"eventTime"`
	Source             EventSource      `json:"source"`
	ReportingComponent string           `json:"reportingComponent"`
	Series             *EventSeries     `json:"series"`
	Type               string           `json:"type"`

	// events.k8s.io/v1 Event.
	Regarding                *ObjectReference `json:"regarding"`
	Note                     string           `json:"note"`
	ReportingController      string           `json:"reportingController"`
	DeprecatedCount          int32            `json:"deprecatedCount"`
	DeprecatedLastTimestamp  *time.Time       `json:"deprecatedLastTimestamp"`
	DeprecatedFirstTimestamp *time.Time       `json:"deprecatedFirstTimestamp"`

	// discovery.k8s.io/v1 EndpointSlice.
	Endpoints []Endpoint `json:"endpoints"`
}

// ObjectMeta is the part of metadata the views read.
type ObjectMeta struct {
	Name              string           `json:"name"`
	Namespace         string           `json:"namespace"`
	UID               string           `json:"uid"`
	ResourceVersion   string           `json:"resourceVersion"`
	Generation        int64            `json:"generation"`
	CreationTimestamp *time.Time       `json:"creationTimestamp"`
	DeletionTimestamp *time.Time       `json:"deletionTimestamp"`
	Labels            Labels           `json:"labels"`
	Annotations       Annotations      `json:"annotations"`
	OwnerReferences   []OwnerReference `json:"ownerReferences"`
	ManagedFields     []ManagedField   `json:"managedFields"`
}

// ManagedField is one entry of metadata.managedFields, without its field set. Its time is
// kept as written (RFC 3339, whole seconds): the views compare it, never compute with it.
type ManagedField struct {
	Manager     string `json:"manager"`
	Operation   string `json:"operation"`
	Subresource string `json:"subresource"`
	Time        string `json:"time"`
}

// OwnerReference is one entry of metadata.ownerReferences.
type OwnerReference struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	UID        string `json:"uid"`
	Controller *bool  `json:"controller"`
}

// Controller returns the owner reference marked controller, or nil.
func (m *ObjectMeta) Controller() *OwnerReference {
	for i := range m.OwnerReferences {
		if c := m.OwnerReferences[i].Controller; c != nil && *c {
			return &m.OwnerReferences[i]
		}
	}
	return nil
}

// Annotations holds the few annotations the views read (the keys of their key tags).
// Decoding skips the others without allocating them (kubectl's last-applied-configuration can
// be as large as the object).
type Annotations struct {
	Revision        string `key:"deployment.kubernetes.io/revision"`
	ChangeCause     string `key:"kubernetes.io/change-cause"`
	DesiredReplicas string `key:"deployment.kubernetes.io/desired-replicas"`
	MaxReplicas     string `key:"deployment.kubernetes.io/max-replicas"`
	RevisionHistory string `key:"deployment.kubernetes.io/revision-history"`
	// Jobs: the time a CronJob scheduled the Job for; pods of Indexed Jobs: their index.
	ScheduledTimestamp string `key:"batch.kubernetes.io/cronjob-scheduled-timestamp"`
	CompletionIndex    string `key:"batch.kubernetes.io/job-completion-index"`
}

// UnmarshalJSONFrom implements json.UnmarshalerFrom (the reflective decode).
func (a *Annotations) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	return readSomeStrings(d, func(k string) *string { return a.keyField([]byte(k)) })
}

// Labels holds the few labels the views read (the keys of their key tags); decoding skips
// the others.
type Labels struct {
	TemplateHash string `key:"pod-template-hash"`
	RevisionHash string `key:"controller-revision-hash"`
	ServiceName  string `key:"kubernetes.io/service-name"`
}

// UnmarshalJSONFrom implements json.UnmarshalerFrom (the reflective decode).
func (l *Labels) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	return readSomeStrings(d, func(k string) *string { return l.keyField([]byte(k)) })
}

// readSomeStrings reads a JSON object of strings, keeping the values of the keys for which
// dst returns a destination and skipping the others.
func readSomeStrings(d *jsontext.Decoder, dst func(string) *string) error {
	tok, err := d.ReadToken()
	if err != nil {
		return err
	}
	if tok.Kind() == 'n' {
		return nil
	}
	if tok.Kind() != '{' {
		return &json.SemanticError{JSONKind: tok.Kind()}
	}
	for d.PeekKind() != '}' {
		k, err := d.ReadToken()
		if err != nil {
			return err
		}
		p := dst(k.String())
		if p == nil {
			if err := d.SkipValue(); err != nil {
				return err
			}
			continue
		}
		v, err := d.ReadToken()
		if err != nil {
			return err
		}
		if v.Kind() == '"' {
			*p = v.String()
		}
	}
	_, err = d.ReadToken()
	return err
}

// ObjectReference is an Event's involvedObject or regarding, or an endpoint's targetRef.
type ObjectReference struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	UID        string `json:"uid"`
}

// EventSource is a core Event's source.
type EventSource struct {
	Component string `json:"component"`
}

// EventSeries is the series of an Event that repeated.
type EventSeries struct {
	Count int32 `json:"count"`
}

// Spec is the union of the specs the views read.
type Spec struct {
	// Workloads (Deployment, ReplicaSet, StatefulSet, DaemonSet).
	Replicas                *int32         `json:"replicas"`
	Paused                  bool           `json:"paused"`
	Template                jsontext.Value `json:"template"`
	Strategy                *Strategy      `json:"strategy"`       // Deployment
	UpdateStrategy          *Strategy      `json:"updateStrategy"` // StatefulSet, DaemonSet
	PodManagementPolicy     string         `json:"podManagementPolicy"`
	MinReadySeconds         int32          `json:"minReadySeconds"`
	ProgressDeadlineSeconds *int32         `json:"progressDeadlineSeconds"`
	VolumeClaimTemplates    []struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	} `json:"volumeClaimTemplates"`

	// Pod.
	NodeName       string      `json:"nodeName"`
	Containers     []Container `json:"containers"`
	InitContainers []Container `json:"initContainers"`
	Volumes        []Volume    `json:"volumes"`
	Affinity       *Affinity   `json:"affinity"`

	// PersistentVolumeClaim.
	VolumeName string `json:"volumeName"`

	// Job (Suspend also CronJob).
	Parallelism           *int32 `json:"parallelism"`
	Completions           *int32 `json:"completions"`
	BackoffLimit          *int32 `json:"backoffLimit"`
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds"`
	CompletionMode        string `json:"completionMode"`
	Suspend               *bool  `json:"suspend"`

	// CronJob.
	Schedule                   string  `json:"schedule"`
	TimeZone                   *string `json:"timeZone"`
	ConcurrencyPolicy          string  `json:"concurrencyPolicy"`
	StartingDeadlineSeconds    *int64  `json:"startingDeadlineSeconds"`
	SuccessfulJobsHistoryLimit *int32  `json:"successfulJobsHistoryLimit"`
	FailedJobsHistoryLimit     *int32  `json:"failedJobsHistoryLimit"`
}

// Strategy is a Deployment's strategy or a StatefulSet's or DaemonSet's updateStrategy.
type Strategy struct {
	Type          string `json:"type"`
	RollingUpdate *struct {
		MaxSurge       jsontext.Value `json:"maxSurge"`
		MaxUnavailable jsontext.Value `json:"maxUnavailable"`
		Partition      *int32         `json:"partition"`
	} `json:"rollingUpdate"`
}

// Container is a container's name and image.
type Container struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

// Volume is a pod volume; only claims matter here.
type Volume struct {
	Name                  string `json:"name"`
	PersistentVolumeClaim *struct {
		ClaimName string `json:"claimName"`
	} `json:"persistentVolumeClaim"`
}

// Affinity holds the node a DaemonSet pod is pinned to (matchFields metadata.name).
type Affinity struct {
	NodeAffinity *struct {
		Required *struct {
			NodeSelectorTerms []struct {
				MatchFields []struct {
					Key    string   `json:"key"`
					Values []string `json:"values"`
				} `json:"matchFields"`
			} `json:"nodeSelectorTerms"`
		} `json:"requiredDuringSchedulingIgnoredDuringExecution"`
	} `json:"nodeAffinity"`
}

// Status is the union of the statuses the views read.
type Status struct {
	ObservedGeneration  int64  `json:"observedGeneration"`
	Replicas            int32  `json:"replicas"`
	UpdatedReplicas     int32  `json:"updatedReplicas"`
	ReadyReplicas       int32  `json:"readyReplicas"`
	AvailableReplicas   int32  `json:"availableReplicas"`
	UnavailableReplicas int32  `json:"unavailableReplicas"`
	CurrentReplicas     int32  `json:"currentReplicas"`
	CurrentRevision     string `json:"currentRevision"`
	UpdateRevision      string `json:"updateRevision"`

	// DaemonSet.
	CurrentNumberScheduled int32 `json:"currentNumberScheduled"`
	DesiredNumberScheduled int32 `json:"desiredNumberScheduled"`
	NumberReady            int32 `json:"numberReady"`
	NumberAvailable        int32 `json:"numberAvailable"`
	UpdatedNumberScheduled int32 `json:"updatedNumberScheduled"`

	Conditions []Condition `json:"conditions"`

	// Pod and PersistentVolumeClaim.
	Phase  string `json:"phase"`
	PodIP  string `json:"podIP"`
	HostIP string `json:"hostIP"`

	// Pod: why it failed (e.g. DeadlineExceeded), and how its containers ended.
	Reason            string            `json:"reason"`
	ContainerStatuses []ContainerStatus `json:"containerStatuses"`

	// Job (a CronJob's status.active is a list: not read). StartTime also Pod.
	Succeeded      int32      `json:"succeeded"`
	Failed         int32      `json:"failed"`
	StartTime      *time.Time `json:"startTime"`
	CompletionTime *time.Time `json:"completionTime"`
}

// ContainerStatus is a pod container's status: how it ended, when it did.
type ContainerStatus struct {
	Name  string `json:"name"`
	State struct {
		Terminated *ContainerTerminated `json:"terminated"`
	} `json:"state"`
}

// ContainerTerminated is a container's terminated state.
type ContainerTerminated struct {
	ExitCode int32  `json:"exitCode"`
	Reason   string `json:"reason"`
	Message  string `json:"message"`
}

// Condition is one status condition.
type Condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Condition returns the condition of the given type, or nil.
func (s *Status) Condition(t string) *Condition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

// Endpoint is one endpoint of an EndpointSlice.
type Endpoint struct {
	Addresses  []string `json:"addresses"`
	Conditions struct {
		Ready       *bool `json:"ready"`
		Serving     *bool `json:"serving"`
		Terminating *bool `json:"terminating"`
	} `json:"conditions"`
	TargetRef *ObjectReference `json:"targetRef"`
	NodeName  *string          `json:"nodeName"`
}

var decodeOpts = json.JoinOptions(
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
)

// images returns the images of a pod spec's containers, init containers first.
func (s *Spec) images() []string {
	var out []string
	for _, c := range s.InitContainers {
		out = append(out, c.Image)
	}
	for _, c := range s.Containers {
		out = append(out, c.Image)
	}
	return out
}

// daemonNode is the node a DaemonSet pod is pinned to, from its node affinity.
func (s *Spec) daemonNode() string {
	if s.NodeName != "" {
		return s.NodeName
	}
	if s.Affinity == nil || s.Affinity.NodeAffinity == nil || s.Affinity.NodeAffinity.Required == nil {
		return ""
	}
	for _, t := range s.Affinity.NodeAffinity.Required.NodeSelectorTerms {
		for _, f := range t.MatchFields {
			if f.Key == "metadata.name" && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// podTemplate is the part of a pod template (or a ControllerRevision's data) the views read.
type podTemplate struct {
	Spec struct {
		Containers     []Container `json:"containers"`
		InitContainers []Container `json:"initContainers"`
	} `json:"spec"`
}

// templateImages returns the images of a pod template's containers.
func templateImages(tmpl []byte) []string {
	if len(tmpl) == 0 {
		return nil
	}
	var t podTemplate
	if err := json.Unmarshal(tmpl, &t, decodeOpts); err != nil {
		return nil
	}
	s := Spec{Containers: t.Spec.Containers, InitContainers: t.Spec.InitContainers}
	return s.images()
}

// controllerRevisionTemplate returns the pod template held in a ControllerRevision's data
// (StatefulSets and DaemonSets store a patch {"spec":{"template":{...}}}).
func controllerRevisionTemplate(data []byte) []byte {
	if len(data) == 0 {
		return nil
	}
	var d struct {
		Spec struct {
			Template jsontext.Value `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(data, &d, decodeOpts); err != nil {
		return nil
	}
	return d.Spec.Template
}

// intOrString renders a raw IntOrString ("25%" or 2) as a string.
func intOrString(v jsontext.Value) string {
	s := strings.TrimSpace(string(v))
	if s == "" || s == "null" {
		return ""
	}
	if uq, err := strconv.Unquote(s); err == nil {
		return uq
	}
	return s
}

// atoi64 parses a decimal annotation value; bad values read as -1.
func atoi64(s string) int64 {
	if s == "" {
		return -1
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return -1
	}
	return v
}

// ordinal returns the ordinal of a StatefulSet pod or claim name ending in -N, or -1.
func ordinal(name string) int {
	i := strings.LastIndexByte(name, '-')
	if i < 0 || i == len(name)-1 {
		return -1
	}
	n, err := strconv.Atoi(name[i+1:])
	if err != nil || n < 0 {
		return -1
	}
	return n
}
