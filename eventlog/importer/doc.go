// Package importer turns recorded Kubernetes data into log envelopes: the output of
// `kubectl get RESOURCE --watch --output-watch-events -o json`, plain `kubectl get -o json`
// Lists, and (audit.go) Kubernetes audit logs.
//
// A file is parsed whole before anything is published, so a malformed file leaves nothing
// half-written; errors name the file and line and say what was expected. Several files are
// merged into one sequence in resourceVersion order, the order in which the API server committed
// the changes.
package importer
