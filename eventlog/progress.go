package eventlog

import (
	"encoding/json"
	"fmt"
)

// Progress is the event type of a progress record: how far a collector's watch of one resource
// (in one namespace, or in all) has come. Its ResourceVersion is the watch's resourceVersion,
// up to which every change of that resource the watch received is in the log (the collector
// writes it only once those versions are acknowledged). It is not an object version: it has a
// subject of its own (ProgressSubject), no kind, name or uid. A collector that starts (a
// restart, a new leader) resumes each watch from the last one, so that the API server replays
// the changes made while no collector watched. Readers of object versions skip it.
const Progress EventType = "PROGRESS"

// ProgressSubject is the subject of the progress records of one watch:
// khist.ev.CLUSTER.progress.KEY, KEY being "GROUP/RESOURCE/NAMESPACE" encoded as one token
// (namespace "" for a watch of all namespaces). It has fewer tokens than any object's subject,
// so that no object filter (see Filter) matches it; the last message on it is the watch's
// latest progress.
func ProgressSubject(cluster, group, resource, namespace string) string {
	return SubjectPrefix + "." + EncodeToken(cluster) + ".progress." + EncodeToken(group+"/"+resource+"/"+namespace)
}

// ProgressFilter matches every progress record of a cluster.
func ProgressFilter(cluster string) string {
	return SubjectPrefix + "." + EncodeToken(cluster) + ".progress.*"
}

// NewProgress returns the progress record of a watch of resource (plural) in group, in
// namespace ("" for all), at resourceVersion rv.
func NewProgress(cluster, group, resource, namespace, rv, source string) *Envelope {
	body, _ := json.Marshal(struct {
		Group           string `json:"group,omitempty"`
		Resource        string `json:"resource"`
		Namespace       string `json:"namespace,omitempty"`
		ResourceVersion string `json:"resourceVersion"`
	}{group, resource, namespace, rv})
	return &Envelope{
		Type:            Progress,
		Cluster:         cluster,
		Group:           group,
		Resource:        resource,
		Namespace:       namespace,
		ResourceVersion: rv,
		Source:          source,
		Object:          body,
	}
}

func (e *Envelope) validateProgress() error {
	if e.Cluster == "" || e.Resource == "" || e.ResourceVersion == "" || len(e.Object) == 0 {
		return fmt.Errorf("%w: a progress record needs a cluster, a resource, a resourceVersion and a body", ErrInvalidEnvelope)
	}
	return nil
}
