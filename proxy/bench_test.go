package proxy

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/latchkeyproxy/latchkey/engine"
	"github.com/latchkeyproxy/latchkey/mitm"
	"github.com/latchkeyproxy/latchkey/store"
)

// The rig in harness_test.go takes a *testing.T; benchmarks hold a
// *testing.B, so they build the same pieces here through testing.TB.

// Bodies of the small JSON exchange the benchmarks proxy.
var (
	benchRequestBody = []byte(`{"model":"gpt-5","messages":[{"role":"system","content":"You ` +
		`are terse."},{"role":"user","content":"Say hello."}],"max_tokens":32,"stream":false}`)
	benchResponseBody = []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":` +
		`1767225600,"model":"gpt-5","choices":[{"index":0,"message":{"role":"assistant","content":` +
		`"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":` +
		`12,"completion_tokens":9,"total_tokens":21}}`)
)

// Real secrets of the benchmark world.
const (
	benchSecret  = "sk-real-openai-0123456789abcdef0123456789abcdef"
	benchAccessA = "at-real-a-0123456789abcdef0123456789abcdef"
	benchAccessB = "at-real-b-0123456789abcdef0123456789abcdef"
)

// benchCA is newTestCA for a testing.TB.
func benchCA(tb testing.TB) *testCA {
	tb.Helper()
	now := time.Now()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rootTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		tb.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	interKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	interTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "bench inter"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	interDER, err := x509.CreateCertificate(rand.Reader, interTmpl, root, &interKey.PublicKey, rootKey)
	if err != nil {
		tb.Fatal(err)
	}
	inter, _ := x509.ParseCertificate(interDER)
	pool := x509.NewCertPool()
	pool.AddCert(root)
	f := filepath.Join(tb.TempDir(), "root.pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return &testCA{root: root, inter: inter, interKey: interKey, pool: pool, pemFile: f}
}

// benchWorld is a handler over an engine with a static credential bound to
// api.test and a two-member OAuth pool bound to pool.test, every test host
// overridden to upstreamAddr.
type benchWorld struct {
	eng           *engine.Engine
	h             *Handler
	ca            *testCA
	staticPhantom string
	poolPhantom   string
}

func newBenchWorld(tb testing.TB, ca *testCA, upstreamAddr string) *benchWorld {
	tb.Helper()
	db, err := store.Open(store.Options{
		Dir:           tb.TempDir(),
		EncryptionKey: bytes.Repeat([]byte{9}, store.EncryptionKeySize),
	})
	if err != nil {
		tb.Fatal(err)
	}
	eng, err := engine.New(db, zap.NewNop())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { eng.Close(); db.Close() })

	if _, err := eng.AddStaticCredential("openai", benchSecret); err != nil {
		tb.Fatal(err)
	}
	if _, err := eng.AddBinding(engine.BindingSpec{Credential: "openai", Destination: "api.test"}); err != nil {
		tb.Fatal(err)
	}
	for m, access := range map[string]string{"a": benchAccessA, "b": benchAccessB} {
		if _, err := eng.AddOAuthCredential(engine.OAuthSpec{
			Name: m, AccessToken: access,
			RefreshToken: "rt-real-" + m, TokenURL: "https://auth.test/oauth/token",
			AccountID: "acct-" + m,
		}); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := eng.CreatePool(engine.PoolSpec{Name: "codex", Members: []string{"a", "b"}}); err != nil {
		tb.Fatal(err)
	}
	if _, err := eng.AddBinding(engine.BindingSpec{Credential: "codex", Destination: "pool.test"}); err != nil {
		tb.Fatal(err)
	}

	h := &Handler{UpstreamOverrides: map[string]string{
		"api.test":  upstreamAddr,
		"pool.test": upstreamAddr, "auth.test": upstreamAddr,
	}, UpstreamRootCAs: []string{ca.pemFile}}
	if err := h.provisionWith(zap.NewNop(), eng, ca); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Cleanup() })
	sp, _ := eng.Phantom("openai")
	pp, _ := eng.Phantom("codex")
	return &benchWorld{eng: eng, h: h, ca: ca, staticPhantom: sp.Phantom, poolPhantom: pp.AccessToken}
}

// cannedUpstream answers every request in memory with the small JSON
// response, after reading the body, and counts requests that did not carry
// a real secret.
type cannedUpstream struct{ unauthorized atomic.Int64 }

func (c *cannedUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	switch r.Header.Get("Authorization") {
	case "Bearer " + benchSecret, "Bearer " + benchAccessA, "Bearer " + benchAccessB:
	default:
		c.unauthorized.Add(1)
	}
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/2.0", ProtoMajor: 2,
		Header: http.Header{
			"Content-Type":   {"application/json"},
			"Content-Length": {strconv.Itoa(len(benchResponseBody))},
		},
		ContentLength: int64(len(benchResponseBody)), Request: r,
		Body: io.NopCloser(bytes.NewReader(benchResponseBody)),
	}, nil
}

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// counts the handler's allocations rather than a recorder's.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) Flush()                      {}

// rewindBody is a request body that can be reused.
type rewindBody struct{ bytes.Reader }

func (*rewindBody) Close() error { return nil }

// agentRequest is an inbound request inside a tunnel to host, as the
// interception server hands it to serveInner.
func agentRequest(host, auth string) *http.Request {
	u, _ := url.Parse("/v1/chat/completions")
	ctx := context.WithValue(context.Background(), targetKey{}, mitm.Target{Host: host, Port: "443"})
	r := (&http.Request{
		Method: http.MethodPost, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1,
		ProtoMinor: 1, Host: host, RemoteAddr: "127.0.0.1:40000", RequestURI: "/v1/chat/completions",
		ContentLength: int64(len(benchRequestBody)),
		Header: http.Header{
			"Authorization":   {auth},
			"Content-Type":    {"application/json"},
			"Accept":          {"application/json"},
			"User-Agent":      {"OpenAI/Python 1.99.0"},
			"X-Stainless-Os":  {"Linux"},
			"X-Stainless-Arc": {"x64"},
			"Accept-Encoding": {"gzip, deflate"},
			"Connection":      {"keep-alive"},
		},
	}).WithContext(ctx)
	return r
}

// BenchmarkHandlerRequest is one small JSON request through the handler
// in-process, the upstream answered in memory: what latchkey adds to a
// request besides TLS and sockets. reverseproxy is a bare
// httputil.ReverseProxy over the same transport, the floor that
// latchkey's handler builds on; the difference in allocs/op is latchkey's.
func BenchmarkHandlerRequest(b *testing.B) {
	w := newBenchWorld(b, benchCA(b), "127.0.0.1:1")
	up := &cannedUpstream{}
	w.h.upstream.proxy.Transport = &retryTransport{base: up, h: w.h, logger: w.h.logger}
	bare := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = "https", "api.test:443"
		},
		Transport:  up,
		BufferPool: bufferPool{},
	}
	cases := []struct {
		name  string
		req   *http.Request
		serve func(http.ResponseWriter, *http.Request)
	}{
		{"reverseproxy", agentRequest("api.test", "Bearer "+benchSecret), bare.ServeHTTP},
		{"static", agentRequest("api.test", "Bearer "+w.staticPhantom), w.h.serveInner},
		{"pool", agentRequest("pool.test", "Bearer "+w.poolPhantom), w.h.serveInner},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			body := &rewindBody{}
			rw := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				body.Reset(benchRequestBody)
				c.req.Body = body
				clear(rw.h)
				rw.status = 0
				c.serve(rw, c.req)
				if rw.status != http.StatusOK {
					b.Fatalf("status %d", rw.status)
				}
			}
			if n := up.unauthorized.Load(); n > 0 {
				b.Fatalf("%d requests reached the upstream without a real secret", n)
			}
		})
	}
}

// BenchmarkInjectRequest is the injection of one request's headers, path
// and query: the bound Authorization header set from its template, the
// other headers scanned for phantoms.
func BenchmarkInjectRequest(b *testing.B) {
	w := newBenchWorld(b, benchCA(b), "127.0.0.1:1")
	for _, c := range []struct{ name, host, phantom string }{
		{"static", "api.test", w.staticPhantom}, {"pool", "pool.test", w.poolPhantom},
	} {
		b.Run(c.name, func(b *testing.B) {
			x := &exchange{
				plan: w.eng.Plan(c.host, 443), target: mitm.Target{Host: c.host, Port: "443"},
				scheme: "https", logger: zap.NewNop(), counter: w.eng.Count,
			}
			out := agentRequest(c.host, "")
			out.Body, out.ContentLength = nil, 0
			b.ReportAllocs()
			for b.Loop() {
				out.Header["Authorization"] = []string{"Bearer " + c.phantom}
				if injected := injectRequest(out, x); len(injected) != 1 {
					b.Fatalf("injected %v", injected)
				}
			}
		})
	}
}

// BenchmarkScrubResponse is the response rewrite that turns echoed secrets
// back into phantoms: a small JSON answer swapped in memory, and a 1 MiB
// answer streamed, per byte of body.
func BenchmarkScrubResponse(b *testing.B) {
	w := newBenchWorld(b, benchCA(b), "127.0.0.1:1")
	big := bytes.Repeat([]byte(`{"id":12345,"role":"assistant","content":"lorem ipsum dolor sit amet"},`+"\n"),
		(1<<20)/72+1)[:1<<20]
	for _, c := range []struct {
		name, host string
		body       []byte
		length     int64
	}{
		{"small/static", "api.test", benchResponseBody, int64(len(benchResponseBody))},
		{"small/pool", "pool.test", benchResponseBody, int64(len(benchResponseBody))},
		{"1MiB/static", "api.test", big, -1},
		{"1MiB/pool", "pool.test", big, -1},
	} {
		b.Run(c.name, func(b *testing.B) {
			x := &exchange{
				plan: w.eng.Plan(c.host, 443), target: mitm.Target{Host: c.host, Port: "443"},
				logger: zap.NewNop(),
			}
			req := withExchange(agentRequest(c.host, ""), x)
			src := &rewindBody{}
			buf := make([]byte, 32<<10)
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(c.body)
				resp := &http.Response{
					StatusCode: http.StatusOK, Header: http.Header{
						"Content-Type": {"application/json"},
					}, ContentLength: c.length, Body: src,
					Request: req,
				}
				if err := modifyResponse(resp); err != nil {
					b.Fatal(err)
				}
				for {
					_, err := resp.Body.Read(buf)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				resp.Body.Close()
			}
		})
	}
}

// BenchmarkProxiedRequest is one small JSON request over real loopback
// sockets and TLS, all in this process: the client, latchkey as a forward
// proxy (CONNECT, interception, injection) and a TLS upstream. direct skips
// the proxy. allocs/op counts every allocation of the process (client,
// proxy and upstream); the difference from direct is the proxy's.
func BenchmarkProxiedRequest(b *testing.B) {
	ca := benchCA(b)
	issuer, err := mitm.NewIssuer(ca, 0)
	if err != nil {
		b.Fatal(err)
	}
	var unauthorized atomic.Int64
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch r.Header.Get("Authorization") {
		case "Bearer " + benchSecret, "Bearer " + benchAccessA, "Bearer " + benchAccessB:
		default:
			unauthorized.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(benchResponseBody)))
		w.Write(benchResponseBody)
	}))
	up.TLS = &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		return issuer.Certificate(h.ServerName)
	}}
	up.EnableHTTP2 = true
	up.StartTLS()
	b.Cleanup(up.Close)
	upAddr := up.Listener.Addr().String()

	w := newBenchWorld(b, ca, upAddr)
	proxy := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.h.ServeHTTP(rw, r, nil)
	}))
	b.Cleanup(proxy.Close)
	proxyURL, _ := url.Parse(proxy.URL)

	for _, proto := range []string{"h1", "h2"} {
		for _, c := range []struct{ name, host, auth string }{
			{"direct", "api.test", "Bearer " + benchSecret},
			{"static", "api.test", "Bearer " + w.staticPhantom},
			{"pool", "pool.test", "Bearer " + w.poolPhantom},
		} {
			b.Run(proto+"/"+c.name, func(b *testing.B) {
				tr := &http.Transport{
					TLSClientConfig:   &tls.Config{RootCAs: ca.pool},
					ForceAttemptHTTP2: proto == "h2",
				}
				if proto == "h1" {
					tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
				}
				if c.name == "direct" {
					tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
						var d net.Dialer
						return d.DialContext(ctx, network, upAddr)
					}
				} else {
					tr.Proxy = http.ProxyURL(proxyURL)
				}
				defer tr.CloseIdleConnections()
				client := &http.Client{Transport: tr}
				do := func() {
					req, _ := http.NewRequest(http.MethodPost, "https://"+c.host+"/v1/chat/completions",
						bytes.NewReader(benchRequestBody))
					req.Header.Set("Authorization", c.auth)
					req.Header.Set("Content-Type", "application/json")
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Fatalf("status %d", resp.StatusCode)
					}
				}
				do() // open the connections
				b.ReportAllocs()
				for b.Loop() {
					do()
				}
			})
		}
	}
	if n := unauthorized.Load(); n > 0 {
		b.Fatalf("%d requests reached the upstream without a real secret", n)
	}
}

// BenchmarkSwapBody is the request body swap: bodies of known length up to
// 64 KiB are read and swapped in memory (a typical agent request carries a
// long conversation), larger ones are streamed. The plans' request
// replacers hold the static phantom and the JWT phantoms of the OAuth
// identities, as any install with both kinds does.
func BenchmarkSwapBody(b *testing.B) {
	w := newBenchWorld(b, benchCA(b), "127.0.0.1:1")
	chat := bytes.Repeat([]byte(`{"role":"user","content":"Refactor the parser so that it reports `+
		`the line and column of every error, and add tests."},`), 600)
	for _, c := range []struct {
		name string
		size int
		host string
	}{
		{"160B/static", len(benchRequestBody), "api.test"},
		{"32KiB/static", 32 << 10, "api.test"},
		{"32KiB/pool", 32 << 10, "pool.test"},
		{"1MiB/static", 1 << 20, "api.test"},
	} {
		body := benchRequestBody
		if c.size > len(body) {
			body = bytes.Repeat(chat, c.size/len(chat)+1)[:c.size]
		}
		rep := w.eng.Plan(c.host, 443).Request
		b.Run(c.name, func(b *testing.B) {
			src := &rewindBody{}
			buf := make([]byte, 32<<10)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(body)
				out, _, err := swapBody(src, int64(len(body)), rep, nil)
				if err != nil {
					b.Fatal(err)
				}
				for {
					_, err := out.Read(buf)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				out.Close()
			}
		})
	}
}
