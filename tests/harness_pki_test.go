package tests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
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
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: testCAName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("signing CA: %v", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}

	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "api.test"},
		DNSNames:     upstreamHosts,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey,
		caKey)
	if err != nil {
		return nil, fmt.Errorf("signing leaf: %v", err)
	}

	caFile := filepath.Join(dir, "test-ca.pem")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &pki{
		caCert: caCert,
		caPool: pool,
		caFile: caFile,
		leaf:   tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey},
	}, nil
}
