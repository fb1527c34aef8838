package query

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// FieldChange is one leaf of an object that differs between two versions.
type FieldChange struct {
	Path     string // e.g. spec.replicas, spec.template.spec.containers[app].image
	Old, New string // the values as short text; "" when absent
}

func (c FieldChange) String() string {
	switch {
	case c.Old == "":
		return c.Path + " = " + c.New
	case c.New == "":
		return c.Path + " removed (was " + c.Old + ")"
	}
	return c.Path + " " + c.Old + " -> " + c.New
}

// ChangedFields lists the leaves that differ between two decoded objects, in path order. Lists
// whose elements are objects with a name (containers, ports, volumes) or a type (conditions) are
// compared element by element under that key (containers[app]), other lists by index. The Noise
// fields are ignored.
func ChangedFields(old, cur map[string]any) []FieldChange {
	var out []FieldChange
	diffValues("", old, cur, &out)
	slices.SortStableFunc(out, func(a, b FieldChange) int { return cmp.Compare(a.Path, b.Path) })
	return out
}

// isNoise reports whether key under the map at path is a Noise field.
func isNoise(path, key string) bool {
	switch {
	case path == "metadata":
		return slices.Contains(noiseMetadata, key)
	case path == "metadata.annotations":
		return slices.Contains(noiseAnnotations, key)
	case path == "status" || strings.HasPrefix(path, "status.") || strings.HasPrefix(path, "status["):
		return noiseStatusKeys[key]
	}
	return false
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func diffValues(path string, a, b any, out *[]FieldChange) {
	// A map or list that appears or disappears is compared with an empty one, so that its
	// leaves are listed one by one.
	switch b.(type) {
	case map[string]any:
		if a == nil {
			a = map[string]any{}
		}
	case []any:
		if a == nil {
			a = []any{}
		}
	}
	switch a.(type) {
	case map[string]any:
		if b == nil {
			b = map[string]any{}
		}
	case []any:
		if b == nil {
			b = []any{}
		}
	}
	switch x := a.(type) {
	case map[string]any:
		if y, ok := b.(map[string]any); ok {
			for k, xv := range x {
				if !isNoise(path, k) {
					diffValues(join(path, k), xv, y[k], out)
				}
			}
			for k, yv := range y {
				if _, ok := x[k]; !ok && !isNoise(path, k) {
					diffValues(join(path, k), nil, yv, out)
				}
			}
			return
		}
	case []any:
		if y, ok := b.([]any); ok {
			if key := listKey(x, y); key != "" {
				xm, ym := keyed(x, key), keyed(y, key)
				for k, xv := range xm {
					diffValues(path+"["+k+"]", xv, ym[k], out)
				}
				for k, yv := range ym {
					if _, ok := xm[k]; !ok {
						diffValues(path+"["+k+"]", nil, yv, out)
					}
				}
				return
			}
			if scalarList(x) && scalarList(y) {
				break
			}
			for i := 0; i < max(len(x), len(y)); i++ {
				var xv, yv any
				if i < len(x) {
					xv = x[i]
				}
				if i < len(y) {
					yv = y[i]
				}
				diffValues(path+"["+strconv.Itoa(i)+"]", xv, yv, out)
			}
			return
		}
	}
	if a == nil && b == nil {
		return
	}
	as, bs := short(a), short(b)
	if as != bs {
		*out = append(*out, FieldChange{Path: path, Old: as, New: bs})
	}
}

func scalarList(l []any) bool {
	for _, v := range l {
		switch v.(type) {
		case map[string]any, []any:
			return false
		}
	}
	return true
}

// listKey returns the field that identifies the elements of both lists ("name" or "type"), or
// "".
func listKey(a, b []any) string {
	if len(a)+len(b) == 0 {
		return ""
	}
	for _, key := range []string{"name", "type", "ip", "containerPort"} {
		if allHave(a, key) && allHave(b, key) && uniqueKeys(a, key) && uniqueKeys(b, key) {
			return key
		}
	}
	return ""
}

func allHave(l []any, key string) bool {
	for _, v := range l {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if _, ok := m[key]; !ok {
			return false
		}
	}
	return true
}

func uniqueKeys(l []any, key string) bool {
	seen := map[string]bool{}
	for _, v := range l {
		s := short(v.(map[string]any)[key])
		if seen[s] {
			return false
		}
		seen[s] = true
	}
	return true
}

func keyed(l []any, key string) map[string]any {
	m := make(map[string]any, len(l))
	for _, v := range l {
		m[short(v.(map[string]any)[key])] = v
	}
	return m
}

// short renders a leaf (or a whole subtree, compactly) as text.
func short(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	j, _ := json.Marshal(v)
	s := string(j)
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

// get walks a decoded object along dot-separated keys.
func get(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

func getString(m map[string]any, path ...string) string {
	s, _ := get(m, path...).(string)
	return s
}

func getInt(m map[string]any, path ...string) (int64, bool) {
	switch x := get(m, path...).(type) {
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	case float64:
		return int64(x), true
	}
	return 0, false
}

func getMap(m map[string]any, path ...string) map[string]any {
	mm, _ := get(m, path...).(map[string]any)
	return mm
}

func getList(m map[string]any, path ...string) []any {
	l, _ := get(m, path...).([]any)
	return l
}

// condition returns the status of the condition of type t in status.conditions ("" if absent).
func condition(m map[string]any, t string) string {
	for _, c := range getList(m, "status", "conditions") {
		if cm, ok := c.(map[string]any); ok && cm["type"] == t {
			s, _ := cm["status"].(string)
			return s
		}
	}
	return ""
}

// Images returns the images of a pod template or pod spec as "name=image" pairs joined by
// commas, or just the image when there is one container.
func Images(podSpec map[string]any) string {
	cs := getList(podSpec, "containers")
	var parts []string
	for _, c := range cs {
		cm, _ := c.(map[string]any)
		img, _ := cm["image"].(string)
		name, _ := cm["name"].(string)
		if len(cs) == 1 {
			return img
		}
		parts = append(parts, name+"="+img)
	}
	return strings.Join(parts, ",")
}

// podSpecOf returns the pod spec of a pod or the template's spec of a workload.
func podSpecOf(kind string, m map[string]any) map[string]any {
	if kind == "Pod" {
		return getMap(m, "spec")
	}
	return getMap(m, "spec", "template", "spec")
}

func intOr(m map[string]any, def int64, path ...string) int64 {
	if n, ok := getInt(m, path...); ok {
		return n
	}
	return def
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
