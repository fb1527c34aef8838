package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// MaxObjectSize is etcd's default request limit: no Kubernetes object is larger.
const MaxObjectSize = 1536 * 1024

// minPayload is what a message must be allowed to carry: the largest object plus headers.
const minPayload = MaxObjectSize + 64*1024

// embeddedMaxPayload is the embedded server's max_payload (the nats-server default is 1 MiB).
const embeddedMaxPayload = 4 * 1024 * 1024

// DefaultStream is the stream name used when Options.Stream is empty.
const DefaultStream = "KHIST"

// StreamConfig is the part of the stream's configuration a user sets. Zero values mean the
// documented defaults.
type StreamConfig struct {
	Name       string        // stream name; default KHIST
	MaxAge     time.Duration // drop events older than this; 0 keeps them forever
	MaxBytes   int64         // drop the oldest events beyond this size; 0 means no limit
	Duplicates time.Duration // de-duplication window; default 10m
	Replicas   int           // stream replicas on a clustered JetStream; default 1
	NoCompress bool          // store without S2 compression (compression is on by default)
	// Apply updates an existing stream to these settings. Without it an existing stream keeps
	// the settings it has, and these apply only when the stream is created.
	Apply bool
}

// Options say where the log lives. With URL empty an embedded nats-server runs in-process with
// its JetStream store under DataDir; otherwise URL names an external JetStream.
type Options struct {
	DataDir string // embedded server's home: store in DataDir/jetstream; required without URL

	URL      string // external server URL(s), comma separated
	Creds    string // credentials file (JWT + nkey)
	User     string
	Password string
	Token    string
	TLSCA    string // CA to verify the server
	TLSCert  string // client certificate for mutual TLS
	TLSKey   string

	Stream StreamConfig
	// Name is the NATS connection name shown by the server; default "khist".
	Name string
	// Logger receives the embedded server's warnings and errors (damage to its store shows
	// there first). Default slog.Default().
	Logger *slog.Logger
}

// Log is an open event log: a connection to JetStream and the stream that holds the events.
// It is safe for concurrent use. Close releases it (and stops an embedded server).
type Log struct {
	// clientWait bounds how long Close keeps the embedded server for other processes (see
	// SetClientWait); 0: until they are done.
	clientWait time.Duration
	nc         *nats.Conn
	js         jetstream.JetStream
	stream     jetstream.Stream
	name       string
	// storeDir is the embedded server's store directory ("" for an external server).
	storeDir string
	srv      *server.Server
	slog     *serverLogger          // the embedded server's logger
	denied   atomic.Pointer[denial] // the last permissions violation the server reported
	logger   *slog.Logger           // the embedded server's holder's log
	lock     *os.File
	closed   chan struct{} // closed by the connection's ClosedHandler
	once     sync.Once
	// Embedded reports whether this process runs the server.
	Embedded bool
}

// shareWait bounds how long a process waits for the address of the server another one runs
// (it is starting, or stopping and handing the data directory over).
const shareWait = 30 * time.Second

// addrFile records the loopback address of the embedded server run by a live khist process, so
// that a second process on the same data directory connects to it rather than opening the store.
const addrFile = "nats.addr"

// Open connects to the event log and makes sure its stream exists with the given configuration.
func Open(ctx context.Context, o Options) (*Log, error) {
	if o.Name == "" {
		o.Name = "khist"
	}
	l := &Log{name: o.Stream.Name, closed: make(chan struct{})}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	// onClosed also sets the handler of the server's asynchronous errors: a permissions
	// violation (the NATS user may not do what was asked) is kept, to be named by the request
	// that then fails, rather than printed; others go to the log.
	onClosed := func(no *nats.Options) error {
		no.ClosedCB = func(*nats.Conn) { close(l.closed) }
		no.AsyncErrorCB = func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				l.denied.Store(&denial{err.Error(), time.Now()})
				return
			}
			logger.Warn("NATS: " + err.Error())
		}
		return nil
	}
	if l.name == "" {
		l.name = DefaultStream
	}
	if o.URL == "" {
		if err := l.startEmbedded(&o, onClosed); err != nil {
			return nil, err
		}
	} else {
		nc, err := nats.Connect(o.URL, append(natsOptions(o), onClosed)...)
		if err != nil {
			return nil, fmt.Errorf("connect to NATS %s: %w (check --nats-url and credentials)", o.URL, err)
		}
		l.nc = nc
	}
	if mp := l.nc.MaxPayload(); mp < minPayload {
		l.Close()
		return nil, fmt.Errorf("%w: the server allows %d bytes per message, objects up to etcd's 1.5 MiB need %d: set max_payload: 4MB in the nats-server configuration", ErrMaxPayloadTooSmall, mp, minPayload)
	}
	js, err := jetstream.New(l.nc)
	if err != nil {
		l.Close()
		return nil, err
	}
	l.js = js
	cfg := l.streamConfig(o.Stream)
	// An existing stream keeps its settings unless the caller says to apply them: a read
	// command opened without --stream-* flags must not reset the retention a collector set.
	st, err := js.Stream(ctx, cfg.Name)
	verb := "create"
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		st, err = js.CreateStream(ctx, cfg)
	case err == nil && o.Stream.Apply && !sameSettings(st.CachedInfo().Config, cfg):
		verb = "update"
		st, err = js.UpdateStream(ctx, cfg)
	}
	if err != nil {
		err = l.notPermitted(l.diskFull(err, "stream "+cfg.Name+" not created", 0))
		l.Close()
		if errors.Is(err, ErrDiskFull) {
			return nil, err
		}
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			return nil, fmt.Errorf("NATS at %s has no JetStream: start nats-server with -js (or jetstream {} in its configuration): %w", o.URL, err)
		}
		return nil, fmt.Errorf("%s stream %s: %w", verb, cfg.Name, err)
	}
	l.stream = st
	return l, nil
}

// sameSettings reports whether a stream's configuration already has the settings a user sets
// (StreamConfig): applying them again is then no change, and needs no right to change the
// stream (a collector restarted with --stream-replicas 3 under a NATS user that may not).
func sameSettings(have, want jetstream.StreamConfig) bool {
	return have.MaxAge == want.MaxAge && have.MaxBytes == want.MaxBytes && have.Duplicates == want.Duplicates &&
		have.Replicas == want.Replicas && have.Compression == want.Compression
}

func (l *Log) streamConfig(c StreamConfig) jetstream.StreamConfig {
	dup := c.Duplicates
	if dup == 0 {
		dup = 10 * time.Minute
	}
	if c.MaxAge > 0 && dup > c.MaxAge {
		dup = c.MaxAge
	}
	rep := c.Replicas
	if rep == 0 {
		rep = 1
	}
	maxBytes := c.MaxBytes
	if maxBytes == 0 {
		maxBytes = -1
	}
	comp := jetstream.S2Compression
	if c.NoCompress {
		comp = jetstream.NoCompression
	}
	return jetstream.StreamConfig{
		Name:        l.name,
		Description: "khist: every observed version of every Kubernetes object",
		Subjects:    []string{SubjectPrefix + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Storage:     jetstream.FileStorage,
		Compression: comp,
		MaxAge:      c.MaxAge,
		MaxBytes:    maxBytes,
		MaxMsgs:     -1,
		MaxMsgSize:  minPayload,
		Duplicates:  dup,
		Replicas:    rep,
	}
}

func natsOptions(o Options) []nats.Option {
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
	}
	if o.Creds != "" {
		opts = append(opts, nats.UserCredentials(o.Creds))
	}
	if o.User != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.Token != "" {
		opts = append(opts, nats.Token(o.Token))
	}
	if o.TLSCA != "" {
		opts = append(opts, nats.RootCAs(o.TLSCA))
	}
	if o.TLSCert != "" || o.TLSKey != "" {
		opts = append(opts, nats.ClientCert(o.TLSCert, o.TLSKey))
	}
	return opts
}

// startEmbedded runs nats-server in this process, or, when another khist process already runs
// one on the same data directory, connects to that one over loopback.
func (l *Log) startEmbedded(o *Options, onClosed nats.Option) error {
	if o.DataDir == "" {
		return fmt.Errorf("%w: a data directory is needed to run the embedded NATS server (--data-dir)", ErrInvalidOption)
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	l.storeDir = filepath.Join(o.DataDir, "jetstream")
	// Whichever process holds khist.lock runs the server (and keeps it running until the last
	// other process is done with it: see close); the others connect to it. Between two holders
	// (one stopping, the next starting) there is no address for a moment: wait for one.
	deadline := time.Now().Add(shareWait)
	var lf *os.File
	for {
		f, err := os.OpenFile(filepath.Join(o.DataDir, "khist.lock"), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
			lf = f
			break
		}
		f.Close()
		// Another process owns the store: use its server.
		addr, rerr := os.ReadFile(filepath.Join(o.DataDir, addrFile))
		var cerr error
		if rerr == nil && len(strings.TrimSpace(string(addr))) > 0 {
			token, terr := readToken(o.DataDir)
			if terr != nil {
				return terr
			}
			var nc *nats.Conn
			if nc, cerr = nats.Connect(strings.TrimSpace(string(addr)), nats.Name(o.Name), nats.Token(token), onClosed); cerr == nil {
				l.nc = nc
				return nil
			}
		}
		if time.Now().After(deadline) {
			if cerr != nil {
				return fmt.Errorf("data directory %s is in use by another khist process whose NATS at %s does not answer (%v): stop it or use another --data-dir", o.DataDir, strings.TrimSpace(string(addr)), cerr)
			}
			return fmt.Errorf("data directory %s is in use by another khist process that publishes no address: stop it or use another --data-dir", o.DataDir)
		}
		time.Sleep(20 * time.Millisecond)
	}
	l.lock = lf
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	token, err := embeddedToken(o.DataDir, logger)
	if err != nil {
		l.Close()
		return err
	}
	srv, err := server.NewServer(&server.Options{
		// Every client must give the token only the data directory's owner can read.
		Authorization: token,
		ServerName:    "khist-embedded",
		Host:          "127.0.0.1",
		Port:          server.RANDOM_PORT,
		JetStream:     true,
		StoreDir:      filepath.Join(o.DataDir, "jetstream"),
		MaxPayload:    embeddedMaxPayload,
		NoSigs:        true,
		NoLog:         true,
	})
	if err != nil {
		l.Close()
		return fmt.Errorf("embedded NATS: %w", err)
	}
	l.slog = newServerLogger(logger)
	srv.SetLoggerV2(l.slog, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		l.Close()
		return fmt.Errorf("embedded NATS did not start within 30s (store %s)", filepath.Join(o.DataDir, "jetstream"))
	}
	l.srv = srv
	l.Embedded = true
	l.logger = logger
	if err := l.writeAddr(); err != nil {
		if !isDiskFull(err) {
			l.Close()
			return fmt.Errorf("data directory: %w", err)
		}
		// A full disk must not keep this process from reading the history; only a second
		// process on the data directory cannot reach this one's server.
		os.Remove(filepath.Join(o.DataDir, addrFile))
		logger.Warn(fmt.Sprintf("disk full: %s not written (%s free on its filesystem): other khist processes cannot use %s while this one runs; free space there", filepath.Join(o.DataDir, addrFile), bytesString(freeBytes(o.DataDir)), o.DataDir))
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv), nats.Name(o.Name), nats.Token(token), onClosed)
	if err != nil {
		l.Close()
		return fmt.Errorf("embedded NATS: %w", err)
	}
	l.nc = nc
	return nil
}

// JetStream returns the JetStream context (for tools and tests that need the raw API).
func (l *Log) JetStream() jetstream.JetStream { return l.js }

// Conn returns the NATS connection.
func (l *Log) Conn() *nats.Conn { return l.nc }

// External reports whether the log is an external NATS (Options.URL), which may come back
// after it was unavailable; an embedded server that stops (this process's, or another
// khist process's on the same data directory) does not.
func (l *Log) External() bool { return l.storeDir == "" }

// StreamName is the name of the stream that holds the log.
func (l *Log) StreamName() string { return l.name }

// ClientURL is the loopback URL of the embedded server ("" for an external one).
func (l *Log) ClientURL() string {
	if l.srv == nil {
		return ""
	}
	return l.srv.ClientURL()
}

// LastSeq returns the sequence of the newest event in the log (0 when empty).
func (l *Log) LastSeq(ctx context.Context) (uint64, error) {
	info, err := l.stream.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.LastSeq, nil
}

// State returns the stream's counters: messages, bytes, first and last sequence.
func (l *Log) State(ctx context.Context) (jetstream.StreamState, error) {
	info, err := l.stream.Info(ctx)
	if err != nil {
		return jetstream.StreamState{}, err
	}
	return info.State, nil
}

// Close drains the connection and stops an embedded server, waiting for it to flush its store.
// Calling it again does nothing.
func (l *Log) Close() error {
	l.once.Do(l.close)
	return nil
}

func (l *Log) close() {
	if l.nc != nil {
		if err := l.nc.Drain(); err == nil {
			select {
			case <-l.closed:
			case <-time.After(5 * time.Second):
			}
		}
		l.nc.Close()
	}
	if l.srv != nil {
		l.waitForClients()
		l.srv.Shutdown()
		l.srv.WaitForShutdown()
	}
	if l.lock != nil {
		os.Remove(filepath.Join(filepath.Dir(l.lock.Name()), addrFile))
		l.lock.Close()
	}
}

// LastOf returns the newest envelope stored on one object's subject (see Subject), its body
// included, or nil when the log holds none. Producers use it to avoid re-publishing versions the
// log already has after the de-duplication window has passed.
func (l *Log) LastOf(ctx context.Context, subject string) (*Envelope, error) {
	raw, err := l.stream.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	e, err := FromMsg(raw.Subject, raw.Header, raw.Data)
	if err != nil {
		return nil, err
	}
	e.Seq = raw.Sequence
	return e, nil
}

// denial is a permissions violation the server reported, and when.
type denial struct {
	msg string
	at  time.Time
}

// notPermitted returns err as an ErrNotPermitted when the server has just reported (within
// the last 30 seconds: a refused request fails for want of an answer, after its timeout) that
// the NATS user may not do something, naming what.
func (l *Log) notPermitted(err error) error {
	d := l.denied.Load()
	if err == nil || d == nil || time.Since(d.at) > 30*time.Second || errors.Is(err, ErrNotPermitted) {
		return err
	}
	return fmt.Errorf("%w: %s (%v): use the credentials of a NATS user that may (khist-admin creates the stream and changes its settings; a collector appends its own cluster's events: deploy/nats-server.conf, deploy/fleet/nats-values.yaml)", ErrNotPermitted, strings.TrimPrefix(d.msg, "nats: permissions violation: "), err)
}

// writeAddr publishes the embedded server's address for other khist processes.
func (l *Log) writeAddr() error {
	return os.WriteFile(filepath.Join(filepath.Dir(l.lock.Name()), addrFile), []byte(l.srv.ClientURL()+"\n"), 0o600)
}

// SetClientWait bounds how long Close keeps the embedded server running for other khist
// processes that use it (see waitForClients): a collector asked to stop by its supervisor
// (SIGTERM, then SIGKILL after a grace period) must stop within that period.
func (l *Log) SetClientWait(d time.Duration) { l.clientWait = d }

// waitForClients keeps the embedded server running while other khist processes use it (an
// import, a read command, a projector started while this process ran): stopping it would cut
// them off the log half-way. It withdraws the address first, so that no new process joins,
// and gives one that had just read it a moment to connect. It says once that it waits; an
// interrupt (SIGINT, SIGTERM) stops the wait, and the others then lose the log.
func (l *Log) waitForClients() {
	addr := filepath.Join(filepath.Dir(l.lock.Name()), addrFile)
	said := false
	var sig chan os.Signal
	start := time.Now() // this process's own connection takes a moment to leave the count
	for {
		if l.srv.NumClients() == 0 {
			os.Remove(addr)
			time.Sleep(100 * time.Millisecond)
			if l.srv.NumClients() == 0 {
				return
			}
			l.writeAddr()
		}
		if l.clientWait > 0 && time.Since(start) > l.clientWait {
			l.logger.Warn(fmt.Sprintf("other khist processes still use %s through this one's NATS server: stopping it after %s; they lose the log and must be run again", filepath.Dir(l.lock.Name()), l.clientWait))
			return
		}
		if !said && time.Since(start) > time.Second {
			said = true
			sig = make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(sig)
			l.logger.Warn(fmt.Sprintf("other khist processes use %s through this one's NATS server: waiting for them to finish (interrupt to stop now: they then lose the log)", filepath.Dir(l.lock.Name())))
		}
		select {
		case <-sig:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}
