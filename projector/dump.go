package projector

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	stdjson "encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DumpOptions tune Dump.
type DumpOptions struct {
	// Renumber replaces every stream sequence by its rank among the sequences of the events
	// that changed the views, and leaves out the views' position and the count of skipped
	// events: two folds of logs that differ only by duplicated events then dump the same.
	Renumber bool
	// Objects prints each version's JSON in full instead of its SHA-256.
	Objects bool
}

// keyShape says how a bucket's keys end after their NUL-separated string parts.
type keyShape int

const (
	shapeStrings      keyShape = iota // only string parts
	shapeSeq                          // ... NUL seq(8)
	shapeSeqIdx                       // ... NUL seq(8) index(1)
	shapeIDSeq                        // id(8) seq(8)
	shapeTimeSeq                      // ... NUL time(8) seq(8)
	shapeID                           // ... NUL id(8)
	shapeSnap                         // cluster NUL time(8) seq(8) namespace
	shapeSeqOnly                      // seq(8)
	shapeIDOnly                       // id(8)
	shapeScopeTimeSeq                 // scope(4) time(8) seq(8)
)

// valueShape says how a bucket's values are encoded.
type valueShape int

const (
	valEmpty valueShape = iota
	valJSON
	valHead
	valVersion
	valUvarint
	valString
	valSnapChunk
	valMeta
	valStepKey
	valID     // id(8)
	valSeq    // seq(8)
	valScope  // scope(4)
	valDisco  // seq(8) time(8) JSON
	valSpan   // time(8) time(8), 0 for none
	valLatest // seq(8) S2 of a version record
)

// dumpLayouts describes every bucket of the views.
var dumpLayouts = map[string]struct {
	key keyShape
	val valueShape
}{
	"meta":       {shapeStrings, valMeta},
	"obj":        {shapeIDOnly, valHead},
	"uids":       {shapeStrings, valID},
	"bases":      {shapeStrings, valSeq},
	"ver":        {shapeSeqOnly, valVersion}, // with the records of "verseg"
	"verseg":     {shapeSeqOnly, valVersion}, // dumped under "ver"
	"names":      {shapeSeq, valUvarint},
	"own":        {shapeStrings, valEmpty},
	"about":      {shapeStrings, valEmpty},
	"tn":         {shapeScopeTimeSeq, valUvarint},
	"scopes":     {shapeStrings, valScope},
	"live":       {shapeID, valEmpty},
	"snapmeta":   {shapeTimeSeq, valUvarint},
	"snap":       {shapeSnap, valSnapChunk},
	"wl":         {shapeStrings, valJSON},
	"rev":        {shapeStrings, valJSON},
	"revpods":    {shapeSeq, valUvarint},
	"rollouts":   {shapeSeq, valJSON},
	"rollspan":   {shapeSeq, valSpan},
	"steps":      {shapeSeqIdx, valJSON},
	"ann":        {shapeSeq, valJSON},
	"await":      {shapeSeq, valStepKey},
	"pods":       {shapeSeq, valJSON},
	"podready":   {shapeIDSeq, valUvarint},
	"vtime":      {shapeIDSeq, valUvarint},
	"eps":        {shapeStrings, valJSON},
	"epu":        {shapeStrings, valJSON},
	"ep":         {shapeSeq, valJSON},
	"quarantine": {shapeSeqOnly, valString},
	"disco":      {shapeStrings, valDisco},
	"jobs":       {shapeStrings, valJSON},
	"jobsteps":   {shapeSeqIdx, valJSON},
	"cronspecs":  {shapeSeq, valJSON},
	"audit":      {shapeTimeSeq, valJSON},
	"vlast":      {shapeIDOnly, valLatest},
}

// Dump writes the logical contents of the views, deterministically: every bucket in name
// order, every entry decoded, one line each; versions are rebuilt and shown by SHA-256 (or in
// full). Two DBs with the same logical contents dump the same, whatever their pages.
func (db *DB) Dump(w io.Writer, o DumpOptions) error {
	bw := bufio.NewWriter(w)
	err := db.view(func(tx *bolt.Tx) error {
		sm := func(s uint64) string { return strconv.FormatUint(s, 10) }
		if o.Renumber {
			rank := map[uint64]uint64{}
			if err := versOf(tx).each(func(seq uint64, _ []byte) error {
				rank[seq] = uint64(len(rank) + 1)
				return nil
			}); err != nil {
				return err
			}
			sm = func(s uint64) string {
				if s == 0 {
					return "0"
				}
				if r, ok := rank[s]; ok {
					return "#" + strconv.FormatUint(r, 10)
				}
				return "?" + strconv.FormatUint(s, 10)
			}
		}
		var names []string
		if err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			names = append(names, string(name))
			return nil
		}); err != nil {
			return err
		}
		slices.Sort(names)
		for _, name := range names {
			lay, ok := dumpLayouts[name]
			if !ok {
				return fmt.Errorf("dump: bucket %q has no layout", name)
			}
			bodies := map[uint64][]byte{} // latest JSON of each object, rebuilding in log order
			entries, err := logicalEntries(tx.Bucket([]byte(name)), name)
			if err != nil {
				return err
			}
			for _, kv := range entries {
				k, v := kv[0], kv[1]
				ks := dumpKey(k, lay.key, sm)
				var vs string
				switch lay.val {
				case valEmpty:
				case valMeta:
					switch {
					case bytes.HasPrefix(k, []byte("c\x00")):
						d := dec{b: v}
						vs = fmt.Sprintf("wm=%s since=%d live=%d lastsnap=%s", fmtTime(d.t()), d.u(), d.u(), fmtTime(d.t()))
					case o.Renumber && (bytes.Equal(k, mSeq) || bytes.Equal(k, mSkipped)):
						continue
					default:
						vs = strconv.FormatUint(readBE8(v), 10)
					}
				case valHead:
					h, err := decodeHead(v)
					if err != nil {
						return err
					}
					vs = fmt.Sprintf("id=%d %s/%s/%s %s/%s uid=%s first=%s@%s created=%s last=%s@%s rv=%s n=%d full=%s chain=%d/%d/%d gone=%v@%s/%s owner=%s/%s/%s repl=%d rev=%d phase=%q del=%v count=%d tmpl=%x ready=%d node=%q ip=%q",
						h.ID, h.Cluster, h.Group, h.APIVersion, h.Kind, h.Namespace+"/"+h.Name, h.UID, sm(h.FirstSeq), fmtTime(h.FirstSeen), fmtTime(h.Created),
						sm(h.LastSeq), fmtTime(h.LastSeen), h.LastRV, h.Versions, sm(h.FullSeq), h.Chain, h.ChainBytes, h.FullBytes, h.Gone, sm(h.GoneSeq), fmtTime(h.GoneAt),
						h.Owner.Kind, h.Owner.Name, h.Owner.UID, h.Replicas, h.RevNum, h.Phase, h.Deleting, h.Count, h.TmplHash, h.Ready, h.Node, h.IP)
				case valVersion:
					seq := readBE8(k)
					r, err := decodeVer(v, seq)
					if err != nil {
						return err
					}
					obj, err := body(versOf(tx), bodies[r.ID], &r)
					if err != nil {
						return fmt.Errorf("dump: version %d: %w", seq, err)
					}
					bodies[r.ID] = obj
					body := fmt.Sprintf("%x", sha256.Sum256(obj))
					if o.Objects {
						body = string(obj)
					}
					vs = fmt.Sprintf("id=%d prev=%s %s rv=%s gen=%d at=%s actor=%q enc=%d %s", r.ID, sm(r.Prev), r.Type, r.RV, r.Generation, fmtTime(r.Observed), r.Actor, r.Body, body)
				case valUvarint:
					n, _ := binary.Uvarint(v)
					vs = strconv.FormatUint(n, 10)
				case valString:
					vs = strconv.Quote(string(v))
				case valID:
					vs = strconv.FormatUint(readBE8(v), 10)
				case valSeq:
					vs = sm(readBE8(v))
				case valScope:
					vs = strconv.FormatUint(uint64(binary.BigEndian.Uint32(v)), 10)
				case valSnapChunk:
					m := map[uint64]uint64{}
					if err := decodeSnapChunk(v, m); err != nil {
						return err
					}
					ids := make([]uint64, 0, len(m))
					for id := range m {
						ids = append(ids, id)
					}
					slices.Sort(ids)
					var b strings.Builder
					for _, id := range ids {
						fmt.Fprintf(&b, "%d@%s ", id, sm(m[id]))
					}
					vs = b.String()
				case valStepKey:
					vs = dumpKey(v, shapeSeqIdx, sm)
				case valDisco:
					if len(v) < 16 {
						return fmt.Errorf("dump %s: short value", name)
					}
					body := fmt.Sprintf("%x", sha256.Sum256(v[16:]))
					if o.Objects {
						body = string(v[16:])
					}
					vs = fmt.Sprintf("seq=%s at=%s %s", sm(readBE8(v)), fmtTime(time.Unix(0, int64(readBE8(v[8:]))).UTC()), body)
				case valSpan:
					start, end, err := readSpan(v)
					if err != nil {
						return fmt.Errorf("dump %s: %w", name, err)
					}
					vs = fmt.Sprintf("start=%s end=%s", fmtTime(start), fmtTime(end))
				case valLatest:
					if len(v) < 8 {
						return fmt.Errorf("dump %s: short value", name)
					}
					seq := readBE8(v)
					r, ok, err := latestOf(tx, readBE8(k), seq)
					if err != nil || !ok {
						return fmt.Errorf("dump %s: object %d: %v", name, readBE8(k), err)
					}
					body := fmt.Sprintf("%x", sha256.Sum256(r.Payload))
					if o.Objects {
						body = string(r.Payload)
					}
					vs = fmt.Sprintf("seq=%s %s rv=%s gen=%d at=%s actor=%q %s", sm(seq), r.Type, r.RV, r.Generation, fmtTime(r.Observed), r.Actor, body)
				case valJSON:
					var x any
					js, err := recordJSON(v)
					if err != nil {
						return fmt.Errorf("dump %s: %w", name, err)
					}
					if err := stdjson.Unmarshal(js, &x); err != nil {
						return fmt.Errorf("dump %s: %w", name, err)
					}
					renumberJSON(x, "", sm)
					b, err := stdjson.Marshal(x)
					if err != nil {
						return err
					}
					vs = string(b)
				}
				if _, err := fmt.Fprintf(bw, "%s %s = %s\n", name, ks, vs); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

// logicalEntries lists a bucket's entries in key order; buckets that pack several entries in
// one value (runs) are listed entry by entry, each as it would be stored on its own, so that
// the dump does not depend on how transactions cut the runs.
func logicalEntries(b *bolt.Bucket, name string) ([][2][]byte, error) {
	var out [][2][]byte
	switch name {
	case "verseg":
		return nil, nil // packed version records: listed with the loose ones
	case "obj":
		err := headsOf(b.Tx()).each(func(id uint64, raw []byte) error {
			out = append(out, [2][]byte{be8(id), raw})
			return nil
		})
		return out, err
	case "ver":
		err := versOf(b.Tx()).each(func(seq uint64, rec []byte) error {
			out = append(out, [2][]byte{be8(seq), rec})
			return nil
		})
		return out, err
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		switch name {
		case "tn":
			sc := k[:len(k)-16]
			err := timeRunEntries(k, v, func(e timeEntry) bool {
				ek := appendBE8(appendBE8(slices.Clone(sc), timeKey(e.At)), e.Seq)
				out = append(out, [2][]byte{ek, binary.AppendUvarint(nil, e.ID)})
				return true
			})
			if err != nil {
				return nil, err
			}
		case "podready":
			err := readyRun(v, func(seq uint64, ready bool) {
				r := byte(0)
				if ready {
					r = 1
				}
				out = append(out, [2][]byte{appendBE8(slices.Clone(k), seq), {r}})
			})
			if err != nil {
				return nil, err
			}
		default:
			out = append(out, [2][]byte{k, v})
		}
	}
	slices.SortStableFunc(out, func(a, b [2][]byte) int { return bytes.Compare(a[0], b[0]) })
	return out, nil
}

func dumpKey(k []byte, shape keyShape, sm func(uint64) string) string {
	strs := func(b []byte) string { return strconv.Quote(strings.ReplaceAll(string(b), "\x00", "|")) }
	switch shape {
	case shapeSeqOnly:
		return sm(readBE8(k))
	case shapeIDOnly:
		return strconv.FormatUint(readBE8(k), 10)
	case shapeSeq:
		if len(k) >= 8 {
			return strs(k[:len(k)-8]) + " " + sm(readBE8(k[len(k)-8:]))
		}
	case shapeSeqIdx:
		if len(k) >= 9 {
			return strs(k[:len(k)-9]) + " " + sm(readBE8(k[len(k)-9:])) + "." + strconv.Itoa(int(k[len(k)-1]))
		}
	case shapeIDSeq:
		if len(k) == 16 {
			return strconv.FormatUint(readBE8(k), 10) + " " + sm(readBE8(k[8:]))
		}
	case shapeScopeTimeSeq:
		if len(k) == 20 {
			return strconv.FormatUint(uint64(binary.BigEndian.Uint32(k)), 10) + " " + fmtTime(keyTime(readBE8(k[4:]))) + " " + sm(readBE8(k[12:]))
		}
	case shapeTimeSeq:
		if len(k) >= 16 {
			return strs(k[:len(k)-16]) + " " + fmtTime(keyTime(readBE8(k[len(k)-16:]))) + " " + sm(readBE8(k[len(k)-8:]))
		}
	case shapeID:
		if len(k) >= 8 {
			return strs(k[:len(k)-8]) + " " + strconv.FormatUint(readBE8(k[len(k)-8:]), 10)
		}
	case shapeSnap:
		if i := indexByte(k, 0); i >= 0 && len(k) >= i+17 {
			r := k[i+1:]
			return strs(k[:i]) + " " + fmtTime(keyTime(readBE8(r))) + " " + sm(readBE8(r[8:])) + " " + strs(r[16:])
		}
	}
	return strs(k)
}

// renumberJSON maps, in a decoded JSON record, the numbers of fields named seq or ending in
// Seq (the convention of every record that holds a stream sequence).
func renumberJSON(x any, k string, sm func(uint64) string) any {
	switch v := x.(type) {
	case map[string]any:
		for kk, vv := range v {
			v[kk] = renumberJSON(vv, kk, sm)
		}
	case []any:
		for i := range v {
			v[i] = renumberJSON(v[i], k, sm)
		}
	case float64:
		if k == "seq" || strings.HasSuffix(k, "Seq") {
			return sm(uint64(v))
		}
	}
	return x
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}
