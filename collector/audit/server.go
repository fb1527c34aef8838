package audit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"
)

// TLSFiles name the webhook's certificate and key (PEM), and optionally a CA bundle that
// client certificates must chain to (the API server then authenticates with the client
// certificate of its webhook kubeconfig).
type TLSFiles struct {
	Cert, Key string
	ClientCA  string // "": no client certificate asked
}

// Config reads the files into a TLS configuration.
func (f TLSFiles) Config() (*tls.Config, error) {
	if f.Cert == "" || f.Key == "" {
		return nil, fmt.Errorf("%w: the API server only sends audit events over HTTPS: give --audit-webhook-cert and --audit-webhook-key", ErrInvalidOption)
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: --audit-webhook-cert/--audit-webhook-key: %v (give a PEM certificate and its key)", ErrInvalidOption, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if f.ClientCA != "" {
		pem, err := os.ReadFile(f.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("%w: --audit-webhook-client-ca: %v", ErrInvalidOption, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: --audit-webhook-client-ca %s: no PEM certificate in it", ErrInvalidOption, f.ClientCA)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// Server serves a Handler over HTTPS.
type Server struct {
	ln  net.Listener
	srv *http.Server
}

// Listen binds addr (host:port; port 0 picks a free one) at once, so that a wrong address
// fails before anything runs; Start serves.
func Listen(addr string, cfg *tls.Config, h *Handler) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: --audit-webhook %s: %v (use a free host:port)", ErrInvalidOption, addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", h)
	return &Server{
		ln: tls.NewListener(ln, cfg),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, TLSConfig: cfg,
			// Refused handshakes (a client without the CA's certificate) show in khist's log.
			ErrorLog: slog.NewLogLogger(h.opts.Logger.Handler(), slog.LevelWarn)},
	}, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Start serves until ctx ends, then stops taking requests and waits (at most 10 s) for those
// being answered: a batch cut short is answered with an error and sent again.
func (s *Server) Start(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
