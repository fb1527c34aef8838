// Package recording reads the project's recorded watch files (test/fidelity/testdata, the
// query scenarios) as the log's events, for the tests of the packages that fold or export
// them: one reader instead of one per test package.
package recording
