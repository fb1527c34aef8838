package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// waitFor polls check every 100 ms until it returns nil. It fails at once
// when a component exits, and when ctx ends with the last error of check.
func (c *Cluster) waitFor(ctx context.Context, what string, check func(context.Context) error) error {
	start := time.Now()
	var last error
	for {
		for _, p := range c.procs {
			if done, err := p.exited(); done {
				return fmt.Errorf("%s exited while waiting for %s: %v", p.name, what, err)
			}
		}
		callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		last = check(callCtx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %s waiting for %s (last: %v): %w",
				time.Since(start).Round(time.Second), what, last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// httpOK GETs url and expects 200, skipping TLS verification: used only
// for the health endpoints of components on 127.0.0.1 that serve with
// self-signed certificates.
func httpOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback health check
		DisableKeepAlives: true,
	}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return nil
}

// createNodes creates n fake Nodes that kwok manages, like the ones kwokctl
// creates: no taints, 32 CPUs, 256 GiB and 110 pods each.
func createNodes(ctx context.Context, client kubernetes.Interface, n int) ([]string, error) {
	var names []string
	for i := range max(n, 0) {
		name := "kwok-node-" + strconv.Itoa(i)
		capacity := corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("32"),
			corev1.ResourceMemory: resource.MustParse("256Gi"),
			corev1.ResourcePods:   resource.MustParse("110"),
		}
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name: name,
				Annotations: map[string]string{
					KwokNodeAnnotation:             "fake",
					"node.alpha.kubernetes.io/ttl": "0",
				},
				Labels: map[string]string{
					"kubernetes.io/arch":            "amd64",
					"kubernetes.io/os":              "linux",
					"kubernetes.io/hostname":        name,
					"kubernetes.io/role":            "agent",
					"node-role.kubernetes.io/agent": "",
					"type":                          "kwok",
				},
			},
			Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
		}
		if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("create fake node %s: %w", name, err)
		}
		names = append(names, name)
	}
	return names, nil
}

// waitReady waits for the default ServiceAccount, the controller-manager's
// and scheduler's health, and every fake Node Ready without the not-ready
// taint that the node lifecycle controller puts on new nodes.
func (c *Cluster) waitReady(ctx context.Context, client kubernetes.Interface, kcmPort, schedPort int) error {
	if err := c.waitFor(ctx, "the default ServiceAccount (created by kube-controller-manager)", func(ctx context.Context) error {
		_, err := client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		return err
	}
	for name, port := range map[string]int{binController: kcmPort, binScheduler: schedPort} {
		if err := c.waitFor(ctx, name+" /healthz", func(ctx context.Context) error {
			return httpOK(ctx, "https://127.0.0.1:"+strconv.Itoa(port)+"/healthz")
		}); err != nil {
			return err
		}
	}
	for _, name := range c.Nodes {
		if err := c.waitFor(ctx, "node "+name+" Ready (kwok)", func(ctx context.Context) error {
			node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) {
					return errors.New("node is gone")
				}
				return err
			}
			ready := false
			for _, cond := range node.Status.Conditions {
				if cond.Type == corev1.NodeReady {
					ready = cond.Status == corev1.ConditionTrue
				}
			}
			if !ready {
				return errors.New("node is not Ready")
			}
			for _, t := range node.Spec.Taints {
				if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
					return fmt.Errorf("node still has taint %s", t.Key)
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}
