// Package faults damages the files of a khist data directory the way a failing disk, a full
// disk or a careless user does, for the fault-injection tests: it deletes, truncates and
// overwrites the embedded NATS store's message blocks and the bbolt views file.
package faults

import (
	"cmp"
	"crypto/rand"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// StreamDir is the directory of the embedded store's stream name under a data directory.
func StreamDir(dataDir, stream string) string {
	return filepath.Join(dataDir, "jetstream", "jetstream", "$G", "streams", stream)
}

// Blocks returns the paths of the stream's message blocks (N.blk) in order.
func Blocks(t testing.TB, dataDir, stream string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(StreamDir(dataDir, stream), "msgs", "*.blk"))
	if err != nil {
		t.Fatal(err)
	}
	n := func(p string) int {
		i, _ := strconv.Atoi(strings.TrimSuffix(filepath.Base(p), ".blk"))
		return i
	}
	slices.SortFunc(m, func(a, b string) int { return cmp.Compare(n(a), n(b)) })
	return m
}

// Overwrite writes n random bytes at the middle of the file at path.
func Overwrite(t testing.TB, path string, n int) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	rand.Read(b)
	if _, err := f.WriteAt(b, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
}

// Truncate cuts the file at path to the given fraction of its size.
func Truncate(t testing.TB, path string, frac float64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, int64(float64(fi.Size())*frac)); err != nil {
		t.Fatal(err)
	}
}

// Remove deletes the file or directory at path.
func Remove(t testing.TB, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
}
