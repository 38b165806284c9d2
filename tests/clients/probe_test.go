//go:build clients

package clients

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// agentPost sends one POST through latchkey the way an agent does (proxy,
// trusting only latchkey's CA) and returns the answer as the agent gets it.
// It stands in for a client where the test must see the exact bytes a
// client receives.
func agentPost(t *testing.T, lk *latchkey, rawURL, contentType string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	pem, err := os.ReadFile(lk.caddyRoot)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	proxy, _ := url.Parse(lk.proxyURL)
	tr := &http.Transport{
		Proxy:           http.ProxyURL(proxy),
		TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	resp, err := client.Post(rawURL, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s through latchkey: %v", rawURL, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, out
}

// assertNoSecretIn fails t when any secret is in an answer's header or body.
func assertNoSecretIn(t *testing.T, what string, secrets []string, h http.Header, body []byte) {
	t.Helper()
	var all strings.Builder
	for k, vs := range h {
		all.WriteString(k + ": " + strings.Join(vs, ", ") + "\n")
	}
	all.Write(body)
	for _, s := range secrets {
		if s != "" && strings.Contains(all.String(), s) {
			t.Errorf("real secret %.24s… appears in %s:\n%s", s, what, all.String())
		}
	}
}
