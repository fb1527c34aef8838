package recording

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/eventlog/importer"
)

// Envelopes reads watch recordings of cluster as khist import does, each path a file or a
// directory of *.json* files, and numbers the envelopes from 1 as the log would.
func Envelopes(cluster string, paths ...string) ([]*eventlog.Envelope, error) {
	var in []importer.Input
	for _, p := range paths {
		files := []string{p}
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			files, _ = filepath.Glob(filepath.Join(p, "*.json*"))
		}
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				return nil, fmt.Errorf("recording: %w", err)
			}
			defer fh.Close()
			in = append(in, importer.Input{Name: f, R: fh})
		}
	}
	res, err := importer.ReadWatch(cluster, in...)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	for i, e := range res.Envelopes {
		e.Seq = uint64(i + 1)
	}
	return res.Envelopes, nil
}
