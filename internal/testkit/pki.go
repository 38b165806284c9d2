// Package testkit holds the fixtures that latchkey's end-to-end tests, its
// real-client suite, its benchmark and its demo share: a throwaway
// certificate authority for fake upstreams, and a client for the admin API.
// It is internal and not meant for production code.
package testkit

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
	"time"
)

// CA is a throwaway certificate authority with one server certificate.
type CA struct {
	// Cert is the CA certificate.
	Cert *x509.Certificate

	// Pool is a pool trusting only Cert.
	Pool *x509.CertPool

	// PEM is Cert encoded as PEM, for upstream_root_ca.
	PEM []byte

	// Leaf is the server certificate for the hosts given to NewCA.
	Leaf tls.Certificate

	// LeafKey is Leaf's private key.
	LeafKey *ecdsa.PrivateKey
}

// NewCA makes an ECDSA CA named commonName and a server certificate for
// hosts (the first is its common name), both valid from an hour ago for
// lifetime.
func NewCA(commonName string, hosts []string, lifetime time.Duration) (*CA, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(lifetime),
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
		Subject:      pkix.Name{CommonName: hosts[0]},
		DNSNames:     hosts,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(lifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey,
		caKey)
	if err != nil {
		return nil, fmt.Errorf("signing leaf: %v", err)
	}

	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &CA{
		Cert:    caCert,
		Pool:    pool,
		PEM:     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		Leaf:    tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey},
		LeafKey: leafKey,
	}, nil
}
