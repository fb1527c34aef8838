package replay

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// TestBusyControlPlaneModel replays a rollout of the busy suite (20 Deployments of 100
// replicas rolling at once) freely: with instant controllers the Deployment controller scales
// the old ReplicaSet down pod by pod as each new pod becomes Ready; with the reaction latencies
// read from the recording, the ReplicaSet controller's status writes report many pods at once,
// and the simulated controller takes the recorded step 75 -> 25.
func TestBusyControlPlaneModel(t *testing.T) {
	const path = "../test/fidelity/testdata/busy/busy-20x100-r1.json.gz"
	if _, err := os.Stat(path); err != nil {
		t.Skip("no busy recording")
	}
	if testing.Short() {
		t.Skip("loads a 56k-event recording")
	}
	h, err := LoadWatchFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	scn, err := ExtractScenario("deploy", "busy-20x100", "web-05", h)
	if err != nil {
		t.Fatal(err)
	}
	if scn.x.lat == nil {
		t.Fatal("no latency model calibrated from a busy recording")
	}
	ro, err := scn.Rollout("#2")
	if err != nil {
		t.Fatal(err)
	}
	rec := ro.Recorded
	if len(rec) < 4 || rec[3].From != 75 || rec[3].To != 25 {
		t.Fatalf("recorded steps %v: want the old ReplicaSet's 75 -> 25 fourth", rec)
	}
	busy, err := Simulate(scn, SimOptions{RolloutID: ro.ID, Environment: EnvAsRecorded})
	if err != nil {
		t.Fatal(err)
	}
	instant, err := Simulate(scn, SimOptions{RolloutID: ro.ID, Environment: EnvAsRecorded, InstantControllers: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(busy.Steps) < 4 || !busy.Steps[3].sameAction(rec[3]) {
		t.Errorf("busy control plane: steps %v, want %v fourth", busy.Steps[:min(6, len(busy.Steps))], rec[3])
	}
	if len(instant.Steps) < 4 || instant.Steps[3].From != 75 || instant.Steps[3].To <= 25 {
		t.Errorf("instant controllers: steps %v, want a scale-down of a few pods from 75 fourth", instant.Steps[:min(6, len(instant.Steps))])
	}
	if len(instant.Steps) <= len(busy.Steps) {
		t.Errorf("instant controllers took %d steps, the busy model %d: want more, smaller steps", len(instant.Steps), len(busy.Steps))
	}
}

// TestBusyFreeRunKeepsRecordedEnvironment replays busy rollouts freely in the recorded world:
// the ReplicaSet controller, the environment of the Deployment controller under test, acts on
// each recorded scale when the recorded one did, and each of its recorded status writes stands
// for one simulated write at most, reporting the pods the sync that computed it had listed.
func TestBusyFreeRunKeepsRecordedEnvironment(t *testing.T) {
	if testing.Short() {
		t.Skip("loads busy recordings of up to 56k events")
	}
	cases := []struct {
		file, ns, name, rollout string
		// step is the 0-based step whose action and time (within 2 s) must be the recorded
		// ones; -1 checks every step's action.
		step int
		why  string
	}{
		{"loaded-max-surge-0-r1", "loaded-max-surge-0", "web", "#2", -1,
			"a status write reused for the next sync left the new pod's readiness unreported: the run stalled after 3 steps until the progress deadline"},
		{"busy-20x100-r3", "busy-20x100", "web-15", "#2", 3,
			"the ReplicaSet controller's syncs took cycled latencies: its pods came 90 s late and the old ReplicaSet went 75 -> 25 two minutes late instead of 75 -> 31"},
		{"busy-20x100-r1", "busy-20x100", "web-12", "#2", 5,
			"a status write that counted the pods its own sync had just deleted let the step 58 -> 25 come 10 s early"},
	}
	loaded := map[string][]Version{}
	for _, c := range cases {
		path := "../test/fidelity/testdata/busy/" + c.file + ".json.gz"
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		h, ok := loaded[path]
		if !ok {
			var err error
			if h, err = LoadWatchFiles(path); err != nil {
				t.Fatal(err)
			}
			loaded[path] = h
		}
		scn, err := ExtractScenario("deploy", c.ns, c.name, h)
		if err != nil {
			t.Fatal(err)
		}
		ro, err := scn.Rollout(c.rollout)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Simulate(scn, SimOptions{RolloutID: ro.ID, Environment: EnvAsRecorded})
		if err != nil {
			t.Fatal(err)
		}
		rec, sim := ro.Recorded, res.Steps
		if c.step < 0 {
			if len(sim) != len(rec) {
				t.Errorf("%s %s%s: %d steps simulated, %d recorded (%s)", c.file, c.name, c.rollout, len(sim), len(rec), c.why)
			}
			for i := range min(len(sim), len(rec)) {
				if !sim[i].sameAction(rec[i]) {
					t.Errorf("%s %s%s step %d: simulated %v, recorded %v (%s)", c.file, c.name, c.rollout, i+1, sim[i], rec[i], c.why)
					break
				}
			}
			continue
		}
		if len(sim) <= c.step || !sim[c.step].sameAction(rec[c.step]) || absDur(sim[c.step].Time.Sub(rec[c.step].Time)) > 2*time.Second {
			var got any = "none"
			if len(sim) > c.step {
				got = fmt.Sprintf("%v at %s", sim[c.step], sim[c.step].Time.Format("15:04:05.000"))
			}
			t.Errorf("%s %s%s step %d: simulated %v, recorded %v at %s (%s)", c.file, c.name, c.rollout, c.step+1, got,
				rec[c.step], rec[c.step].Time.Format("15:04:05.000"), c.why)
		}
	}
}

// TestDaemonSetSlowStartTakesRecordedCreationOrder: on a busy DaemonSet rollout the controller
// deleted pods on node-20 then node-25 and, in its next sync, created their replacements on
// node-25 then node-20 (upstream walks nodes in random order). The simulated slow start must
// follow the recorded creations, not the first step of any kind on each node, while the rolling
// update keeps walking nodes as the recording touched them.
func TestDaemonSetSlowStartTakesRecordedCreationOrder(t *testing.T) {
	const path = "../test/fidelity/testdata/busy/busy-ds-r2.json.gz"
	h, err := LoadWatchFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Compare(h, "ds", "busy-ds", "agent", CompareOptions{FreeRun: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Rollouts {
		if !r.Match {
			t.Errorf("%s: free run diverges: %+v", r.ID, r.Divergence)
		}
	}
}
