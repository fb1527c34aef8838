package cluster

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// Pod annotations read by kwok's general pod stages. A stage waits a random
// time between its delay and its jitter-delay (both Go durations, "1.5s");
// equal values make the wait fixed, and a missing delay means 1–5 s.
const (
	AnnotationPodCreateDelay       = "pod-create.stage.kwok.x-k8s.io/delay"
	AnnotationPodCreateJitterDelay = "pod-create.stage.kwok.x-k8s.io/jitter-delay"
	AnnotationPodReadyDelay        = "pod-ready.stage.kwok.x-k8s.io/delay"
	AnnotationPodReadyJitterDelay  = "pod-ready.stage.kwok.x-k8s.io/jitter-delay"
	AnnotationPodDeleteDelay       = "pod-delete.stage.kwok.x-k8s.io/delay"
	AnnotationPodDeleteJitterDelay = "pod-delete.stage.kwok.x-k8s.io/jitter-delay"
)

// PodTiming is how long kwok takes over each stage of a scheduled pod's life.
// Put its Annotations on a pod template.
type PodTiming struct {
	// Create is the wait from scheduled to Pending with an IP and
	// ContainerCreating (the "pod-create" stage).
	Create time.Duration
	// Ready is the wait from there to Running and Ready ("pod-ready").
	Ready time.Duration
	// Delete is the wait from deletionTimestamp set to the pod gone
	// ("pod-delete").
	Delete time.Duration
	// Jitter widens each wait to a uniformly random time in
	// [d, d+Jitter). Zero makes every wait exact.
	Jitter time.Duration
}

// Annotations returns the pod annotations that give kwok this timing.
func (t PodTiming) Annotations() map[string]string {
	a := map[string]string{}
	for _, s := range []struct {
		delay, jitter string
		d             time.Duration
	}{
		{AnnotationPodCreateDelay, AnnotationPodCreateJitterDelay, t.Create},
		{AnnotationPodReadyDelay, AnnotationPodReadyJitterDelay, t.Ready},
		{AnnotationPodDeleteDelay, AnnotationPodDeleteJitterDelay, t.Delete},
	} {
		a[s.delay] = s.d.String()
		a[s.jitter] = (s.d + t.Jitter).String()
	}
	return a
}

// KwokDelays returns the annotations for pods that become Ready exactly
// ready after they are scheduled and vanish at once when deleted.
func KwokDelays(ready time.Duration) map[string]string {
	return PodTiming{Ready: ready}.Annotations()
}

// DeploymentOptions describe a test Deployment. Zero fields take upstream
// defaults unless said otherwise.
type DeploymentOptions struct {
	// Namespace defaults to "default". Name is required.
	Namespace, Name string
	// Replicas is the number of replicas; 0 means 0.
	Replicas int32
	// Image defaults to "nginx:1.7.9" (never pulled: kwok runs no container).
	Image string
	// Strategy defaults to RollingUpdate.
	Strategy appsv1.DeploymentStrategyType
	// MaxSurge and MaxUnavailable of a RollingUpdate; nil means 25%.
	MaxSurge, MaxUnavailable *intstr.IntOrString
	// MinReadySeconds defaults to 0.
	MinReadySeconds int32
	// RevisionHistoryLimit defaults to 10.
	RevisionHistoryLimit *int32
	// Labels of the pods, also the selector. Default: app=Name.
	Labels map[string]string
	// PodAnnotations, e.g. KwokDelays(time.Second). Default: none, so each
	// kwok stage takes 1–5 s.
	PodAnnotations map[string]string
}

// Deployment builds the Deployment that o describes.
func Deployment(o DeploymentOptions) *appsv1.Deployment {
	labels := o.Labels
	if labels == nil {
		labels = map[string]string{"app": o.Name}
	}
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace(o.Namespace), Name: o.Name},
		Spec: appsv1.DeploymentSpec{
			Replicas:             &o.Replicas,
			Selector:             &metav1.LabelSelector{MatchLabels: labels},
			MinReadySeconds:      o.MinReadySeconds,
			RevisionHistoryLimit: o.RevisionHistoryLimit,
			Template:             podTemplate(labels, o.PodAnnotations, o.Image),
		},
	}
	switch o.Strategy {
	case appsv1.RecreateDeploymentStrategyType:
		d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType
	default:
		d.Spec.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
		if o.MaxSurge != nil || o.MaxUnavailable != nil {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: o.MaxSurge, MaxUnavailable: o.MaxUnavailable}
		}
	}
	return d
}

// DeploymentManifest is Deployment as YAML, for Cluster.Apply or kubectl.
func DeploymentManifest(o DeploymentOptions) []byte { return manifest(Deployment(o)) }

// StatefulSetOptions describe a test StatefulSet (without volume claims:
// the test cluster has no storage provisioner).
type StatefulSetOptions struct {
	// Namespace defaults to "default". Name is required.
	Namespace, Name string
	// Replicas is the number of replicas; 0 means 0.
	Replicas int32
	// Image defaults to "nginx:1.7.9".
	Image string
	// PodManagementPolicy defaults to OrderedReady.
	PodManagementPolicy appsv1.PodManagementPolicyType
	// Partition of a RollingUpdate; nil means 0.
	Partition *int32
	// MinReadySeconds defaults to 0.
	MinReadySeconds int32
	// ServiceName defaults to Name; the Service need not exist.
	ServiceName string
	// Labels of the pods, also the selector. Default: app=Name.
	Labels map[string]string
	// PodAnnotations, e.g. KwokDelays(time.Second). Default: none.
	PodAnnotations map[string]string
}

// StatefulSet builds the StatefulSet that o describes.
func StatefulSet(o StatefulSetOptions) *appsv1.StatefulSet {
	labels := o.Labels
	if labels == nil {
		labels = map[string]string{"app": o.Name}
	}
	service := o.ServiceName
	if service == "" {
		service = o.Name
	}
	s := &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace(o.Namespace), Name: o.Name},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            &o.Replicas,
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			ServiceName:         service,
			PodManagementPolicy: o.PodManagementPolicy,
			MinReadySeconds:     o.MinReadySeconds,
			Template:            podTemplate(labels, o.PodAnnotations, o.Image),
		},
	}
	if o.Partition != nil {
		s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{
			Type:          appsv1.RollingUpdateStatefulSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: o.Partition},
		}
	}
	return s
}

// StatefulSetManifest is StatefulSet as YAML.
func StatefulSetManifest(o StatefulSetOptions) []byte { return manifest(StatefulSet(o)) }

func podTemplate(labels, annotations map[string]string, image string) corev1.PodTemplateSpec {
	if image == "" {
		image = "nginx:1.7.9"
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "main",
				Image: image,
				Ports: []corev1.ContainerPort{{ContainerPort: 80}},
			}},
		},
	}
}

func namespace(ns string) string {
	if ns == "" {
		return metav1.NamespaceDefault
	}
	return ns
}

func manifest(obj any) []byte {
	data, err := yaml.Marshal(obj)
	if err != nil {
		panic(fmt.Sprintf("marshal %T: %v", obj, err)) // a typed object always marshals
	}
	return data
}
