package projector

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestVerStorePacking writes records in transactions of random sizes and checks after each
// one that every record reads back, that fewer than segRecords stay loose, and that each
// listing is in sequence order.
func TestVerStorePacking(t *testing.T) {
	bdb, err := bolt.Open(filepath.Join(t.TempDir(), "v.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	bdb.Update(func(tx *bolt.Tx) error {
		tx.CreateBucket(bVer)
		tx.CreateBucket(bVerSeg)
		return nil
	})
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[uint64]string{}
	var cache segCache
	cache.init(256 << 20)
	seq := uint64(0)
	for round := 0; round < 60; round++ {
		n := []int{1, 3, 17, 255, 256, 700}[rng.IntN(6)]
		err := bdb.Update(func(tx *bolt.Tx) error {
			vs := newVerStore(tx, nil)
			for i := 0; i < n; i++ {
				seq += 1 + uint64(rng.IntN(3))
				vr := verRec{ID: uint64(rng.IntN(50)), Type: typeCodes[1+rng.IntN(5)], Generation: int64(rng.IntN(3)),
					Observed: time.Unix(1_790_000_000+int64(seq), rng.Int64N(1e9)).UTC(), Actor: []string{"", "kube-controller-manager", "someone"}[rng.IntN(3)],
					RV: []string{strconv.Itoa(int(seq) * 3), "abc" + strconv.Itoa(int(seq))}[rng.IntN(2)]}
				if seq > 3 && rng.IntN(2) == 0 {
					vr.Prev = seq - 1 - uint64(rng.IntN(2))
				}
				switch rng.IntN(3) {
				case 0:
					vr.Body, vr.Payload = bodyFull, []byte(fmt.Sprintf(`{"seq":%d,"pad":%q}`, seq, make([]byte, rng.IntN(600))))
				case 1:
					vr.Body, vr.Payload = bodyDelta, []byte{byte(seq), 1, 2}
				case 2:
					if seq > 1 {
						vr.Body, vr.Base, vr.Payload = bodyXDelta, 1+uint64(rng.IntN(int(seq-1))), []byte{3, 4}
					}
				}
				rec := string(vr.encode(nil, seq))
				vs.put(seq, []byte(rec))
				want[seq] = rec
				if got := vs.get(seq); string(got) != rec {
					return fmt.Errorf("pending record %d reads %q", seq, got)
				}
			}
			return vs.flush()
		})
		if err != nil {
			t.Fatal(err)
		}
		err = bdb.View(func(tx *bolt.Tx) error {
			if n := tx.Bucket(bVer).Stats().KeyN; n >= segRecords {
				return fmt.Errorf("%d loose records", n)
			}
			vs := newVerStore(tx, &cache)
			for s, rec := range want {
				if got := vs.get(s); string(got) != rec {
					return fmt.Errorf("record %d reads %.20q, want %.20q", s, got, rec)
				}
				if vs.get(s+1) != nil && want[s+1] == "" {
					return fmt.Errorf("record %d exists", s+1)
				}
			}
			var seqs []uint64
			if err := vs.each(func(s uint64, rec []byte) error {
				if string(rec) != want[s] {
					return fmt.Errorf("each: record %d differs", s)
				}
				seqs = append(seqs, s)
				return nil
			}); err != nil {
				return err
			}
			if len(seqs) != len(want) || !slices.IsSorted(seqs) {
				return fmt.Errorf("each listed %d records (sorted %v), want %d", len(seqs), slices.IsSorted(seqs), len(want))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}

func TestCodecRelative(t *testing.T) {
	base := time.Date(2026, 11, 22, 2, 9, 58, 123456789, time.UTC)
	times := []time.Time{{}, base, base.Add(time.Nanosecond), base.Add(-time.Hour), base.Add(400 * 24 * time.Hour), time.Unix(0, 1).UTC()}
	seqs := []uint64{0, 1, 99, 100, 101, 1 << 40}
	uids := []string{"", "c55d3da2-b5b3-4bf3-8448-e4ea07b06368", "C55D3DA2-B5B3-4BF3-8448-E4EA07B06368", "not-a-uid", "c55d3da2-b5b3-4bf3-8448-e4ea07b0636g", "\x02abc"}
	var e enc
	for _, v := range times {
		e.td(v, base)
	}
	for _, v := range seqs {
		e.sd(v, 100)
	}
	for _, u := range uids {
		e.uid(u)
	}
	d := dec{b: e.b}
	for _, v := range times {
		if got := d.td(base); !got.Equal(v) {
			t.Errorf("time %v read as %v", v, got)
		}
	}
	for _, v := range seqs {
		if got := d.sd(100); got != v {
			t.Errorf("sequence %d read as %d", v, got)
		}
	}
	for _, u := range uids {
		if got := d.uid(); got != u {
			t.Errorf("uid %q read as %q", u, got)
		}
	}
	if d.err != nil || len(d.b) != 0 {
		t.Fatalf("err %v, %d bytes left", d.err, len(d.b))
	}
	for _, u := range uids[1:] {
		if p := uidPart(u); uidOfPart(p) != u {
			t.Errorf("uid part of %q reads %q", u, uidOfPart(p))
		}
	}
}

func TestPackUIDs(t *testing.T) {
	for _, s := range []string{
		`{}`,
		`{"uid":"c55d3da2-b5b3-4bf3-8448-e4ea07b06368","owner":{"uid":"5197cb97-b39c-4b19-9947-7166e14729da"}}`,
		`["c55d3da2-b5b3-4bf3-8448-e4ea07b06368"]`,
		`{"m":"x \"c55d3da2-b5b3-4bf3-8448-e4ea07b06368\" y"}`,
		`{"m":"x \"c55d3da2-b5b3-4bf3-8448-e4ea07b06368"}`,
		`{"uid":"C55D3DA2-B5B3-4BF3-8448-E4EA07B06368","x":"c55d3da2-b5b3-4bf3-8448-e4ea07b0636"}`,
		`"c55d3da2-b5b3-4bf3-8448-e4ea07b06368"`,
	} {
		p := packUIDs(nil, []byte(s))
		back, err := unpackUIDs(nil, p)
		if err != nil || string(back) != s {
			t.Errorf("%s: packed %q, unpacked %q (%v)", s, p, back, err)
		}
		if strings.Count(s, "c55d3da2-b5b3-4bf3-8448-e4ea07b06368\"") > 0 && len(p) >= len(s) {
			t.Errorf("%s: not packed", s)
		}
	}
	if _, err := unpackUIDs(nil, []byte{'[', uidMark, 1, 2}); err == nil {
		t.Error("a truncated uid reads")
	}
}
