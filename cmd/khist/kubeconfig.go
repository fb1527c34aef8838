package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// nextSteps ends every error of a collector that has no cluster to record.
const nextSteps = "run `make demo` to see a recorded rollout, `make cluster-up` for a local cluster, or name one with --kubeconfig FILE --context NAME"

// probeTimeout bounds the first request to the API server: a first run without a cluster
// fails within seconds.
const probeTimeout = 5 * time.Second

// clusterConfig returns the REST configuration of the cluster collect records, after checking,
// before anything is written, that the kubeconfig names one and that its API server answers.
// Each error is one line: what was looked for, what was found, what to do. Only the start is
// checked: an API server that goes away later is retried by the collector.
func clusterConfig(ctx context.Context, kube *genericclioptions.ConfigFlags) (*rest.Config, error) {
	loader := kube.ToRawKubeConfigLoader()
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
	cfg, err := kube.ToRESTConfig()
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
func kubeconfigFiles(kube *genericclioptions.ConfigFlags, precedence []string) string {
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
