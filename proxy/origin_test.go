package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/latchkeyproxy/latchkey/engine"
)

// TestReverseProxyModeInjectsAndScrubs runs the handler as middleware in
// front of a next handler standing in for reverse_proxy: the next handler
// must see the real key, and the agent must get its echo back as the
// phantom.
func TestReverseProxyModeInjectsAndScrubs(t *testing.T) {
	ca := newTestCA(t)
	up := newFakeUpstream(t, ca, func(http.ResponseWriter, *http.Request, []byte) {})
	r := newRig(t, up, ca)
	r.eng.AddStaticCredential("openai", "sk-real-openai")
	r.eng.AddBinding(engine.BindingSpec{Credential: "openai", Destination: "api.openai.com"})
	ph, _ := r.eng.Phantom("openai")
	r.h.Destination = "api.openai.com"

	var sawAuth, sawAccept string
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, req *http.Request) error {
		sawAuth, sawAccept = req.Header.Get("Authorization"), req.Header.Get("Accept-Encoding")
		w.Header().Set("X-Echo", req.Header.Get("Authorization"))
		w.WriteHeader(200)
		io.WriteString(w, "you sent "+req.Header.Get("Authorization"))
		return nil
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if err := r.h.ServeHTTP(w, req, next); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()

	req, _ := http.NewRequest("GET", srv.URL+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+ph.Phantom)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	if sawAuth != "Bearer sk-real-openai" {
		t.Errorf("the next handler saw %q, want the real key", sawAuth)
	}
	if sawAccept != "" {
		t.Errorf("Accept-Encoding %q reached the upstream; scrubbing needs an unencoded answer", sawAccept)
	}
	if strings.Contains(string(body), "sk-real") || strings.Contains(resp.Header.Get("X-Echo"), "sk-real") {
		t.Errorf("the agent received the real key: header %q body %q", resp.Header.Get("X-Echo"), body)
	}
	if string(body) != "you sent Bearer "+ph.Phantom {
		t.Errorf("body %q, want the echo with the phantom", body)
	}
}
