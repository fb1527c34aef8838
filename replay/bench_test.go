package replay

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// Benchmarks: go test -run x -bench . -benchtime 3x ./replay/

// rolling1000 is a 1000-replica Deployment (25%/25%) updated once it is available.
func rolling1000(b *testing.B) Scenario {
	b.Helper()
	s := time.Second
	h := generate(b, genWorld{obj: genDeployment("web", 1000, "web:v1"), nodes: []string{"n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8"},
		latency: randomLatency(1, s, 5*s), termination: 2 * s, edits: []genEdit{{at: 120 * s, fn: setImage("web:v2")}}})
	scn, err := ExtractScenario(KindDeployment, "gen", "web", h)
	if err != nil {
		b.Fatal(err)
	}
	return scn
}

// BenchmarkSimulateRollingUpdate1000 simulates a rolling update of 1000 replicas (target:
// under 50 ms per op).
func BenchmarkSimulateRollingUpdate1000(b *testing.B) {
	scn := rolling1000(b)
	for _, env := range []struct {
		name string
		env  Environment
	}{{"latency", EnvLatency}, {"as-recorded", EnvAsRecorded}} {
		b.Run(env.name, func(b *testing.B) {
			b.ReportAllocs()
			var res *SimResult
			cpu := cpuTime()
			for i := 0; i < b.N; i++ {
				var err error
				if res, err = Simulate(scn, SimOptions{RolloutID: "#2", Environment: env.env}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op")
			if !res.Completed {
				b.Fatalf("rollout did not complete: %+v", res.Summary)
			}
			b.ReportMetric(float64(len(res.Steps)), "steps")
			b.ReportMetric(float64(res.Events), "events")
		})
	}
}

// BenchmarkCompareLargeHistory compares a long history: a 20-replica Deployment rolled out
// 100 times, reporting rollouts compared per second.
func BenchmarkCompareLargeHistory(b *testing.B) {
	s := time.Second
	var edits []genEdit
	for i := 1; i < 100; i++ {
		edits = append(edits, genEdit{at: time.Duration(60*i) * s, fn: setImage(fmt.Sprintf("web:v%d", i+1))})
	}
	h := generate(b, genWorld{obj: genDeployment("web", 20, "web:v1"), nodes: []string{"n1", "n2", "n3"},
		latency: randomLatency(2, s, 5*s), termination: s, edits: edits})
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime()
	rollouts := 0
	for i := 0; i < b.N; i++ {
		res, err := Compare(h, "deployment", "gen", "web", CompareOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if !res.Match {
			b.Fatal("generated history does not replay step for step")
		}
		rollouts += len(res.Rollouts)
	}
	b.ReportMetric(float64(rollouts)/time.Since(start).Seconds(), "rollouts/s")
	b.ReportMetric(float64(rollouts)/(cpuTime()-cpu).Seconds(), "rollouts/cpu-s")
	b.ReportMetric(float64(len(h)), "versions")
}

// cpuTime is the CPU time the process used (user and system), which, unlike ns/op, does not
// grow when other processes compete for the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLoadWatchFiles reads and merges the recorded Deployment rollout.
func BenchmarkLoadWatchFiles(b *testing.B) {
	for i := 0; i < b.N; i++ {
		sampleRolling.load(b)
	}
}
