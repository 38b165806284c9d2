package tests

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The security tests: what an agent must not be able to do through the
// proxy, and what must hold against hostile or slow clients. Proxy
// authentication for CONNECT and the file modes of the token, key and
// socket are covered in lifecycle_test.go; what is here is what is not.

// refusalBudget is how fast a refusal of a private destination must be. The
// dial timeout is 10 s, so an answer within this bound was not a dial that
// timed out.
const refusalBudget = 2 * time.Second

// tcpAdminInstance starts an instance whose admin endpoint listens on TCP
// 127.0.0.1:<port> instead of a unix socket, the setup where an agent could
// reach it through the proxy if the proxy let it.
func tcpAdminInstance(t *testing.T) (*instance, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "lk-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	adminPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	proxyPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	admin := "127.0.0.1:" + strconv.Itoa(adminPort)
	inst := &instance{
		dir:          dir,
		dataDir:      filepath.Join(dir, "data"),
		configPath:   filepath.Join(dir, "Caddyfile"),
		logPath:      filepath.Join(dir, "latchkey.log"),
		adminAddress: admin,
		proxyURL:     &url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(proxyPort)},
	}
	// Caddy's admin endpoint on TCP accepts only its own address as Host.
	inst.rest = &http.Client{Timeout: 30 * time.Second, Transport: hostRewriter{
		host: admin,
		base: &http.Transport{Proxy: nil},
	}}
	t.Cleanup(inst.rest.CloseIdleConnections)
	cfg := fmt.Sprintf(`{
	admin %s
	skip_install_trust
	storage file_system %s
	persist_config off
	grace_period 2s
	latchkey {
		data_dir %s
	}
}

http://:%d {
	bind 127.0.0.1
	route {
		latchkey {
			upstream_override api.test %s
			upstream_root_ca %s
		}
	}
}
`, admin, filepath.Join(dir, "caddy"), inst.dataDir, proxyPort, fakeUpstream.addr(),
		testPKI.caFile)
	if err := os.WriteFile(inst.configPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := inst.run(); err != nil {
		t.Fatal(err)
	}
	if err := inst.waitReady(); err != nil {
		log := inst.logTail(0, 80)
		inst.stop()
		t.Fatalf("starting latchkey with a TCP admin endpoint: %v\n%s", err, log)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("latchkey log:\n%s", inst.logTail(0, 120))
		}
		assertLogClean(t, inst.logPath)
		if err := inst.stop(); err != nil {
			t.Errorf("stopping latchkey: %v", err)
		}
	})
	return inst, admin
}

// hostRewriter sends every request to host, with it as the Host header.
type hostRewriter struct {
	host string
	base http.RoundTripper
}

func (h hostRewriter) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Host, r.Host = h.host, h.host
	return h.base.RoundTrip(r)
}

// timedConnect is rawConnect that also reports how long the answer took.
func timedConnect(t *testing.T, proxy *url.URL, target string) (connectResult, time.Duration) {
	t.Helper()
	start := time.Now()
	res := rawConnect(t, proxy, target, nil)
	return res, time.Since(start)
}

// plainProxyGet sends an absolute-URI request through the proxy on a fresh
// connection and returns the status, body and elapsed time.
func plainProxyGet(t *testing.T, proxy *url.URL, method, rawURL string,
	body string,
) (int, string, time.Duration) {
	t.Helper()
	tr := &http.Transport{Proxy: http.ProxyURL(proxy), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: requestTimeout}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s through the proxy: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(raw), time.Since(start)
}

func TestAdminEndpointIsUnreachableThroughTheProxy(t *testing.T) {
	t.Parallel()
	inst, admin := tcpAdminInstance(t)
	_, adminPort, _ := net.SplitHostPort(admin)

	// The admin endpoint does answer, directly.
	status, cfg, err := inst.api(http.MethodGet, "/config/", nil)
	if err != nil || status != http.StatusOK || !strings.Contains(string(cfg), "latchkey") {
		t.Fatalf("GET /config/ directly: expected 200 with the config, saw %d %v", status, err)
	}

	t.Run("CONNECT", func(t *testing.T) {
		for _, host := range []string{
			"127.0.0.1", "localhost", "[::1]", "0.0.0.0", "[::]",
			"[::ffff:127.0.0.1]", "127.0.0.2",
		} {
			target := host + ":" + adminPort
			res, took := timedConnect(t, inst.proxyURL, target)
			if res.status != http.StatusForbidden {
				t.Errorf("CONNECT %s: expected 403, saw %d", target, res.status)
			}
			if took > refusalBudget {
				t.Errorf("CONNECT %s: expected an immediate refusal, took %v", target, took)
			}
		}
	})

	t.Run("absolute URI", func(t *testing.T) {
		probe := newID()
		for _, host := range []string{"127.0.0.1", "localhost", "0.0.0.0", "[::ffff:127.0.0.1]"} {
			u := "http://" + host + ":" + adminPort + "/config/?probe=" + probe
			status, body, took := plainProxyGet(t, inst.proxyURL, http.MethodGet, u, "")
			if status != http.StatusForbidden {
				t.Errorf("GET %s through the proxy: expected 403, saw %d", u, status)
			}
			if strings.Contains(body, `"apps"`) || strings.Contains(body, "data_dir") {
				t.Errorf("GET %s through the proxy: the admin's config came back: %.200s", u,
					body)
			}
			if took > refusalBudget {
				t.Errorf("GET %s: expected an immediate refusal, took %v", u, took)
			}
		}
		// An attempt to replace the whole config.
		u := "http://127.0.0.1:" + adminPort + "/load?probe=" + probe
		status, _, _ := plainProxyGet(t, inst.proxyURL, http.MethodPost, u, `{"apps":{}}`)
		if status != http.StatusForbidden {
			t.Errorf("POST %s through the proxy: expected 403, saw %d", u, status)
		}
		if s, after, err := inst.api(http.MethodGet, "/config/", nil); err != nil ||
			s != http.StatusOK || string(after) != string(cfg) {
			t.Errorf("config after the attempted /load: expected it unchanged, saw %d %v", s, err)
		}
		// The admin endpoint never received a proxied request: Caddy logs
		// every request it receives, with its URI.
		raw, _ := os.ReadFile(inst.logPath)
		if strings.Contains(string(raw), "probe="+probe) {
			t.Errorf("admin log: a proxied request reached the admin endpoint")
		}
	})

	t.Run("bound IP of the admin endpoint", func(t *testing.T) {
		// Even with a credential bound to 127.0.0.1 (so the tunnel is
		// intercepted and the secret would be injected), the request is
		// refused and the secret goes nowhere.
		c := addCredentialREST(t, inst, "adm")
		chaosLedger.add(c.secret, "static secret adm")
		bindREST(t, inst, c.name, "127.0.0.1", "", "")
		res := rawConnect(t, inst.proxyURL, "127.0.0.1:"+adminPort, nil)
		if res.status != http.StatusOK {
			t.Fatalf("CONNECT 127.0.0.1:%s (bound): expected 200 (intercepted), saw %d",
				adminPort, res.status)
		}
		tc := tls.Client(res.conn, &tls.Config{RootCAs: inst.caddyRoot, ServerName: "127.0.0.1"})
		req, _ := http.NewRequest(http.MethodGet, "https://127.0.0.1:"+adminPort+"/config/", nil)
		req.Header.Set("Authorization", "Bearer "+c.phantom)
		resp, body := roundTripOn(t, tc, req)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET /config/ inside a tunnel to the admin's address: expected 403, saw "+
				"%d: %.200s", resp.StatusCode, body)
		}
		if strings.Contains(body, c.secret) {
			t.Errorf("refusal: expected no real secret in it, saw it")
		}
	})
}

// roundTripOn sends one HTTP/1.1 request on conn and reads the answer.
func roundTripOn(t *testing.T, conn net.Conn, req *http.Request) (*http.Response, string) {
	t.Helper()
	conn.SetDeadline(time.Now().Add(requestTimeout))
	if err := req.Write(conn); err != nil {
		t.Fatalf("writing %s %s: %v", req.Method, req.URL, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("reading the answer to %s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, string(raw)
}

func TestPrivateDestinationsAreRefusedWithoutDialling(t *testing.T) {
	inst := sharedInstance(t)
	// 10.0.0.1 is only named, never reached: latchkey must refuse it
	// before dialling, which the time it takes shows (a dial to an
	// unreachable address would take the 10 s dial timeout).
	res, took := timedConnect(t, inst.proxyURL, "10.0.0.1:443")
	if res.status != http.StatusForbidden {
		t.Errorf("CONNECT 10.0.0.1:443: expected 403, saw %d", res.status)
	}
	if took > refusalBudget {
		t.Errorf("CONNECT 10.0.0.1:443: expected an immediate refusal, took %v", took)
	}
	status, _, took := plainProxyGet(t, inst.proxyURL, http.MethodGet, "http://10.0.0.1/", "")
	if status != http.StatusForbidden {
		t.Errorf("GET http://10.0.0.1/ through the proxy: expected 403, saw %d", status)
	}
	if took > refusalBudget {
		t.Errorf("GET http://10.0.0.1/: expected an immediate refusal, took %v", took)
	}
}

func TestBoundHostResolvingToLoopbackIsRefused(t *testing.T) {
	inst := sharedInstance(t)
	c := addCredentialREST(t, inst, "lohost")
	chaosLedger.add(c.secret, "static secret lohost")
	b := bindREST(t, inst, c.name, "localhost", "", "")
	// The instance is shared: a binding for localhost left behind would make
	// other tests' unbound loopback CONNECTs intercepted.
	t.Cleanup(func() {
		inst.mustAPI(t, http.MethodDelete, "/api/bindings/"+b.ID, nil, http.StatusNoContent, nil)
	})

	// The fake upstream really listens on 127.0.0.1 at this port, and the
	// binding makes latchkey intercept and inject: only the private-address
	// rule stands between the secret and it.
	target := "localhost:" + fakeUpstream.port()
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			id := newID()
			resp := get(t, agentClient(t, inst, p.h2), "https://"+target+"/echo",
				bearer(c.phantom), id)
			if resp.status != http.StatusForbidden {
				t.Errorf("GET https://%s/echo (bound, resolves to 127.0.0.1): expected 403, "+
					"saw %d: %.200s", target, resp.status, resp.body)
			}
			if n := len(fakeUpstream.requestsWithID(id)); n != 0 {
				t.Errorf("upstream: expected no request, saw %d", n)
			}
			assertNoSecret(t, resp, c.secret)
		})
	}
}

func TestPlainProxyRequestsNeedProxyAuthentication(t *testing.T) {
	// lifecycle_test.go covers CONNECT; this is the absolute-URI form
	// ("GET https://api.test/echo"), which basic_auth covers too.
	password := "pw-" + newID() + newID()
	chaosLedger.add(password, "proxy password")
	inst := newInstance(t, instanceOptions{handlerLines: []string{"basic_auth agent " + password}})
	t.Cleanup(func() { assertLogClean(t, inst.logPath) })
	c := addBoundCredential(t, inst, "plainauth", "api.test")
	chaosLedger.add(c.secret, "static secret plainauth")

	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"no credentials", "", http.StatusProxyAuthRequired},
		{"wrong password", basicHeader("agent", "wrong"), http.StatusProxyAuthRequired},
		{"right credentials", basicHeader("agent", password), http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := newID()
			req, _ := http.NewRequest(http.MethodGet, "https://api.test/echo", nil)
			req.Header.Set("Authorization", "Bearer "+c.phantom)
			req.Header.Set(requestIDHeader, id)
			if tc.auth != "" {
				req.Header.Set("Proxy-Authorization", tc.auth)
			}
			conn, err := net.DialTimeout("tcp", inst.proxyURL.Host, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(requestTimeout))
			if err := req.WriteProxy(conn); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), req)
			if err != nil {
				t.Fatalf("reading the answer: %v", err)
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("GET https://api.test/echo as an absolute URI: expected %d, saw %d: %.200s",
					tc.want, resp.StatusCode, body)
			}
			recs := fakeUpstream.requestsWithID(id)
			if tc.want != http.StatusOK {
				if len(recs) != 0 {
					t.Errorf("upstream: expected no request, saw %d", len(recs))
				}
				return
			}
			if len(recs) != 1 {
				t.Fatalf("upstream: expected 1 request, saw %d", len(recs))
			}
			if got := recs[0].Header.Get("Authorization"); got != "Bearer "+c.secret {
				t.Errorf("upstream Authorization: expected the real secret, saw %q", got)
			}
			if got := recs[0].Header.Get("Proxy-Authorization"); got != "" {
				t.Errorf("upstream: expected no Proxy-Authorization, saw %q", got)
			}
			if strings.Contains(string(body), c.secret) {
				t.Errorf("answer: expected no real secret, saw it")
			}
		})
	}
}

func TestRequestForAnotherHostInsideATunnelIsRefused(t *testing.T) {
	inst := sharedInstance(t)
	c := addBoundCredential(t, inst, "misdir", "api.test")
	other := addBoundCredential(t, inst, "misdir-o", "other.test")
	chaosLedger.add(c.secret, "static secret misdir")
	chaosLedger.add(other.secret, "static secret misdir-o")

	for _, tc := range []struct{ name, host string }{
		{"other host", "other.test"},
		{"unbound host", "unbound.test"},
		{"other port", "api.test:8443"},
		{"loopback", "127.0.0.1:" + fakeUpstream.port()},
	} {
		for _, p := range protocols {
			t.Run(tc.name+"/"+p.name, func(t *testing.T) {
				client := tunnelClient(t, inst, "api.test:443", p.h2)
				id := newID()
				req, _ := http.NewRequest(http.MethodGet, "https://api.test/echo", nil)
				req.Host = tc.host
				req.Header.Set("Authorization", "Bearer "+other.phantom)
				resp := send(t, client, req, id)
				if resp.status != http.StatusMisdirectedRequest {
					t.Errorf("Host %s inside a tunnel to api.test: expected 421, saw %d: %.200s",
						tc.host, resp.status, resp.body)
				}
				if resp.proto != p.want {
					t.Errorf("protocol: expected HTTP/%d, saw HTTP/%d", p.want, resp.proto)
				}
				if n := len(fakeUpstream.requestsWithID(id)); n != 0 {
					t.Errorf("upstream: expected no request, saw %d", n)
				}
				assertNoSecret(t, resp, other.secret)
				assertNoSecret(t, resp, c.secret)
			})
		}
	}
}

func TestAbsoluteFormForAnotherHostInsideATunnelIsRefused(t *testing.T) {
	inst := sharedInstance(t)
	c := addBoundCredential(t, inst, "absin", "api.test")
	other := addBoundCredential(t, inst, "absin-o", "other.test")
	chaosLedger.add(c.secret, "static secret absin")
	chaosLedger.add(other.secret, "static secret absin-o")

	// "GET https://other.test/echo" sent inside a tunnel to api.test: the
	// request names its own host, which is not the tunnel's.
	res := rawConnect(t, inst.proxyURL, "api.test:443", nil)
	if res.status != http.StatusOK {
		t.Fatalf("CONNECT api.test:443: expected 200, saw %d", res.status)
	}
	tc := tls.Client(res.conn, &tls.Config{RootCAs: inst.caddyRoot, ServerName: "api.test",
		NextProtos: []string{"http/1.1"}})
	id := newID()
	req, _ := http.NewRequest(http.MethodGet, "https://other.test/echo", nil)
	req.Header.Set("Authorization", "Bearer "+other.phantom)
	req.Header.Set(requestIDHeader, id)
	tc.SetDeadline(time.Now().Add(requestTimeout))
	if err := req.WriteProxy(tc); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(tc), req)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("absolute-form request for other.test inside a tunnel to api.test: expected "+
			"421, saw %d: %.200s", resp.StatusCode, body)
	}
	if n := len(fakeUpstream.requestsWithID(id)); n != 0 {
		t.Errorf("upstream: expected no request, saw %d", n)
	}
	for _, s := range []string{c.secret, other.secret} {
		if strings.Contains(string(body), s) {
			t.Errorf("answer: expected no real secret, saw one")
		}
	}
}

// tunnelClient is an agent client whose every connection is a CONNECT to
// target through the instance, whatever host the request names.
func tunnelClient(t *testing.T, inst *instance, target string, h2 bool) *http.Client {
	t.Helper()
	host, _, _ := net.SplitHostPort(target)
	tr := &http.Transport{
		ForceAttemptHTTP2: h2,
		DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			conn, err := connectTunnel(ctx, inst.proxyURL, target)
			if err != nil {
				return nil, err
			}
			protos := []string{"http/1.1"}
			if h2 {
				protos = []string{"h2", "http/1.1"}
			}
			tc := tls.Client(conn, &tls.Config{
				RootCAs: inst.caddyRoot, ServerName: host,
				NextProtos: protos,
			})
			if err := tc.HandshakeContext(ctx); err != nil {
				conn.Close()
				return nil, err
			}
			return tc, nil
		},
	}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: requestTimeout}
}

// connectTunnel opens a CONNECT tunnel to target and returns it once the
// proxy answered 200.
func connectTunnel(ctx context.Context, proxy *url.URL, target string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", proxy.Host)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		conn.Close()
		return nil, fmt.Errorf("CONNECT %s: status %d", target, resp.StatusCode)
	}
	if br.Buffered() > 0 {
		conn.Close()
		return nil, errors.New("CONNECT: bytes after the answer")
	}
	return conn, nil
}

func TestOversizedHeadersAreRefused(t *testing.T) {
	inst := sharedInstance(t)
	c := addBoundCredential(t, inst, "bighdr", "api.test")
	chaosLedger.add(c.secret, "static secret bighdr")

	t.Run("proxy", func(t *testing.T) {
		// Caddy's server reads at most 16 KiB of request headers.
		conn, err := net.DialTimeout("tcp", inst.proxyURL.Host, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(requestTimeout))
		go fmt.Fprintf(conn, "CONNECT api.test:443 HTTP/1.1\r\nHost: api.test:443\r\n"+
			"X-Big: %s\r\n\r\n", strings.Repeat("a", 64<<10))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("reading the answer to an oversized CONNECT: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("CONNECT with 64 KiB of headers: expected 431, saw %d", resp.StatusCode)
		}
	})

	t.Run("inside a tunnel", func(t *testing.T) {
		// The intercepting server reads at most 1 MiB (plus the standard
		// library's 4 KiB of slack).
		res := rawConnect(t, inst.proxyURL, "api.test:443", nil)
		if res.status != http.StatusOK {
			t.Fatalf("CONNECT api.test:443: expected 200, saw %d", res.status)
		}
		tc := tls.Client(res.conn, &tls.Config{
			RootCAs: inst.caddyRoot, ServerName: "api.test",
			NextProtos: []string{"http/1.1"},
		})
		tc.SetDeadline(time.Now().Add(requestTimeout))
		id := newID()
		go fmt.Fprintf(tc, "GET /echo HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer %s\r\n"+
			"%s: %s\r\nX-Big: %s\r\n\r\n", c.phantom, requestIDHeader, id,
			strings.Repeat("b", 2<<20))
		resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			t.Fatalf("reading the answer to an oversized request: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("request with 2 MiB of headers: expected 431, saw %d", resp.StatusCode)
		}
		if n := len(fakeUpstream.requestsWithID(id)); n != 0 {
			t.Errorf("upstream: expected no request, saw %d", n)
		}
	})
}

func TestAdminRefusesOversizedBodyAndChangesNothing(t *testing.T) {
	inst := sharedInstance(t)
	before := credentialNames(t, inst)
	name := "huge-" + newID()
	secret := strings.Repeat("x", 2<<20)
	status, body, err := inst.api(http.MethodPost, "/api/credentials",
		map[string]string{"name": name, "value": secret})
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusRequestEntityTooLarge {
		t.Errorf("POST /api/credentials with a 2 MiB body: expected 413, saw %d: %.200s",
			status, body)
	}
	after := credentialNames(t, inst)
	if len(after) != len(before) {
		t.Errorf("credentials: expected %d after the refused request, saw %d", len(before),
			len(after))
	}
}

// slowClientTimeout is the intercepting server's ReadHeaderTimeout (30 s,
// proxy/intercept.go), which also bounds the TLS handshake; slack covers a
// slow machine.
const (
	slowClientTimeout = 30 * time.Second
	slowClientSlack   = 10 * time.Second
)

func TestSlowClientsInsideATunnelAreCutOff(t *testing.T) {
	t.Parallel()
	inst := sharedInstance(t)
	c := addBoundCredential(t, inst, "slow", "api.test")
	chaosLedger.add(c.secret, "static secret slow")

	t.Run("no TLS handshake", func(t *testing.T) {
		t.Parallel()
		conn, err := connectTunnel(context.Background(), inst.proxyURL, "api.test:443")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		assertClosedWithin(t, conn, start, slowClientTimeout+slowClientSlack, nil)
	})

	t.Run("headers trickled", func(t *testing.T) {
		t.Parallel()
		conn, err := connectTunnel(context.Background(), inst.proxyURL, "api.test:443")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		tc := tls.Client(conn, &tls.Config{
			RootCAs: inst.caddyRoot, ServerName: "api.test",
			NextProtos: []string{"http/1.1"},
		})
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			t.Fatalf("TLS handshake: %v", err)
		}
		start := time.Now()
		id := newID()
		head := fmt.Sprintf("GET /echo HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer %s\r\n"+
			"%s: %s\r\n", c.phantom, requestIDHeader, id)
		// One byte every 250 ms, forever (bounded by the count): the
		// header never ends.
		trickle := head + strings.Repeat("X-Pad: y\r\n", 1000)
		assertClosedWithin(t, tc, start, slowClientTimeout+slowClientSlack, func(i int) []byte {
			if i >= len(trickle) {
				return nil
			}
			return []byte{trickle[i]}
		})
		if n := len(fakeUpstream.requestsWithID(id)); n != 0 {
			t.Errorf("upstream: expected no request, saw %d", n)
		}
	})
}

// assertClosedWithin waits until the server closes conn, failing t if that
// takes longer than limit from start or if the server answers with data.
// With next, it writes next(i) every 250 ms meanwhile (nil stops writing).
func assertClosedWithin(t *testing.T, conn net.Conn, start time.Time, limit time.Duration,
	next func(i int) []byte,
) {
	t.Helper()
	closed := make(chan error, 1)
	go func() {
		conn.SetReadDeadline(start.Add(limit))
		buf := make([]byte, 1024)
		n, err := conn.Read(buf)
		if n > 0 && err == nil {
			err = fmt.Errorf("server sent %d bytes: %q", n, buf[:n])
		}
		closed <- err
	}()
	tick := time.NewTicker(250 * time.Millisecond) // the client's pace, not synchronisation
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case err := <-closed:
			took := time.Since(start)
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				t.Fatalf("the server kept a slow client for more than %v", limit)
			case err != nil && !errors.Is(err, io.EOF) && !isConnReset(err):
				t.Errorf("expected the server to close the connection, saw %v", err)
			}
			if took < slowClientTimeout/2 {
				t.Errorf("the server closed after %v, earlier than its timeout (%v)", took,
					slowClientTimeout)
			}
			t.Logf("slow client cut off after %v", took.Round(100*time.Millisecond))
			return
		case <-tick.C:
			if next == nil {
				continue
			}
			if b := next(i); b != nil {
				conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
				conn.Write(b)
			}
		}
	}
}

// isConnReset reports a connection reset by the peer.
func isConnReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") ||
		strings.Contains(err.Error(), "broken pipe"))
}

func TestSlowClientToTheProxyIsCutOff(t *testing.T) {
	if !longProfile() {
		t.Skip("Caddy's 1 minute read_header timeout; runs with LATCHKEY_LONG=1")
	}
	t.Parallel()
	inst := sharedInstance(t)
	conn, err := net.DialTimeout("tcp", inst.proxyURL.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	trickle := "CONNECT api.test:443 HTTP/1.1\r\nHost: api.test:443\r\n" +
		strings.Repeat("X-Pad: y\r\n", 1000)
	done := make(chan error, 1)
	go func() {
		conn.SetReadDeadline(start.Add(90 * time.Second))
		_, err := bufio.NewReader(conn).ReadByte()
		done <- err
	}()
	tick := time.NewTicker(250 * time.Millisecond) // the client's pace
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case err := <-done:
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the proxy kept a slow client for more than 90 s")
			}
			t.Logf("slow proxy client cut off after %v (%v)", time.Since(start), err)
			return
		case <-tick.C:
			if i < len(trickle) {
				conn.Write([]byte{trickle[i]})
			}
		}
	}
}

func TestNoRealSecretInAnyLog(t *testing.T) {
	// Parallel, so it runs after every sequential test of the package:
	// the shared instance's log then holds nearly the whole run.
	t.Parallel()
	inst := sharedInstance(t)
	// Logs of instances still running (parallel tests), besides the
	// shared one; each instance of these reliability tests also checks
	// its own log when it stops.
	logs := []string{inst.logPath}
	if matches, err := filepath.Glob(filepath.Join(os.TempDir(), "lk-*", "latchkey.log")); err == nil {
		for _, m := range matches {
			// Only this run's: a directory left by an earlier, killed
			// run is not this run's business.
			if fi, err := os.Stat(m); m != inst.logPath && err == nil &&
				fi.ModTime().After(packageStart) {
				logs = append(logs, m)
			}
		}
	}
	for _, l := range logs {
		if _, err := os.Stat(l); err == nil {
			assertLogClean(t, l)
		}
	}
	t.Logf("checked %d logs for %d registered secrets and the harness's secret shapes",
		len(logs), chaosLedger.size())
}

// packageStart is when the test binary started.
var packageStart = time.Now()

// basicHeader is a Proxy-Authorization value.
func basicHeader(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}
