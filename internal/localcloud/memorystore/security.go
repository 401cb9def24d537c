package memorystore

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"cloud.google.com/go/redis/apiv1/redispb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/pki"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// tlsDir is the folder, inside an instance's folder, holding its own
// certificate authority (transit encryption) and the server certificate it
// issued to the instance's redis-server.
const tlsDir = "tls"

// authConf is the redis-server configuration file holding requirepass, so
// that the AUTH string is on no command line (ps) and in no log.
const authConf = "auth.conf"

// newAuthString makes an AUTH string in the form Memorystore gives (a UUID).
func newAuthString() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// useInstanceCA loads (or creates) the certificate authority of inst, an
// instance with transit encryption, and makes sure its redis-server has a
// certificate from it. The instance then reports the CA as its
// server_ca_certs, and localcloud's own clients trust exactly it.
func (s *Service) useInstanceCA(inst *instance) error {
	d := filepath.Join(inst.dir, tlsDir)
	ca, err := pki.LoadOrCreateCA(d, "localcloud Memorystore server CA")
	if err != nil {
		return fmt.Errorf("certificate authority of the instance: %w", err)
	}
	_, key := pki.LeafPaths(d)
	if _, err := os.Stat(key); errors.Is(err, fs.ErrNotExist) {
		leaf, err := ca.Issue("127.0.0.1", "localhost")
		if err != nil {
			return fmt.Errorf("server certificate of the instance: %w", err)
		}
		if _, _, err := leaf.WriteFiles(d); err != nil {
			return fmt.Errorf("server certificate of the instance: %w", err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	s.mu.Lock()
	inst.tls = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	inst.pb.ServerCaCerts = serverCACerts(ca)
	s.mu.Unlock()
	return nil
}

// serverCACerts describes a CA as the API's server_ca_certs.
func serverCACerts(ca *pki.CA) []*redispb.TlsCertificate {
	sum := sha1.Sum(ca.Cert.Raw)
	return []*redispb.TlsCertificate{{
		SerialNumber:    ca.Cert.SerialNumber.String(),
		Cert:            string(ca.PEM),
		CreateTime:      timestamppb.New(ca.Cert.NotBefore),
		ExpireTime:      timestamppb.New(ca.Cert.NotAfter),
		Sha1Fingerprint: hex.EncodeToString(sum[:]),
	}}
}

// tlsArgs are the redis-server options serving TLS only, on port, with the
// certificate kept in dir; clients are not asked for certificates, as
// SERVER_AUTHENTICATION does.
func tlsArgs(dir string, port int) []string {
	d := filepath.Join(dir, tlsDir)
	cert, key := pki.LeafPaths(d)
	return []string{
		"--port", "0",
		"--tls-port", fmt.Sprint(port),
		"--tls-cert-file", cert,
		"--tls-key-file", key,
		"--tls-ca-cert-file", pki.CertPath(d),
		"--tls-auth-clients", "no",
	}
}

// writeAuthConf writes the configuration file redis-server reads first:
// requirepass when AUTH is enabled, nothing otherwise.
func writeAuthConf(dir, auth string) (string, error) {
	path := filepath.Join(dir, authConf)
	body := "# written by localcloud\n"
	if auth != "" {
		body += "requirepass \"" + auth + "\"\n"
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}

// copyTLS copies the instance's certificate folder into dst's, so that a
// folder swapped in by an import keeps the instance's CA.
func copyTLS(src, dst string) error {
	from, to := filepath.Join(src, tlsDir), filepath.Join(dst, tlsDir)
	ents, err := os.ReadDir(from)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(to, 0o700); err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, info.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}
