package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsServer runs a JetStream nats-server in-process with the given authentication.
func natsServer(t *testing.T, o server.Options) string {
	t.Helper()
	o.Host, o.Port, o.JetStream, o.StoreDir, o.MaxPayload, o.NoSigs, o.NoLog = "127.0.0.1", server.RANDOM_PORT, true, t.TempDir(), 8<<20, true, true
	srv, err := server.NewServer(&o)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	return srv.ClientURL()
}

// TestNATSSecretsFromEnvAndFiles reproduces issue 14, item 13: the NATS password and token
// could be given only as flags, which every local user reads in /proc/PID/cmdline. They now
// also come from KHIST_NATS_PASSWORD / KHIST_NATS_TOKEN and --nats-password-file /
// --nats-token-file, and --help says so.
func TestNATSSecretsFromEnvAndFiles(t *testing.T) {
	secrets := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(secrets, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pwURL := natsServer(t, server.Options{Username: "khist", Password: "s3cret"})
	tokURL := natsServer(t, server.Options{Authorization: "t0ken"})
	pwFile, tokFile := file("password", "s3cret\n"), file("token", "t0ken\r\n")
	empty, wrong := file("empty", "\n"), file("wrong", "nope\n")
	pw := []string{"log", "--nats-url", pwURL, "--nats-user", "khist"}
	tok := []string{"log", "--nats-url", tokURL}
	samples, _ := filepath.Glob(filepath.Join(sampleDir, "*.json.gz"))

	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		want string // "" for success, else a part of the one-line error
	}{
		{"no password", nil, pw, "Authorization Violation"},
		{"password from the environment", map[string]string{envNATSPassword: "s3cret"}, pw, ""},
		{"password from a file, before the environment", map[string]string{envNATSPassword: "nope"}, append(pw, "--nats-password-file", pwFile), ""},
		{"password flag before the environment", map[string]string{envNATSPassword: "nope"}, append(pw, "--nats-password", "s3cret"), ""},
		// import opens the log twice (to append, then to fold): the file is read once.
		{"password file, import", nil, append([]string{"import", "--nats-url", pwURL, "--nats-user", "khist", "--nats-password-file", pwFile}, samples...), ""},
		{"wrong password file", nil, append(pw, "--nats-password-file", wrong), "Authorization Violation"},
		{"password flag and file", nil, append(pw, "--nats-password", "s3cret", "--nats-password-file", pwFile), "--nats-password and --nats-password-file both given: keep --nats-password-file"},
		{"missing password file", nil, append(pw, "--nats-password-file", filepath.Join(secrets, "none")), "--nats-password-file: open " + filepath.Join(secrets, "none") + ": no such file or directory: give a file that holds the secret"},
		{"empty password file", nil, append(pw, "--nats-password-file", empty), "is empty: write the secret in it"},
		{"no token", nil, tok, "Authorization Violation"},
		{"token from the environment", map[string]string{envNATSToken: "t0ken"}, tok, ""},
		{"token from a file (CRLF)", nil, append(tok, "--nats-token-file", tokFile), ""},
		{"token flag and file", nil, append(tok, "--nats-token", "t0ken", "--nats-token-file", tokFile), "--nats-token and --nats-token-file both given"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(envNATSPassword, "")
			t.Setenv(envNATSToken, "")
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			out, err := run(t, t.TempDir(), c.args...)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("khist %s: %v\n%s", strings.Join(c.args, " "), err, out)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n")):
				t.Fatalf("khist %s: error %v, want one line with %q", strings.Join(c.args, " "), err, c.want)
			}
		})
	}

	help, _ := run(t, t.TempDir(), "--help")
	for _, w := range []string{"/proc/PID/cmdline: prefer $KHIST_NATS_PASSWORD or --nats-password-file", "--nats-token-file", "$KHIST_NATS_TOKEN"} {
		if !strings.Contains(help, w) {
			t.Errorf("--help lacks %q", w)
		}
	}
}

// TestNATSServerConfig runs khist against the nats-server configuration documented in
// deploy/nats-server.conf (issue 14, item 10: on an external NATS, the collector's and the
// readers' users must not be able to purge or delete the log): the writer imports, the reader
// reads, and neither can purge the stream, delete an event or shorten its retention; the
// reader cannot append.
func TestNATSServerConfig(t *testing.T) {
	for _, u := range []string{"WRITER", "READER", "ADMIN"} {
		t.Setenv("KHIST_"+u+"_PASSWORD", strings.ToLower(u)+"-pw")
	}
	o, err := server.ProcessConfigFile("../../deploy/nats-server.conf")
	if err != nil {
		t.Fatal(err)
	}
	url := natsServer(t, *o)
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(sampleDir, "*.json.gz"))
	as := func(user string, args ...string) (string, error) {
		t.Setenv(envNATSPassword, strings.TrimPrefix(user, "khist-")+"-pw")
		return run(t, dir, append([]string{"--nats-url", url, "--nats-user", user}, args...)...)
	}
	if out, err := as("khist-writer", append([]string{"import"}, files...)...); err != nil || !strings.Contains(out, "imported 188 events") {
		t.Fatalf("import as khist-writer: %v\n%s", err, out)
	}
	if out, err := as("khist-reader", "log"); err != nil || strings.Count(out, "\n") != 189 {
		t.Fatalf("log as khist-reader: %v\n%s", err, tail(out))
	}
	if out, err := as("khist-reader", "rollouts", "-A"); err != nil || !strings.Contains(out, "deployment/checkout") {
		t.Fatalf("rollouts as khist-reader: %v\n%s", err, tail(out))
	}
	more := filepath.Join(t.TempDir(), "more.json")
	os.WriteFile(more, []byte(`{"type":"ADDED","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"y","uid":"u","resourceVersion":"1","creationTimestamp":"2026-11-20T10:00:00Z"}}}`+"\n"), 0o600)
	// What a user may not do fails with a line that says so (not a timeout).
	if _, err := as("khist-reader", "import", "--no-project", more); err == nil || !strings.Contains(err.Error(), `not permitted by NATS: Permissions Violation for Publish to "khist.ev.default._.ConfigMap.y.x"`) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("import as khist-reader: %v, want one line saying it is not permitted", err)
	}
	if _, err := as("khist-writer", "--stream-max-age", "1s", "log", "--limit", "1"); err == nil || !strings.Contains(err.Error(), `not permitted by NATS: Permissions Violation for Publish to "$JS.API.STREAM.UPDATE.KHIST"`) {
		t.Fatalf("khist-writer changing the stream's retention: %v, want not permitted", err)
	}

	for _, user := range []string{"khist-writer", "khist-reader"} {
		nc, err := nats.Connect(url, nats.UserInfo(user, strings.TrimPrefix(user, "khist-")+"-pw"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
		if err != nil {
			t.Fatal(err)
		}
		js, _ := jetstream.New(nc)
		st, err := js.Stream(context.Background(), "KHIST")
		if err != nil {
			t.Fatalf("%s: stream info: %v", user, err)
		}
		for what, op := range map[string]func(context.Context) error{
			"purged the stream":  func(ctx context.Context) error { return st.Purge(ctx) },
			"deleted an event":   func(ctx context.Context) error { return st.DeleteMsg(ctx, 1) },
			"deleted the stream": func(ctx context.Context) error { return js.DeleteStream(ctx, "KHIST") },
			"shortened retention": func(ctx context.Context) error {
				_, err := js.UpdateStream(ctx, jetstream.StreamConfig{Name: "KHIST", Subjects: []string{"khist.ev.>"}, MaxAge: time.Second})
				return err
			},
		} {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			if err := op(ctx); err == nil {
				t.Errorf("%s %s", user, what)
			}
			cancel()
		}
		nc.Close()
	}
	if out, err := as("khist-admin", "log"); err != nil || strings.Count(out, "\n") != 189 {
		t.Fatalf("the log after the attempts: %v, %d lines, want 189", err, strings.Count(out, "\n"))
	}
}
