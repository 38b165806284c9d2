package tests

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"time"

	"github.com/latchkeyproxy/latchkey/internal/testkit"
)

// testCAName is the common name of the test CA, which the tunnel scenario
// looks for in the certificate the agent sees.
const testCAName = "latchkey e2e test CA"

// upstreamHosts are the names the fake upstream's certificate is valid for.
var upstreamHosts = []string{"api.test", "unbound.test", "other.test", "*.test"}

// pki is a throwaway certificate authority and the upstream's leaf.
type pki struct {
	// caCert is the CA certificate.
	caCert *x509.Certificate

	// caPool trusts only the CA.
	caPool *x509.CertPool

	// caFile is the CA certificate as a PEM file, for upstream_root_ca.
	caFile string

	// leaf is the upstream's certificate and key.
	leaf tls.Certificate
}

// newPKI makes an ECDSA CA and a leaf for upstreamHosts, and writes the CA
// certificate as PEM into dir.
func newPKI(dir string) (*pki, error) {
	ca, err := testkit.NewCA(testCAName, upstreamHosts, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	caFile := filepath.Join(dir, "test-ca.pem")
	if err := os.WriteFile(caFile, ca.PEM, 0o644); err != nil {
		return nil, err
	}
	return &pki{caCert: ca.Cert, caPool: ca.Pool, caFile: caFile, leaf: ca.Leaf}, nil
}
