// Package importer turns recorded Kubernetes data into log envelopes: the output of
// `kubectl get RESOURCE --watch --output-watch-events -o json`, plain `kubectl get -o json`
// Lists, and (audit.go) Kubernetes audit logs.
//
// Inputs are read as streams (gzip-compressed ones too) and merged into one sequence in
// resourceVersion order, the order in which the API server committed the changes, with a bounded
// amount of memory whatever their size (Scan, Import): envelopes are sorted by replacement
// selection within Options.SortBytes, the sorted runs that do not fit are written to a temporary
// file and merged k ways, and Import publishes as the merge goes. Every input is read and checked
// before anything is published, so a malformed input leaves nothing half-written; errors name
// the file and line and say what was expected, and one JSON value is bounded
// (Options.MaxValueBytes), so a corrupt or hostile input fails at its line.
package importer
