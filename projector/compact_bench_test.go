package projector

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// procStatusKB reads a field of /proc/self/status, in kB.
func procStatusKB(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Bytes()
		if rest, ok := bytes.CutPrefix(line, []byte(field+":")); ok {
			f := bytes.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(string(f[0]), 10, 64)
				return n
			}
		}
	}
	return 0
}

// peakDuring runs fn while sampling the process's RssFile and RssAnon every 2 ms, and returns
// how far above their values before fn each rose at most, in bytes.
func peakDuring(fn func()) (file, anon int64) {
	f0, a0 := procStatusKB("RssFile"), procStatusKB("RssAnon")
	var maxF, maxA atomic.Int64
	maxF.Store(f0)
	maxA.Store(a0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			if f := procStatusKB("RssFile"); f > maxF.Load() {
				maxF.Store(f)
			}
			if a := procStatusKB("RssAnon"); a > maxA.Load() {
				maxA.Store(a)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	return (maxF.Load() - f0) << 10, (maxA.Load() - a0) << 10
}

func copyFile(b *testing.B, from, to string) {
	b.Helper()
	in, err := os.Open(from)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCompactRSS measures what one compaction of a live fold's views file (the look at its
// waste, then the copy) adds to the process's resident set: the busy recording folded in
// transactions of 48 events, as collect folds it, then compacted by each way in turn on a fresh
// copy of that file:
//   - mmap: the way before pageWalk, bbolt's Bucket.Stats over every bucket and bbolt.Compact,
//     both reading the pages through bbolt's memory map;
//   - pread: Space and compact as the fold runs them (pageWalk).
//
// It reports the peak of file-backed and anonymous pages added (MB) and the CPU per compaction.
func BenchmarkCompactRSS(b *testing.B) {
	envs, _ := loadWatchRecording(b, benchRecording)
	dir := b.TempDir()
	orig := filepath.Join(dir, "orig.db")
	db, err := Open(orig, &Options{CacheBytes: cacheBudget(192 << 20)})
	if err != nil {
		b.Fatal(err)
	}
	foldAll(b, db, envs, 48)
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	envs = nil
	fi, _ := os.Stat(orig)
	b.Logf("views file of %d events: %d bytes", 56409, fi.Size())
	ways := []struct {
		name string
		run  func(b *testing.B, path string)
	}{
		{"mmap", func(b *testing.B, path string) {
			src, err := bolt.Open(path, 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType})
			if err != nil {
				b.Fatal(err)
			}
			var in int64
			src.View(func(tx *bolt.Tx) error {
				return tx.ForEach(func(_ []byte, bk *bolt.Bucket) error {
					s := bk.Stats()
					in += int64(s.BranchInuse + s.LeafInuse)
					return nil
				})
			})
			dst, err := bolt.Open(path+".compact", 0o600, &bolt.Options{NoSync: true, FreelistType: bolt.FreelistMapType})
			if err != nil {
				b.Fatal(err)
			}
			if err := bolt.Compact(dst, src, 8<<20); err != nil {
				b.Fatal(err)
			}
			dst.Close()
			src.Close()
		}},
		{"pread", func(b *testing.B, path string) {
			v, err := Open(path, &Options{CacheBytes: cacheBudget(192 << 20)})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := v.Space(); err != nil {
				b.Fatal(err)
			}
			v.foldMu.Lock()
			err = v.compact(context.Background())
			v.foldMu.Unlock()
			if err != nil {
				b.Fatal(err)
			}
			v.Close()
		}},
	}
	type sum struct{ file, anon, cpu float64 }
	sums := make([]sum, len(ways))
	for i := 0; i < b.N; i++ {
		for w, way := range ways {
			path := filepath.Join(dir, way.name+".db")
			os.Remove(path + ".compact")
			copyFile(b, orig, path)
			c0 := processCPU()
			file, anon := peakDuring(func() { way.run(b, path) })
			sums[w].cpu += float64((processCPU() - c0).Milliseconds())
			sums[w].file += float64(file) / 1e6
			sums[w].anon += float64(anon) / 1e6
		}
	}
	for w, way := range ways {
		n := float64(b.N)
		b.ReportMetric(sums[w].file/n, way.name+"-file-MB")
		b.ReportMetric(sums[w].anon/n, way.name+"-anon-MB")
		b.ReportMetric(sums[w].cpu/n, way.name+"-cpu-ms")
	}
}
