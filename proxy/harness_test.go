package proxy

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/latchkeyproxy/latchkey/engine"
	"github.com/latchkeyproxy/latchkey/mitm"
	"github.com/latchkeyproxy/latchkey/store"
)

// testCA is a root and an intermediate made for one test. It signs both
// the fake upstreams' certificates and, as the proxy's CA, the leaves of
// intercepted hosts.
type testCA struct {
	root, inter *x509.Certificate
	interKey    *ecdsa.PrivateKey
	pool        *x509.CertPool
	pemFile     string
}

func (c *testCA) IntermediateCertificateChain() []*x509.Certificate {
	return []*x509.Certificate{c.inter}
}
func (c *testCA) IntermediateKey() crypto.Signer { return c.interKey }

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	interKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	interTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "test inter"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	interDER, err := x509.CreateCertificate(rand.Reader, interTmpl, root, &interKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	inter, _ := x509.ParseCertificate(interDER)
	pool := x509.NewCertPool()
	pool.AddCert(root)
	f := filepath.Join(t.TempDir(), "root.pem")
	os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER}), 0o600)
	return &testCA{root: root, inter: inter, interKey: interKey, pool: pool, pemFile: f}
}

// seen is one request as a fake upstream received it.
type seen struct {
	Method, Host, Path string
	Header             http.Header
	Body               []byte
}

// upstream is a fake TLS server for the *.test hosts that records what it
// receives and answers with a per-test handler.
type fakeUpstream struct {
	srv      *httptest.Server
	mu       sync.Mutex
	reqs     []seen
	rejected map[string]bool
}

// reject401 makes the upstream answer 401 to this Authorization value.
func (u *fakeUpstream) reject401(auth string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.rejected == nil {
		u.rejected = map[string]bool{}
	}
	u.rejected[auth] = true
}

func (u *fakeUpstream) rejects(auth string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.rejected[auth]
}

func newFakeUpstream(t *testing.T, ca *testCA, handle func(w http.ResponseWriter, r *http.Request, body []byte)) *fakeUpstream {
	t.Helper()
	u := &fakeUpstream{}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, seen{Method: r.Method, Host: r.Host, Path: r.URL.Path,
			Header: r.Header.Clone(), Body: body})
		u.mu.Unlock()
		handle(w, r, body)
	}))
	cert, err := mitm.NewIssuer(ca, 0)
	if err != nil {
		t.Fatal(err)
	}
	u.srv.TLS = &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		return cert.Certificate(h.ServerName)
	}}
	u.srv.EnableHTTP2 = true
	u.srv.StartTLS()
	t.Cleanup(u.srv.Close)
	return u
}

func (u *fakeUpstream) requests() []seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seen(nil), u.reqs...)
}

// rig is a latchkey handler over a fresh engine, served on loopback as a
// forward proxy, with every *.test host overridden to one fake upstream.
type rig struct {
	db     *store.DB
	eng    *engine.Engine
	h      *Handler
	proxy  *httptest.Server
	ca     *testCA
	client *http.Client
}

func newRig(t *testing.T, up *fakeUpstream, ca *testCA) *rig {
	t.Helper()
	db, err := store.Open(store.Options{Dir: t.TempDir(),
		EncryptionKey: bytes.Repeat([]byte{9}, store.EncryptionKeySize)})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(db, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(); db.Close() })

	addr := up.srv.Listener.Addr().String()
	h := &Handler{UpstreamOverrides: map[string]string{"api.test": addr, "auth.test": addr,
		"other.test": addr}, UpstreamRootCAs: []string{ca.pemFile}}
	if err := h.provisionWith(zap.NewNop(), eng, ca); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Cleanup() })

	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r, nil)
	}))
	t.Cleanup(proxy.Close)
	pu, _ := url.Parse(proxy.URL)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu),
		TLSClientConfig: &tls.Config{RootCAs: ca.pool}, ForceAttemptHTTP2: true}}
	t.Cleanup(client.CloseIdleConnections)
	return &rig{db: db, eng: eng, h: h, proxy: proxy, ca: ca, client: client}
}

// closeStore closes the database under the engine, so every later write
// fails as a broken disk would.
func (r *rig) closeStore() { r.db.Close() }
