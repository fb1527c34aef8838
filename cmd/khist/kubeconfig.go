package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// kubeFlags are kubectl's flags that choose a kubeconfig, a context, a cluster and
// credentials: the part of cli-runtime's ConfigFlags khist takes, bound to client-go's loading
// rules and overrides as ConfigFlags binds them, with the same names, defaults and help. A nil
// field is a flag the command does not take. (cli-runtime's genericclioptions is not used: it
// links kustomize, whose plugin loader imports package plugin, which makes the linker keep
// every exported symbol of the binary.)
type kubeFlags struct {
	KubeConfig         *string
	CertFile           *string
	KeyFile            *string
	BearerToken        *string
	Impersonate        *string
	ImpersonateUID     *string
	ImpersonateGroup   *[]string
	ClusterName        *string
	AuthInfoName       *string
	Namespace          *string
	Context            *string
	APIServer          *string
	TLSServerName      *string
	Insecure           *bool
	CAFile             *string
	DisableCompression *bool
}

// newKubeFlags returns every flag of kubeFlags, empty (kubectl's defaults).
func newKubeFlags() *kubeFlags {
	return &kubeFlags{
		KubeConfig: new(string), CertFile: new(string), KeyFile: new(string),
		BearerToken: new(string), Impersonate: new(string), ImpersonateUID: new(string),
		ImpersonateGroup: &[]string{}, ClusterName: new(string), AuthInfoName: new(string),
		Namespace: new(string), Context: new(string), APIServer: new(string),
		TLSServerName: new(string), Insecure: new(bool), CAFile: new(string),
		DisableCompression: new(bool),
	}
}

// addFlags adds the flags that are set, with kubectl's help, in kubectl's order.
func (k *kubeFlags) addFlags(fl *pflag.FlagSet) {
	str := func(p *string, name, short, usage string) {
		if p != nil {
			fl.StringVarP(p, name, short, *p, usage)
		}
	}
	str(k.KubeConfig, "kubeconfig", "", "Path to the kubeconfig file to use for CLI requests.")
	str(k.CertFile, "client-certificate", "", "Path to a client certificate file for TLS")
	str(k.KeyFile, "client-key", "", "Path to a client key file for TLS")
	str(k.BearerToken, "token", "", "Bearer token for authentication to the API server")
	str(k.Impersonate, "as", "", "Username to impersonate for the operation. User could be a regular user or a service account in a namespace.")
	str(k.ImpersonateUID, "as-uid", "", "UID to impersonate for the operation.")
	if k.ImpersonateGroup != nil {
		fl.StringArrayVar(k.ImpersonateGroup, "as-group", *k.ImpersonateGroup, "Group to impersonate for the operation, this flag can be repeated to specify multiple groups.")
	}
	str(k.ClusterName, "cluster", "", "The name of the kubeconfig cluster to use")
	str(k.AuthInfoName, "user", "", "The name of the kubeconfig user to use")
	str(k.Namespace, "namespace", "n", "If present, the namespace scope for this CLI request")
	str(k.Context, "context", "", "The name of the kubeconfig context to use")
	str(k.APIServer, "server", "s", "The address and port of the Kubernetes API server")
	str(k.TLSServerName, "tls-server-name", "", "Server name to use for server certificate validation. If it is not provided, the hostname used to contact the server is used")
	if k.Insecure != nil {
		fl.BoolVar(k.Insecure, "insecure-skip-tls-verify", *k.Insecure, "If true, the server's certificate will not be checked for validity. This will make your HTTPS connections insecure")
	}
	str(k.CAFile, "certificate-authority", "", "Path to a cert file for the certificate authority")
	if k.DisableCompression != nil {
		fl.BoolVar(k.DisableCompression, "disable-compression", *k.DisableCompression, "If true, opt-out of response compression for all requests to the server")
	}
}

// loader reads the kubeconfig as kubectl does: --kubeconfig, else $KUBECONFIG, else
// ~/.kube/config, with the flags over it, and the in-cluster configuration when none names a
// cluster. It never prompts.
func (k *kubeFlags) loader() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.DefaultClientConfig = &clientcmd.DefaultClientConfig
	o := &clientcmd.ConfigOverrides{ClusterDefaults: clientcmd.ClusterDefaults}
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&rules.ExplicitPath, k.KubeConfig)
	set(&o.AuthInfo.ClientCertificate, k.CertFile)
	set(&o.AuthInfo.ClientKey, k.KeyFile)
	set(&o.AuthInfo.Token, k.BearerToken)
	set(&o.AuthInfo.Impersonate, k.Impersonate)
	set(&o.AuthInfo.ImpersonateUID, k.ImpersonateUID)
	if k.ImpersonateGroup != nil {
		o.AuthInfo.ImpersonateGroups = *k.ImpersonateGroup
	}
	set(&o.ClusterInfo.Server, k.APIServer)
	set(&o.ClusterInfo.TLSServerName, k.TLSServerName)
	set(&o.ClusterInfo.CertificateAuthority, k.CAFile)
	if k.Insecure != nil {
		o.ClusterInfo.InsecureSkipTLSVerify = *k.Insecure
	}
	if k.DisableCompression != nil {
		o.ClusterInfo.DisableCompression = *k.DisableCompression
	}
	set(&o.CurrentContext, k.Context)
	set(&o.Context.Cluster, k.ClusterName)
	set(&o.Context.AuthInfo, k.AuthInfoName)
	set(&o.Context.Namespace, k.Namespace)
	return emptyConfigError{clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, o)}
}

// restConfig is the REST configuration of the flags' cluster.
func (k *kubeFlags) restConfig() (*rest.Config, error) {
	return k.loader().ClientConfig()
}

// errEmptyConfig is kubectl's error for no kubeconfig at all, which names where one is looked
// for (client-go's says only that the configuration is missing).
var errEmptyConfig = clientcmd.NewEmptyConfigError(`Missing or incomplete configuration info.  Please point to an existing, complete config file:


  1. Via the command-line flag --kubeconfig
  2. Via the KUBECONFIG environment variable
  3. In your home directory as ~/.kube/config

To view or setup config directly use the 'config' command.`)

// emptyConfigError answers errEmptyConfig for client-go's empty configuration error.
type emptyConfigError struct {
	c clientcmd.ClientConfig
}

func (c emptyConfigError) RawConfig() (clientcmdapi.Config, error) {
	cfg, err := c.c.RawConfig()
	return cfg, replaceEmpty(err)
}

func (c emptyConfigError) ClientConfig() (*rest.Config, error) {
	cfg, err := c.c.ClientConfig()
	return cfg, replaceEmpty(err)
}

func (c emptyConfigError) Namespace() (string, bool, error) {
	ns, overridden, err := c.c.Namespace()
	return ns, overridden, replaceEmpty(err)
}

func (c emptyConfigError) ConfigAccess() clientcmd.ConfigAccess {
	return c.c.ConfigAccess()
}

func replaceEmpty(err error) error {
	if clientcmd.IsEmptyConfig(err) {
		return errEmptyConfig
	}
	return err
}

// nextSteps ends every error of a collector that has no cluster to record.
const nextSteps = "run `make demo` to see a recorded rollout, `make cluster-up` for a local cluster, or name one with --kubeconfig FILE --context NAME"

// probeTimeout bounds the first request to the API server: a first run without a cluster
// fails within seconds.
const probeTimeout = 5 * time.Second

// clusterConfig returns the REST configuration of the cluster collect records, after checking,
// before anything is written, that the kubeconfig names one and that its API server answers.
// Each error is one line: what was looked for, what was found, what to do. Only the start is
// checked: an API server that goes away later is retried by the collector.
func clusterConfig(ctx context.Context, kube *kubeFlags) (*rest.Config, error) {
	loader := kube.loader()
	files := kubeconfigFiles(kube, loader.ConfigAccess().GetLoadingPrecedence())
	raw, err := loader.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %v: %s", files, oneLine(err), nextSteps)
	}
	inCluster := os.Getenv("KUBERNETES_SERVICE_HOST") != "" && os.Getenv("KUBERNETES_SERVICE_PORT") != ""
	server := kube.APIServer != nil && *kube.APIServer != ""
	ctxName := ""
	if kube.Context != nil {
		ctxName = *kube.Context
	}
	if !server && !inCluster {
		names := make([]string, 0, len(raw.Contexts))
		for n := range raw.Contexts {
			names = append(names, n)
		}
		slices.Sort(names)
		if ctxName == "" {
			ctxName = raw.CurrentContext
		}
		switch {
		case len(raw.Contexts) == 0 && len(raw.Clusters) == 0:
			return nil, fmt.Errorf("no cluster to record: no kubeconfig found (looked for %s): %s", files, nextSteps)
		case ctxName == "":
			return nil, fmt.Errorf("no cluster to record: %s has no current context (contexts: %s): pick one with --context NAME, or %s", files, list(names), nextSteps)
		case raw.Contexts[ctxName] == nil:
			return nil, fmt.Errorf("no cluster to record: context %q is not in %s (contexts: %s): pick one with --context NAME, or %s", ctxName, files, list(names), nextSteps)
		}
	}
	cfg, err := loader.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %v: %s", files, oneLine(err), nextSteps)
	}
	probe := rest.CopyConfig(cfg)
	probe.Timeout = probeTimeout
	disco, err := discovery.NewDiscoveryClientForConfig(probe)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %v: %s", files, oneLine(err), nextSteps)
	}
	done := make(chan error, 1)
	go func() { _, err := disco.ServerVersion(); done <- err }()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case err = <-done:
	}
	if err != nil {
		where := "the API server " + cfg.Host
		switch {
		case inCluster && !server && len(raw.Contexts) == 0:
			where += " (in-cluster configuration)"
		case ctxName != "":
			where += fmt.Sprintf(" (context %q of %s)", ctxName, files)
		}
		if apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err) {
			return nil, fmt.Errorf("%s refused khist's credentials: %v: check the user of the context, or %s", where, oneLine(err), nextSteps)
		}
		return nil, fmt.Errorf("cannot reach %s: %v: check that it runs, or %s", where, oneLine(err), nextSteps)
	}
	return cfg, nil
}

// kubeconfigFiles names the files a kubeconfig is read from, as the user would set them.
func kubeconfigFiles(kube *kubeFlags, precedence []string) string {
	if kube.KubeConfig != nil && *kube.KubeConfig != "" {
		return "--kubeconfig " + *kube.KubeConfig
	}
	if env := os.Getenv("KUBECONFIG"); env != "" {
		return "$KUBECONFIG " + env
	}
	if len(precedence) == 0 {
		home, _ := os.UserHomeDir()
		return filepath.Join(home, ".kube", "config")
	}
	return strings.Join(precedence, ", ")
}

func list(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// oneLine joins the lines of a multi-line error.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
