package projector

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/projector/internal/decodegen"
)

// The hand-written decoder (object_decode.go) must agree with the reflective decode. These
// tests check it on every object of the repository's recordings, on a generated history, on
// an object that sets every field, on inputs chosen to probe each rule and on random objects
// made of Object's names; FuzzDecodeObject checks it on arbitrary input.

// The label and annotation keys the views read (the key tags of Labels and Annotations).
const (
	annRevision       = "deployment.kubernetes.io/revision"
	annChangeCause    = "kubernetes.io/change-cause"
	annDesired        = "deployment.kubernetes.io/desired-replicas"
	annMaxReplicas    = "deployment.kubernetes.io/max-replicas"
	annRevisionHist   = "deployment.kubernetes.io/revision-history"
	annScheduled      = "batch.kubernetes.io/cronjob-scheduled-timestamp"
	annCompletionIdx  = "batch.kubernetes.io/job-completion-index"
	labelTemplateHash = "pod-template-hash"
	labelRevisionHash = "controller-revision-hash"
	labelServiceName  = "kubernetes.io/service-name"
)

// TestDecoderIsGenerated: object_decode_gen.go is what decodegen writes from object.go (run
// go generate ./projector after changing Object or the types it holds).
func TestDecoderIsGenerated(t *testing.T) {
	src, err := os.ReadFile("object.go")
	if err != nil {
		t.Fatal(err)
	}
	want, err := decodegen.Generate(src, "Object")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("object_decode_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("object_decode_gen.go is not what object.go generates: run go generate ./projector")
	}
}

// checkDecodeAgrees decodes data both ways and reports any difference: the fast decoder may
// give up on an input (DecodeObject then decodes by reflection), but what it decodes must be
// what the reflective decode gives, and DecodeObject must fail exactly when the reflective
// decode does. It returns whether the fast decoder decoded the input itself.
func checkDecodeAgrees(t testing.TB, name string, data []byte) (fast bool) {
	t.Helper()
	var want, got, pub Object
	wantErr := decodeObjectReflect(data, &want)
	fast = decodeObjectFast(data, &got)
	if fast && wantErr != nil {
		t.Errorf("%s: the fast decoder accepts what the reflective decode rejects (%v):\n%s", name, wantErr, quoteInput(data))
		return fast
	}
	if fast && !reflect.DeepEqual(got, want) {
		t.Errorf("%s: decodes differ:\n%s\ninput: %s", name, objectDiff(got, want), quoteInput(data))
		return fast
	}
	pubErr := DecodeObject(data, &pub)
	if (pubErr == nil) != (wantErr == nil) {
		t.Errorf("%s: DecodeObject error %v, the reflective decode's %v:\n%s", name, pubErr, wantErr, quoteInput(data))
	} else if pubErr == nil && !reflect.DeepEqual(pub, want) {
		t.Errorf("%s: DecodeObject differs:\n%s\ninput: %s", name, objectDiff(pub, want), quoteInput(data))
	}
	return fast
}

// quoteInput quotes an input for a message, up to 1000 bytes of it.
func quoteInput(data []byte) string {
	if len(data) > 1000 {
		return fmt.Sprintf("%q... (%d bytes)", data[:1000], len(data))
	}
	return fmt.Sprintf("%q", data)
}

// objectDiff shows where two Objects differ.
func objectDiff(got, want Object) string {
	show := func(o Object) string {
		b, err := jsonv2.Marshal(o, jsontext.Multiline(true), jsontext.AllowInvalidUTF8(true))
		if err != nil {
			return fmt.Sprintf("%#v", o)
		}
		return string(b)
	}
	g, w := show(got), show(want)
	if g == w {
		return fmt.Sprintf("fast:    %#v\nreflect: %#v", got, want)
	}
	return "fast vs reflect: " + firstDiff(g, w)
}

// decodeCorpus returns the distinct objects of every recording in the repository (and in
// ../shared/recordings if present), each as recorded, as the collector stores it (sanitized,
// compact) and indented, and of a generated history, with and without field sets; and the
// number of objects from each source ("SRC"), and of those not seen before ("SRC, new").
func decodeCorpus(t testing.TB) ([][]byte, map[string]int) {
	t.Helper()
	seen := map[string]bool{}
	counts := map[string]int{}
	var out [][]byte
	add := func(src string, obj []byte) {
		counts[src]++
		if seen[string(obj)] {
			return
		}
		seen[string(obj)] = true
		out = append(out, obj)
		counts[src+", new"]++
	}
	addRecorded := func(src string, obj []byte) {
		counts[src+", recorded"]++
		add(src, obj)
		var compact bytes.Buffer
		if m, err := eventlog.ParseMeta(obj); err == nil {
			if s, err := eventlog.Sanitize(m.Kind, obj); err == nil && json.Compact(&compact, s) == nil {
				add(src, compact.Bytes())
			}
		}
		var indented bytes.Buffer
		if json.Indent(&indented, obj, "", "\t") == nil {
			add(src, indented.Bytes())
		}
	}
	readFile := func(src, path string) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(path, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if raw, err = io.ReadAll(zr); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
		// A stream of JSON values: watch events, whose objects are taken, or anything else.
		dec := json.NewDecoder(bytes.NewReader(raw))
		for {
			var v json.RawMessage
			if err := dec.Decode(&v); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			var ev struct {
				Object json.RawMessage `json:"object"`
			}
			if json.Unmarshal(v, &ev) == nil && len(ev.Object) > 0 {
				addRecorded(src, ev.Object)
			} else {
				addRecorded(src, v)
			}
		}
	}
	walk := func(src, dir string, required bool) {
		if _, err := os.Stat(dir); err != nil {
			if required {
				t.Fatalf("%s: %v", src, err)
			}
			return
		}
		err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !e.IsDir() && (strings.HasSuffix(path, ".json") || strings.HasSuffix(path, ".json.gz")) {
				readFile(src, path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	walk("test/fidelity/testdata", filepath.Join("..", "test", "fidelity", "testdata"), true)
	walk("replay/testdata", filepath.Join("..", "replay", "testdata"), true)
	walk("projector/testdata", "testdata", true)
	walk("../shared/recordings", filepath.Join("..", "..", "shared", "recordings"), false)

	n := 20000
	if testing.Short() {
		n = 4000
	}
	for _, e := range genHistory(genConfig{Seed: 21, Events: n, RolloutRate: 0.03, DupRate: 0.01}) {
		counts["generated, recorded"]++
		add("generated", e.Object)
		add("generated", withFieldSets(e.Kind, e.Object))
	}
	return out, counts
}

func TestDecodeObjectMatchesReflect(t *testing.T) {
	objs, counts := decodeCorpus(t)
	srcs := make([]string, 0, len(counts))
	for s := range counts {
		srcs = append(srcs, s)
	}
	sort.Strings(srcs)
	for _, s := range srcs {
		if !strings.Contains(s, ", ") {
			t.Logf("%s: %d objects, %d inputs from them, %d not seen before",
				s, counts[s+", recorded"], counts[s], counts[s+", new"])
		}
	}
	kinds := map[string]int{}
	fallbacks := 0
	for i, data := range objs {
		if !checkDecodeAgrees(t, fmt.Sprintf("object %d", i), data) {
			fallbacks++
		}
		var o Object
		if DecodeObject(data, &o) == nil {
			kinds[o.Kind]++
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("%d objects, by kind %v", len(objs), kinds)
	// Every recorded object is valid and of the expected types: none needs the reflective
	// decode, else the fast decoder would not be the one these objects check.
	if fallbacks > 0 {
		t.Errorf("%d of %d objects were left to the reflective decode", fallbacks, len(objs))
	}
}

// TestDecodeObjectEveryField decodes an object that sets every field of Object and of the
// types within it (built from their declarations), so that a field added to Object but not
// to the hand-written decoder fails it.
func TestDecodeObjectEveryField(t *testing.T) {
	n := 0
	var build func(t reflect.Type) string
	build = func(typ reflect.Type) string {
		n++
		switch typ {
		case reflect.TypeFor[time.Time]():
			return fmt.Sprintf(`"2026-11-%02dT10:%02d:00.%dZ"`, 1+n%28, n%60, n)
		case reflect.TypeFor[jsontext.Value]():
			return fmt.Sprintf(`{"raw": [%d, "x"] }`, n)
		case reflect.TypeFor[Labels]():
			return fmt.Sprintf(`{"a":"b",%q:"l%d",%q:"l%d",%q:"l%d","c":{}}`,
				labelTemplateHash, n, labelRevisionHash, n+1, labelServiceName, n+2)
		case reflect.TypeFor[Annotations]():
			return fmt.Sprintf(`{"a":"b",%q:"a%d",%q:"a%d",%q:"a%d",%q:"a%d",%q:"a%d",%q:"a%d",%q:"a%d","c":[1]}`,
				annRevision, n, annChangeCause, n+1, annDesired, n+2, annMaxReplicas, n+3, annRevisionHist, n+4,
				annScheduled, n+5, annCompletionIdx, n+6)
		}
		switch typ.Kind() {
		case reflect.String:
			return fmt.Sprintf(`"s%d\"\u00e9"`, n)
		case reflect.Int32, reflect.Int64:
			return fmt.Sprint(n)
		case reflect.Bool:
			return "true"
		case reflect.Pointer:
			return build(typ.Elem())
		case reflect.Slice:
			return "[" + build(typ.Elem()) + ", " + build(typ.Elem()) + "]"
		case reflect.Struct:
			var b strings.Builder
			b.WriteString(`{"unknown":{"a":[1,{"b":null}]}`)
			for i := range typ.NumField() {
				f := typ.Field(i)
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				fmt.Fprintf(&b, ", %q: %s", name, build(f.Type))
			}
			return b.String() + "}"
		}
		panic("no JSON for " + typ.String())
	}
	data := []byte(build(reflect.TypeFor[Object]()))
	if !checkDecodeAgrees(t, "every field", data) {
		t.Fatalf("the fast decoder gave up on %s", data)
	}

	// Check that the object did set every field: that the test checks them all.
	var o Object
	if err := DecodeObject(data, &o); err != nil {
		t.Fatal(err)
	}
	var check func(path string, v reflect.Value)
	check = func(path string, v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() {
				t.Errorf("%s is nil", path)
				return
			}
			check(path, v.Elem())
		case reflect.Slice:
			if v.Type() != reflect.TypeFor[jsontext.Value]() && v.Len() != 2 {
				t.Errorf("%s has %d elements", path, v.Len())
			}
			for i := range v.Len() {
				check(fmt.Sprintf("%s[%d]", path, i), v.Index(i))
			}
		case reflect.Struct:
			if v.Type() == reflect.TypeFor[time.Time]() {
				if v.Interface().(time.Time).IsZero() {
					t.Errorf("%s is zero", path)
				}
				return
			}
			for i := range v.NumField() {
				check(path+"."+v.Type().Field(i).Name, v.Field(i))
			}
		default:
			if v.IsZero() {
				t.Errorf("%s is zero", path)
			}
		}
	}
	check("Object", reflect.ValueOf(o))
}

// TestDecodeObjectRandom decodes random objects made of the names of Object's fields (and of
// the labels and annotations kept, and others), with values of every kind, often the wrong
// one for the field, and repeated names.
func TestDecodeObjectRandom(t *testing.T) {
	names := []string{"unknown", labelTemplateHash, labelServiceName, annRevision, annChangeCause}
	var collect func(typ reflect.Type)
	seen := map[reflect.Type]bool{}
	collect = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" {
				names = append(names, name)
			}
			collect(f.Type)
		}
	}
	collect(reflect.TypeFor[Object]())

	r := rand.New(rand.NewPCG(1, 2))
	scalars := []string{`null`, `true`, `false`, `0`, `-0`, `1`, `-7`, `2147483648`, `1.5`, `1e3`, `""`, `"a"`,
		`"2026-11-22T00:11:31Z"`, `"2026-11-22T00:11:31+01:00"`, `"25%"`, `"\u00e9\n"`, "\"\xff\"", `"\ud800"`}
	var value func(depth int) string
	value = func(depth int) string {
		switch x := r.IntN(10); {
		case depth > 5 || x < 5:
			return scalars[r.IntN(len(scalars))]
		case x < 8:
			var b strings.Builder
			b.WriteByte('{')
			for i := range r.IntN(5) {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, "%q:%s", names[r.IntN(len(names))], value(depth+1))
			}
			b.WriteByte('}')
			return b.String()
		default:
			var b strings.Builder
			b.WriteByte('[')
			for i := range r.IntN(4) {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(value(depth + 1))
			}
			b.WriteByte(']')
			return b.String()
		}
	}
	n := 100000
	if testing.Short() {
		n = 10000
	}
	fast := 0
	for i := range n {
		data := value(0)
		if data[0] != '{' {
			data = fmt.Sprintf(`{%q:%s}`, names[r.IntN(len(names))], data)
		}
		if checkDecodeAgrees(t, fmt.Sprintf("random %d", i), []byte(data)) {
			fast++
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("%d of %d random objects decoded by the fast decoder", fast, n)
}

// decodeCases probe the rules the fast decoder follows (see object_decode.go), and are the
// seeds of FuzzDecodeObject along with a few recorded objects.
var decodeCases = []string{
	// The top level.
	``, ` `, `null`, ` null `, `nul`, `{}`, ` {} `, `{}{}`, `{} x`, "{}\x00", `[]`, `""`, `1`, `true`,
	"\ufeff{}", `{`, `}`, `{"kind":"Pod"`, `{"kind":"Pod",}`, `{,}`, `{"kind"}`, `{"kind":}`,
	`{"kind" : "Pod" , "apiVersion"	:"v1"}`, "{\n\"kind\"\r:\t\"Pod\"\n}", "{\f}", `{kind:"Pod"}`,
	`{'kind':'Pod'}`, `{"kind":"Pod"}]`, `{"a":[}`, `{"a":[1,]}`, `{"a":{]}`, `{"a":[1}`, `{"a":{"b":1]}`,
	// Names: exact, escaped, case, duplicates.
	`{"Kind":"Pod","KIND":"x"}`, `{"kind":"Pod","kind":"Node"}`, `{"kin\u0064":"Pod"}`, `{"\u006b\u0069nd":"P"}`,
	`{"kind\u0000":"Pod"}`, `{"k\"ind":"Pod"}`, `{"kind":"a","kind":null}`, `{"kind":null,"kind":"a"}`,
	`{"metadata":{"name":"a"},"metadata":{"namespace":"b"}}`, `{"metadata":{"name":"a"},"metadata":null}`,
	`{"metadata":{"name":"a"},"metadata":{}}`, `{"metadata":{"name":"a","name":"b"}}`,
	`{"kin` + "\xff" + `d":"Pod"}`,
	// Strings.
	`{"kind":"P\u00f6d"}`, `{"kind":"Pöd"}`, `{"kind":"\ud83d\ude00"}`, `{"kind":"\ud83d"}`, `{"kind":"\ude00\ud83d"}`,
	`{"kind":"\ud83dx"}`, `{"kind":"\ud83d\u0041"}`, `{"kind":"\uD83D\uDE00"}`, `{"kind":"\u12"}`, `{"kind":"\u12G4"}`,
	`{"kind":"\x"}`, `{"kind":"\/\b\f\n\r\t\"\\"}`, "{\"kind\":\"a\tb\"}", "{\"kind\":\"a\x7fb\"}",
	"{\"kind\":\"a\xffb\"}", "{\"kind\":\"a\xe2\x82b\"}", "{\"kind\":\"\xe2\x82\xac\"}", "{\"kind\":\"\xed\xa0\x80\"}",
	"{\"kind\":\"\xc0\xaf\"}", `{"kind":"a`, `{"kind":"a\`, `{"kind":"a\u00`, `{"kind":1}`, `{"kind":true}`,
	`{"kind":{}}`, `{"kind":[]}`, `{"kind":"` + strings.Repeat("long", 100) + `"}`,
	// Numbers.
	`{"count":1}`, `{"count":-1}`, `{"count":-0}`, `{"count":0}`, `{"count":00}`, `{"count":01}`, `{"count":1.0}`,
	`{"count":1e2}`, `{"count":1E+2}`, `{"count":-}`, `{"count":+1}`, `{"count":.5}`, `{"count":1.}`, `{"count":1e}`,
	`{"count":2147483647}`, `{"count":2147483648}`, `{"count":-2147483648}`, `{"count":-2147483649}`,
	`{"revision":9223372036854775807}`, `{"revision":9223372036854775808}`, `{"revision":-9223372036854775808}`,
	`{"revision":-9223372036854775809}`, `{"revision":99999999999999999999}`, `{"revision":18446744073709551616}`,
	`{"count":"1"}`, `{"count":null}`, `{"count":1,"count":null}`, `{"count":true}`, `{"count":[1]}`,
	`{"x":-0.0e-0}`, `{"x":1.5E+10}`, `{"x":-}`, `{"x":0x1}`, `{"x":NaN}`, `{"x":1e5.1}`,
	// Literals and bools.
	`{"spec":{"paused":true}}`, `{"spec":{"paused":false}}`, `{"spec":{"paused":null}}`, `{"spec":{"paused":"true"}}`,
	`{"spec":{"paused":1}}`, `{"spec":{"paused":tru}}`, `{"spec":{"paused":truex}}`, `{"x":nulll}`, `{"x":True}`,
	// Pointers.
	`{"spec":{"replicas":3}}`, `{"spec":{"replicas":null}}`, `{"spec":{"replicas":3,"replicas":null}}`,
	`{"spec":{"replicas":"3"}}`, `{"series":{"count":2}}`, `{"series":null}`, `{"series":{}}`, `{"series":[]}`,
	`{"series":{"count":2},"series":{}}`, `{"involvedObject":{"kind":"Pod"},"involvedObject":{"name":"p"}}`,
	`{"spec":{"strategy":{"type":"A"},"strategy":{"rollingUpdate":{"maxSurge":1}}}}`,
	`{"spec":{"strategy":{"rollingUpdate":null}}}`, `{"spec":{"strategy":{"rollingUpdate":{"partition":null}}}}`,
	`{"endpoints":[{"nodeName":null,"conditions":{"ready":null,"serving":true,"terminating":false}}]}`,
	`{"endpoints":[{"conditions":{"ready":true},"conditions":null}]}`,
	`{"metadata":{"ownerReferences":[{"controller":true},{"controller":null},{}]}}`,
	// Slices.
	`{"spec":{"containers":[]}}`, `{"spec":{"containers":null}}`, `{"spec":{"containers":[null]}}`,
	`{"spec":{"containers":[{"name":"a","image":"x"}],"containers":[{"name":"b"}]}}`,
	`{"spec":{"containers":[{"name":"a"},{"image":"b"}]}}`, `{"spec":{"containers":{}}}`, `{"spec":{"containers":[1]}}`,
	`{"endpoints":[{"addresses":["a",null,"b"]}]}`, `{"endpoints":[{"addresses":[]}]}`, `{"endpoints":[{"addresses":[1]}]}`,
	`{"spec":{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchFields":[{"key":"metadata.name","values":["n1"]}]}]}}}}}`,
	`{"spec":{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchFields":null},{}]}}}}}`,
	`{"spec":{"affinity":null}}`, `{"spec":{"affinity":{"nodeAffinity":null}}}`, `{"spec":{"volumes":[{"name":"v","persistentVolumeClaim":{"claimName":"c"}}]}}`,
	`{"spec":{"volumeClaimTemplates":[{"metadata":{"name":"www"}},{"metadata":null},null]}}`,
	// Raw values.
	`{"data":{"a": [1, 2] }}`, `{"data":null}`, `{"data":"x"}`, `{"data":1.5e3}`, `{"data":{"a":1},"data":[]}`,
	`{"spec":{"template":{ "spec" : {} } }}`, `{"spec":{"template":null}}`, "{\"data\":\"\xff\"}", `{"data":{"a":}}`,
	`{"spec":{"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":0}}}}`,
	// Times.
	`{"metadata":{"creationTimestamp":"2026-11-22T00:11:31Z"}}`, `{"metadata":{"creationTimestamp":null}}`,
	`{"metadata":{"creationTimestamp":"2026-11-22T00:11:31.123456Z"}}`, `{"metadata":{"creationTimestamp":"2026-11-22T00:11:31+02:00"}}`,
	`{"metadata":{"creationTimestamp":"2026-11-22T00:11:31-00:00"}}`, `{"metadata":{"creationTimestamp":"2026-11-22T00:11:31+24:00"}}`,
	`{"metadata":{"creationTimestamp":"2026-11-22T00:11:31+23:60"}}`, `{"metadata":{"creationTimestamp":"2026-11-22T00:11:31z"}}`,
	`{"metadata":{"creationTimestamp":"2026-11-22t00:11:31Z"}}`, `{"metadata":{"creationTimestamp":"2026-11-22T0:11:31Z"}}`,
	`{"metadata":{"creationTimestamp":"2026-11-22T00:11:31,5Z"}}`, `{"metadata":{"creationTimestamp":"2026-11-22T00:11:31"}}`,
	`{"metadata":{"creationTimestamp":"2026-11-22 00:11:31Z"}}`, `{"metadata":{"creationTimestamp":"2026-13-22T00:11:31Z"}}`,
	`{"metadata":{"creationTimestamp":"2026-02-30T00:11:31Z"}}`, `{"metadata":{"creationTimestamp":"2026-11-22T24:00:00Z"}}`,
	`{"metadata":{"creationTimestamp":"2026-11-22T23:59:60Z"}}`, `{"metadata":{"creationTimestamp":"10000-11-22T00:11:31Z"}}`,
	`{"metadata":{"creationTimestamp":"2026-11-22T00:11:31.Z"}}`, `{"metadata":{"creationTimestamp":""}}`,
	`{"metadata":{"creationTimestamp":1}}`, `{"metadata":{"creationTimestamp":"2026-11-22T00:11:31\u005a"}}`,
	`{"metadata":{"creationTimestamp":"2026-11-22T00:11:31Z","creationTimestamp":"2026-11-23T00:11:31Z"}}`,
	`{"eventTime":"2026-11-22T00:11:31.000001Z","firstTimestamp":null,"lastTimestamp":"2026-11-22T00:11:31+05:30"}`,
	// Labels and annotations.
	`{"metadata":{"labels":{"pod-template-hash":"abc","app":"x"}}}`, `{"metadata":{"labels":null}}`,
	`{"metadata":{"labels":{"pod-template-hash":"a"},"labels":null}}`, `{"metadata":{"labels":{"pod-template-hash":"a"},"labels":{}}}`,
	`{"metadata":{"labels":{"pod-template-hash":"a","pod-template-hash":null}}}`, `{"metadata":{"labels":{"pod-template-hash":1}}}`,
	`{"metadata":{"labels":{"pod-template-hash":{}}}}`, `{"metadata":{"labels":{"pod-template-hash":[]}}}`,
	`{"metadata":{"labels":{"pod-template-hash":["pod-template-hash","x"]}}}`, `{"metadata":{"labels":{"pod-template-hash":{"a":"b"}}}}`,
	`{"metadata":{"labels":{"pod-template-hash":[],"a":"b"}}}`, `{"metadata":{"labels":{"a":{"pod-template-hash":"x"}}}}`,
	`{"metadata":{"labels":"x"}}`, `{"metadata":{"labels":[]}}`, `{"metadata":{"labels":1}}`, `{"metadata":{"labels":{"a":}}}`,
	`{"metadata":{"labels":{"pod-template-has\u0068":"e"}}}`, `{"metadata":{"labels":{"pod-template-hash":"\u0041"}}}`,
	`{"metadata":{"annotations":{"deployment.kubernetes.io/revision":"3","kubernetes.io/change-cause":"x","kubectl.kubernetes.io/last-applied-configuration":"{\"a\":1}"}}}`,
	`{"metadata":{"annotations":{"deployment.kubernetes.io/revision":true}}}`, `{"metadata":{"labels":{"pod-template-hash":tru}}}`,
	// Nesting at the limit (10000 deep, the top-level object included) and past it.
	`{"x":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
	`{"x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
	`{"data":` + strings.Repeat(`{"a":`, 9999) + "1" + strings.Repeat("}", 9999) + `}`,
	`{"data":` + strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000) + `}`,
	`{"metadata":{"labels":{"x":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `}}}`,
	`{"metadata":{"labels":{"x":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}}}`,
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
}

func init() {
	// Each kind of byte at each position of a string of 17 bytes (the scanner reads eight
	// at a time), in a kept value, a skipped value and a name.
	for _, x := range []string{`"`, `\\`, `\"`, `\u00e9`, `\q`, "\x00", "\x1f", " ", "\x7f", "\x80", "\xc3\xa9", "\xff"} {
		for i := range 17 {
			v := strings.Repeat("a", i) + x + strings.Repeat("b", 16-i)
			decodeCases = append(decodeCases,
				`{"kind":"`+v+`"}`, `{"x":"`+v+`"}`, `{"`+v+`":1}`, `{"x":["`+v+`"]}`, `{"kind":"`+v)
		}
	}
}

func TestDecodeObjectCases(t *testing.T) {
	fast := 0
	for i, c := range decodeCases {
		if checkDecodeAgrees(t, fmt.Sprintf("case %d", i), []byte(c)) {
			fast++
		}
	}
	t.Logf("%d of %d cases decoded by the fast decoder", fast, len(decodeCases))
}

// FuzzDecodeObject checks the fast decoder against the reflective decode on arbitrary input.
//
//	go test ./projector -run x -fuzz FuzzDecodeObject -fuzztime 2m
func FuzzDecodeObject(f *testing.F) {
	for _, c := range decodeCases {
		if len(c) < 1000 {
			f.Add([]byte(c))
		}
	}
	// A few recorded objects of each kind the views read, as the collector stores them.
	for _, name := range []string{"sample-rolling", "sample-statefulset"} {
		envs := loadRecording(f, filepath.Join("testdata", name), "test")
		kinds := map[string]int{}
		for _, e := range envs {
			if kinds[e.Kind] < 2 {
				kinds[e.Kind]++
				f.Add(e.Object)
			}
		}
	}
	// Each input is also decoded as the value of each struct, slice and map-like field that has
	// fields of its own, so that small inputs probe every type.
	contexts := []string{
		`{"metadata":%s}`, `{"metadata":{"labels":%s,"annotations":%[1]s}}`, `{"metadata":{"ownerReferences":[%s]}}`,
		`{"metadata":{"managedFields":[%s]}}`, `{"spec":%s}`, `{"spec":{"strategy":%s,"updateStrategy":{"rollingUpdate":%[1]s}}}`,
		`{"spec":{"containers":[%s],"volumes":[%[1]s],"volumeClaimTemplates":[%[1]s]}}`, `{"spec":{"affinity":%s}}`,
		`{"spec":{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchFields":[%s]}]}}}}}`,
		`{"status":%s}`, `{"status":{"conditions":[%s]}}`, `{"involvedObject":%s,"series":%[1]s,"source":%[1]s}`,
		`{"endpoints":[%s]}`, `{"endpoints":[{"conditions":%s,"targetRef":%[1]s}]}`,
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeAgrees(t, "input", data)
		for _, c := range contexts {
			checkDecodeAgrees(t, "in context "+c, fmt.Appendf(nil, c, data))
		}
	})
}

// BenchmarkDecodeObject compares the reflective decode with DecodeObject's, on a recorded
// pod (as the collector stores it) and on a generated history (mostly pod status churn).
func BenchmarkDecodeObject(b *testing.B) {
	var pod []byte
	for _, e := range loadRecording(b, filepath.Join("testdata", "sample-rolling"), "test") {
		if e.Kind == "Pod" && e.Type == eventlog.Modified && len(e.Object) > len(pod) {
			pod = e.Object
		}
	}
	var mixed [][]byte
	for _, e := range genHistory(genConfig{Seed: 7, Events: 2000, RolloutRate: 0.03}) {
		mixed = append(mixed, e.Object)
	}
	impls := []struct {
		name   string
		decode func([]byte, *Object) error
	}{{"reflect", decodeObjectReflect}, {"fast", DecodeObject}}
	for _, impl := range impls {
		b.Run("pod/"+impl.name, func(b *testing.B) {
			b.SetBytes(int64(len(pod)))
			b.ReportAllocs()
			var o Object
			for b.Loop() {
				if err := impl.decode(pod, &o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, impl := range impls {
		b.Run("mixed/"+impl.name, func(b *testing.B) {
			var size int64
			for _, m := range mixed {
				size += int64(len(m))
			}
			b.SetBytes(size / int64(len(mixed)))
			b.ReportAllocs()
			var o Object
			i := 0
			for b.Loop() {
				if err := impl.decode(mixed[i], &o); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(mixed) {
					i = 0
				}
			}
		})
	}
}

// BenchmarkMetadataTypes: what the projector would pay to decode the log's metadata type
// (eventlog.ObjectMeta: labels and annotations as maps, times parsed) instead of its own
// (ObjectMeta: the few labels and annotations the views read, kept as fields), both by the
// same reflective decode, on a generated history. The reason the projector keeps its own.
func BenchmarkMetadataTypes(b *testing.B) {
	var objs [][]byte
	for _, e := range genHistory(genConfig{Seed: 7, Events: 2000, RolloutRate: 0.03}) {
		objs = append(objs, e.Object)
	}
	b.Run("projector.ObjectMeta", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			var v struct {
				Metadata ObjectMeta `json:"metadata"`
			}
			if err := jsonv2.Unmarshal(objs[i%len(objs)], &v, decodeOpts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("eventlog.ObjectMeta", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			var v struct {
				Metadata eventlog.ObjectMeta `json:"metadata"`
			}
			if err := jsonv2.Unmarshal(objs[i%len(objs)], &v, decodeOpts); err != nil {
				b.Fatal(err)
			}
		}
	})
}
