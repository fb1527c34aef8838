package projector

import (
	"path/filepath"
	"strings"
	"testing"
)

// Each views file gets a durable consumer name of its own, kept across restarts.
func TestViewsDurable(t *testing.T) {
	a, b := filepath.Join(t.TempDir(), "views.db"), filepath.Join(t.TempDir(), "views.db")
	na, err := ViewsDurable(a)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ViewsDurable(a)
	if err != nil {
		t.Fatal(err)
	}
	nb, err := ViewsDurable(b)
	if err != nil {
		t.Fatal(err)
	}
	if na != again {
		t.Errorf("the same views file got %q, then %q", na, again)
	}
	if na == nb {
		t.Errorf("two views files share the consumer %q", na)
	}
	if !strings.HasPrefix(na, DefaultDurable+"-") {
		t.Errorf("name %q does not start with %s-", na, DefaultDurable)
	}
}
