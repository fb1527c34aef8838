package eventlog

import (
	"strings"
	"testing"
	"testing/quick"
)

func TestSubject(t *testing.T) {
	got := Subject("prod.eu", "apps", "Deployment", "shop", "web.v1_x")
	want := "khist.ev.prod%2Eeu.apps.Deployment.shop.web%2Ev1%5Fx"
	if got != want {
		t.Fatalf("Subject = %s, want %s", got, want)
	}
	if got := Subject("c", "", "Node", "", "n1"); got != "khist.ev.c._.Node._.n1" {
		t.Fatalf("core cluster-scoped subject = %s", got)
	}
	if got := Filter("c", "*", "*", "shop"); got != "khist.ev.c.*.*.shop.*" {
		t.Fatalf("Filter = %s", got)
	}
}

func checkToken(t *testing.T, s string) {
	t.Helper()
	tok := EncodeToken(s)
	if tok == "" || strings.ContainsAny(tok, ".*> \t\r\n") {
		t.Fatalf("EncodeToken(%q) = %q is not a valid subject token", s, tok)
	}
	back, err := DecodeToken(tok)
	if err != nil || back != s {
		t.Fatalf("DecodeToken(EncodeToken(%q)) = %q, %v", s, back, err)
	}
}

func TestTokenRoundTrip(t *testing.T) {
	for _, s := range []string{"", "_", "%", "%25", "a.b.c", "web-0", "apps.k8s.io", "x*y>z", "ünï", "a b", strings.Repeat("long-name.", 30)} {
		checkToken(t, s)
	}
	f := func(s string) bool {
		tok := EncodeToken(s)
		back, err := DecodeToken(tok)
		return err == nil && back == s && !strings.ContainsAny(tok, ".*> ")
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 5000}); err != nil {
		t.Fatal(err)
	}
	// Kubernetes-shaped names: DNS subdomains of dots and dashes.
	g := func(parts []uint8) bool {
		var b strings.Builder
		for i, p := range parts {
			if i > 0 {
				b.WriteByte(".-"[p%2])
			}
			b.WriteString(strings.Repeat(string(rune('a'+p%26)), int(p%7)+1))
		}
		s := b.String()
		back, err := DecodeToken(EncodeToken(s))
		return err == nil && back == s
	}
	if err := quick.Check(g, &quick.Config{MaxCount: 2000}); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeTokenRejects(t *testing.T) {
	for _, tok := range []string{"", "a.b", "%2", "%zz", "%41", "a%"} {
		if _, err := DecodeToken(tok); err == nil {
			t.Errorf("DecodeToken(%q) accepted a non-encoding", tok)
		}
	}
}

func TestParseSubject(t *testing.T) {
	s := Subject("prod.eu", "apps", "Deployment", "", "web.1")
	c, g, k, ns, n, err := ParseSubject(s)
	if err != nil || c != "prod.eu" || g != "apps" || k != "Deployment" || ns != "" || n != "web.1" {
		t.Fatalf("ParseSubject(%s) = %q %q %q %q %q %v", s, c, g, k, ns, n, err)
	}
}

func FuzzToken(f *testing.F) {
	f.Add("a.b")
	f.Add("%2E")
	f.Fuzz(func(t *testing.T, s string) {
		back, err := DecodeToken(EncodeToken(s))
		if err != nil || back != s {
			t.Fatalf("round trip of %q: %q %v", s, back, err)
		}
		if tok, err := DecodeToken(s); err == nil && EncodeToken(tok) != s {
			t.Fatalf("%q decodes but is not canonical", s)
		}
	})
}
