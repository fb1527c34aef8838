package query

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/khist/khist/projector"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/yaml"
)

// StateArgs are the arguments of khist state.
type StateArgs struct {
	Namespace     string       // -n
	AllNamespaces bool         // -A
	At            string       // --at (required)
	Kinds         []string     // --kind; none or "all": what kubectl get all shows, and PVCs
	Output        string       // -o: table (default), wide, name, json or yaml
	Table         TableOptions // --no-headers, --sort-by (table and wide: within each kind)
	// Printer, when set, prints the objects (a kubectl List) instead of Output: kubectl's
	// -o jsonpath=..., go-template=..., custom-columns=....
	Printer Printer
	// Note receives, for -o json, yaml and name, what the table says before its rows (that
	// --at is after the recorded history, which ends earlier); nil drops it.
	Note io.Writer
}

// StateFormats are the -o values of khist state.
var StateFormats = []string{OutTable, OutWide, OutName, OutJSON, OutYAML}

// allKinds is what khist state shows by default, in kubectl get all's order, and PVCs.
var allKinds = []string{"Pod", "Service", "DaemonSet", "Deployment", "ReplicaSet", "StatefulSet", "Job", "CronJob", "HorizontalPodAutoscaler", "PersistentVolumeClaim"}

// State writes what kubectl get would have shown at a time.
func (v *Views) State(ctx context.Context, a StateArgs, w io.Writer) error {
	if a.Output == "" {
		a.Output = OutTable
	}
	out := ""
	if a.Printer == nil {
		var err error
		if out, err = ParseOutput(a.Output, StateFormats...); err != nil {
			return err
		}
	}
	scope, err := ScopeOf(a.Namespace, a.AllNamespaces, "default")
	if err != nil {
		return err
	}
	if strings.TrimSpace(a.At) == "" {
		return errorf(ErrBadTime, "--at: a time is needed: use %s", TimeForms)
	}
	at, err := v.Env.Time("--at", a.At)
	if err != nil {
		return err
	}
	var kinds []Kind
	for _, ks := range a.Kinds {
		for _, s := range strings.Split(ks, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			ks, err := v.resolveKinds(ctx, s)
			if err != nil {
				return fmt.Errorf("--kind: %w", err)
			}
			kinds = append(kinds, ks...)
		}
	}
	if len(kinds) == 0 {
		kinds, _ = v.category(ctx, "all")
	}
	// After the end of the history (--at now on a recording), the answer is the latest
	// recorded state, and says so.
	var note string
	if first, last, err := v.Span(ctx); err == nil && !first.IsZero() && at.After(last) {
		note = fmt.Sprintf("Latest recorded state: the recorded history ends at %s, before --at.", v.Env.FormatTime(last))
		at = last
	} else if err := v.checkInHistory(ctx, "--at", at); err != nil {
		return err
	}
	f := projector.StateFilter{Cluster: v.Cluster, At: at, WithObjects: true}
	clusterScoped := false
	for _, k := range kinds {
		f.Kinds = append(f.Kinds, k.Kind)
		clusterScoped = clusterScoped || !k.Namespaced
	}
	if !scope.AllNamespaces {
		f.Namespaces = []string{scope.Namespace}
		if clusterScoped {
			f.Namespaces = append(f.Namespaces, "")
		}
	}
	pvs, err := v.DB.StateAt(ctx, f)
	if err != nil {
		return err
	}
	type groupKind struct{ group, kind string }
	byKind := map[groupKind][]Version{}
	for _, pv := range pvs {
		qv := fromProjector(pv)
		k := groupKind{qv.Group, qv.Kind}
		byKind[k] = append(byKind[k], qv)
	}
	var ordered []Version
	var groups [][]Version
	seenKind := map[Kind]bool{}
	for _, k := range kinds {
		if seenKind[k] {
			continue
		}
		seenKind[k] = true
		vs := byKind[groupKind{k.Group, k.Kind}]
		slices.SortStableFunc(vs, func(a, b Version) int {
			return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
		})
		if len(vs) > 0 {
			groups = append(groups, vs)
			ordered = append(ordered, vs...)
		}
	}
	switch {
	case note == "":
	case out == OutTable || out == OutWide:
		fmt.Fprintln(w, note)
	case a.Note != nil:
		fmt.Fprintln(a.Note, note)
	}
	if a.Printer != nil {
		return printList(a.Printer, ordered, w)
	}
	switch out {
	case OutJSON, OutYAML:
		return writeList(w, ordered, out)
	case OutName:
		for _, ver := range ordered {
			fmt.Fprintln(w, ver.Ref())
		}
		return nil
	}
	if len(groups) == 0 {
		where := "in " + scope.Namespace + " namespace"
		if scope.AllNamespaces {
			where = "in any namespace"
		}
		_, err := fmt.Fprintf(w, "No resources found %s at %s.\n", where, v.Env.FormatTime(at))
		return err
	}
	prefixKind := len(groups) > 1 || len(kinds) > 1
	for i, vs := range groups {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := stateTable(w, vs, at, scope.AllNamespaces, prefixKind, out == OutWide, a.Table); err != nil {
			return err
		}
	}
	return nil
}

// writeList writes versions as a kubectl List.
func writeList(w io.Writer, vs []Version, format string) error {
	j, err := listJSON(vs)
	if err != nil {
		return err
	}
	if format == OutYAML {
		y, err := yaml.JSONToYAML(j)
		if err != nil {
			return err
		}
		_, err = w.Write(y)
		return err
	}
	_, err = w.Write(append(j, '\n'))
	return err
}

// listJSON returns what json.MarshalIndent(list, "", "    ") returns for the kubectl List
// {"apiVersion": "v1", "items": [objects], "kind": "List", "metadata": {"resourceVersion": ""}}
// with each object a json.RawMessage, written piece by piece: each object is indented in
// place (json.Indent at the depth of the items) and escaped as the encoder escapes a raw
// message (json.HTMLEscape), instead of being compacted into the whole list and the whole
// list then indented again (a state of a busy namespace is about 2 MB of JSON).
func listJSON(vs []Version) ([]byte, error) {
	const itemIndent = "        " // the items are at depth 2
	var buf, ind bytes.Buffer
	size := 0
	for _, v := range vs {
		size += len(v.Object)
	}
	buf.Grow(2*size + 256) // with the indentation
	buf.WriteString("{\n    \"apiVersion\": \"v1\",\n    \"items\": [")
	for i, v := range vs {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString("\n" + itemIndent)
		if v.Object == nil {
			buf.WriteString("null") // as a nil json.RawMessage
			continue
		}
		// json.Indent keeps trailing spaces, which compacting drops.
		obj := bytes.TrimRight(v.Object, " \t\r\n")
		// What the encoder escapes: <, > and &, and U+2028 and U+2029 (0xE2 0x80 0xA8-9).
		if !bytes.ContainsAny(obj, "<>&") && bytes.IndexByte(obj, 0xE2) < 0 {
			if err := json.Indent(&buf, obj, itemIndent, "    "); err != nil {
				return nil, fmt.Errorf("%s: %w", v.Ref(), err)
			}
			continue
		}
		ind.Reset()
		if err := json.Indent(&ind, obj, itemIndent, "    "); err != nil {
			return nil, fmt.Errorf("%s: %w", v.Ref(), err)
		}
		json.HTMLEscape(&buf, ind.Bytes())
	}
	if len(vs) > 0 {
		buf.WriteString("\n    ")
	}
	buf.WriteString("],\n    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}")
	return buf.Bytes(), nil
}

// age prints how old an object was at a time, as kubectl's AGE column does.
func age(m map[string]any, at time.Time) string {
	ts := getString(m, "metadata", "creationTimestamp")
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		return "<unknown>"
	}
	return duration.HumanDuration(at.Sub(t))
}

// stateTable writes the rows of one kind with kubectl get's columns.
func stateTable(w io.Writer, vs []Version, at time.Time, allNS, prefixKind, wide bool, opts TableOptions) error {
	k := LookupKind(vs[0].Group, vs[0].Kind)
	cols, row := columnsOf(k.Kind, wide)
	t := &table{}
	for _, h := range append([]string{"NAME"}, cols...) {
		t.columns = append(t.columns, column{name: h})
	}
	if allNS {
		t.columns = append([]column{{name: "NAMESPACE"}}, t.columns...)
	}
	for _, ver := range vs {
		m, err := decodeObject(ver.Object)
		if err != nil {
			return fmt.Errorf("%s: %w", ver.Ref(), err)
		}
		name := ver.Name
		if prefixKind {
			name = ver.Ref()
		}
		cells := append([]string{name}, row(m, at)...)
		if allNS {
			cells = append([]string{ver.Namespace}, cells...)
		}
		t.add(m, cells...)
	}
	return t.print(w, wide, opts)
}

func i64(m map[string]any, path ...string) string {
	n, _ := getInt(m, path...)
	return strconv.FormatInt(n, 10)
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// containersImages returns kubectl's CONTAINERS and IMAGES columns of a pod spec.
func containersImages(spec map[string]any) (string, string) {
	var names, images []string
	for _, c := range getList(spec, "containers") {
		cm, _ := c.(map[string]any)
		names = append(names, short(cm["name"]))
		images = append(images, short(cm["image"]))
	}
	return strings.Join(names, ","), strings.Join(images, ",")
}

// columnsOf returns kubectl get's columns of a kind (after NAME) and how to fill them.
func columnsOf(kind string, wide bool) ([]string, func(m map[string]any, at time.Time) []string) {
	withImages := func(cols []string, row func(map[string]any, time.Time) []string) ([]string, func(map[string]any, time.Time) []string) {
		if !wide {
			return cols, row
		}
		return append(cols, "CONTAINERS", "IMAGES"), func(m map[string]any, at time.Time) []string {
			c, i := containersImages(podSpecOf(kind, m))
			return append(row(m, at), c, i)
		}
	}
	switch kind {
	case "Pod":
		cols := []string{"READY", "STATUS", "RESTARTS", "AGE"}
		if wide {
			cols = append(cols, "IP", "NODE")
		}
		return cols, func(m map[string]any, at time.Time) []string {
			ready, total, restarts := podReadiness(m)
			r := []string{fmt.Sprintf("%d/%d", ready, total), podStatus(m), strconv.Itoa(restarts), age(m, at)}
			if wide {
				r = append(r, orNone(getString(m, "status", "podIP")), orNone(getString(m, "spec", "nodeName")))
			}
			return r
		}
	case "Deployment":
		return withImages([]string{"READY", "UP-TO-DATE", "AVAILABLE", "AGE"}, func(m map[string]any, at time.Time) []string {
			return []string{i64(m, "status", "readyReplicas") + "/" + i64(m, "spec", "replicas"), i64(m, "status", "updatedReplicas"), i64(m, "status", "availableReplicas"), age(m, at)}
		})
	case "ReplicaSet", "ReplicationController":
		return withImages([]string{"DESIRED", "CURRENT", "READY", "AGE"}, func(m map[string]any, at time.Time) []string {
			return []string{i64(m, "spec", "replicas"), i64(m, "status", "replicas"), i64(m, "status", "readyReplicas"), age(m, at)}
		})
	case "StatefulSet":
		return withImages([]string{"READY", "AGE"}, func(m map[string]any, at time.Time) []string {
			return []string{i64(m, "status", "readyReplicas") + "/" + i64(m, "spec", "replicas"), age(m, at)}
		})
	case "DaemonSet":
		return withImages([]string{"DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"}, func(m map[string]any, at time.Time) []string {
			return []string{i64(m, "status", "desiredNumberScheduled"), i64(m, "status", "currentNumberScheduled"), i64(m, "status", "numberReady"),
				i64(m, "status", "updatedNumberScheduled"), i64(m, "status", "numberAvailable"), age(m, at)}
		})
	case "Service":
		return []string{"TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"}, func(m map[string]any, at time.Time) []string {
			var ports []string
			for _, p := range getList(m, "spec", "ports") {
				pm, _ := p.(map[string]any)
				s := short(pm["port"])
				if np := short(pm["nodePort"]); np != "" {
					s += ":" + np
				}
				ports = append(ports, s+"/"+short(pm["protocol"]))
			}
			ext := "<none>"
			for _, in := range getList(m, "status", "loadBalancer", "ingress") {
				im, _ := in.(map[string]any)
				ext = short(im["ip"]) + short(im["hostname"])
			}
			return []string{getString(m, "spec", "type"), orNone(getString(m, "spec", "clusterIP")), ext, orNone(strings.Join(ports, ",")), age(m, at)}
		}
	case "PersistentVolumeClaim":
		return []string{"STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "AGE"}, func(m map[string]any, at time.Time) []string {
			var modes []string
			for _, am := range getList(m, "status", "accessModes") {
				modes = append(modes, map[string]string{"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}[short(am)])
			}
			return []string{getString(m, "status", "phase"), getString(m, "spec", "volumeName"), short(get(m, "status", "capacity", "storage")),
				strings.Join(modes, ","), orNone(getString(m, "spec", "storageClassName")), age(m, at)}
		}
	case "Job":
		return []string{"STATUS", "COMPLETIONS", "AGE"}, func(m map[string]any, at time.Time) []string {
			st := "Running"
			if condition(m, "Complete") == "True" {
				st = "Complete"
			} else if condition(m, "Failed") == "True" {
				st = "Failed"
			}
			return []string{st, i64(m, "status", "succeeded") + "/" + i64(m, "spec", "completions"), age(m, at)}
		}
	case "Node":
		return []string{"STATUS", "AGE"}, func(m map[string]any, at time.Time) []string {
			st := "NotReady"
			if condition(m, "Ready") == "True" {
				st = "Ready"
			}
			return []string{st, age(m, at)}
		}
	}
	return []string{"AGE"}, func(m map[string]any, at time.Time) []string { return []string{age(m, at)} }
}

// podReadiness counts a pod's ready containers, its containers and their restarts.
func podReadiness(m map[string]any) (ready, total, restarts int) {
	total = len(getList(m, "spec", "containers"))
	for _, c := range getList(m, "status", "containerStatuses") {
		cm, _ := c.(map[string]any)
		if r, _ := cm["ready"].(bool); r {
			ready++
		}
		if n, ok := getInt(cm, "restartCount"); ok {
			restarts += int(n)
		}
	}
	return ready, total, restarts
}

// podStatus is kubectl's STATUS column of a pod: Terminating, a container's waiting or
// terminated reason, or the phase.
func podStatus(m map[string]any) string {
	if getString(m, "metadata", "deletionTimestamp") != "" {
		return "Terminating"
	}
	reason := getString(m, "status", "phase")
	if r := getString(m, "status", "reason"); r != "" {
		reason = r
	}
	for _, c := range getList(m, "status", "containerStatuses") {
		cm, _ := c.(map[string]any)
		if r := getString(cm, "state", "waiting", "reason"); r != "" {
			reason = r
		} else if r := getString(cm, "state", "terminated", "reason"); r != "" {
			reason = r
		}
	}
	if reason == "" {
		return "Pending"
	}
	return reason
}
