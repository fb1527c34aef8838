package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/eventlog/importer"
)

func TestImportProgressBar(t *testing.T) {
	for _, c := range []struct {
		p    importer.Progress
		want string
	}{
		{importer.Progress{Phase: "read", Done: 512 << 20, Total: 1 << 30, Events: 40000, Elapsed: 10 * time.Second},
			"read     [============>           ] 512.0 MB / 1.0 GB  4.0k events/s  ETA 0:10"},
		{importer.Progress{Phase: "read", Done: 3 << 20, Events: 10, Elapsed: time.Second}, // standard input: no total
			"read     [                        ] 3.0 MB  10 events/s  "},
		{importer.Progress{Phase: "publish", Done: 25000, Total: 100000, Elapsed: 5 * time.Second},
			"publish  [======>                 ] 25k / 100k events  5.0k events/s  ETA 0:15"},
		{importer.Progress{Phase: "publish", Done: 100000, Total: 100000, Elapsed: 20 * time.Second, Final: true},
			"publish  [========================] 100k / 100k events  5.0k events/s  in 0:20"},
	} {
		if got := importProgressLine(c.p); got != c.want {
			t.Errorf("importProgressLine(%+v)\n got %q\nwant %q", c.p, got, c.want)
		}
	}
	var b bytes.Buffer
	bar := importProgressBar(&b)
	bar(importer.Progress{Phase: "publish", Done: 1, Total: 2, Elapsed: time.Second})
	bar(importer.Progress{Phase: "publish", Done: 2, Total: 2, Elapsed: time.Second, Final: true})
	if out := b.String(); !strings.HasPrefix(out, "\r") || strings.Count(out, "\r") != 2 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("bar output %q: want each line drawn over the last, and a newline at the end", out)
	}
}
