package projector

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// writeShapes writes a bbolt file with every shape of page the walk reads: buckets of random
// keys (branch pages, leaves split in halves), values on overflow pages, an inline bucket, an
// empty one, nested buckets with pages of their own and inline, deeper nesting, sequences.
func writeShapes(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rng := rand.New(rand.NewSource(7))
	val := func(n int) []byte {
		b := make([]byte, n)
		rng.Read(b)
		return b
	}
	for round := 0; round < 20; round++ { // many transactions: pages written, freed, reused
		err := db.Update(func(tx *bolt.Tx) error {
			big, _ := tx.CreateBucketIfNotExists([]byte("random"))
			for i := 0; i < 500; i++ {
				big.Put([]byte(fmt.Sprintf("%08x", rng.Uint32())), val(rng.Intn(300)))
			}
			over, _ := tx.CreateBucketIfNotExists([]byte("overflow"))
			over.Put([]byte(fmt.Sprintf("o%03d", round)), val(5000+rng.Intn(20000)))
			inl, _ := tx.CreateBucketIfNotExists([]byte("inline"))
			inl.Put([]byte(fmt.Sprintf("i%d", round%3)), val(10))
			tx.CreateBucketIfNotExists([]byte("empty"))
			outer, _ := tx.CreateBucketIfNotExists([]byte("nested"))
			outer.SetSequence(uint64(round * 3))
			outer.Put([]byte(fmt.Sprintf("plain%02d", round)), val(40))
			sub, _ := outer.CreateBucketIfNotExists([]byte(fmt.Sprintf("sub%d", round%4)))
			for i := 0; i < 200; i++ {
				sub.Put([]byte(fmt.Sprintf("%06d", rng.Intn(100000))), val(rng.Intn(100)))
			}
			sub.SetSequence(uint64(round))
			small, _ := outer.CreateBucketIfNotExists([]byte("small"))
			small.Put([]byte("k"), val(8))
			deep, _ := sub.CreateBucketIfNotExists([]byte("deep"))
			deep.Put([]byte(fmt.Sprintf("d%d", round)), val(2000))
			if round%5 == 4 { // deletions leave free pages and emptier leaves
				c := big.Cursor()
				for k, _ := c.First(); k != nil; k, _ = c.Next() {
					if rng.Intn(3) == 0 {
						c.Delete()
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// dumpBolt lists every bucket, sequence, key and value of a bbolt file, through bbolt.
func dumpBolt(t *testing.T, path string) string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var sb strings.Builder
	var walk func(prefix string, b *bolt.Bucket)
	walk = func(prefix string, b *bolt.Bucket) {
		fmt.Fprintf(&sb, "%s seq=%d\n", prefix, b.Sequence())
		b.ForEach(func(k, v []byte) error {
			if v == nil {
				walk(prefix+"/"+string(k), b.Bucket(k))
			} else {
				fmt.Fprintf(&sb, "%s %q=%x\n", prefix, k, v)
			}
			return nil
		})
	}
	db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			walk(string(name), b)
			return nil
		})
	})
	return sb.String()
}

// checkSpaceAgainstBbolt compares, bucket by bucket, what spaceOf counts reading the file with
// pread to what bbolt's Bucket.Stats count through its memory map.
func checkSpaceAgainstBbolt(t *testing.T, path string) SpaceUse {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var u SpaceUse
	err = db.View(func(tx *bolt.Tx) error {
		var err error
		if u, err = spaceOf(tx, path); err != nil {
			return err
		}
		i := 0
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			s := b.Stats()
			want := BucketUse{Name: string(name), Keys: s.KeyN,
				PageBytes:  int64(s.BranchPageN+s.BranchOverflowN+s.LeafPageN+s.LeafOverflowN) * int64(db.Info().PageSize),
				InuseBytes: int64(s.BranchInuse + s.LeafInuse)}
			if got := u.Buckets[i]; got != want {
				t.Errorf("bucket %s: pread walk %+v, bbolt %+v", name, got, want)
			}
			i++
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestPageWalkMatchesBbolt checks the walk that reads the views' pages with pread against
// bbolt's own reading of them: the space it counts (per bucket: keys, pages, bytes in use)
// against Bucket.Stats, and the copy it makes (copyBuckets) against the source, key by key, on
// a file of every shape of page and on a folded views file.
func TestPageWalkMatchesBbolt(t *testing.T) {
	dir := t.TempDir()
	shapes := filepath.Join(dir, "shapes.db")
	writeShapes(t, shapes)
	views := filepath.Join(dir, "views.db")
	v := mustOpenDBAt(t, views, nil)
	foldAll(t, v, genHistory(genConfig{Seed: 5, Events: 8000, LateRate: 0.05}), 50)
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{shapes, views} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			u := checkSpaceAgainstBbolt(t, path)
			t.Logf("%d buckets, %d bytes of pages, %d in use", len(u.Buckets), u.PageBytes, u.InuseBytes)
			src, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			cp := path + ".copy"
			dst, err := bolt.Open(cp, 0o600, &bolt.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			// Small transactions: the copy commits and finds its buckets again many times.
			if err := copyBuckets(dst, src, path, 64<<10); err != nil {
				t.Fatal(err)
			}
			if err := dst.Close(); err != nil {
				t.Fatal(err)
			}
			want, got := dumpBolt(t, path), dumpBolt(t, cp)
			if want != got {
				t.Fatalf("the copy differs from its source:\n%s", firstDiff(want, got))
			}
			checkSpaceAgainstBbolt(t, cp)
		})
	}
}

// TestPageWalkDamaged: a page overwritten with garbage gives an error from the look and from
// the copy, not a panic nor a partial copy taken for whole.
func TestPageWalkDamaged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shapes.db")
	writeShapes(t, path)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	var root uint64
	var ps int
	db.View(func(tx *bolt.Tx) error {
		root, ps = uint64(tx.Bucket([]byte("random")).Root()), db.Info().PageSize
		return nil
	})
	db.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The root page of a bucket of many pages: its header and elements garbled.
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, ps), int64(root)*int64(ps)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	src, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	err = src.View(func(tx *bolt.Tx) error {
		_, err := spaceOf(tx, path)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "random") {
		t.Fatalf("the look at a damaged file: %v, want an error naming the bucket", err)
	}
	dst, err := bolt.Open(path+".copy", 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if err := copyBuckets(dst, src, path, 1<<20); err == nil || !strings.Contains(err.Error(), "random") {
		t.Fatalf("the copy of a damaged file: %v, want an error naming the bucket", err)
	}
}
