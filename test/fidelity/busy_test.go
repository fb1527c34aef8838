package fidelity

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/replay"
	"github.com/khist/khist/test/e2e"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

var (
	busy    = flag.Bool("busy", false, "play the busy suite (BusyScenarios) on a cluster of 40 kwok nodes: TestLiveBusy; with -record its recordings become testdata/busy/SCENARIO-rN.json.gz")
	busyRun = flag.Int("busy-run", 0, "the run number N of the busy recordings written with -record (default: one more than the highest in testdata/busy)")
)

// TestLiveBusy plays every busy scenario at once on the real control plane while khist's
// collector records it (see BusyScenarios), and checks each recording as TestBusyFixtures
// does. It runs only with -busy (make fidelity-busy): a run takes 10 to 20 minutes on 2 cores.
// With -record each scenario's recording is kept as run N of its fixture; without, under
// test/artifacts/fidelity-busy.
func TestLiveBusy(t *testing.T) {
	if !*busy {
		t.Skip("the busy suite runs with -busy (make fidelity-busy)")
	}
	if testCluster == nil {
		t.Skip("needs the test control plane (not with -short)")
	}
	if n := len(testCluster.Nodes); n < BusyNodes {
		t.Fatalf("the cluster has %d nodes, the busy suite needs %d", n, BusyNodes)
	}
	run := *busyRun
	if run == 0 {
		run = nextBusyRun(t, "testdata")
	}
	scenarios := BusyScenarios
	var names []string
	for _, s := range scenarios {
		names = append(names, s.Name)
	}
	rec := e2e.StartRecorder(t, testCluster, e2e.RecorderOptions{Cluster: "fidelity-busy", IncludeNamespaces: names})
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()

	// Every scenario at once; the first failure stops the others (the session is no longer
	// the one the suite describes).
	var sig Signals
	var wg sync.WaitGroup
	errs := make([]error, len(scenarios))
	for i := range scenarios {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &scenarios[i]
			errs[i] = s.Play(ctx, runner{testCluster}, &sig)
			if errs[i] != nil {
				cancel()
			}
			t.Logf("busy run %d: %s done after %s (err: %v)", run, s.Name, time.Since(begin).Round(time.Second), errs[i])
		}()
	}
	wg.Wait()
	played := time.Since(begin)
	failed := false
	for _, err := range errs {
		if err != nil && !strings.Contains(err.Error(), context.Canceled.Error()) {
			t.Error(err)
			failed = true
		}
	}
	time.Sleep(5 * time.Second) // the last status updates
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer rcancel()
	envs, err := rec.Envelopes(rctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("busy run %d: played in %s, %d events recorded", run, played.Round(time.Second), len(envs))
	if err := collectorComplete(t, rec.Registry, envs, begin); err != nil {
		t.Errorf("busy run %d: the recording is incomplete: %v", run, err)
		failed = true
	}

	for i := range scenarios {
		s := &scenarios[i]
		mine := ForScenario(envs, s)
		path := filepath.Join("..", "artifacts", "fidelity-busy", fmt.Sprintf("%s-r%d.json.gz", s.Name, run))
		if *record && !failed {
			path = BusyFixturePath("testdata", s.Name, run)
		}
		if err := e2e.WriteWatchFileLevel(path, mine, gzip.BestCompression); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		stats, err := checkBusy(s, Versions(mine))
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		t.Logf("%s: %.1f MB; %s", path, float64(st.Size())/1e6, stats)
	}
}

// collectorComplete returns an error when versions may be missing from the collector's log: a
// version the log did not acknowledge, a restart after the log failed, or a version that a
// relist found after since (a RESYNC or DELETED_UNOBSERVED envelope observed after the initial
// lists: its watch missed it, and maybe versions before it). A relist that found nothing new (a
// quiet watch restarted after etcd compaction) loses nothing, and is only logged.
func collectorComplete(t *testing.T, reg *prometheus.Registry, envs []*eventlog.Envelope, since time.Time) error {
	mfs, err := reg.Gather()
	if err != nil {
		return err
	}
	var problems []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetCounter().GetValue()
			if v == 0 {
				continue
			}
			switch mf.GetName() {
			case "khist_collector_publish_errors_total", "khist_collector_log_recoveries_total":
				problems = append(problems, fmt.Sprintf("%s%s = %g", mf.GetName(), labels(m), v))
			case "khist_collector_relists_total":
				if label(m, "reason") != "start" {
					t.Logf("collector: %s%s = %g", mf.GetName(), labels(m), v)
				}
			}
		}
	}
	found := map[string]int{}
	for _, e := range envs {
		if (e.Type == eventlog.Resync || e.Type == eventlog.DeletedUnobserved) && e.Observed.After(since) {
			found[e.Kind+" "+string(e.Type)]++
		}
	}
	for k, n := range found {
		problems = append(problems, fmt.Sprintf("%d %s found by a relist", n, k))
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func labels(m *dto.Metric) string {
	var ls []string
	for _, l := range m.GetLabel() {
		ls = append(ls, l.GetName()+"="+strconv.Quote(l.GetValue()))
	}
	return "{" + strings.Join(ls, ",") + "}"
}

var busyRunRE = regexp.MustCompile(`-r([0-9]+)\.json\.gz$`)

// nextBusyRun is one more than the highest run number of the fixtures under dir/busy.
func nextBusyRun(t *testing.T, dir string) int {
	paths, err := filepath.Glob(filepath.Join(dir, "busy", "*-r*.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range paths {
		if m := busyRunRE.FindStringSubmatch(p); m != nil {
			r, _ := strconv.Atoi(m[1])
			n = max(n, r)
		}
	}
	return n + 1
}

// busyFixtures returns the recorded runs of a busy scenario, in run order.
func busyFixtures(t *testing.T, dir, scenario string) []string {
	paths, err := filepath.Glob(filepath.Join(dir, "busy", scenario+"-r*.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(p string) int {
		m := busyRunRE.FindStringSubmatch(p)
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	paths = slices.DeleteFunc(paths, func(p string) bool { return run(p) == 0 })
	sort.Slice(paths, func(i, j int) bool { return run(paths[i]) < run(paths[j]) })
	return paths
}

// TestBusyFixtures checks every recorded run of the busy suite offline: the file parses, each
// workload of the scenario is there with the number of rollouts the scenario makes, the last
// of which completed, and pods exist. With -v it prints what each recording holds (events,
// pods, rollouts, and the sizes of the readiness steps of the ReplicaSets' status writes).
// It checks no replay fidelity.
func TestBusyFixtures(t *testing.T) {
	for i := range BusyScenarios {
		s := &BusyScenarios[i]
		paths := busyFixtures(t, "testdata", s.Name)
		if len(paths) == 0 {
			t.Errorf("%s: no recording under testdata/busy: run make fidelity-busy ARGS=-record", s.Name)
			continue
		}
		for _, p := range paths {
			t.Run(strings.TrimSuffix(filepath.Base(p), ".json.gz"), func(t *testing.T) {
				t.Parallel()
				h, err := replay.LoadWatchFiles(p)
				if err != nil {
					t.Fatal(err)
				}
				stats, err := checkBusy(s, h)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s: %s", filepath.Base(p), stats)
			})
		}
	}
}

// busyStats is what a busy recording holds.
type busyStats struct {
	events, pods int
	rollouts     map[string]int // by workload
	// rsSteps are the increments of readyReplicas of the ReplicaSet status writes that raised
	// it, wlSteps those of the workloads' own ready count (readyReplicas, DaemonSet
	// numberReady), in log order.
	rsSteps, wlSteps []int
	// readyAfter is, for each pod that became Ready, the seconds from its creation to Ready.
	readyAfter []int
}

func (b *busyStats) String() string {
	total := 0
	for _, n := range b.rollouts {
		total += n
	}
	s := fmt.Sprintf("%d events, %d pods, %d rollouts of %d workloads", b.events, b.pods, total, len(b.rollouts))
	s += "; pods Ready after (s) " + distribution(b.readyAfter)
	if len(b.rsSteps) > 0 {
		s += "; ReplicaSet status writes raising readyReplicas: " + steps(b.rsSteps)
	}
	s += "; workload status writes raising its ready count: " + steps(b.wlSteps)
	return s
}

// steps describes the increments of a ready count: how many writes, their sizes, and the
// share of them that reported more than one pod Ready at once.
func steps(d []int) string {
	multi := 0
	for _, x := range d {
		if x > 1 {
			multi++
		}
	}
	if len(d) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d writes, +%s per write, %.0f%% by more than 1", len(d), distribution(d), 100*float64(multi)/float64(len(d)))
}

// distribution is "median M, p90 P, max X" of d.
func distribution(d []int) string {
	if len(d) == 0 {
		return "-"
	}
	d = slices.Clone(d)
	slices.Sort(d)
	q := func(f float64) int { return d[int(f*float64(len(d)-1))] }
	return fmt.Sprintf("median %d, p90 %d, max %d", q(0.5), q(0.9), d[len(d)-1])
}

// checkBusy checks a busy scenario's history (versions in log order) and returns what it
// holds: every workload of the scenario is there with s.Rollouts rollouts, its last version
// shows its last rollout complete, and its pods are there.
func checkBusy(s *Scenario, h []replay.Version) (*busyStats, error) {
	b := &busyStats{events: len(h), rollouts: map[string]int{}}
	pods := map[string]bool{} // uid -> Ready seen
	ready := map[string]int{} // ready count by ReplicaSet or workload uid
	last := map[string][]byte{}
	raised := func(uid string, n int) int {
		prev, ok := ready[uid]
		ready[uid] = n
		if ok && n > prev {
			return n - prev
		}
		return 0
	}
	for i := range h {
		v := &h[i]
		if v.Namespace != s.Name {
			continue
		}
		var o struct {
			Metadata struct {
				CreationTimestamp time.Time `json:"creationTimestamp"`
			} `json:"metadata"`
			Status struct {
				ReadyReplicas, NumberReady int
				Conditions                 []struct {
					Type, Status       string
					LastTransitionTime time.Time
				}
			} `json:"status"`
		}
		switch v.Kind {
		case "Pod", "ReplicaSet", s.Kind:
			if v.Kind == "Pod" && pods[v.UID] {
				continue // Ready already seen
			}
			if err := json.Unmarshal(v.Object, &o); err != nil {
				return nil, fmt.Errorf("%s %s: %v", v.Kind, v.Name, err)
			}
		}
		switch v.Kind {
		case "Pod":
			pods[v.UID] = false
			for _, c := range o.Status.Conditions {
				if c.Type == "Ready" && c.Status == "True" {
					pods[v.UID] = true
					b.readyAfter = append(b.readyAfter, int(c.LastTransitionTime.Sub(o.Metadata.CreationTimestamp).Seconds()))
				}
			}
		case "ReplicaSet":
			if d := raised(v.UID, o.Status.ReadyReplicas); d > 0 {
				b.rsSteps = append(b.rsSteps, d)
			}
		case s.Kind:
			if v.Type != replay.Deleted && v.Type != replay.DeletedUnobserved {
				last[v.Name] = v.Object
			}
			if d := raised(v.UID, o.Status.ReadyReplicas+o.Status.NumberReady); d > 0 {
				b.wlSteps = append(b.wlSteps, d)
			}
		}
	}
	b.pods = len(pods)
	if b.pods == 0 {
		return b, fmt.Errorf("no pod in namespace %s", s.Name)
	}
	for _, w := range s.WorkloadNames() {
		obj, ok := last[w]
		if !ok {
			return b, fmt.Errorf("no %s %s/%s in the recording", s.Kind, s.Name, w)
		}
		scn, err := replay.ExtractScenario(s.Kind, s.Name, w, ownHistory(s, w, h))
		if err != nil {
			return b, err
		}
		b.rollouts[w] = len(scn.Rollouts)
		if s.Rollouts > 0 && len(scn.Rollouts) != s.Rollouts {
			return b, fmt.Errorf("%s %s/%s: %d rollouts recorded, the scenario makes %d", s.Kind, s.Name, w, len(scn.Rollouts), s.Rollouts)
		}
		if err := rolledOut(s.Kind, obj); err != nil {
			return b, fmt.Errorf("%s %s/%s: the last rollout did not complete in the recording: %v", s.Kind, s.Name, w, err)
		}
	}
	return b, nil
}

// ownHistory is, for a scenario of several workloads, the part of h that can concern workload
// w: cluster-scoped objects, and the objects named after w (w itself, its ReplicaSets and their
// pods, their Events), so that extracting each of 20 workloads does not read 20 times the whole
// history. For a scenario of one workload it is h.
func ownHistory(s *Scenario, w string, h []replay.Version) []replay.Version {
	if len(s.Workloads) < 2 {
		return h
	}
	var out []replay.Version
	for _, v := range h {
		if v.Namespace == "" || v.Name == w || strings.HasPrefix(v.Name, w+"-") || strings.HasPrefix(v.Name, w+".") {
			out = append(out, v)
		}
	}
	return out
}

// rolledOut returns an error unless a workload's JSON shows its rollout complete, as kubectl
// rollout status sees it.
func rolledOut(kind string, obj []byte) error {
	var w struct {
		Metadata struct {
			Generation int64 `json:"generation"`
		} `json:"metadata"`
		Spec struct {
			Replicas *int32 `json:"replicas"`
		} `json:"spec"`
		Status struct {
			ObservedGeneration int64 `json:"observedGeneration"`
			// Deployment and StatefulSet
			Replicas, UpdatedReplicas, AvailableReplicas, ReadyReplicas int32
			CurrentRevision, UpdateRevision                             string
			// DaemonSet
			DesiredNumberScheduled, UpdatedNumberScheduled, NumberAvailable int32
		} `json:"status"`
	}
	if err := json.Unmarshal(obj, &w); err != nil {
		return err
	}
	st := w.Status
	if st.ObservedGeneration < w.Metadata.Generation {
		return fmt.Errorf("generation %d not observed (status is of %d)", w.Metadata.Generation, st.ObservedGeneration)
	}
	want := int32(1)
	if w.Spec.Replicas != nil {
		want = *w.Spec.Replicas
	}
	var ok bool
	switch kind {
	case "Deployment":
		ok = st.UpdatedReplicas == want && st.Replicas == want && st.AvailableReplicas == want
	case "StatefulSet":
		ok = st.UpdatedReplicas == want && st.ReadyReplicas == want && st.CurrentRevision == st.UpdateRevision
	case "DaemonSet":
		ok = st.UpdatedNumberScheduled == st.DesiredNumberScheduled && st.NumberAvailable == st.DesiredNumberScheduled
	default:
		return fmt.Errorf("unknown kind %s", kind)
	}
	if !ok {
		return fmt.Errorf("status %+v", st)
	}
	return nil
}
