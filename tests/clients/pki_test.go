//go:build clients

package clients

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// The hosts the fake upstream answers for. latchkey dials each of them at
// the fake, and checks the fake's certificate against the test CA.
const (
	hostChatGPT    = "chatgpt.com"
	hostOpenAIAuth = "auth.openai.com"
	hostAnthropic  = "api.anthropic.com"
	hostClaudeAuth = "platform.claude.com"
)

var fakeHosts = []string{hostChatGPT, hostOpenAIAuth, hostAnthropic, hostClaudeAuth}

// testCA is a throwaway CA with one leaf certificate for every fake host.
type testCA struct {
	// pemFile is the CA certificate, for latchkey's upstream_root_ca and
	// for a client that talks to the fake without latchkey.
	pemFile string

	// leaf is the fake upstream's certificate.
	leaf tls.Certificate
}

// newTestCA makes the CA in dir.
func newTestCA(dir string) (*testCA, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "latchkey client tests CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(48 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
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
		Subject:      pkix.Name{CommonName: hostChatGPT},
		DNSNames:     fakeHosts,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(48 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey,
		caKey)
	if err != nil {
		return nil, err
	}

	file := filepath.Join(dir, "fake-upstream-ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{
		Type:  "CERTIFICATE",
		Bytes: caDER,
	}), 0o644); err != nil {
		return nil, err
	}
	return &testCA{pemFile: file, leaf: tls.Certificate{
		Certificate: [][]byte{leafDER},
		PrivateKey:  leafKey,
	}}, nil
}
