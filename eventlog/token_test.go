package eventlog

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestEmbeddedServerNeedsToken reproduces issue 14, item 10: the embedded server listened on
// loopback without authentication, so any local user could read every event, publish a forged
// one and purge the stream. It now requires a token kept in DATA_DIR/nats.token, 0600: a
// client without it (here also a process running as uid nobody) is refused; khist's own
// processes, which can read the file, connect.
func TestEmbeddedServerNeedsToken(t *testing.T) {
	dir := t.TempDir()
	l := mustOpenLog(t, dir)
	publishAll(t, l, []*Envelope{testEnvelope(1, nil)})
	tokenPath := filepath.Join(dir, tokenFile)
	fi, err := os.Stat(tokenPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, mode %v, want 0600", err, fi.Mode().Perm())
	}

	// Without the token, or with a wrong one: refused.
	for _, opt := range []nats.Option{nats.Name("no token"), nats.Token("guess")} {
		if nc, err := nats.Connect(l.ClientURL(), opt, nats.MaxReconnects(0)); err == nil {
			nc.Close()
			t.Fatal("connected to the embedded server without its token")
		} else if !strings.Contains(err.Error(), "Authorization Violation") {
			t.Fatalf("connect without the token: %v", err)
		}
	}
	// A second khist process on the data directory reads it and shares the server.
	other, err := Open(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatalf("second process: %v", err)
	}
	if got := readAll(t, other, ReadOptions{}); len(got) != 1 {
		t.Fatalf("second process reads %d events, want 1", len(got))
	}
	other.Close()

	// The token survives a restart (clients that read it keep working).
	tok, _ := os.ReadFile(tokenPath)
	l.Close()
	l2 := mustOpenLog(t, dir)
	if tok2, _ := os.ReadFile(tokenPath); string(tok2) != string(tok) {
		t.Fatal("token changed on restart")
	}

	// A token file others could read is replaced.
	l2.Close()
	os.Chmod(tokenPath, 0o644)
	l3 := mustOpenLog(t, dir)
	if tok3, _ := os.ReadFile(tokenPath); string(tok3) == string(tok) {
		t.Fatal("a token readable by others was kept")
	}
	if fi, _ := os.Stat(tokenPath); fi.Mode().Perm() != 0o600 {
		t.Fatalf("new token mode %v", fi.Mode().Perm())
	}

	// Another user, even with the data directory opened to it (0755), can read neither the
	// token nor, without it, anything through the port: it cannot subscribe, publish or purge.
	if os.Geteuid() != 0 {
		t.Skip("the part as another user needs root to switch to uid nobody")
	}
	for d := dir; d != filepath.Dir(os.TempDir()) && d != "/"; d = filepath.Dir(d) {
		if strings.HasPrefix(d, os.TempDir()+"/") {
			os.Chmod(d, 0o755)
		}
	}
	asNobody := func(script string) (string, error) {
		cmd := exec.Command("bash", "-c", script)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := asNobody("cat " + tokenPath); err == nil || !strings.Contains(out, "Permission denied") {
		t.Fatalf("uid nobody read the token: %v %s", err, out)
	}
	u, _ := url.Parse(l3.ClientURL())
	// The NATS protocol by hand: CONNECT without the token, then a purge request and a forged
	// event. The reply is read as it comes (the server closes the connection on the error).
	script := `exec 3<>/dev/tcp/` + u.Hostname() + `/` + u.Port() + ` || exit 1
timeout 5 cat <&3 &
sleep 0.2
printf 'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n' >&3
sleep 0.5
printf 'PUB $JS.API.STREAM.PURGE.KHIST 0\r\n\r\nPUB khist.ev.x 2\r\nhi\r\n' >&3 2>/dev/null
sleep 0.5
kill %1 2>/dev/null
wait`
	out, err := asNobody(script)
	if !strings.Contains(out, "Authorization Violation") {
		t.Fatalf("uid nobody's connection was not refused (%v):\n%s", err, out)
	}
	// Nothing was purged or added.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := l3.JetStream().Stream(ctx, l3.StreamName())
	if err != nil {
		t.Fatal(err)
	}
	if info, err := st.Info(ctx); err != nil || info.State.Msgs != 1 {
		t.Fatalf("stream after uid nobody's attempt: %v, %+v", err, info.State)
	}
}
