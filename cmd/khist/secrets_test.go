package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
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
