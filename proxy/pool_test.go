package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyproxy/latchkey/engine"
)

// poolWorld is a rig with OAuth members a and b in pool "codex", bound to
// api.test, refreshing at https://auth.test/oauth/token. api.test answers
// member a with a usage-limit 429 and member b with 200; auth.test rotates
// tokens on each refresh.
type poolWorld struct {
	*rig
	up        *fakeUpstream
	refreshes atomic.Int32
	phantom   engine.Phantom
	failA     atomic.Bool
}

func newPoolWorld(t *testing.T) *poolWorld {
	t.Helper()
	ca := newTestCA(t)
	w := &poolWorld{}
	w.failA.Store(true)
	w.up = newFakeUpstream(t, ca, w.serve)
	w.rig = newRig(t, w.up, ca)
	for _, m := range []string{"a", "b"} {
		if _, err := w.eng.AddOAuthCredential(engine.OAuthSpec{Name: m, AccessToken: "at-" + m,
			RefreshToken: "rt-" + m, TokenURL: "https://auth.test/oauth/token",
			AccountID: "acct-" + m}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.eng.CreatePool(engine.PoolSpec{Name: "codex", Members: []string{"a", "b"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.eng.AddBinding(engine.BindingSpec{Credential: "codex", Destination: "api.test"}); err != nil {
		t.Fatal(err)
	}
	w.phantom, _ = w.eng.Phantom("codex")
	return w
}

func (w *poolWorld) serve(rw http.ResponseWriter, r *http.Request, body []byte) {
	switch {
	case r.Host == "auth.test" && r.URL.Path == "/oauth/token":
		var req map[string]any
		if json.Unmarshal(body, &req) != nil || req["grant_type"] != "refresh_token" {
			rw.Write([]byte(`{"note":"not a refresh"}`))
			return
		}
		n := w.refreshes.Add(1)
		rt, _ := req["refresh_token"].(string)
		if !strings.HasPrefix(rt, "rt-") {
			rw.WriteHeader(400)
			rw.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		rw.Write([]byte(`{"access_token":"at-fresh-` + rt + `","refresh_token":"rt-fresh-` +
			string(rune('0'+n)) + `","expires_in":"3600","token_type":"Bearer"}`))
	case w.up.rejects(r.Header.Get("Authorization")):
		rw.WriteHeader(401)
		rw.Write([]byte(`{"error":{"code":"token_expired"}}`))
	case r.Header.Get("Authorization") == "Bearer at-a" && w.failA.Load():
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(429)
		rw.Write([]byte(`{"error":{"type":"usage_limit_reached","resets_in_seconds":3600}}`))
	default:
		rw.Header().Set("Content-Type", "application/json")
		rw.Write([]byte(`{"auth":"` + r.Header.Get("Authorization") + `","account":"` +
			r.Header.Get("ChatGPT-Account-Id") + `"}`))
	}
}

func (w *poolWorld) do(t *testing.T, method, url, body string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := w.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, real := range []string{"at-a", "at-b", "rt-a", "rt-b", "acct-a", "acct-b", "at-fresh", "rt-fresh"} {
		if bytes.Contains(b, []byte(real)) {
			t.Errorf("the client received the real value %q in %s", real, b)
		}
		for k, vs := range resp.Header {
			for _, v := range vs {
				if strings.Contains(v, real) {
					t.Errorf("the client received the real value %q in header %s", real, k)
				}
			}
		}
	}
	return resp, string(b)
}

func (w *poolWorld) agentHeader() http.Header {
	return http.Header{"Authorization": {"Bearer " + w.phantom.AccessToken},
		"Chatgpt-Account-Id": {w.phantom.AccountID}}
}

func TestPoolFailsOverBeforeTheAgentSeesA429(t *testing.T) {
	w := newPoolWorld(t)

	resp, body := w.do(t, "POST", "https://api.test/v1/responses", `{"input":"hi"}`, w.agentHeader())
	if resp.StatusCode != 200 {
		t.Fatalf("status %d (%s), want 200 from member b", resp.StatusCode, body)
	}
	reqs := w.up.requests()
	if len(reqs) != 2 || reqs[0].Header.Get("Authorization") != "Bearer at-a" ||
		reqs[1].Header.Get("Authorization") != "Bearer at-b" {
		t.Fatalf("upstream saw %d requests, want a then b", len(reqs))
	}
	if string(reqs[1].Body) != `{"input":"hi"}` || reqs[1].Header.Get("Chatgpt-Account-Id") != "acct-b" {
		t.Errorf("the retry carried body %q and account %q, want the same body and acct-b",
			reqs[1].Body, reqs[1].Header.Get("Chatgpt-Account-Id"))
	}
	if !strings.Contains(body, w.phantom.AccountID) {
		t.Errorf("the echoed account id was not mapped back to the phantom: %s", body)
	}

	w.do(t, "GET", "https://api.test/v1/models", "", w.agentHeader())
	if got := w.up.requests()[2].Header.Get("Authorization"); got != "Bearer at-b" {
		t.Errorf("the next request used %q, want member b", got)
	}
	st, _ := w.eng.PoolStatus("codex")
	if st.Active != "b" || st.Members[0].State != engine.StateCooldown {
		t.Errorf("status = %+v, want b active and a cooling", st)
	}
}

func TestEveryMemberFailingGivesTheAgentTheLastAnswer(t *testing.T) {
	w := newPoolWorld(t)
	w.eng.UpdateOAuthTokens("b", engine.TokenUpdate{AccessToken: "at-a"}) // b fails like a

	resp, _ := w.do(t, "GET", "https://api.test/v1/models", "", w.agentHeader())
	if resp.StatusCode != 429 {
		t.Errorf("status %d, want the last member's 429", resp.StatusCode)
	}
	if n := len(w.up.requests()); n != 2 {
		t.Errorf("%d upstream requests, want one per member (2)", n)
	}
}

func TestRefreshThroughTheTokenHostLandsOnTheActiveMember(t *testing.T) {
	w := newPoolWorld(t)
	w.do(t, "GET", "https://api.test/v1/models", "", w.agentHeader()) // fails over to b

	body := `{"client_id":"app_x","grant_type":"refresh_token","refresh_reason":"scheduled","refresh_token":"` +
		w.phantom.RefreshToken + `"}`
	resp, got := w.do(t, "POST", "https://auth.test/oauth/token", body,
		http.Header{"Content-Type": {"application/json"}})
	if resp.StatusCode != 200 {
		t.Fatalf("refresh status %d: %s", resp.StatusCode, got)
	}
	var tokens map[string]any
	json.Unmarshal([]byte(got), &tokens)
	if tokens["access_token"] != w.phantom.AccessToken || tokens["refresh_token"] != w.phantom.RefreshToken {
		t.Errorf("refresh answer %s, want the pool's unchanged phantoms", got)
	}
	if tokens["expires_in"] != "3600" || tokens["token_type"] != "Bearer" {
		t.Errorf("refresh answer %s lost its other fields", got)
	}

	var sawRT string
	for _, r := range w.up.requests() {
		if r.Host == "auth.test" {
			sawRT = string(r.Body)
		}
	}
	if !strings.Contains(sawRT, `"refresh_token":"rt-b"`) || !strings.Contains(sawRT, `"refresh_reason":"scheduled"`) {
		t.Errorf("the token host saw %s, want b's real refresh token and the rest unchanged", sawRT)
	}
	plan := w.eng.Plan("api.test", 443)
	if plan.Headers[0].Value != "Bearer at-fresh-rt-b" {
		t.Errorf("after the refresh the pool injects %q, want b's rotated token", plan.Headers[0].Value)
	}
	if w.refreshes.Load() != 1 {
		t.Errorf("%d upstream refreshes, want 1", w.refreshes.Load())
	}
}

func TestTokenHostPassesOtherGrantsByteForByte(t *testing.T) {
	w := newPoolWorld(t)
	tests := []struct {
		name, ctype, body string
	}{
		{"device code", "application/x-www-form-urlencoded",
			"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=abc&client_id=x"},
		{"authorization code", "application/x-www-form-urlencoded",
			"grant_type=authorization_code&client_id=app&code=c0de&redirect_uri=https%3A%2F%2Fauth.test%2Fcb&code_verifier=v"},
		{"no grant", "application/json", `{"device_auth_id":"d","user_code":"ABCD"}`},
		{"refresh with a token latchkey does not know", "application/json",
			`{"grant_type":"refresh_token","refresh_token":"someone-elses"}`},
		{"phantom in another grant", "application/json",
			`{"grant_type":"password","refresh_token":"` + w.phantom.RefreshToken + `"}`},
		{"over the probe cap", "application/json",
			`{"grant_type":"refresh_token","refresh_token":"` + w.phantom.RefreshToken + `","pad":"` +
				strings.Repeat("x", 70<<10) + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(w.up.requests())
			hdr := http.Header{"Content-Type": {tt.ctype}, "X-Custom": {"kept"}, "User-Agent": {"agent/1"}}
			w.do(t, "POST", "https://auth.test/oauth/token", tt.body, hdr)
			reqs := w.up.requests()
			if len(reqs) != before+1 {
				t.Fatalf("upstream saw %d new requests, want 1", len(reqs)-before)
			}
			r := reqs[len(reqs)-1]
			if string(r.Body) != tt.body {
				t.Errorf("body changed on the way: got %d bytes, want %d identical", len(r.Body), len(tt.body))
			}
			for _, k := range []string{"Content-Type", "X-Custom", "User-Agent"} {
				if r.Header.Get(k) != hdr.Get(k) {
					t.Errorf("header %s = %q, want %q", k, r.Header.Get(k), hdr.Get(k))
				}
			}
		})
	}
	// The unknown token and the over-cap body reach the token host as
	// they were sent; no grant was expanded.
	if w.refreshes.Load() != 2 {
		t.Errorf("%d refresh grants reached the token host, want 2", w.refreshes.Load())
	}
}

func TestUnparseableTokenResponseFailsClosed(t *testing.T) {
	ca := newTestCA(t)
	up := newFakeUpstream(t, ca, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"at-secret-leak", broken`))
	})
	r := newRig(t, up, ca)
	r.eng.AddOAuthCredential(engine.OAuthSpec{Name: "o", AccessToken: "at-o", RefreshToken: "rt-o",
		TokenURL: "https://auth.test/oauth/token"})
	ph, _ := r.eng.Phantom("o")

	req, _ := http.NewRequest("POST", "https://auth.test/oauth/token",
		strings.NewReader(`{"grant_type":"refresh_token","refresh_token":"`+ph.RefreshToken+`"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 502 || bytes.Contains(b, []byte("at-secret-leak")) {
		t.Errorf("status %d body %q, want 502 without the upstream body", resp.StatusCode, b)
	}
}

func TestA401OnAnExpiredTokenRefreshesInsteadOfFailingOver(t *testing.T) {
	w := newPoolWorld(t)
	w.failA.Store(false)
	// One agent refresh teaches latchkey the client's refresh request.
	body := `{"client_id":"app_x","grant_type":"refresh_token","refresh_token":"` +
		w.phantom.RefreshToken + `"}`
	w.do(t, "POST", "https://auth.test/oauth/token", body, http.Header{"Content-Type": {"application/json"}})

	// Then a's token expires and the API rejects it.
	w.eng.UpdateOAuthTokens("a", engine.TokenUpdate{AccessToken: "at-a-expired",
		ExpiresAt: time.Now().Add(-time.Minute)})
	w.up.reject401("Bearer at-a-expired")

	resp, got := w.do(t, "GET", "https://api.test/v1/models", "", w.agentHeader())
	if resp.StatusCode != 200 {
		t.Fatalf("status %d (%s), want 200 after a server-side refresh", resp.StatusCode, got)
	}
	st, _ := w.eng.PoolStatus("codex")
	if st.Active != "a" || st.Members[0].State != engine.StateHealthy {
		t.Errorf("status = %+v, want a still active and healthy (an expiry is no failure)", st)
	}
	if w.refreshes.Load() != 2 {
		t.Errorf("%d refreshes, want the agent's and latchkey's own (2)", w.refreshes.Load())
	}
}

func TestAFailedTokenWriteAnswers502AndKeepsTheTokens(t *testing.T) {
	w := newPoolWorld(t)
	w.closeStore()

	body := `{"grant_type":"refresh_token","refresh_token":"` + w.phantom.RefreshToken + `"}`
	resp, got := w.do(t, "POST", "https://auth.test/oauth/token", body,
		http.Header{"Content-Type": {"application/json"}})
	if resp.StatusCode != 502 || !strings.Contains(got, "could not be stored") {
		t.Errorf("status %d body %s, want 502 saying the tokens are kept", resp.StatusCode, got)
	}
	if w.eng.Unsaved() != 1 {
		t.Errorf("%d credentials with unsaved tokens, want 1", w.eng.Unsaved())
	}
	if v := w.eng.Plan("api.test", 443).Headers[0].Value; v != "Bearer at-fresh-rt-a" {
		t.Errorf("the rotated token is not live: %q", v)
	}
}
