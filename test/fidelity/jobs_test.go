package fidelity

import (
	"os"
	"testing"

	"github.com/khist/khist/eventlog/importer"
)

// TestJobFixtures checks that every job scenario has its recordings (JobRuns of each), small,
// holding its workload in its namespace. What the recordings show (runs, outcomes, skipped
// schedules) is checked by the query package's TestJobFixtures.
func TestJobFixtures(t *testing.T) {
	for _, s := range JobScenarioRuns(JobRuns) {
		t.Run(s.Name, func(t *testing.T) {
			p := JobFixturePath("testdata", s.Name)
			f, err := os.Open(p)
			if err != nil {
				t.Fatalf("%v (make fidelity-jobs records it)", err)
			}
			defer f.Close()
			if st, err := f.Stat(); err != nil || st.Size() > 300<<10 {
				t.Errorf("%s: %v bytes, want at most 300 KiB (err %v)", p, st.Size(), err)
			}
			res, err := importer.ReadWatch("test", importer.Input{Name: p, R: f})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, e := range res.Envelopes {
				if e.Namespace != s.Name && e.Namespace != "" {
					t.Fatalf("%s: an object of namespace %q", p, e.Namespace)
				}
				if e.Kind == s.Kind && e.Name == s.Workload {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no %s %s", p, s.Kind, s.Workload)
			}
		})
	}
}
