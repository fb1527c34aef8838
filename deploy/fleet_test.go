package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// natsUser is a user of config.merge in fleet/nats-values.yaml.
type natsUser struct {
	User        string `json:"user"`
	Password    string `json:"password"`
	Permissions *struct {
		Publish   struct{ Allow, Deny []string } `json:"publish"`
		Subscribe struct{ Allow, Deny []string } `json:"subscribe"`
	} `json:"permissions"`
}

// TestFleetUsers: in fleet/nats-values.yaml each collector user khist-collector-X may publish
// on khist.ev.X.> and no other event subject, the reader on none, neither may call the stream
// API beyond info and message get, and passwords come from the environment (a Secret), never
// the file. test/fleet (TestFleetPermissions) runs the same block on real servers.
func TestFleetUsers(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("fleet", "nats-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Config struct {
			Merge struct {
				Accounts map[string]struct {
					Users []natsUser `json:"users"`
				} `json:"accounts"`
			} `json:"merge"`
		} `json:"config"`
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	users := v.Config.Merge.Accounts["KHIST"].Users
	collectors := 0
	for _, u := range users {
		if !strings.HasPrefix(u.Password, "<< $") {
			t.Errorf("%s: password %q is not a variable from the server's environment (<< $NAME >>)", u.User, u.Password)
		}
		if u.User == "khist-admin" {
			continue
		}
		if u.Permissions == nil {
			t.Errorf("%s: no permissions: it may do anything in the account", u.User)
			continue
		}
		cluster, isCollector := strings.CutPrefix(u.User, "khist-collector-")
		if !isCollector && u.User != "khist-reader" {
			t.Errorf("user %s: neither khist-admin, khist-reader nor khist-collector-CLUSTER", u.User)
		}
		if isCollector {
			collectors++
		}
		for _, s := range u.Permissions.Publish.Allow {
			switch {
			case strings.HasPrefix(s, "khist."):
				if !isCollector || s != "khist.ev."+cluster+".>" {
					t.Errorf("%s may publish on %s", u.User, s)
				}
			case strings.HasPrefix(s, "$JS.API.STREAM."):
				if s != "$JS.API.STREAM.INFO.KHIST" && s != "$JS.API.STREAM.MSG.GET.KHIST" {
					t.Errorf("%s may call %s: only stream info and message get", u.User, s)
				}
			case strings.HasPrefix(s, "$JS.API.CONSUMER.") && strings.HasSuffix(s, ".KHIST.>"), s == "$JS.ACK.KHIST.>":
			default:
				t.Errorf("%s may publish on %s", u.User, s)
			}
		}
		if !slices.Equal(u.Permissions.Subscribe.Allow, []string{"_INBOX.>"}) {
			t.Errorf("%s may subscribe to %v: its replies (_INBOX.>) only", u.User, u.Permissions.Subscribe.Allow)
		}
	}
	if collectors == 0 {
		t.Error("no collector user")
	}
}

// TestFleetManifests: the stream's Job and the fleet component's collector run the pinned
// image locked down as deploy/'s collector, take their NATS password from a Secret in
// KHIST_NATS_PASSWORD (never on the command line) and verify the server with a CA; only the Job,
// as khist-admin, gives --stream-* flags.
func TestFleetManifests(t *testing.T) {
	read := func(path string, v any) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalStrict(b, v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	var job batchv1.Job
	read(filepath.Join("fleet", "stream", "job.yaml"), &job)
	var dep appsv1.Deployment
	read(filepath.Join("fleet", "collector-patch.yaml"), &dep)
	check := func(name string, c corev1.Container, user string, stream bool) {
		if c.Image != "" && !strings.Contains(c.Image, "@sha256:") {
			t.Errorf("%s: image %q not pinned by digest", name, c.Image)
		}
		if !slices.Contains(c.Args, "--nats-user="+user) || !slices.Contains(c.Args, "--nats-tls-ca=/etc/khist/nats/ca.crt") {
			t.Errorf("%s: args %v: want --nats-user=%s and the CA", name, c.Args, user)
		}
		streamFlag := false
		for _, a := range c.Args {
			streamFlag = streamFlag || strings.HasPrefix(a, "--stream-")
			if strings.HasPrefix(a, "--nats-password=") || strings.HasPrefix(a, "--nats-token=") {
				t.Errorf("%s: %s: a secret on the command line", name, a)
			}
		}
		if streamFlag != stream {
			t.Errorf("%s: --stream-* flags given: %v, want %v (only khist-admin may change the stream)", name, streamFlag, stream)
		}
		pw := false
		for _, e := range c.Env {
			if e.Name == "KHIST_NATS_PASSWORD" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				pw = true
			}
		}
		if !pw {
			t.Errorf("%s: KHIST_NATS_PASSWORD not taken from a Secret", name)
		}
	}
	jc := job.Spec.Template.Spec.Containers[0]
	check("fleet/stream/job.yaml", jc, "khist-admin", true)
	if sc := jc.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("fleet/stream/job.yaml: container not locked down: %+v", jc.SecurityContext)
	}
	if ps := job.Spec.Template.Spec.SecurityContext; ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot {
		t.Error("fleet/stream/job.yaml: not run as non-root")
	}
	check("fleet/collector-patch.yaml", dep.Spec.Template.Spec.Containers[0], "khist-collector-$(KHIST_CLUSTER)", false)
}
