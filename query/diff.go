package query

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"sigs.k8s.io/yaml"
)

// Noise is what a diff leaves out unless asked for everything (--all): fields that change on
// every write and say nothing about what the object is.
//
//   - metadata.resourceVersion, metadata.managedFields, metadata.selfLink
//   - the kubectl.kubernetes.io/last-applied-configuration annotation (a copy of the spec) and
//     endpoints.kubernetes.io/last-change-trigger-time
//   - timestamps under status: lastUpdateTime, lastTransitionTime, lastProbeTime,
//     lastHeartbeatTime, startedAt, finishedAt, startTime
var (
	noiseMetadata    = []string{"resourceVersion", "managedFields", "selfLink"}
	noiseAnnotations = []string{"kubectl.kubernetes.io/last-applied-configuration", "endpoints.kubernetes.io/last-change-trigger-time"}
	noiseStatusKeys  = map[string]bool{
		"lastUpdateTime": true, "lastTransitionTime": true, "lastProbeTime": true,
		"lastHeartbeatTime": true, "startedAt": true, "finishedAt": true, "startTime": true,
	}
)

// decodeObject reads an object's JSON keeping numbers as written.
func decodeObject(obj []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(obj))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// StripNoise removes the Noise fields from a decoded object, in place.
func StripNoise(m map[string]any) {
	if md, ok := m["metadata"].(map[string]any); ok {
		for _, k := range noiseMetadata {
			delete(md, k)
		}
		if ann, ok := md["annotations"].(map[string]any); ok {
			for _, k := range noiseAnnotations {
				delete(ann, k)
			}
			if len(ann) == 0 {
				delete(md, "annotations")
			}
		}
	}
	if st, ok := m["status"]; ok {
		stripKeys(st, noiseStatusKeys)
	}
}

func stripKeys(v any, keys map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if keys[k] {
				delete(x, k)
				continue
			}
			stripKeys(c, keys)
		}
	case []any:
		for _, c := range x {
			stripKeys(c, keys)
		}
	}
}

// ObjectYAML renders an object's JSON as YAML with sorted keys, as kubectl get -o yaml would,
// without the Noise fields unless all.
func ObjectYAML(obj []byte, all bool) ([]byte, error) {
	if len(obj) == 0 {
		return nil, nil
	}
	if all {
		return yaml.JSONToYAML(obj)
	}
	m, err := decodeObject(obj)
	if err != nil {
		return nil, fmt.Errorf("object is not JSON: %w", err)
	}
	StripNoise(m)
	j, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return yaml.JSONToYAML(j)
}

// DiffOptions shape a unified diff.
type DiffOptions struct {
	FromName, ToName string // the --- and +++ labels
	All              bool   // keep the Noise fields
	Context          int    // lines of context; default 3
}

// DiffObjects returns the unified diff of two objects' YAML ("" when equal). A nil side is an
// object that did not exist (the diff is all additions or all removals).
func DiffObjects(from, to []byte, o DiffOptions) (string, error) {
	a, err := ObjectYAML(from, o.All)
	if err != nil {
		return "", fmt.Errorf("%s: %w", o.FromName, err)
	}
	b, err := ObjectYAML(to, o.All)
	if err != nil {
		return "", fmt.Errorf("%s: %w", o.ToName, err)
	}
	return UnifiedDiff(string(a), string(b), o.FromName, o.ToName, o.Context), nil
}

// UnifiedDiff returns the unified diff of two texts ("" when equal).
func UnifiedDiff(a, b, fromName, toName string, context int) string {
	if a == b {
		return ""
	}
	if context <= 0 {
		context = 3
	}
	s, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        difflib.SplitLines(a),
		B:        difflib.SplitLines(b),
		FromFile: fromName,
		ToFile:   toName,
		Context:  context,
	})
	return s
}

// ANSI colours of a diff on a terminal.
const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiCyan  = "\x1b[36m"
)

// ColorizeDiff colours a unified diff for a terminal: headers bold, hunks cyan, removals red,
// additions green.
func ColorizeDiff(d string) string {
	if d == "" {
		return d
	}
	var b strings.Builder
	for _, line := range strings.SplitAfter(d, "\n") {
		if line == "" {
			continue
		}
		body := strings.TrimSuffix(line, "\n")
		nl := line[len(body):]
		switch {
		case strings.HasPrefix(body, "+++"), strings.HasPrefix(body, "---"):
			b.WriteString(ansiBold + body + ansiReset + nl)
		case strings.HasPrefix(body, "@@"):
			b.WriteString(ansiCyan + body + ansiReset + nl)
		case strings.HasPrefix(body, "+"):
			b.WriteString(ansiGreen + body + ansiReset + nl)
		case strings.HasPrefix(body, "-"):
			b.WriteString(ansiRed + body + ansiReset + nl)
		default:
			b.WriteString(line)
		}
	}
	return b.String()
}
