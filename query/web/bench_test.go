package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/khist/khist/projector"
	"github.com/khist/khist/query"
)

// BenchmarkAPI measures each endpoint over HTTP (a request opens the views read-only, answers,
// closes them) on the synthetic week of package query's benchmarks: the views file it caches
// under os.TempDir() (build it with go test -run x -bench GetPodAt ./query/; KHIST_BENCH_EVENTS
// picks its size, 1M by default). Each iteration makes 20 requests of the endpoint at random
// workloads, namespaces and times; p50 and p95 are over all of them.
func BenchmarkAPI(b *testing.B) {
	events := uint64(1_000_000)
	if n, err := strconv.ParseUint(os.Getenv("KHIST_BENCH_EVENTS"), 10, 64); err == nil && n > 0 {
		events = n
	}
	path := filepath.Join(os.TempDir(), fmt.Sprintf("khist-query-bench-v1-%d.db", events))
	if _, err := os.Stat(path); err != nil {
		b.Skipf("no views at %s: build them with KHIST_BENCH_EVENTS=%d go test -run x -bench GetPodAt ./query/", path, events)
	}
	ctx := context.Background()
	db, err := projector.Open(path, &projector.Options{ReadOnly: true})
	if errors.Is(err, projector.ErrSchema) {
		b.Skipf("the views at %s are of an older schema: go test -run x -bench GetPodAt ./query/ builds them again (%v)", path, err)
	}
	if err != nil {
		b.Fatal(err)
	}
	v := query.NewViews(db, "bench", query.DefaultEnv())
	start, end, err := v.Span(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var nss []string
	type dep struct{ ns, name string }
	var deps []dep
	all, _ := db.Namespaces(ctx, "bench")
	for _, ns := range all {
		if ns == "" {
			continue
		}
		nss = append(nss, ns)
		names, _ := db.Names(ctx, "bench", "apps", "Deployment", ns)
		for _, n := range names {
			deps = append(deps, dep{ns, n})
		}
	}
	db.Close()
	env := query.Env{Now: end.Add(time.Minute), Loc: time.UTC}
	s, err := New(Options{Views: path, Cluster: "bench", Env: &env})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	rfc := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	span := end.Sub(start) - time.Hour
	r := rand.New(rand.NewPCG(16, 16))
	anyDep := func() dep { return deps[r.IntN(len(deps))] }
	anyTime := func() time.Time { return start.Add(time.Hour + time.Duration(r.Int64N(int64(span)))) }
	for _, c := range []struct {
		name string
		q    func() (string, url.Values)
	}{
		{"rollouts-namespace-day", func() (string, url.Values) {
			t := anyTime()
			return "rollouts", url.Values{"namespace": {nss[r.IntN(len(nss))]}, "since": {rfc(t.Add(-24 * time.Hour))}, "until": {rfc(t)}}
		}},
		{"rollouts-all-hour", func() (string, url.Values) {
			t := anyTime()
			return "rollouts", url.Values{"all-namespaces": {"true"}, "since": {rfc(t.Add(-time.Hour))}, "until": {rfc(t)}}
		}},
		{"history", func() (string, url.Values) {
			d := anyDep()
			return "history", url.Values{"namespace": {d.ns}, "object": {"deploy/" + d.name}}
		}},
		{"steps", func() (string, url.Values) {
			d := anyDep()
			return "steps", url.Values{"namespace": {d.ns}, "object": {"deploy/" + d.name}}
		}},
		{"get-at", func() (string, url.Values) {
			d := anyDep()
			return "get", url.Values{"namespace": {d.ns}, "object": {"deploy/" + d.name}, "at": {rfc(anyTime())}}
		}},
		{"diff", func() (string, url.Values) {
			d := anyDep()
			return "diff", url.Values{"namespace": {d.ns}, "object": {"deploy/" + d.name}}
		}},
		{"state", func() (string, url.Values) {
			return "state", url.Values{"namespace": {nss[r.IntN(len(nss))]}, "at": {rfc(anyTime())}}
		}},
		{"timeline-hour", func() (string, url.Values) {
			t := anyTime()
			return "timeline", url.Values{"namespace": {nss[r.IntN(len(nss))]}, "since": {rfc(t.Add(-time.Hour))}, "until": {rfc(t)}}
		}},
		{"timeline-hour-news", func() (string, url.Values) {
			// What a live timeline page of an hour fetches when its last 20 changes are new to it
			// (the hour's page data read first, untimed, to find them).
			t := anyTime()
			q := url.Values{"namespace": {nss[r.IntN(len(nss))]}, "since": {rfc(t.Add(-time.Hour))}, "until": {rfc(t)}}
			resp, err := http.Get(srv.URL + "/timeline/data?" + q.Encode())
			if err != nil {
				b.Fatal(err)
			}
			var page struct {
				Lanes []struct{ Entries []struct{ Seq uint64 } }
			}
			err = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if err != nil {
				b.Fatal(err)
			}
			var seqs []uint64
			for _, l := range page.Lanes {
				for _, e := range l.Entries {
					seqs = append(seqs, e.Seq)
				}
			}
			slices.Sort(seqs)
			if len(seqs) > 20 {
				q.Set("after", strconv.FormatUint(seqs[len(seqs)-21], 10))
			}
			return "/timeline/data", q
		}},
		{"replay-compare", func() (string, url.Values) {
			d := anyDep()
			return "replay/compare", url.Values{"namespace": {d.ns}, "object": {"deploy/" + d.name}, "rollout": {"latest"}}
		}},
		{"replay-what-if", func() (string, url.Values) {
			d := anyDep()
			return "replay/what-if", url.Values{"namespace": {d.ns}, "object": {"deploy/" + d.name}, "set": {"strategy.rollingUpdate.maxSurge=50%"}}
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var ds []time.Duration
			bytes := 0
			for range b.N {
				for range 20 {
					p, q := c.q()
					t0 := time.Now()
					if !strings.HasPrefix(p, "/") {
						p = "/api/v1/" + p
					}
					resp, err := http.Get(srv.URL + p + "?" + q.Encode())
					if err != nil {
						b.Fatal(err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					ds = append(ds, time.Since(t0))
					bytes += len(body)
					if resp.StatusCode != 200 && resp.StatusCode != 404 && resp.StatusCode != 400 {
						b.Fatalf("%s?%s: %d %s", p, q.Encode(), resp.StatusCode, body)
					}
				}
			}
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
			pct := func(q float64) float64 {
				return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.95), "p95-ms")
			b.ReportMetric(float64(bytes)/float64(len(ds)), "B/answer")
		})
	}
}
