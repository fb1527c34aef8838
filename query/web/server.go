package web

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/projector"
	"github.com/khist/khist/query"
)

// DefaultAddr is the address Server listens on by default: loopback only.
const DefaultAddr = "127.0.0.1:8474"

// Errors of New, each returned wrapped with what to do.
var (
	// ErrInsecure is returned when the server would serve a non-loopback address without TLS or
	// without authentication.
	ErrInsecure = errors.New("insecure serving")
	// ErrBadOption is returned when options contradict each other or name unreadable files.
	ErrBadOption = errors.New("bad option")
)

// Options configure a Server. Every field says its default.
type Options struct {
	// Addr is host:port to listen on. Default DefaultAddr (127.0.0.1:8474).
	Addr string
	// Views is the path of the views file (required). It is opened read-only for each request.
	Views string
	// Cluster is the recorded cluster answered about when a request names none (cluster=a,b
	// or allClusters=true): one name, or several separated by commas. Default "default".
	Cluster string
	// AllClusters answers about every recorded cluster when a request names none (Cluster is
	// then ignored). Default false.
	AllClusters bool
	// Env is the clock and zone of the answers. Default query.DefaultEnv().
	Env *query.Env
	// OpenLog, when set, opens the log so that the server can fold what the views lack
	// (as read commands do, with an ephemeral consumer) every Refresh; the log is closed after
	// each fold, so that a khist collect started later owns it. Default nil: the views are read
	// as they are (a running khist collect or project keeps them current).
	OpenLog func(ctx context.Context) (*eventlog.Log, error)
	// Refresh is how often OpenLog's log is folded. Default 5s.
	Refresh time.Duration
	// Watch is how often the views' position is read while a client listens to
	// /api/v1/events. Default 1s.
	Watch time.Duration
	// Heartbeat is how often /api/v1/events sends a comment while the views stand still.
	// Default 15s.
	Heartbeat time.Duration

	// TLSCertFile and TLSKeyFile serve HTTPS. Default none: HTTP, which only loopback allows.
	TLSCertFile, TLSKeyFile string
	// ClientCAFile verifies client certificates (required by Proxy). Default none.
	ClientCAFile string
	// Authenticator authenticates every request. Default nil: no authentication, which only
	// loopback allows.
	Authenticator Authenticator
	// Authorizer decides which namespaces a user sees. Default nil: all of them.
	Authorizer Authorizer
	// Logger receives errors and warnings. Default: slog's default logger.
	Logger *slog.Logger
}

// Server serves the API and pages over the views.
type Server struct {
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux
	// views is held shared by each request while it reads the views and exclusively by the
	// fold of the log's tail: bbolt's file lock is per open file, so this process's own readers
	// would otherwise keep its fold out (and wait for it until a timeout).
	views sync.RWMutex
	// loopback: listening on loopback without authentication; then the Host header must name
	// loopback too (no DNS rebinding).
	loopback bool
	// watch announces the views' position to /api/v1/events; stopping is closed when the
	// server shuts down, which ends the event streams.
	watch    *watcher
	stopping chan struct{}
	stopOnce sync.Once
}

// New checks the options and returns a Server.
func New(o Options) (*Server, error) {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.Cluster == "" {
		o.Cluster = "default"
	}
	if o.Refresh <= 0 {
		o.Refresh = 5 * time.Second
	}
	if o.Watch <= 0 {
		o.Watch = time.Second
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 15 * time.Second
	}
	if o.Views == "" {
		return nil, fmt.Errorf("%w: no views file", ErrBadOption)
	}
	s := &Server{opts: o, log: o.Logger, stopping: make(chan struct{})}
	s.watch = &watcher{s: s, interval: o.Watch}
	if s.log == nil {
		s.log = slog.Default()
	}
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("%w: --addr %q: use HOST:PORT, e.g. %s", ErrBadOption, o.Addr, DefaultAddr)
	}
	tlsOn := o.TLSCertFile != "" || o.TLSKeyFile != ""
	if tlsOn && (o.TLSCertFile == "" || o.TLSKeyFile == "") {
		return nil, fmt.Errorf("%w: give both --tls-cert-file and --tls-private-key-file", ErrBadOption)
	}
	if !IsLoopback(host) {
		if !tlsOn {
			return nil, fmt.Errorf("%w: --addr %s is not a loopback address: serving it needs TLS (--tls-cert-file and --tls-private-key-file) and authentication (--auth)", ErrInsecure, o.Addr)
		}
		if o.Authenticator == nil {
			return nil, fmt.Errorf("%w: --addr %s is not a loopback address: serving it needs authentication: --auth=kubernetes, token-file or proxy", ErrInsecure, o.Addr)
		}
	}
	if _, ok := o.Authenticator.(*Proxy); ok && (o.ClientCAFile == "" || !tlsOn) {
		return nil, fmt.Errorf("%w: --auth=proxy trusts the proxy's headers only over TLS with its client certificate: give --client-ca-file, --tls-cert-file and --tls-private-key-file", ErrBadOption)
	}
	s.loopback = o.Authenticator == nil
	s.mux = http.NewServeMux()
	s.routes()
	return s, nil
}

// IsLoopback reports whether host (a name or an IP) is a loopback address: localhost, 127/8
// or ::1.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Handler is the server's handler: the hardening headers, authentication, then the API and
// the pages.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		if s.opts.TLSCertFile != "" {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if s.loopback {
			host, _, err := net.SplitHostPort(r.Host)
			if err != nil {
				host = r.Host
			}
			if !IsLoopback(strings.Trim(host, "[]")) {
				writeError(w, http.StatusForbidden, fmt.Sprintf("Host %q: this server answers on loopback only: use http://%s", r.Host, s.opts.Addr))
				return
			}
		}
		login := r.URL.Path == "/login" && tokenAuth(s.opts.Authenticator)
		// Grafana's JSON data sources send their queries as POST bodies; those answers only
		// read, like the rest.
		grafana := strings.HasPrefix(r.URL.Path, "/api/v1/grafana/")
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !((login || grafana) && r.Method == http.MethodPost) {
			writeError(w, http.StatusMethodNotAllowed, r.Method+": the API and pages only read: use GET")
			return
		}
		if login {
			s.login(w, r)
			return
		}
		var u *User
		if s.opts.Authenticator != nil {
			var err error
			if u, err = s.opts.Authenticator.Authenticate(r); err != nil {
				if errors.Is(err, ErrUnauthenticated) && tokenAuth(s.opts.Authenticator) && !strings.HasPrefix(r.URL.Path, "/api/") {
					// A browser: to the login page, and back.
					http.Redirect(w, r, "/login?"+url.Values{"next": {r.URL.RequestURI()}}.Encode(), http.StatusSeeOther)
					return
				}
				if errors.Is(err, ErrUnauthenticated) {
					h.Set("WWW-Authenticate", `Bearer realm="khist"`)
					writeError(w, http.StatusUnauthorized, oneLine(err))
				} else {
					s.log.Error("authentication failed", "err", err)
					writeError(w, http.StatusInternalServerError, oneLine(err))
				}
				return
			}
		}
		s.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
	})
}

type userKey struct{}

// Run listens on Options.Addr and serves until ctx ends, then shuts down, letting requests in
// progress finish for up to 10 seconds. ready, when not nil, is called with the address
// listened on once it accepts connections.
func (s *Server) Run(ctx context.Context, ready func(addr string)) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	// Shutdown waits for requests to finish: the event streams end when it starts.
	srv.RegisterOnShutdown(s.stopStreams)
	if s.opts.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.opts.TLSCertFile, s.opts.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("%w: --tls-cert-file/--tls-private-key-file: %v", ErrBadOption, err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		if s.opts.ClientCAFile != "" {
			pem, err := os.ReadFile(s.opts.ClientCAFile)
			if err != nil {
				return fmt.Errorf("%w: --client-ca-file: %v", ErrBadOption, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("%w: --client-ca-file %s holds no PEM certificate", ErrBadOption, s.opts.ClientCAFile)
			}
			srv.TLSConfig.ClientCAs = pool
			srv.TLSConfig.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("--addr %s: %v", s.opts.Addr, err)
	}
	if srv.TLSConfig != nil {
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if s.opts.OpenLog != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.refresh(ctx) }()
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err = <-served:
	case <-ctx.Done():
		// Shutdown order: stop accepting and let requests finish, then stop folding.
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = srv.Shutdown(sctx)
		scancel()
		<-served
	}
	cancel()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// refresh folds the log's tail into the views every Refresh until ctx ends.
func (s *Server) refresh(ctx context.Context) {
	t := time.NewTicker(s.opts.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.Fold(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("cannot bring the views up to date; answering from them as they are", "err", oneLine(err))
		}
	}
}

// Fold folds what the views lack of the log (Options.OpenLog), if anything.
func (s *Server) Fold(ctx context.Context) error {
	if s.opts.OpenLog == nil {
		return nil
	}
	l, err := s.opts.OpenLog(ctx)
	if err != nil {
		return err
	}
	defer l.Close()
	last, err := l.LastSeq(ctx)
	if err != nil {
		return err
	}
	s.views.RLock()
	db, err := projector.Open(s.opts.Views, &projector.Options{ReadOnly: true})
	var seq uint64
	if err == nil {
		seq, err = db.Seq()
		db.Close()
	}
	s.views.RUnlock()
	if err != nil || seq >= last {
		return err
	}
	s.views.Lock()
	defer s.views.Unlock()
	db, err = projector.Open(s.opts.Views, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err = projector.EnsureCurrent(ctx, l, db); err != nil {
		return err
	}
	if seq, err := db.Seq(); err == nil {
		s.watch.announce(seq) // at once, not at the next poll
	}
	return nil
}

// openViews opens the views read-only for one request; done closes them.
func (s *Server) openViews() (*query.Views, func(), error) {
	s.views.RLock()
	db, err := projector.Open(s.opts.Views, &projector.Options{ReadOnly: true})
	if err != nil {
		s.views.RUnlock()
		return nil, nil, err
	}
	env := query.DefaultEnv() // now is the request's
	if s.opts.Env != nil {
		env = *s.opts.Env
	}
	return query.NewViews(db, s.opts.Cluster, env), func() { db.Close(); s.views.RUnlock() }, nil
}

// chooseClusters selects the clusters a request answers about: cluster=a,b or
// allClusters=true, else the server's (Options.Cluster, Options.AllClusters), as the read
// commands' --cluster and --all-clusters (query.Views.SelectClusters).
func (s *Server) chooseClusters(ctx context.Context, v *query.Views, names []string, all string) error {
	a := query.ClusterArgs{Names: names}
	if all != "" {
		b, err := strconv.ParseBool(all)
		if err != nil {
			return badArg("allClusters=%s: use true or false", all)
		}
		a.All = b
	}
	if len(a.Names) == 0 && all == "" {
		a = query.ClusterArgs{All: s.opts.AllClusters}
		if !a.All {
			a.Names = query.SplitClusters(s.opts.Cluster)
		}
	}
	return v.SelectClusters(ctx, a)
}

// narrowClusters narrows the clusters selected to what the endpoint name can answer about:
// rollouts and timeline show several side by side, change finds its sequence's; history, steps, get, diff, replay/compare,
// replay/what-if and the workload and object pages the one that holds their object; the others
// one cluster.
func narrowClusters(ctx context.Context, v *query.Views, name, object, ns string) (*query.Views, error) {
	switch name {
	case "rollouts", "timeline", "change":
		return v, nil
	case "history", "steps", "get", "diff", "replay/compare", "replay/what-if", "workload", "object":
		return v.One(ctx, name, object, ns)
	}
	return v.Single(name)
}

// oneLine joins the lines of an error's message.
func oneLine(err error) string {
	return strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " ")
}
