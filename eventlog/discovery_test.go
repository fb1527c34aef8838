package eventlog

import (
	"strings"
	"testing"
	"time"
)

// TestDiscoveryEnvelope: a discovery record has its own subject, which no object filter
// matches, a message id made of its content's hash, the same whatever the order discovery
// listed things in, and it reads back from its message.
func TestDiscoveryEnvelope(t *testing.T) {
	mk := func(reverse bool) *APIDiscovery {
		a := DiscoveryGroup{Name: "apps", Preferred: "v1", Versions: []DiscoveryVersion{{Version: "v1", Resources: []DiscoveryResource{
			{Kind: "Deployment", Plural: "deployments", ShortNames: []string{"deploy"}, Namespaced: true},
			{Kind: "DaemonSet", Plural: "daemonsets", ShortNames: []string{"ds"}, Namespaced: true},
		}}}}
		core := DiscoveryGroup{Preferred: "v1", Versions: []DiscoveryVersion{{Version: "v1", Resources: []DiscoveryResource{
			{Kind: "Node", Plural: "nodes"},
		}}, {Version: "v0", Resources: nil}}}
		if reverse {
			a.Versions[0].Resources[0], a.Versions[0].Resources[1] = a.Versions[0].Resources[1], a.Versions[0].Resources[0]
			return &APIDiscovery{Groups: []DiscoveryGroup{core, a}}
		}
		return &APIDiscovery{Groups: []DiscoveryGroup{a, core}}
	}
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	e1, err := NewDiscoveryEnvelope("prod.eu", "collector", at, mk(false))
	if err != nil {
		t.Fatal(err)
	}
	e2, err := NewDiscoveryEnvelope("prod.eu", "collector", at.Add(time.Minute), mk(true))
	if err != nil {
		t.Fatal(err)
	}
	if e1.MsgID() != e2.MsgID() || e1.ResourceVersion == "" || !strings.HasPrefix(e1.MsgID(), "prod.eu/discovery/") {
		t.Errorf("message ids %q and %q: want equal, from the content's hash", e1.MsgID(), e2.MsgID())
	}
	if err := e1.Validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
	m := e1.Msg()
	if m.Subject != "khist.ev.prod%2Eeu.discovery" || m.Subject != DiscoverySubject("prod.eu") {
		t.Errorf("subject %q", m.Subject)
	}
	if _, _, _, _, _, err := ParseSubject(m.Subject); err == nil {
		t.Errorf("%s parses as an object's subject", m.Subject)
	}
	back, err := FromMsg(m.Subject, m.Header, m.Data)
	if err != nil || back.Type != Discovered || back.Cluster != "prod.eu" || back.MsgID() != e1.MsgID() {
		t.Fatalf("read back: %+v, %v", back, err)
	}
	d, err := DecodeDiscovery(back.Object)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Groups) != 2 || d.Groups[0].Name != "" || len(d.Groups[0].Versions) != 1 || d.Groups[1].Versions[0].Resources[0].Plural != "daemonsets" {
		t.Errorf("normalized discovery: %+v", d)
	}
	if _, err := DecodeDiscovery([]byte(`{"v":2,"groups":[]}`)); err == nil {
		t.Error("a discovery of a later format decodes")
	}
}
