package query

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestListJSON: the List that khist state -o json writes, piece by piece, is byte for byte what
// json.MarshalIndent writes for it, on objects that are compact or not, nested, empty, with
// characters the encoder escapes (<, >, &, U+2028) and with space around them.
func TestListJSON(t *testing.T) {
	objects := []string{
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","labels":{}},"spec":{"containers":[{"name":"c","command":["sh","-c","a && b < c > d"]}]},"status":{"conditions":[]}}`,
		"  {\n\t\"kind\" : \"ConfigMap\", \"data\": {\"k\": \"line\u2028sep\u2029end\", \"n\": [1, 2.5e3, -0, true, false, null]}}  \n",
		`{}`,
		`{"note":"it’s — quoted"}`,
		`[]`,
		`{"a":[[],[{}],{"b":{"c":[1,[2,[3]]]}}],"e":"\"quoted\" \\ \u00e9 \u003c"}`,
	}
	for n := 0; n <= len(objects); n++ {
		var vs []Version
		var raw []json.RawMessage
		for _, o := range objects[:n] {
			vs = append(vs, Version{ObjectKey: ObjectKey{Kind: "Pod", Name: "x"}, Object: []byte(o)})
			raw = append(raw, json.RawMessage(o))
		}
		if n == len(objects) {
			vs = append(vs, Version{ObjectKey: ObjectKey{Kind: "Pod", Name: "nil"}}) // no object: null, as a nil RawMessage
			raw = append(raw, nil)
		}
		want, err := json.MarshalIndent(map[string]any{"apiVersion": "v1", "kind": "List", "metadata": map[string]any{"resourceVersion": ""},
			"items": append(make([]json.RawMessage, 0, len(raw)), raw...)}, "", "    ")
		if err != nil {
			t.Fatal(err)
		}
		got, err := listJSON(vs)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%d objects: got\n%s\nwant\n%s", n, got, want)
		}
	}
	if _, err := listJSON([]Version{{ObjectKey: ObjectKey{Kind: "Pod", Name: "bad"}, Object: []byte(`{"a":`)}}); err == nil {
		t.Fatal("a truncated object gave no error")
	}
}
