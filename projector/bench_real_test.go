package projector

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/eventlog/importer"
)

// benchRecording is a real recording kept in the repository, so that a fresh clone runs the
// benchmarks on it: 20 Deployments of 100 replicas rolled three times at once on the project's
// control plane (test/fidelity's busy suite), 56,409 events in 133 MB of watch JSON.
const benchRecording = "../test/fidelity/testdata/busy/busy-20x100-r1.json.gz"

// loadWatchRecording reads a gzipped watch recording as khist import does, and returns its envelopes and
// the bytes of watch JSON they came from.
func loadWatchRecording(b *testing.B, path string) ([]*eventlog.Envelope, int64) {
	f, err := os.Open(path)
	if err != nil {
		b.Skipf("no recording: %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		b.Fatal(err)
	}
	res, err := importer.ReadWatch("default", importer.Input{Name: filepath.Base(path), R: bytes.NewReader(raw), Size: int64(len(raw))})
	if err != nil {
		b.Fatal(err)
	}
	for i, e := range res.Envelopes {
		e.Seq = uint64(i + 1) // as the log would number them
	}
	return res.Envelopes, int64(len(raw))
}

// BenchmarkRecordingVsGenerator runs the disk and fold benchmarks on the real recording and on
// the generator's history of as many events, side by side (issue 13, item 2): the generator
// stands in for real histories only where both give the same figures.
func BenchmarkRecordingVsGenerator(b *testing.B) {
	real, realWatch := loadWatchRecording(b, benchRecording)
	gen := benchHistory(len(real))
	var genWatch int64
	for _, n := range benchRaw[:len(gen)] {
		genWatch += int64(n)
	}
	for _, h := range []struct {
		name  string
		envs  []*eventlog.Envelope
		watch int64
	}{{"recording", real, realWatch}, {"generator", gen, genWatch}} {
		b.Run(h.name+"/disk", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				measureDisk(b, h.envs, h.watch, false)
			}
		})
		b.Run(h.name+"/fold", func(b *testing.B) { measureFold(b, h.envs) })
	}
}
