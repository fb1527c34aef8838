package fleet

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/yaml"

	"github.com/khist/khist/test/internal/khistbin"
	"github.com/khist/khist/test/natscluster"
)

// valuesFile is the NATS Helm chart's values for a fleet: its config.merge is what the test
// runs nats-server with.
const valuesFile = "../../deploy/fleet/nats-values.yaml"

// chartValues are the keys of the NATS chart (1.x) that deploy/fleet/nats-values.yaml sets,
// for a strict decoding: a key misspelt in the file fails the test.
type chartValues struct {
	Config struct {
		Cluster struct {
			Enabled  bool     `json:"enabled"`
			Replicas int      `json:"replicas"`
			TLS      chartTLS `json:"tls"`
		} `json:"cluster"`
		Nats struct {
			TLS chartTLS `json:"tls"`
		} `json:"nats"`
		JetStream struct {
			Enabled   bool `json:"enabled"`
			FileStore struct {
				PVC struct {
					Size             string `json:"size"`
					StorageClassName string `json:"storageClassName"`
				} `json:"pvc"`
			} `json:"fileStore"`
		} `json:"jetstream"`
		Merge map[string]any `json:"merge"`
	} `json:"config"`
	Container struct {
		Env map[string]struct {
			ValueFrom struct {
				SecretKeyRef struct {
					Name string `json:"name"`
					Key  string `json:"key"`
				} `json:"secretKeyRef"`
			} `json:"valueFrom"`
		} `json:"env"`
	} `json:"container"`
}

type chartTLS struct {
	Enabled    bool   `json:"enabled"`
	SecretName string `json:"secretName"`
	CA         string `json:"ca"`
}

// chartVariable is the chart's notation for a value written into nats.conf unquoted: a
// variable (<< $NAME >>, from the server's environment) or a unit (<< 4MB >>).
var chartVariable = regexp.MustCompile(`"<< ([^"]+) >>"`)

// mergeToConf turns config.merge into nats-server configuration as the chart does: each key a
// top-level setting, its value as JSON (which nats.conf reads), << X >> unquoted. It returns
// the configuration and the environment variables it names.
func mergeToConf(t *testing.T, merge map[string]any) (string, []string) {
	t.Helper()
	var keys []string
	for k := range merge {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var conf bytes.Buffer
	for _, k := range keys {
		var v bytes.Buffer
		enc := json.NewEncoder(&v)
		enc.SetEscapeHTML(false) // subjects end in '>'
		if err := enc.Encode(merge[k]); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&conf, "%s: %s", k, chartVariable.ReplaceAllString(v.String(), "$1"))
	}
	var vars []string
	for _, m := range regexp.MustCompile(`\$([A-Z_]+)`).FindAllStringSubmatch(chartVariable.ReplaceAllString(conf.String(), "$1"), -1) {
		if !slices.Contains(vars, m[1]) && !strings.HasPrefix(m[0], "$JS") {
			vars = append(vars, m[1])
		}
	}
	return conf.String(), vars
}

// writeTestPKI writes a CA and a certificate for 127.0.0.1 (server and client use, as routes
// verify each other) into dir.
func writeTestPKI(t *testing.T, dir string) *natscluster.TLSFiles {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "khist-fleet-test-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "nats"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	f := &natscluster.TLSFiles{CA: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, "tls.crt"), Key: filepath.Join(dir, "tls.key")}
	for path, b := range map[string][]byte{
		f.CA:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		f.Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		f.Key:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// The NATS users of deploy/fleet/nats-values.yaml, on a real three-node cluster over TLS
// configured with that file's config.merge: khist-admin creates the three-replica stream; the
// prod collector's user records prod's events with `khist import --cluster prod`, and the same
// user cannot publish stage's events (khist says so in one line, within seconds) nor purge,
// delete, change or delete from the stream; the stage collector's user records stage's; the
// reader's user folds the views with `khist project` and answers a read command, and can
// neither publish nor delete. At the end the stream holds exactly what the collectors
// recorded.
func TestFleetPermissions(t *testing.T) {
	bin := khistbin.Build(t)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()

	raw, err := os.ReadFile(valuesFile)
	if err != nil {
		t.Fatal(err)
	}
	var v chartValues
	if err := yaml.UnmarshalStrict(raw, &v); err != nil {
		t.Fatalf("%s: %v", valuesFile, err)
	}
	cfg := v.Config
	if !cfg.Cluster.Enabled || cfg.Cluster.Replicas != 3 || !cfg.JetStream.Enabled || cfg.JetStream.FileStore.PVC.Size == "" {
		t.Errorf("%s: want a three-node cluster with a JetStream file store on a PVC: %+v", valuesFile, cfg)
	}
	// As the chart renders it: config.nats.tls is the client port's certificate, and
	// config.cluster.tls with a ca the routes' mutual TLS (ca_file, verify: true).
	if !cfg.Nats.TLS.Enabled || cfg.Nats.TLS.SecretName == "" || !cfg.Cluster.TLS.Enabled || cfg.Cluster.TLS.SecretName == "" || cfg.Cluster.TLS.CA == "" {
		t.Errorf("%s: want TLS for clients and mutual TLS on routes: %+v %+v", valuesFile, cfg.Nats.TLS, cfg.Cluster.TLS)
	}
	conf, vars := mergeToConf(t, cfg.Merge)
	passwords := map[string]string{} // user -> password
	var env []string
	for _, name := range vars {
		if _, ok := v.Container.Env[name]; !ok || v.Container.Env[name].ValueFrom.SecretKeyRef.Key == "" {
			t.Errorf("%s: config.merge names $%s, which container.env does not take from a Secret", valuesFile, name)
		}
		b := make([]byte, 12)
		rand.Read(b)
		pw := hex.EncodeToString(b)
		env = append(env, name+"="+pw)
		user := strings.ToLower(strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(name, "KHIST_"), "_PASSWORD"), "_", "-"))
		passwords["khist-"+user] = pw
	}
	for _, u := range []string{"khist-admin", "khist-reader", "khist-collector-prod", "khist-collector-stage"} {
		if passwords[u] == "" {
			t.Fatalf("%s: no password variable for %s (found %v)", valuesFile, u, vars)
		}
	}

	dir := t.TempDir()
	tlsFiles := writeTestPKI(t, dir)
	nc, err := natscluster.Start(ctx, natscluster.Options{
		Dir: filepath.Join(dir, "nats"), Conf: conf, Env: env, TLS: tlsFiles,
		ClientOptions: []nats.Option{nats.UserInfo("khist-admin", passwords["khist-admin"])},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("NATS configuration (from %s):\n%s\nnodes' logs:\n%s", valuesFile, conf, nc.Logs(30))
		}
		nc.Stop()
	})
	if !strings.HasPrefix(nc.URL(), "tls://") {
		t.Fatalf("the cluster's URL %s is not TLS", nc.URL())
	}

	pwFiles := map[string]string{}
	for u, pw := range passwords {
		pwFiles[u] = filepath.Join(dir, u+".password")
		if err := os.WriteFile(pwFiles[u], []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// as runs khist as a NATS user, with a data directory of that user's own (as on its own
	// machine), and returns its output and its error's last line.
	as := func(user string, args ...string) (string, error) {
		t.Helper()
		cctx, ccancel := context.WithTimeout(ctx, 90*time.Second)
		defer ccancel()
		cmd := exec.CommandContext(cctx, bin, append([]string{"--nats-url", nc.URL(), "--nats-tls-ca", tlsFiles.CA,
			"--nats-user", user, "--nats-password-file", pwFiles[user], "--data-dir", filepath.Join(dir, user)}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if cctx.Err() != nil {
			t.Fatalf("khist %s as %s hung: no answer within 90s\n%s", strings.Join(args, " "), user, stderr.String())
		}
		if err != nil {
			return string(out), errors.New(strings.TrimSpace(stderr.String()))
		}
		return string(out), nil
	}
	samples, _ := filepath.Glob("../../eventlog/importer/testdata/sample-rolling/*.json.gz")
	if len(samples) == 0 {
		t.Fatal("no sample events in eventlog/importer/testdata/sample-rolling")
	}
	importArgs := func(cluster string, extra ...string) []string {
		return append(append([]string{"--cluster", cluster, "import"}, extra...), samples...)
	}
	// A version no cluster has recorded: an import of what the log already holds publishes
	// nothing (khist skips it), so a refusal is tested with this one.
	fresh := filepath.Join(dir, "fresh.json")
	if err := os.WriteFile(fresh, []byte(`{"type":"ADDED","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"y","uid":"fresh-1","resourceVersion":"1","creationTimestamp":"2026-11-20T10:00:00Z"}}}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// notPermitted checks that err is one line saying NATS refused want.
	notPermitted := func(what string, err error, want string) {
		t.Helper()
		switch {
		case err == nil:
			t.Errorf("%s: succeeded, want refused", what)
		case !strings.Contains(err.Error(), `not permitted by NATS: Permissions Violation for Publish to "`+want):
			t.Errorf("%s: %v\nwant an error naming %s as not permitted", what, err, want)
		case strings.Contains(err.Error(), "\n"):
			t.Errorf("%s: the error is not one line:\n%v", what, err)
		}
	}

	// Before the stream exists, a collector cannot create it, and says who can.
	_, err = as("khist-collector-prod", importArgs("prod", "--no-project")...)
	notPermitted("a collector creating the stream", err, "$JS.API.STREAM.CREATE.KHIST")
	if err != nil && !strings.Contains(err.Error(), "khist-admin") {
		t.Errorf("the error does not say which user creates the stream: %v", err)
	}

	// khist-admin creates it with deploy/fleet/stream's Job's arguments.
	var job batchv1.Job
	readManifest(t, "../../deploy/fleet/stream/job.yaml", &job)
	jobArgs := manifestArgs(job.Spec.Template.Spec.Containers[0].Args, map[string]string{
		"--nats-url=": "--nats-url=" + nc.URL(), "--nats-tls-ca=": "--nats-tls-ca=" + tlsFiles.CA,
		"--data-dir=": "--data-dir=" + filepath.Join(dir, "stream-job"),
	})
	if !slices.Contains(jobArgs, "--nats-user=khist-admin") || !slices.Contains(jobArgs, "--stream-replicas=3") {
		t.Fatalf("deploy/fleet/stream/job.yaml: %v: want khist-admin setting three replicas", jobArgs)
	}
	if err := khistAs(ctx, bin, "khist-admin", passwords["khist-admin"], jobArgs...); err != nil {
		t.Fatalf("the stream Job's khist %s: %v", strings.Join(jobArgs, " "), err)
	}
	if err := nc.WaitStreamCurrent(ctx, "KHIST"); err != nil {
		t.Fatal(err)
	}

	// Each collector records its own cluster's events.
	for _, cl := range []string{"prod", "stage"} {
		out, err := as("khist-collector-"+cl, importArgs(cl)...)
		if err != nil || !strings.Contains(out, "imported 188 events") {
			t.Fatalf("khist import --cluster %s as khist-collector-%s: %v\n%s", cl, cl, err, out)
		}
	}

	// With the project's control plane (not under -short), khist collect records it with the
	// prod collector's user: its lists and discovery records, its read of the log's state and
	// its in-process projector's consumer are all within that user's permissions.
	var collected uint64 // the events khist collect recorded
	if testCluster != nil {
		ns := createNamespace(t, testCluster, "perm")
		if _, err := testCluster.Kubectl(ctx, "-n", ns, "create", "configmap", "recorded-by-prod"); err != nil {
			t.Fatal(err)
		}
		// deploy/fleet's collector arguments, with KHIST_CLUSTER=prod; its ports on loopback.
		var dep appsv1.Deployment
		readManifest(t, "../../deploy/fleet/collector-patch.yaml", &dep)
		colArgs := manifestArgs(dep.Spec.Template.Spec.Containers[0].Args, map[string]string{
			"--cluster=": "--cluster=prod", "--nats-url=": "--nats-url=" + nc.URL(), "--nats-tls-ca=": "--nats-tls-ca=" + tlsFiles.CA,
			"--nats-user=": "--nats-user=khist-collector-prod", "--data-dir=": "--data-dir=" + filepath.Join(dir, "collect-prod"),
			"--metrics-addr=": "--metrics-addr=127.0.0.1:0", "--health-addr=": "--health-addr=127.0.0.1:0",
		})
		if !slices.Contains(dep.Spec.Template.Spec.Containers[0].Args, "--nats-user=khist-collector-$(KHIST_CLUSTER)") {
			t.Errorf("deploy/fleet/collector-patch.yaml: the collector's NATS user is not khist-collector-$(KHIST_CLUSTER): %v", dep.Spec.Template.Spec.Containers[0].Args)
		}
		colArgs = append(colArgs, "--kubeconfig", testCluster.Kubeconfig, "--leader-elect-lease-namespace", ns,
			"--include", "configmaps", "--include-namespace", ns, "--nats-password-file", pwFiles["khist-collector-prod"])
		col := startProc(t, "khist collect (khist-collector-prod)", bin, colArgs...)
		col.waitLogged("initial lists recorded", 2*time.Minute)
		if err := col.stop(); err != nil {
			t.Fatalf("khist collect as khist-collector-prod: %v", err)
		}
		for _, line := range strings.Split(col.tail(200), "\n") {
			if strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, "not permitted") {
				t.Errorf("khist collect as khist-collector-prod logged: %s", line)
			}
		}
		out, err := as("khist-reader", "--cluster", "prod", "-n", ns, "log")
		if err != nil || !strings.Contains(out, "recorded-by-prod") {
			t.Errorf("the log of %s after khist collect as khist-collector-prod: %v\n%s", ns, err, out)
		}
		// The same arguments naming stage: the collector stops with one line saying so, rather
		// than retrying for ever (its user will not be allowed stage's subjects by waiting).
		stageArgs := slices.Clone(colArgs)
		for i, a := range stageArgs {
			switch {
			case a == "--cluster=prod":
				stageArgs[i] = "--cluster=stage"
			case strings.HasPrefix(a, "--data-dir="):
				stageArgs[i] = "--data-dir=" + filepath.Join(dir, "collect-stage")
			}
		}
		start := time.Now()
		err = khistAs(ctx, bin, "khist-collector-prod", "", stageArgs...)
		last := ""
		if err != nil {
			lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
			last = lines[len(lines)-1]
		}
		if err == nil || !strings.HasPrefix(last, "khist: ") || !strings.Contains(last, `not permitted by NATS: Permissions Violation for Publish to "khist.ev.stage.`) {
			t.Errorf("khist collect --cluster=stage as khist-collector-prod: %v\nwant it to stop with a line saying stage's subjects are not permitted", err)
		}
		t.Logf("khist collect --cluster=stage as khist-collector-prod: stopped after %s: %s", time.Since(start).Round(100*time.Millisecond), last)

		collected = subjectCount(ctx, t, nc.URL(), tlsFiles.CA, passwords["khist-admin"], "khist.ev.prod.>") - 188
		if n := subjectCount(ctx, t, nc.URL(), tlsFiles.CA, passwords["khist-admin"], "khist.ev.prod.discovery"); n == 0 {
			t.Error("khist collect as khist-collector-prod recorded no discovery record")
		} else {
			t.Logf("khist collect as khist-collector-prod: %d events, %d of them discovery records", collected, n)
		}
	}

	// prod's collector cannot publish stage's events: khist says so in one line, quickly.
	start := time.Now()
	_, err = as("khist-collector-prod", "--cluster", "stage", "import", "--no-project", fresh)
	notPermitted("khist-collector-prod importing stage's events", err, `khist.ev.stage._.ConfigMap.y.x"`)
	t.Logf("khist import --cluster stage as khist-collector-prod: refused after %s: %v", time.Since(start).Round(100*time.Millisecond), err)
	// Nor change the stream's settings (a max age of one second deletes everything).
	_, err = as("khist-collector-prod", "--stream-max-age", "1s", "log", "--limit", "1")
	notPermitted("khist-collector-prod setting the stream's max age", err, "$JS.API.STREAM.UPDATE.KHIST")
	// The reader cannot publish at all.
	_, err = as("khist-reader", "--cluster", "prod", "import", "--no-project", fresh)
	notPermitted("khist-reader importing", err, `khist.ev.prod._.ConfigMap.y.x"`)

	// Directly on the NATS API, neither a collector nor the reader can publish another
	// cluster's event, purge, delete an event, change or delete the stream, or make a stream of
	// its own.
	for _, user := range []string{"khist-collector-prod", "khist-reader"} {
		conn, err := nats.Connect(nc.URL(), nats.RootCAs(tlsFiles.CA), nats.UserInfo(user, passwords[user]),
			nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
		if err != nil {
			t.Fatalf("%s: connect over TLS: %v", user, err)
		}
		js, _ := jetstream.New(conn)
		st, err := js.Stream(ctx, "KHIST")
		if err != nil {
			t.Fatalf("%s: stream info: %v", user, err)
		}
		for what, op := range map[string]func(context.Context) error{
			"published an event of stage": func(ctx context.Context) error {
				_, err := js.Publish(ctx, "khist.ev.stage._.ConfigMap.x.y", []byte("{}"))
				return err
			},
			"purged the stream":       func(ctx context.Context) error { return st.Purge(ctx) },
			"purged stage's subjects": func(ctx context.Context) error { return st.Purge(ctx, jetstream.WithPurgeSubject("khist.ev.stage.>")) },
			"deleted an event":        func(ctx context.Context) error { return st.DeleteMsg(ctx, 1) },
			"deleted the stream":      func(ctx context.Context) error { return js.DeleteStream(ctx, "KHIST") },
			"changed the stream": func(ctx context.Context) error {
				_, err := js.UpdateStream(ctx, jetstream.StreamConfig{Name: "KHIST", Subjects: []string{"khist.ev.>"}, MaxAge: time.Second, Replicas: 3})
				return err
			},
			"created a stream": func(ctx context.Context) error {
				_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "COPY", Sources: []*jetstream.StreamSource{{Name: "KHIST"}}})
				return err
			},
		} {
			octx, ocancel := context.WithTimeout(ctx, 2*time.Second)
			if err := op(octx); err == nil {
				t.Errorf("%s %s", user, what)
			}
			ocancel()
		}
		conn.Close()
	}

	// The reader folds the whole log into views of its own and answers from them.
	admin, err := nats.Connect(nc.URL(), nats.RootCAs(tlsFiles.CA), nats.UserInfo("khist-admin", passwords["khist-admin"]))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ajs, _ := jetstream.New(admin)
	st, err := ajs.Stream(ctx, "KHIST")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recorded := 2*188 + collected // the imports' and khist collect's
	if info.Config.Replicas != 3 || info.State.Msgs != recorded {
		t.Fatalf("the stream: %d replicas, %d events; want 3 replicas and the %d events the collectors recorded (2 x 188 imported, %d by khist collect), no other", info.Config.Replicas, info.State.Msgs, recorded, collected)
	}
	addr := freeAddr(t)
	reader := startProc(t, "khist project (khist-reader)", bin, "project", "--nats-url", nc.URL(), "--nats-tls-ca", tlsFiles.CA,
		"--nats-user", "khist-reader", "--nats-password-file", pwFiles["khist-reader"], "--data-dir", filepath.Join(dir, "khist-reader"),
		"--metrics-addr", addr)
	reader.metricsURL = "http://" + addr + "/metrics"
	deadline := time.Now().Add(time.Minute)
	for {
		pos, err := reader.metric(ctx, "khist_projector_position")
		if err == nil && uint64(pos) >= info.State.LastSeq {
			break
		}
		if time.Now().After(deadline) || !reader.running() {
			t.Fatalf("khist project as khist-reader: views at %v (%v), the log at %d\n%s", pos, err, info.State.LastSeq, reader.tail(20))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := reader.stop(); err != nil {
		t.Fatalf("khist project as khist-reader: %v\n%s", err, reader.tail(20))
	}
	for _, cl := range []string{"prod", "stage"} {
		out, err := as("khist-reader", "--cluster", cl, "rollouts", "-A")
		if err != nil || !strings.Contains(out, "deployment/checkout") {
			t.Errorf("khist rollouts -A --cluster %s as khist-reader: %v\n%s", cl, err, out)
		}
	}
	if info, err = st.Info(ctx); err != nil || info.State.Msgs != recorded {
		t.Errorf("the stream after the attempts: %v, %d events, want %d", err, info.State.Msgs, recorded)
	}
}

// subjectCount returns how many events of the stream are on subjects matching filter.
func subjectCount(ctx context.Context, t *testing.T, url, ca, adminPassword, filter string) uint64 {
	t.Helper()
	conn, err := nats.Connect(url, nats.RootCAs(ca), nats.UserInfo("khist-admin", adminPassword))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	js, _ := jetstream.New(conn)
	st, err := js.Stream(ctx, "KHIST")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

// readManifest decodes a manifest of deploy/ strictly into v.
func readManifest(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// manifestArgs returns a manifest's container arguments with each one that starts with a key
// of set replaced by its value (the test's URL, files and ports for the pod's); any $(VAR)
// left is an error the caller sees as khist's.
func manifestArgs(args []string, set map[string]string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		for prefix, v := range set {
			if strings.HasPrefix(a, prefix) {
				out[i] = v
			}
		}
	}
	return out
}

// khistAs runs khist to its end with password in KHIST_NATS_PASSWORD, as a pod given it from
// a Secret does, and returns its error's text.
func khistAs(ctx context.Context, bin, user, password string, args ...string) error {
	cctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, bin, args...)
	if password != "" {
		cmd.Env = append(os.Environ(), "KHIST_NATS_PASSWORD="+password)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("as %s: %v: %s", user, err, strings.TrimSpace(string(out)))
	}
	return nil
}
