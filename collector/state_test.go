package collector

import (
	"fmt"
	"runtime"
	"sort"
	"testing"
)

func TestRVKey(t *testing.T) {
	if k := keyOf([]byte("12345")); k != 12345 || k.String() != "12345" {
		t.Errorf("numeric: %d %q", k, k.String())
	}
	a, b := keyOf([]byte("abc")), keyOf([]byte("abd"))
	if a&rvHashed == 0 || a == b || a.String() != "" || a == unknownRV {
		t.Errorf("hashed: %x %x", a, b)
	}
	if keyOf([]byte("")) == keyOf([]byte("0")) {
		t.Error("empty and 0 collide")
	}
}

func TestObserveDedup(t *testing.T) {
	s := newState()
	tb := s.table("", "Pod", "pods")
	uid, ns, name := []byte("u1"), []byte("default"), []byte("p")
	if d, _ := tb.observe(uid, ns, name, 10, 0, 0); d != publish {
		t.Fatalf("new object: %v", d)
	}
	if d, _ := tb.observe(uid, ns, name, 10, 0, 0); d != known {
		t.Fatalf("same version again: %v", d)
	}
	if d, _ := tb.observe(uid, ns, name, 11, 0, 0); d != publish {
		t.Fatalf("new version: %v", d)
	}
	tb.stored("u1", 7)
	tb.stored("u1", 5) // an older acknowledgement does not move seq back
	if e := tb.objs["u1"]; e.seq != 7 || e.rv != 11 || e.ns.Value() != "default" || e.name != "p" {
		t.Fatalf("entry %+v", e)
	}
	// After a lost version, the next one seen (even the same) is checked against the log.
	tb.lost("u1", "default", "p")
	if d, _ := tb.observe(uid, ns, name, 11, 0, 0); d != verify {
		t.Fatalf("after lost: %v", d)
	}
	tb.confirm("u1", 11, 9)
	if d, _ := tb.observe(uid, ns, name, 11, 0, 0); d != known || tb.objs["u1"].seq != 9 {
		t.Fatalf("after confirm: %v %+v", d, tb.objs["u1"])
	}
	tb.forget("u1")
	if tb.len() != 0 {
		t.Fatal("forget kept the object")
	}
}

func TestSweep(t *testing.T) {
	s := newState()
	tb := s.table("", "Pod", "pods")
	tb.load("a", "ns1", "pa", "5", 1)
	tb.load("b", "ns1", "pb", "6", 2)
	tb.load("c", "ns2", "pc", "7", 3)
	tb.load("d", "ns2", "pd", "8", 4)
	gen := s.nextGen()
	tb.observe([]byte("a"), []byte("ns1"), []byte("pa"), 5, 0, gen)  // unchanged
	tb.observe([]byte("c"), []byte("ns2"), []byte("pc"), 70, 0, gen) // changed
	tb.observe([]byte("e"), []byte("ns2"), []byte("pe"), 9, 0, gen)  // new
	// Only ns1 was listed: d (ns2) is out of scope.
	gone := tb.sweep(gen, func(ns, _ string) bool { return ns == "ns1" })
	if len(gone) != 1 || gone[0].uid != "b" || gone[0].rv != 6 || gone[0].seq != 2 || gone[0].name != "pb" || gone[0].ns != "ns1" {
		t.Fatalf("gone %+v", gone)
	}
	gone = tb.sweep(gen, func(string, string) bool { return true })
	if len(gone) != 1 || gone[0].uid != "d" {
		t.Fatalf("gone %+v", gone)
	}
	var left []string
	for uid := range tb.objs {
		left = append(left, uid)
	}
	sort.Strings(left)
	if fmt.Sprint(left) != "[a c e]" {
		t.Errorf("left %v", left)
	}
	if all := tb.sweep(0, func(string, string) bool { return true }); len(all) != 3 || tb.len() != 0 {
		t.Errorf("sweep all: %d left %d", len(all), tb.len())
	}
}

func TestObserveHeartbeat(t *testing.T) {
	s := newState()
	tb := s.table("", "Node", "nodes")
	if tb.hb != hbNode {
		t.Fatal("Node has no heartbeat rule")
	}
	uid, name := []byte("n"), []byte("node-0")
	if d, _ := tb.observe(uid, nil, name, 10, 111, 0); d != publish {
		t.Fatal(d)
	}
	if d, _ := tb.observe(uid, nil, name, 11, 111, 0); d != heartbeatOnly {
		t.Fatalf("heartbeat-only change: %v", d)
	}
	if d, _ := tb.observe(uid, nil, name, 11, 111, 0); d != known {
		t.Fatalf("filtered version seen again: %v", d)
	}
	if d, _ := tb.observe(uid, nil, name, 12, 222, 0); d != publish {
		t.Fatalf("real change: %v", d)
	}
	// Loaded from the log, the hash is unknown: it is read back first.
	tb.load("m", "", "node-1", "20", 42)
	d, seq := tb.observe([]byte("m"), nil, []byte("node-1"), 21, 333, 0)
	if d != needHash || seq != 42 {
		t.Fatalf("loaded: %v %d", d, seq)
	}
	tb.setHash("m", 42, 333)
	if d, _ := tb.observe([]byte("m"), nil, []byte("node-1"), 21, 333, 0); d != heartbeatOnly {
		t.Fatalf("after setHash: %v", d)
	}
	// When the stored version cannot be read back, the next version is recorded.
	tb.load("k", "", "node-2", "30", 43)
	tb.observe([]byte("k"), nil, []byte("node-2"), 31, 444, 0)
	tb.setHash("k", 43, 0)
	if d, _ := tb.observe([]byte("k"), nil, []byte("node-2"), 31, 444, 0); d != verify {
		t.Fatalf("unreadable: %v", d)
	}
	// Pods have no heartbeat rule: a hash (there is none) never filters.
	if s.table("", "Pod", "pods").hb != hbNone {
		t.Error("Pod has a heartbeat rule")
	}
}

// BenchmarkStateBytesPerObject measures the memory the collector keeps per watched object:
// several thousand Pods of about 4 KiB each go through the scanner and the state as in a list,
// and the heap that remains after garbage collection is divided by their number.
func BenchmarkStateBytesPerObject(b *testing.B) {
	const n = 5000
	pods := make([][]byte, n)
	for i := range pods {
		pods[i] = stripKind(fakePod(i, fmt.Sprintf("team-%d", i%20), 1000+i))
	}
	var perObject float64
	for i := 0; i < b.N; i++ {
		sc := newScanner()
		var o scanned
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s := newState()
		tb := s.table("", "Pod", "pods")
		gen := s.nextGen()
		for _, p := range pods {
			if err := sc.object(p, hbNone, &o); err != nil {
				b.Fatal(err)
			}
			tb.observe(o.uid, o.namespace, o.name, keyOf(o.rv), o.hash, gen)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if tb.len() != n {
			b.Fatalf("%d objects", tb.len())
		}
		perObject = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
		runtime.KeepAlive(s)
	}
	b.ReportMetric(perObject, "bytes/object")
	b.ReportMetric(float64(len(pods[0])), "object-bytes")
}

// BenchmarkScanPod measures the one pass over a Pod's JSON and the copy without field sets.
func BenchmarkScanPod(b *testing.B) {
	pod := fakePod(42, "default", 12345)
	ev := append(append([]byte(`{"type":"MODIFIED","object":`), pod...), '}')
	s := newScanner()
	var o scanned
	b.SetBytes(int64(len(ev)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := s.event(ev, hbNone, &o); err != nil {
			b.Fatal(err)
		}
		_ = assemble(ev, &o, nil)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pods/s")
}
