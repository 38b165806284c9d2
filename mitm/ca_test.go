package mitm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"sync"
	"testing"
	"time"
)

// testCA is a root plus a swappable intermediate, standing in for a running
// Caddy PKI app. It implements CA.
type testCA struct {
	root    *x509.Certificate
	rootKey *ecdsa.PrivateKey

	mu    sync.RWMutex
	chain []*x509.Certificate
	key   crypto.Signer
}

// newTestCA returns a CA whose intermediate is valid from an hour ago for a
// week, like Caddy's default.
func newTestCA(t testing.TB) *testCA {
	t.Helper()
	rootKey := newKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "latchkey test root"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatalf("creating root: %v", err)
	}
	root, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parsing root: %v", err)
	}
	ca := &testCA{root: root, rootKey: rootKey}
	ca.rotate(t, now.Add(7*24*time.Hour))
	return ca
}

// newIntermediate signs a new intermediate that expires at notAfter.
func (ca *testCA) newIntermediate(t testing.TB, notAfter time.Time) (
	*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "latchkey test intermediate"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.root, &key.PublicKey, ca.rootKey)
	if err != nil {
		t.Fatalf("creating intermediate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parsing intermediate: %v", err)
	}
	return cert, key
}

// rotate replaces the intermediate, as Caddy does when it renews one, and
// returns the new certificate.
func (ca *testCA) rotate(t testing.TB, notAfter time.Time) *x509.Certificate {
	t.Helper()
	cert, key := ca.newIntermediate(t, notAfter)
	ca.set([]*x509.Certificate{cert}, key)
	return cert
}

// set replaces the chain and key together.
func (ca *testCA) set(chain []*x509.Certificate, key crypto.Signer) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.chain, ca.key = chain, key
}

// IntermediateCertificateChain implements CA.
func (ca *testCA) IntermediateCertificateChain() []*x509.Certificate {
	ca.mu.RLock()
	defer ca.mu.RUnlock()
	return ca.chain
}

// IntermediateKey implements CA.
func (ca *testCA) IntermediateKey() crypto.Signer {
	ca.mu.RLock()
	defer ca.mu.RUnlock()
	return ca.key
}

func (ca *testCA) intermediate() *x509.Certificate { return ca.IntermediateCertificateChain()[0] }

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.root)
	return p
}

// verify checks that cert chains to the root for host at the given time.
func (ca *testCA) verify(t testing.TB, cert *tls.Certificate, host string, at time.Time) {
	t.Helper()
	inters := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatalf("parsing served chain: %v", err)
		}
		inters.AddCert(c)
	}
	_, err := cert.Leaf.Verify(x509.VerifyOptions{
		DNSName:       host,
		Roots:         ca.pool(),
		Intermediates: inters,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		t.Fatalf("verifying leaf for %q: %v", host, err)
	}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generating key: %v", err)
	}
	return key
}

func newTestIssuer(t testing.TB, ca CA, lifetime time.Duration) *Issuer {
	t.Helper()
	i, err := NewIssuer(ca, lifetime)
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	return i
}

var _ CA = (*testCA)(nil)
