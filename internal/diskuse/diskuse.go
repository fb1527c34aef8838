// Package diskuse measures what a directory holds on disk: khist doctor's space report and the
// benchmarks that count a log's or a fleet node's bytes per event read the same figure.
package diskuse

import (
	"io/fs"
	"path/filepath"
)

// DirBytes is the sum of the sizes of the regular files under dir, walked recursively; entries
// it cannot read are left out (a file removed during the walk, a directory without permission).
func DirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
