package replay

import (
	"os"
	"testing"
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
