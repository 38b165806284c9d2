package tests

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// requestTimeout bounds every request a test sends through the proxy.
const requestTimeout = 30 * time.Second

// proxyTransport is how an agent reaches the world: every request goes
// through proxy, and only roots are trusted. With h2 the inner requests of
// a CONNECT tunnel use HTTP/2 when the server offers it; without, HTTP/1.1
// only.
func proxyTransport(proxy *url.URL, roots *x509.CertPool, h2 bool) *http.Transport {
	tr := &http.Transport{
		Proxy:               http.ProxyURL(proxy),
		TLSClientConfig:     &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2:   h2,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	if !h2 {
		// A non-nil empty map turns HTTP/2 off for good.
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return tr
}

// agentClient is an HTTP client that trusts only the instance's Caddy root,
// like an agent set up for latchkey. Its connections close when t ends.
func agentClient(t *testing.T, inst *instance, h2 bool) *http.Client {
	return clientTrusting(t, inst.proxyURL, inst.caddyRoot, h2)
}

// clientTrusting is an HTTP client through proxy that trusts only roots.
func clientTrusting(t *testing.T, proxy *url.URL, roots *x509.CertPool, h2 bool) *http.Client {
	tr := proxyTransport(proxy, roots, h2)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: requestTimeout}
}

// newID returns a random identifier, for request ids and unique names.
func newID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newSecret returns a random "real" secret with a recognisable prefix.
func newSecret(kind string) string {
	b := make([]byte, 18)
	rand.Read(b)
	return "sk-real-" + kind + "-" + hex.EncodeToString(b)
}

// phantomShape matches a static phantom of the credential name.
func phantomShape(name string) *regexp.Regexp {
	return regexp.MustCompile(`lk-` + regexp.QuoteMeta(name) + `-[a-z2-7]{16}`)
}

// response is what the agent received.
type response struct {
	status int
	proto  int
	header http.Header
	body   string
	tls    *tls.ConnectionState
}

// send sends req through client, tagging it with id, and reads the whole
// response.
func send(t *testing.T, client *http.Client, req *http.Request, id string) response {
	t.Helper()
	req.Header.Set(requestIDHeader, id)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s through the proxy: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return response{status: resp.StatusCode, proto: resp.ProtoMajor, header: resp.Header,
		body: string(body), tls: resp.TLS}
}

// get sends a GET with the given headers through client.
func get(t *testing.T, client *http.Client, rawURL string, header http.Header,
	id string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	return send(t, client, req, id)
}

// bearer is an Authorization header with a bearer token.
func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// assertNoSecret fails t if secret appears anywhere in what the agent
// received: a header name or value, a trailer, or the body.
func assertNoSecret(t *testing.T, resp response, secret string) {
	t.Helper()
	for name, values := range resp.header {
		for _, v := range values {
			if strings.Contains(name, secret) || strings.Contains(v, secret) {
				t.Errorf("response header %s: expected no real secret, saw %q", name, v)
			}
		}
	}
	if strings.Contains(resp.body, secret) {
		t.Errorf("response body: expected no real secret, saw it in %q", resp.body)
	}
}

// connectResult is the proxy's answer to a raw CONNECT.
type connectResult struct {
	status int
	header http.Header
	conn   net.Conn
}

// rawConnect sends "CONNECT target" to the proxy with the given headers and
// returns the proxy's answer. The tunnel (on 200) closes when t ends.
func rawConnect(t *testing.T, proxy *url.URL, target string, header http.Header) connectResult {
	t.Helper()
	conn, err := net.DialTimeout("tcp", proxy.Host, 5*time.Second)
	if err != nil {
		t.Fatalf("dialing the proxy: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(requestTimeout))

	req := &http.Request{
		Method: http.MethodConnect,
		URL:    &url.URL{Opaque: target},
		Host:   target,
		Header: header,
	}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if err := req.Write(conn); err != nil {
		t.Fatalf("writing CONNECT %s: %v", target, err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatalf("reading the answer to CONNECT %s: %v", target, err)
	}
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
	}
	return connectResult{status: resp.StatusCode, header: resp.Header, conn: conn}
}

// credential is a credential added for a test and its phantom.
type credential struct {
	name, secret, phantom string
}

// addCredentialREST adds a static credential with a fresh secret through
// the REST API and fetches its phantom.
func addCredentialREST(t *testing.T, inst *instance, prefix string) credential {
	t.Helper()
	c := credential{name: prefix + "-" + newID(), secret: newSecret(prefix)}
	inst.mustAPI(t, http.MethodPost, "/api/credentials",
		map[string]string{"name": c.name, "value": c.secret}, http.StatusCreated, nil)
	c.phantom = phantomREST(t, inst, c.name)
	return c
}

// phantomREST returns the phantom of name from GET /api/phantom/{name}.
func phantomREST(t *testing.T, inst *instance, name string) string {
	t.Helper()
	var p struct {
		Name    string `json:"name"`
		Kind    string `json:"kind"`
		Phantom string `json:"phantom"`
	}
	inst.mustAPI(t, http.MethodGet, "/api/phantom/"+name, nil, http.StatusOK, &p)
	if !phantomShape(name).MatchString(p.Phantom) {
		t.Fatalf("GET /api/phantom/%s: expected a phantom like lk-%s-<16 base32>, saw %q",
			name, name, p.Phantom)
	}
	return p.Phantom
}

// binding is the part of a binding the tests read.
type binding struct {
	ID          string `json:"id"`
	Credential  string `json:"credential"`
	Destination string `json:"destination"`
	Header      string `json:"header"`
	Template    string `json:"template"`
}

// bindREST binds a credential through the REST API. header and template
// may be empty for the defaults.
func bindREST(t *testing.T, inst *instance, cred, host, header, template string) binding {
	t.Helper()
	spec := map[string]any{"credential": cred, "destination": host}
	if header != "" {
		spec["header"] = header
	}
	if template != "" {
		spec["template"] = template
	}
	var b binding
	inst.mustAPI(t, http.MethodPost, "/api/bindings", spec, http.StatusCreated, &b)
	if b.ID == "" {
		t.Fatalf("POST /api/bindings: expected an id in the answer, saw none")
	}
	return b
}

// listBindings returns the bindings the REST API reports.
func listBindings(t *testing.T, inst *instance) []binding {
	t.Helper()
	var bs []binding
	inst.mustAPI(t, http.MethodGet, "/api/bindings", nil, http.StatusOK, &bs)
	return bs
}

// bindingsOf returns the bindings of the credential name.
func bindingsOf(t *testing.T, inst *instance, name string) []binding {
	t.Helper()
	var out []binding
	for _, b := range listBindings(t, inst) {
		if b.Credential == name {
			out = append(out, b)
		}
	}
	return out
}

// credentialNames returns the names the REST API lists.
func credentialNames(t *testing.T, inst *instance) []string {
	t.Helper()
	var creds []struct {
		Name string `json:"name"`
	}
	inst.mustAPI(t, http.MethodGet, "/api/credentials", nil, http.StatusOK, &creds)
	names := make([]string, len(creds))
	for i, c := range creds {
		names[i] = c.Name
	}
	return names
}

// decodeEcho parses the /echo route's answer.
func decodeEcho(t *testing.T, body string) recordedRequest {
	t.Helper()
	var rec recordedRequest
	if err := json.Unmarshal([]byte(body), &rec); err != nil {
		t.Fatalf("decoding /echo answer %q: %v", body, err)
	}
	return rec
}

// assertAuthorization checks that the upstream saw the request id exactly
// once, with the Authorization header want, and returns what it saw.
func assertAuthorization(t *testing.T, id, want string) recordedRequest {
	t.Helper()
	rec := fakeUpstream.onlyRequest(t, id)
	if got := rec.Header.Get("Authorization"); got != want {
		t.Errorf("upstream Authorization: expected %q, saw %q", want, got)
	}
	return rec
}
