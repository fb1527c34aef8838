package cluster

import (
	"path/filepath"
)

// AuditWebhookFiles are what an audit webhook receiver and the API server need to speak mutual
// TLS: a CA of their own, the receiver's serving certificate for 127.0.0.1 (and localhost),
// and a kubeconfig for Options.AuditWebhookConfigFile that names the receiver's URL, trusts
// the CA and authenticates the API server with a client certificate the CA signed.
type AuditWebhookFiles struct {
	Kubeconfig string // Options.AuditWebhookConfigFile
	CA         string // PEM CA certificate: the receiver's client CA
	Cert, Key  string // PEM serving certificate and key of the receiver
}

// NewAuditWebhook writes AuditWebhookFiles into dir for a receiver at url
// (https://127.0.0.1:PORT/...). The receiver must listen on that address before the API server
// has events to send, or soon after: the API server retries each batch for a while (see
// Options.AuditWebhookInitialBackoff).
func NewAuditWebhook(dir, url string) (*AuditWebhookFiles, error) {
	p, err := newPKI(dir)
	if err != nil {
		return nil, err
	}
	serving, err := p.serving("audit-webhook")
	if err != nil {
		return nil, err
	}
	client, err := p.client("apiserver-audit", "kube-apiserver-audit")
	if err != nil {
		return nil, err
	}
	f := &AuditWebhookFiles{Kubeconfig: filepath.Join(dir, "audit-webhook.kubeconfig"), CA: p.caPath,
		Cert: serving.certPath, Key: serving.keyPath}
	return f, writeKubeconfig(f.Kubeconfig, url, p.caPEM, client)
}
