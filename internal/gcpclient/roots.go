package gcpclient

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// localcloudCAPath is where localcloud serves its front doors' certificate
// authority.
const localcloudCAPath = "/_localcloud/ca.pem"

// FrontDoorRoots is the certificate pool the provider trusts when it talks
// to the load balancer's front door (health gates, soak probes,
// agentnet_relay_health): the system's roots, plus, when the clients talk
// to localcloud, the certificate authority localcloud issues its front
// doors' certificates from. Verification is never turned off.
func (c *Clients) FrontDoorRoots(ctx context.Context) (*x509.CertPool, error) {
	host := ""
	if c != nil {
		host = c.EmulatorHost
	}
	return FrontDoorRoots(ctx, host)
}

// FrontDoorRoots is Clients.FrontDoorRoots for a localcloud at emulatorHost
// (host:port; empty for Google Cloud).
func FrontDoorRoots(ctx context.Context, emulatorHost string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if emulatorHost == "" {
		return pool, nil
	}
	pem, err := fetchLocalcloudCA(ctx, emulatorHost)
	if err != nil {
		return nil, err
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("localcloud at %s served no certificate at %s", emulatorHost, localcloudCAPath)
	}
	return pool, nil
}

func fetchLocalcloudCA(ctx context.Context, emulatorHost string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	url := "http://" + emulatorHost + localcloudCAPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching localcloud's front door CA from %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = errors.New(resp.Status)
	}
	if err != nil {
		return nil, fmt.Errorf("fetching localcloud's front door CA from %s: %w", url, err)
	}
	return b, nil
}
