package fidelity

import (
	"path/filepath"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/replay"
)

// ForScenario keeps the envelopes of a recording that belong to a scenario: the objects of its
// namespace, and the Nodes and PersistentVolumes (cluster-scoped) the controllers used.
func ForScenario(envs []*eventlog.Envelope, s *Scenario) []*eventlog.Envelope {
	var out []*eventlog.Envelope
	for _, e := range envs {
		if e.Namespace == s.Name || e.Namespace == "" && (e.Kind == "Node" || e.Kind == "PersistentVolume") {
			out = append(out, e)
		}
	}
	return out
}

// Versions converts envelopes to the replay engine's input.
func Versions(envs []*eventlog.Envelope) []replay.Version {
	out := make([]replay.Version, len(envs))
	for i, e := range envs {
		out[i] = replay.Version{Seq: e.Seq, Type: string(e.Type), Observed: e.Observed, Kind: e.Kind, Namespace: e.Namespace,
			Name: e.Name, UID: e.UID, ResourceVersion: e.ResourceVersion, Actor: e.Actor, Object: e.Object}
	}
	return out
}

// FixturePath is where a scenario's recording is kept, relative to this package.
func FixturePath(dir, scenario string) string {
	return filepath.Join(dir, scenario+".json.gz")
}
