package mitm

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddypki"
)

// The issuer is written against Caddy's CA; keep that true at compile time.
var _ CA = (*caddypki.CA)(nil)

func TestNewIssuerRejects(t *testing.T) {
	ca := newTestCA(t)
	tests := []struct {
		name     string
		ca       CA
		lifetime time.Duration
		want     string
	}{
		{"nil ca", nil, 0, "nil certificate authority"},
		{"negative lifetime", ca, -time.Second, "negative lifetime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewIssuer(tt.ca, tt.lifetime)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewIssuer error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCertificateVerifies(t *testing.T) {
	ca := newTestCA(t)
	iss := newTestIssuer(t, ca, 0)
	tests := []struct {
		name   string
		host   string
		verify string // name the client verifies
		wantIP net.IP // nil for DNS names
	}{
		{"dns", "example.com", "example.com", nil},
		{"dns mixed case trailing dot", "API.Example.COM.", "api.example.com", nil},
		{"dns ending in digit", "host1", "host1", nil},
		{"ipv4", "127.0.0.1", "127.0.0.1", net.ParseIP("127.0.0.1")},
		{"ipv6 bracketed", "[::1]", "::1", net.ParseIP("::1")},
		{"ipv6 long form", "0:0:0:0:0:0:0:1", "::1", net.ParseIP("::1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert, err := iss.Certificate(tt.host)
			if err != nil {
				t.Fatalf("Certificate(%q): %v", tt.host, err)
			}
			ca.verify(t, cert, tt.verify, time.Now())

			leaf := cert.Leaf
			if tt.wantIP != nil {
				if len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(tt.wantIP) ||
					len(leaf.DNSNames) != 0 {
					t.Errorf("SANs = %v %v, want only IP %v",
						leaf.DNSNames, leaf.IPAddresses, tt.wantIP)
				}
			} else if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != tt.verify ||
				len(leaf.IPAddresses) != 0 {
				t.Errorf("SANs = %v %v, want only DNS %q",
					leaf.DNSNames, leaf.IPAddresses, tt.verify)
			}
			if leaf.IsCA {
				t.Error("leaf is a CA")
			}
			if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
				t.Errorf("ExtKeyUsage = %v, want server auth only", leaf.ExtKeyUsage)
			}
			if !leaf.NotBefore.Before(time.Now().Add(-time.Minute)) {
				t.Errorf("NotBefore = %v, want it backdated for clock skew", leaf.NotBefore)
			}
			if len(cert.Certificate) != 2 ||
				!bytes.Equal(cert.Certificate[1], ca.intermediate().Raw) {
				t.Errorf("served chain has %d certificates, want leaf + intermediate",
					len(cert.Certificate))
			}
			key, ok := cert.PrivateKey.(*ecdsa.PrivateKey)
			if !ok || key.Curve != elliptic.P256() {
				t.Errorf("private key is %T, want a P-256 ECDSA key", cert.PrivateKey)
			}
		})
	}
}

func TestCertificateSharesOneKey(t *testing.T) {
	iss := newTestIssuer(t, newTestCA(t), 0)
	a, err := iss.Certificate("a.example")
	if err != nil {
		t.Fatal(err)
	}
	b, err := iss.Certificate("b.example")
	if err != nil {
		t.Fatal(err)
	}
	if a.PrivateKey != b.PrivateKey {
		t.Error("leaves for different hosts use different keys, want one per Issuer")
	}
}

func TestCertificateRejectsHost(t *testing.T) {
	iss := newTestIssuer(t, newTestCA(t), 0)
	tests := []struct{ name, host string }{
		{"empty", ""},
		{"empty brackets", "[]"},
		{"space", "exa mple.com"},
		{"port", "example.com:443"},
		{"ip with port", "127.0.0.1:443"},
		{"ipv6 zone", "fe80::1%eth0"},
		{"wildcard", "*.example.com"},
		{"empty label", "a..b"},
		{"leading dot", ".example.com"},
		{"long label", strings.Repeat("a", 64) + ".com"},
		{"too long", strings.Repeat("abcdefghi.", 26)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert, err := iss.Certificate(tt.host)
			if err == nil {
				t.Fatalf("Certificate(%q) = %v, want an error", tt.host, cert.Leaf.DNSNames)
			}
			if !strings.HasPrefix(err.Error(), "minting certificate") {
				t.Errorf("error %q lacks context", err)
			}
		})
	}
	if minted, hits := iss.Stats(); minted != 0 || hits != 0 {
		t.Errorf("Stats() = %d, %d after rejected hosts, want 0, 0", minted, hits)
	}
}

func TestCertificateCaches(t *testing.T) {
	iss := newTestIssuer(t, newTestCA(t), 0)
	first, err := iss.Certificate("example.com")
	if err != nil {
		t.Fatal(err)
	}
	if minted, hits := iss.Stats(); minted != 1 || hits != 0 {
		t.Fatalf("after first call Stats() = %d, %d, want 1, 0", minted, hits)
	}
	for _, host := range []string{"example.com", "EXAMPLE.com", "example.com."} {
		got, err := iss.Certificate(host)
		if err != nil {
			t.Fatal(err)
		}
		if got != first {
			t.Errorf("Certificate(%q) minted a new leaf, want the cached one", host)
		}
	}
	if minted, hits := iss.Stats(); minted != 1 || hits != 3 {
		t.Errorf("after cached calls Stats() = %d, %d, want 1, 3", minted, hits)
	}
}

func TestCertificateReMintsAfterRotation(t *testing.T) {
	ca := newTestCA(t)
	iss := newTestIssuer(t, ca, 0)
	before, err := iss.Certificate("example.com")
	if err != nil {
		t.Fatal(err)
	}
	inter := ca.rotate(t, time.Now().Add(7*24*time.Hour))

	after, err := iss.Certificate("example.com")
	if err != nil {
		t.Fatal(err)
	}
	if after == before {
		t.Fatal("got the cached leaf after the intermediate changed")
	}
	if !bytes.Equal(after.Leaf.AuthorityKeyId, inter.SubjectKeyId) {
		t.Error("new leaf is not signed by the new intermediate")
	}
	if !bytes.Equal(after.Certificate[1], inter.Raw) {
		t.Error("served chain does not carry the new intermediate")
	}
	ca.verify(t, after, "example.com", time.Now())
	if minted, hits := iss.Stats(); minted != 2 || hits != 0 {
		t.Errorf("Stats() = %d, %d, want 2, 0", minted, hits)
	}
}

func TestCertificateRenewsNearExpiry(t *testing.T) {
	tests := []struct {
		name    string
		elapsed time.Duration // of a one-hour lifetime
		reMint  bool
	}{
		{"early", time.Minute, false},
		{"just before the last quarter", 44 * time.Minute, false},
		{"in the last quarter", 46 * time.Minute, true},
		{"expired", 2 * time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca := newTestCA(t)
			iss := newTestIssuer(t, ca, time.Hour)
			start := time.Now()
			iss.now = func() time.Time { return start }
			first, err := iss.Certificate("example.com")
			if err != nil {
				t.Fatal(err)
			}
			iss.now = func() time.Time { return start.Add(tt.elapsed) }
			second, err := iss.Certificate("example.com")
			if err != nil {
				t.Fatal(err)
			}
			if got := second != first; got != tt.reMint {
				t.Errorf("re-minted = %v after %v, want %v", got, tt.elapsed, tt.reMint)
			}
			ca.verify(t, second, "example.com", start.Add(tt.elapsed))
		})
	}
}

func TestCertificateLifetime(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name      string
		lifetime  time.Duration
		interLife time.Duration
		want      time.Duration // from now, or 0 to expect the intermediate's NotAfter
	}{
		{"default", 0, 7 * 24 * time.Hour, DefaultLifetime},
		{"custom", 2 * time.Hour, 7 * 24 * time.Hour, 2 * time.Hour},
		{"clamped to intermediate", 12 * time.Hour, time.Hour, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca := newTestCA(t)
			inter := ca.rotate(t, now.Add(tt.interLife))
			iss := newTestIssuer(t, ca, tt.lifetime)
			iss.now = func() time.Time { return now }
			cert, err := iss.Certificate("example.com")
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == 0 {
				if !cert.Leaf.NotAfter.Equal(inter.NotAfter) {
					t.Errorf("NotAfter = %v, want the intermediate's %v",
						cert.Leaf.NotAfter, inter.NotAfter)
				}
				return
			}
			// Certificates carry whole seconds.
			want := now.Add(tt.want).Truncate(time.Second)
			if !cert.Leaf.NotAfter.Equal(want) {
				t.Errorf("NotAfter = %v, want %v", cert.Leaf.NotAfter, want)
			}
		})
	}
}

func TestCertificateCAFailures(t *testing.T) {
	good := newTestCA(t)
	expired, expiredKey := good.newIntermediate(t, time.Now().Add(-time.Minute))
	other, _ := good.newIntermediate(t, time.Now().Add(time.Hour))
	tests := []struct {
		name  string
		chain []*x509.Certificate
		key   crypto.Signer
		want  string
	}{
		{"no chain", nil, newKey(t), "no intermediate certificate"},
		{"no key", good.chain, nil, "no intermediate key"},
		{"mismatched key", []*x509.Certificate{other}, expiredKey, "does not match"},
		{"expired intermediate", []*x509.Certificate{expired}, expiredKey, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca := &testCA{root: good.root, rootKey: good.rootKey}
			ca.set(tt.chain, tt.key)
			iss := newTestIssuer(t, ca, 0)
			_, err := iss.Certificate("example.com")
			if err == nil || !strings.Contains(err.Error(), tt.want) ||
				!strings.Contains(err.Error(), `"example.com"`) {
				t.Fatalf("error = %v, want it to name the host and contain %q", err, tt.want)
			}
			if minted, _ := iss.Stats(); minted != 0 {
				t.Errorf("minted = %d, want 0", minted)
			}
		})
	}
}

// gateSigner blocks every Sign until release is closed, so a mint can be
// held open while other callers pile up behind it.
type gateSigner struct {
	crypto.Signer
	calls   atomic.Int32
	release chan struct{}
}

func (g *gateSigner) Sign(r io.Reader, digest []byte, o crypto.SignerOpts) ([]byte, error) {
	g.calls.Add(1)
	<-g.release
	return g.Signer.Sign(r, digest, o)
}

func TestCertificateCoalescesConcurrentMints(t *testing.T) {
	const callers = 50
	ca := newTestCA(t)
	gate := &gateSigner{Signer: ca.IntermediateKey(), release: make(chan struct{})}
	ca.set(ca.IntermediateCertificateChain(), gate)
	iss := newTestIssuer(t, ca, 0)

	certs := make([]*tls.Certificate, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for n := range callers {
		wg.Go(func() { certs[n], errs[n] = iss.Certificate("example.com") })
	}
	// Hold the first mint inside Sign until every other caller waits on it
	// or, if coalescing is broken, a second caller starts signing too.
	for iss.waiting.Load() < callers-1 && gate.calls.Load() < 2 {
		runtime.Gosched()
	}
	close(gate.release)
	wg.Wait()

	for n := range callers {
		if errs[n] != nil {
			t.Fatalf("caller %d: %v", n, errs[n])
		}
		if certs[n] != certs[0] {
			t.Fatalf("caller %d got a different certificate", n)
		}
	}
	if got := gate.calls.Load(); got != 1 {
		t.Errorf("signed %d times, want 1", got)
	}
	if minted, hits := iss.Stats(); minted != 1 || hits != callers-1 {
		t.Errorf("Stats() = %d, %d, want 1, %d", minted, hits, callers-1)
	}
}

func TestCertificateEvictsSoonestRefresh(t *testing.T) {
	iss := newTestIssuer(t, newTestCA(t), time.Hour)
	iss.maxEntries = 3
	start := time.Now()
	// Mint a minute apart so refresh times are ordered a < b < c < d.
	for n, host := range []string{"a.example", "b.example", "c.example", "d.example"} {
		iss.now = func() time.Time { return start.Add(time.Duration(n) * time.Minute) }
		if _, err := iss.Certificate(host); err != nil {
			t.Fatal(err)
		}
	}
	assertCached(t, iss, "b.example", "c.example", "d.example")
}

func TestCertificateEvictsSupersededFirst(t *testing.T) {
	ca := newTestCA(t)
	iss := newTestIssuer(t, ca, time.Hour)
	iss.maxEntries = 3
	start := time.Now()
	iss.now = func() time.Time { return start }
	for _, host := range []string{"old1.example", "old2.example"} {
		if _, err := iss.Certificate(host); err != nil {
			t.Fatal(err)
		}
	}
	// new1 is minted earliest, so it is due for renewal soonest, but the
	// entries of the superseded intermediate must go before it does.
	ca.rotate(t, start.Add(7*24*time.Hour))
	for n, host := range []string{"new1.example", "new2.example", "new3.example"} {
		iss.now = func() time.Time { return start.Add(time.Duration(n+1) * time.Minute) }
		if _, err := iss.Certificate(host); err != nil {
			t.Fatal(err)
		}
	}
	assertCached(t, iss, "new1.example", "new2.example", "new3.example")
}

// assertCached checks that the issuer's cache holds exactly hosts.
func assertCached(t *testing.T, iss *Issuer, hosts ...string) {
	t.Helper()
	iss.mu.RLock()
	defer iss.mu.RUnlock()
	if len(iss.cache) != len(hosts) {
		t.Errorf("cache holds %d hosts, want %d", len(iss.cache), len(hosts))
	}
	for _, h := range hosts {
		if _, ok := iss.cache[h]; !ok {
			t.Errorf("cache lacks %q", h)
		}
	}
}

func TestGetCertificate(t *testing.T) {
	iss := newTestIssuer(t, newTestCA(t), 0)
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	withTarget := NewConn(server, nil, Target{Host: "10.1.2.3", Port: "443"})
	tests := []struct {
		name    string
		hello   *tls.ClientHelloInfo
		wantDNS string
		wantIP  string
	}{
		{"sni", &tls.ClientHelloInfo{ServerName: "sni.example", Conn: withTarget},
			"sni.example", ""},
		{"target without sni", &tls.ClientHelloInfo{Conn: withTarget}, "", "10.1.2.3"},
		{"neither", &tls.ClientHelloInfo{Conn: server}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert, err := iss.GetCertificate(tt.hello)
			switch {
			case tt.wantDNS == "" && tt.wantIP == "":
				if err == nil {
					t.Fatal("GetCertificate succeeded without a name, want an error")
				}
				return
			case err != nil:
				t.Fatalf("GetCertificate: %v", err)
			}
			if tt.wantDNS != "" && (len(cert.Leaf.DNSNames) != 1 ||
				cert.Leaf.DNSNames[0] != tt.wantDNS) {
				t.Errorf("DNSNames = %v, want [%s]", cert.Leaf.DNSNames, tt.wantDNS)
			}
			if tt.wantIP != "" && (len(cert.Leaf.IPAddresses) != 1 ||
				cert.Leaf.IPAddresses[0].String() != tt.wantIP) {
				t.Errorf("IPAddresses = %v, want [%s]", cert.Leaf.IPAddresses, tt.wantIP)
			}
		})
	}
}

func BenchmarkCertificateCached(b *testing.B) {
	iss := newTestIssuer(b, newTestCA(b), 0)
	if _, err := iss.Certificate("example.com"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Certificate("example.com"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCertificateCachedParallel(b *testing.B) {
	iss := newTestIssuer(b, newTestCA(b), 0)
	if _, err := iss.Certificate("example.com"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := iss.Certificate("example.com"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkCertificateMint(b *testing.B) {
	iss := newTestIssuer(b, newTestCA(b), 0)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++ // a new host every iteration, so every call mints
		if _, err := iss.Certificate("host" + strconv.Itoa(n) + ".example"); err != nil {
			b.Fatal(err)
		}
	}
}
