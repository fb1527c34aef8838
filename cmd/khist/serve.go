package main

import (
	"context"
	"fmt"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/query/web"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
)

type serveFlags struct {
	queryFlags
	addr            string
	auth            string
	tokenFile       string
	tlsCert, tlsKey string
	clientCA        string
	allowedNames    []string
	authTTL         time.Duration
	refresh         time.Duration
	// kubeconfig and context of the cluster that checks tokens (--auth=kubernetes).
	kubeconfig, kubeContext string
}

func newServeCmd(g *globalFlags) *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve [--addr 127.0.0.1:8474]",
		Short: "Serve the history over HTTP: an API under /api/v1 and pages, live as the log grows",
		Long: `serve answers the read commands over HTTP: GET /api/v1/rollouts, history, steps, get, diff,
state, timeline, replay/compare, replay/what-if and replay/all take the command's flags as query
parameters by their long names (namespace, all-namespaces, since, at, kind, rollout, set ...) and
its KIND/NAME as object, and answer the JSON of its -o json. Pages at / show the rollouts, a
workload, an object and a timeline.

Each request reads the views as they are then: a khist collect or khist project folding into the
same views keeps them current, and serve folds what the log holds beyond them every --refresh.

It listens on loopback only unless told: any other address needs TLS (--tls-cert-file,
--tls-private-key-file) and --auth:
  token-file   bearer tokens of --token-auth-file (kube-apiserver's CSV: token,user,uid,"g1,g2")
  kubernetes   bearer tokens checked with the cluster's TokenReview; each namespace's history is
               shown only to users who may get pods there (SubjectAccessReview), cluster-scoped
               objects to those who may get pods in all namespaces
  proxy        the user and groups an authenticating proxy sends (X-Remote-User,
               X-Remote-Group), trusted only over a client certificate of --client-ca-file
With token-file or kubernetes, a browser logs in at /login with its token (kept in a cookie).`,
		Example: `  khist serve
  curl -s 'http://127.0.0.1:8474/api/v1/rollouts?all-namespaces=true'
  khist serve --addr :8474 --tls-cert-file tls.crt --tls-private-key-file tls.key --auth kubernetes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := web.Options{
				Addr: f.addr, Views: viewsPath(g, f.db), Cluster: g.Cluster, AllClusters: f.allClusters, Refresh: f.refresh,
				TLSCertFile: f.tlsCert, TLSKeyFile: f.tlsKey, ClientCAFile: f.clientCA, Logger: g.Logger,
			}
			switch f.auth {
			case "", "none":
			case "token-file":
				if f.tokenFile == "" {
					return fmt.Errorf("--auth=token-file: give the file with --token-auth-file")
				}
				tf, err := web.LoadTokenFile(f.tokenFile)
				if err != nil {
					return err
				}
				opts.Authenticator = tf
			case "kubernetes":
				kube := readConfigFlags(new(string))
				*kube.KubeConfig, *kube.Context = f.kubeconfig, f.kubeContext
				cfg, err := kube.restConfig()
				if err != nil {
					return fmt.Errorf("--auth=kubernetes: no cluster to check tokens with: %s: run in the cluster, or name one with --kubeconfig and --context", oneLine(err))
				}
				cs, err := kubernetes.NewForConfig(cfg)
				if err != nil {
					return fmt.Errorf("--auth=kubernetes: %v", err)
				}
				k := &web.Kubernetes{Client: cs, TTL: f.authTTL}
				opts.Authenticator, opts.Authorizer = k, k
			case "proxy":
				opts.Authenticator = &web.Proxy{AllowedNames: f.allowedNames}
			default:
				return fmt.Errorf("--auth %q: use none, token-file, kubernetes or proxy", f.auth)
			}
			if f.tokenFile != "" && f.auth != "token-file" {
				return fmt.Errorf("--token-auth-file is read with --auth=token-file: add it")
			}
			if !f.noUpdate {
				opts.OpenLog = func(ctx context.Context) (*eventlog.Log, error) { return openLog(ctx, g) }
			}
			s, err := web.New(opts)
			if err != nil {
				return err
			}
			// Bring the views up to date first, as a read command does (rebuilding views of
			// another schema), so that the first answers hold everything logged.
			f.allNamespaces = true
			_, done, err := openViews(cmd, g, &f.queryFlags)
			if err != nil {
				return err
			}
			done()
			scheme := "http"
			if f.tlsCert != "" {
				scheme = "https"
			}
			return s.Run(cmd.Context(), func(addr string) {
				fmt.Fprintf(cmd.ErrOrStderr(), "khist: serving %s://%s/ (API under /api/v1); stop with Ctrl-C\n", scheme, addr)
			})
		},
	}
	f.clusters = manyClusters // each request selects its clusters
	f.addViews(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", web.DefaultAddr, "HOST:PORT to listen on; any address but loopback needs --tls-cert-file, --tls-private-key-file and --auth")
	fl.StringVar(&f.auth, "auth", "none", "authentication: none (loopback only), token-file, kubernetes or proxy")
	fl.StringVar(&f.tokenFile, "token-auth-file", "", "with --auth=token-file: the tokens, one token,user,uid,\"group1,group2\" per line")
	fl.StringVar(&f.tlsCert, "tls-cert-file", "", "serve HTTPS with this certificate (PEM)")
	fl.StringVar(&f.tlsKey, "tls-private-key-file", "", "the private key of --tls-cert-file (PEM)")
	fl.StringVar(&f.clientCA, "client-ca-file", "", "CA that signs client certificates; --auth=proxy trusts headers only from them")
	fl.StringSliceVar(&f.allowedNames, "requestheader-allowed-names", nil, "with --auth=proxy: the common names the proxy's client certificate may have (default any the CA signed)")
	fl.DurationVar(&f.authTTL, "auth-cache-ttl", 10*time.Second, "with --auth=kubernetes: how long TokenReview and SubjectAccessReview answers are cached")
	fl.DurationVar(&f.refresh, "refresh", 5*time.Second, "how often to fold what the log holds beyond the views (--no-update: never)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "with --auth=kubernetes: kubeconfig of the cluster that checks tokens (default: in-cluster, $KUBECONFIG or ~/.kube/config)")
	fl.StringVar(&f.kubeContext, "context", "", "with --auth=kubernetes: the kubeconfig context")
	cmd.RegisterFlagCompletionFunc("auth", completeWords("none", "token-file", "kubernetes", "proxy"))
	return cmd
}
