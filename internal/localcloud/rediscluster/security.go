package rediscluster

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/pki"
)

// caDir is the folder, inside a cluster's folder, of its own certificate
// authority (transit encryption).
const caDir = "ca"

// useCA loads (or creates) the CA of c, a cluster with transit encryption:
// every node gets a certificate from it, GetClusterCertificateAuthority
// returns it and localcloud's own clients trust exactly it.
func (s *Service) useCA(c *cluster) error {
	ca, err := pki.LoadOrCreateCA(filepath.Join(c.dir, caDir), "localcloud Memorystore for Redis Cluster CA")
	if err != nil {
		return fmt.Errorf("certificate authority of the cluster: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	s.mu.Lock()
	c.tls = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	c.ca = ca
	s.mu.Unlock()
	return nil
}

// nodeCert gives a node a certificate for 127.0.0.1 from ca, good for the
// server and, on the cluster bus (mutual TLS), the client side; it returns
// the redis-server options that use it.
func nodeCert(ca *pki.CA, dir string) ([]string, error) {
	d := filepath.Join(dir, "tls")
	cert, key := pki.LeafPaths(d)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, err
	}
	if _, err := os.Stat(key); err != nil {
		leaf, err := ca.IssueFor([]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, "127.0.0.1", "localhost")
		if err != nil {
			return nil, fmt.Errorf("node certificate: %w", err)
		}
		if cert, key, err = leaf.WriteFiles(d); err != nil {
			return nil, fmt.Errorf("node certificate: %w", err)
		}
	}
	caFile := filepath.Join(d, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM, 0o644); err != nil {
		return nil, err
	}
	return []string{"--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", caFile, "--tls-auth-clients", "no"}, nil
}

// newToken mints an access token for a cluster with IAM authorization
// when localcloud gave none (Config.AccessToken). Google checks a caller's
// OAuth access token and its roles/redis.dbConnectionUser grant;
// localcloud has no IAM, so one token stands for every identity allowed
// to connect, and only whoever gets it from localcloud (its metadata
// server, its admin endpoint) has it: a client without it is refused as
// Google refuses one without a valid token.
func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return "ya29.localcloud." + base64.RawURLEncoding.EncodeToString(b)
}

// authConf writes the configuration file a node reads first: with a token,
// requirepass (clients) and masterauth (a replica to its primary), so
// that the token is on no command line.
func authConf(dir, token string) (string, error) {
	path := filepath.Join(dir, "auth.conf")
	body := "# written by localcloud\n"
	if token != "" {
		body += fmt.Sprintf("requirepass %q\nmasterauth %q\n", token, token)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}
