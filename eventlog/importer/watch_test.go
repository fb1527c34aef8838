package importer

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
)

func openGz(t *testing.T, path string) Input {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	return Input{Name: strings.TrimSuffix(filepath.Base(path), ".gz"), R: zr}
}

func sampleInputs(t *testing.T) []Input {
	files, _ := filepath.Glob("testdata/sample-rolling/*.json.gz")
	if len(files) != 4 {
		t.Fatalf("want 4 sample files, have %d", len(files))
	}
	var in []Input
	for _, f := range files {
		in = append(in, openGz(t, f))
	}
	return in
}

func TestReadWatchMergesInResourceVersionOrder(t *testing.T) {
	res, err := ReadWatch("c1", sampleInputs(t)...)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Envelopes) != 29+52+66+41 {
		t.Fatalf("%d envelopes, want 188", len(res.Envelopes))
	}
	kinds := map[string]int{}
	var prev uint64
	for i, e := range res.Envelopes {
		rv, err := strconv.ParseUint(e.ResourceVersion, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if rv < prev {
			t.Fatalf("envelope %d: rv %d after %d", i, rv, prev)
		}
		prev = rv
		kinds[e.Kind]++
		if e.Cluster != "c1" || e.UID == "" || e.Observed.IsZero() {
			t.Fatalf("envelope %d incomplete: %+v", i, e)
		}
		if strings.Contains(string(e.Object), `"fieldsV1"`) {
			t.Fatalf("envelope %d keeps managedFields field sets", i)
		}
	}
	if kinds["Deployment"] != 29 || kinds["ReplicaSet"] != 41 || kinds["Pod"] != 66 || kinds["Event"] != 52 {
		t.Fatalf("kinds = %v", kinds)
	}
	// The first event of the recording is the Deployment's creation, by kubectl.
	if e := res.Envelopes[0]; e.Kind != "Deployment" || e.Type != eventlog.Added || !strings.HasPrefix(e.Actor, "kubectl") {
		t.Fatalf("first envelope = %s by %q", e, e.Actor)
	}
}

func TestReadWatchAcceptsAnyWhitespaceAndLists(t *testing.T) {
	pod := func(name, rv string) string {
		return `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"` + name + `","namespace":"n","uid":"u-` + name + `","resourceVersion":"` + rv + `"}}`
	}
	in := "  {\"type\":\"ADDED\",\n \"object\":" + pod("a", "5") + "}{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"6\"}}}\n\n" +
		`{"apiVersion":"v1","kind":"List","items":[` + pod("b", "3") + `,` + pod("c", "4") + `]}` + "\n" +
		`{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","code":410}}`
	res, err := ReadWatch("c", Input{Name: "x.json", R: strings.NewReader(in)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range res.Envelopes {
		names = append(names, string(e.Type)+":"+e.Name)
	}
	if got := strings.Join(names, ","); got != "RESYNC:b,RESYNC:c,ADDED:a" {
		t.Fatalf("envelopes = %s", got)
	}
	if res.Bookmarks != 1 || res.RejectedTotal() != 1 {
		t.Fatalf("bookmarks %d rejected %v", res.Bookmarks, res.Rejected)
	}
}

func TestSecretValuesNotImported(t *testing.T) {
	in := `{"type":"ADDED","object":{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"n","uid":"u","resourceVersion":"1","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"data\":{\"password\":\"aHVudGVyMg==\"}}"}},"data":{"password":"aHVudGVyMg=="},"stringData":{"token":"hunter3"}}}`
	res, err := ReadWatch("c", Input{Name: "s.json", R: strings.NewReader(in)})
	if err != nil {
		t.Fatal(err)
	}
	body := string(res.Envelopes[0].Object)
	for _, secret := range []string{"aHVudGVyMg==", "hunter3"} {
		if strings.Contains(body, secret) {
			t.Fatalf("secret value %q kept: %s", secret, body)
		}
	}
	if !strings.Contains(body, `"password":""`) || !strings.Contains(body, `"token":""`) {
		t.Fatalf("secret key names lost: %s", body)
	}
}

func TestMalformedFiles(t *testing.T) {
	good := `{"type":"ADDED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","uid":"u","resourceVersion":"1"}}}` + "\n"
	cases := []struct {
		name, content, want string
	}{
		{"empty.json", "", "import: empty.json:1: empty file: expected kubectl watch events"},
		{"blank.json", "\n  \n", "import: blank.json:1: empty file"},
		{"truncated.json", good + `{"type":"MODIFIED","object":{"apiVersion":"v1","kind":"Pod","meta`, "import: truncated.json:2: truncated JSON"},
		{"pods.yaml", "apiVersion: v1\nkind: Pod\n", "import: pods.yaml:1: expected a JSON object (kubectl ... -o json), found \"apiVersion: v1\": is this YAML or text?"},
		{"shape.json", good + `{"hello":"world"}`, "import: shape.json:2: expected a watch event"},
		{"noobject.json", `{"type":"ADDED"}`, "import: noobject.json:1: ADDED event without an object"},
		{"badtype.json", good + good + `{"type":"CHANGED","object":{}}`, "import: badtype.json:3: unknown event type \"CHANGED\""},
		{"notk8s.json", `{"type":"ADDED","object":{"name":"x"}}`, "import: notk8s.json:1: object has no apiVersion and kind"},
		{"array.json", `[1,2]`, "import: array.json:1: invalid JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadWatch("c", Input{Name: "ok.json", R: strings.NewReader(good)}, Input{Name: c.name, R: strings.NewReader(c.content)})
			if err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Fatalf("error = %v\nwant prefix %s", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
}

func TestPublishIsIdempotent(t *testing.T) {
	l, err := eventlog.Open(context.Background(), eventlog.Options{DataDir: t.TempDir(), Stream: eventlog.StreamConfig{Duplicates: 1e9}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	res, err := ReadWatch("c1", sampleInputs(t)...)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Publish(context.Background(), l, res)
	if err != nil || st.Published != 188 {
		t.Fatalf("first import: %+v %v", st, err)
	}
	// Re-import after the one-second duplicate window has passed: still nothing new.
	time.Sleep(1200 * time.Millisecond)
	res2, _ := ReadWatch("c1", sampleInputs(t)...)
	st, err = Publish(context.Background(), l, res2)
	if err != nil || st.Published != 0 || st.Duplicates != 188 {
		t.Fatalf("re-import: %+v %v", st, err)
	}
	last, _ := l.LastSeq(context.Background())
	if last != 188 {
		t.Fatalf("log has %d events, want 188", last)
	}
	var seen []string
	err = l.Read(context.Background(), eventlog.ReadOptions{}, func(b []*eventlog.Envelope) error {
		for _, e := range b {
			seen = append(seen, e.ResourceVersion)
		}
		return nil
	})
	if err != nil || len(seen) != 188 {
		t.Fatal(err, len(seen))
	}
	for i := range seen {
		if seen[i] != res.Envelopes[i].ResourceVersion {
			t.Fatalf("log order differs at %d", i)
		}
	}
}

// TestErrorLinesAreExact checks the line named by an error far into a file, after values that
// span lines, several values on a line and blank lines, read plain and gzip-compressed, with
// values straddling the reader's buffer.
func TestErrorLinesAreExact(t *testing.T) {
	pod := func(rv int) string {
		return `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p` + strconv.Itoa(rv) + `","uid":"u` + strconv.Itoa(rv) + `","resourceVersion":"` + strconv.Itoa(rv) + `","annotations":{"pad":"` + strings.Repeat("{[\\\"", rv%700) + `"}}}`
	}
	var b strings.Builder
	line := 1
	rv := 0
	for i := 0; i < 3000; i++ {
		rv++
		switch i % 4 {
		case 0: // one event per line
			b.WriteString(`{"type":"ADDED","object":` + pod(rv) + "}\n")
			line++
		case 1: // an event over three lines
			b.WriteString("{\"type\":\"MODIFIED\",\n\"object\":\n" + pod(rv) + "}\n")
			line += 3
		case 2: // two events on one line, then a blank line
			b.WriteString(`{"type":"ADDED","object":` + pod(rv) + `} {"type":"BOOKMARK","object":{}}` + "\n\n")
			line += 2
		case 3: // a pretty-printed List
			b.WriteString("{\n  \"kind\": \"List\",\n  \"apiVersion\": \"v1\",\n  \"items\": [\n    " + pod(rv) + "\n  ]\n}\n")
			line += 7
		}
	}
	want := line
	b.WriteString(`{"type":"ADDED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bad","resourceVersion":"1"}}}` + "\n")
	b.WriteString(`{"type":"ADDED","object":{"name":"not a Kubernetes object"}}` + "\n")
	want++ // the bad event is on the line after the good one
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(b.String()))
	zw.Close()
	for name, r := range map[string]io.Reader{"plain.json": strings.NewReader(b.String()), "packed.json.gz": &gz} {
		_, err := ReadWatch("c", Input{Name: name, R: r})
		wantErr := fmt.Sprintf("import: %s:%d: object has no apiVersion and kind", name, want)
		if err == nil || !strings.HasPrefix(err.Error(), wantErr) {
			t.Errorf("error = %v\nwant prefix %s", err, wantErr)
		}
	}
}

// TestGzipBombFailsFast reads gzip-compressed inputs that expand to 2 GB: zeros, and a value
// that never ends. Each must fail at once with FILE:LINE, without reading the 2 GB or holding
// more than a bounded amount of memory.
func TestGzipBombFailsFast(t *testing.T) {
	good := `{"type":"ADDED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","uid":"u","resourceVersion":"1"}}}` + "\n"
	cases := []struct {
		name, head string
		fill       byte
		want       string
	}{
		{"zeros.json.gz", good + good, 0, `import: zeros.json.gz:3: expected a JSON object (kubectl ... -o json), found "\x00\x00`},
		{"digits.json.gz", good, '0', `import: digits.json.gz:2: expected a JSON object (kubectl ... -o json), found "0000`},
		{"endless.json.gz", good + good + "\n" + `{"type":"ADDED","object":{"x":"`, '0', "import: endless.json.gz:4: a JSON value longer than 64 MiB"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			const size = 2 << 30
			pr, pw := io.Pipe()
			var expanded int64
			go func() { // compress on demand: the bomb is written only as far as it is read
				zw, _ := gzip.NewWriterLevel(pw, gzip.BestCompression)
				zw.Write([]byte(c.head))
				chunk := bytes.Repeat([]byte{c.fill}, 1<<20)
				var err error
				for expanded = 0; expanded < size && err == nil; expanded += int64(len(chunk)) {
					_, err = zw.Write(chunk)
				}
				zw.Close()
				pw.CloseWithError(err)
			}()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			began := time.Now()
			_, err := ReadWatch("c", Input{Name: c.name, R: pr})
			took := time.Since(began)
			pr.CloseWithError(io.ErrClosedPipe)
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Fatalf("error = %v\nwant prefix %s", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 512<<20 {
				t.Errorf("allocated %d MB to reject the file", alloc>>20)
			}
			t.Logf("rejected in %s after %d MB expanded", took.Round(time.Millisecond), expanded>>20)
		})
	}
}

func TestTruncatedGzip(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(zw, `{"type":"ADDED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p%d","uid":"u%d","resourceVersion":"%d"}}}`+"\n", i, i, i+1)
	}
	zw.Close()
	_, err := ReadWatch("c", Input{Name: "cut.json.gz", R: bytes.NewReader(gz.Bytes()[:gz.Len()/2])})
	if err == nil || !strings.HasPrefix(err.Error(), "import: cut.json.gz:") || !strings.Contains(err.Error(), "gzip: unexpected EOF (is the file complete") {
		t.Fatalf("error = %v", err)
	}
}
