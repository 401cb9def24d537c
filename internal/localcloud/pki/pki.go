// Package pki issues the certificates localcloud serves: one certificate
// authority per purpose (the front door's, each Memorystore instance's), kept
// on disk so a restarted localcloud serves what clients already trust.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/state"
)

// CA is a certificate authority whose key never leaves localcloud.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	PEM  []byte // the certificate, PEM encoded: what clients trust
}

const (
	certFile = "ca.pem"
	keyFile  = "ca-key.pem"
)

// LoadOrCreateCA reads the CA kept in dir, or creates one named commonName
// there (the key readable by the owner only).
func LoadOrCreateCA(dir, commonName string) (*CA, error) {
	certPEM, cerr := os.ReadFile(filepath.Join(dir, certFile))
	keyPEM, kerr := os.ReadFile(filepath.Join(dir, keyFile))
	if cerr == nil && kerr == nil {
		return parseCA(certPEM, keyPEM)
	}
	if !errors.Is(cerr, os.ErrNotExist) && cerr != nil {
		return nil, cerr
	}
	ca, keyPEM, err := newCA(commonName)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := state.WriteFileAtomic(filepath.Join(dir, keyFile), keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := state.WriteFileAtomic(filepath.Join(dir, certFile), ca.PEM, 0o644); err != nil {
		return nil, err
	}
	return ca, nil
}

// CertPath is where LoadOrCreateCA keeps the CA certificate of dir.
func CertPath(dir string) string { return filepath.Join(dir, certFile) }

func newCA(commonName string) (*CA, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"localcloud"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	ca, err := parseCA(certPEM, keyPEM)
	return ca, keyPEM, err
}

func parseCA(certPEM, keyPEM []byte) (*CA, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("pki: CA files are not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: CA certificate: %w", err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: CA key: %w", err)
	}
	return &CA{Cert: cert, Key: key, PEM: certPEM}, nil
}

// Leaf is a server certificate issued by a CA.
type Leaf struct {
	CertPEM, KeyPEM []byte
	TLS             tls.Certificate
}

// Issue signs a server certificate for hosts (DNS names or IP addresses),
// valid for a year.
func (ca *CA) Issue(hosts ...string) (*Leaf, error) {
	return ca.IssueFor([]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, hosts...)
}

// IssueFor is Issue for other uses: a Redis Cluster node's certificate
// also authenticates it as a client on the cluster bus, where redis-server
// requires one.
func (ca *CA) IssueFor(usages []x509.ExtKeyUsage, hosts ...string) (*Leaf, error) {
	if len(hosts) == 0 {
		return nil, errors.New("pki: a certificate needs at least one host")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usages,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	l := &Leaf{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
	l.TLS, err = tls.X509KeyPair(l.CertPEM, l.KeyPEM)
	return l, err
}

// WriteFiles writes the leaf's certificate and key (owner-only) into dir as
// server.crt and server.key, for processes such as redis-server that read
// files, and returns their paths.
func (l *Leaf) WriteFiles(dir string) (certPath, keyPath string, err error) {
	certPath, keyPath = LeafPaths(dir)
	if err = state.WriteFileAtomic(certPath, l.CertPEM, 0o644); err == nil {
		err = state.WriteFileAtomic(keyPath, l.KeyPEM, 0o600)
	}
	return certPath, keyPath, err
}

// LeafPaths are where WriteFiles keeps a leaf's certificate and key in dir.
func LeafPaths(dir string) (certPath, keyPath string) {
	return filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
}

// Pool is a cert pool trusting the given PEM certificates.
func Pool(pems ...[]byte) (*x509.CertPool, error) {
	p := x509.NewCertPool()
	for _, b := range pems {
		if !p.AppendCertsFromPEM(b) {
			return nil, errors.New("pki: no certificate in PEM")
		}
	}
	return p, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}
