package collector

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestForbiddenResourceIsSkippedWithOneLine: a resource the collector's role does not grant
// (Secrets dropped from deploy/rbac.yaml, a custom resource with no aggregated ClusterRole)
// is said once, at warning level, with what to do; the retries that follow are quiet.
func TestForbiddenResourceIsSkippedWithOneLine(t *testing.T) {
	var buf bytes.Buffer
	w := &watcher{res: apiResource{version: "v1", resource: "secrets", kind: "Secret", namespaced: true},
		log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	err := apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", nil)
	for i := 1; i <= 25; i++ {
		w.logFailure("list failed", err, i)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "level=WARN") ||
		!strings.Contains(lines[0], "not permitted to list this resource: skipping it until the collector's role grants get, list and watch on it") {
		t.Fatalf("logged %d lines, want one warning:\n%s", len(lines), buf.String())
	}
}
