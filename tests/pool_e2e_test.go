package tests

import (
	"cmp"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// End-to-end scenarios of pools of OAuth accounts (SPEC sections 4-8): the
// agent holds only a pool's phantoms, the provider's accounts fail over,
// refresh through the token host and rotate their tokens, and latchkey is
// restarted. Each test has its own instance and provider; the last test
// checks what every client of the file received.

// failOver makes the pool's first member answer a usage-limit 429 and sends
// one request, which must come back 200 from the second member.
func (w *poolWorld) failOver(t *testing.T) {
	t.Helper()
	w.prov.scriptAPI(w.members[0], usageLimit429())
	resp, id, _ := w.callAPI(t, w.client)
	if resp.status != http.StatusOK {
		t.Fatalf("request during failover: expected 200 from %s, saw %d: %s", w.members[1],
			resp.status, resp.body)
	}
	if calls := w.prov.apiCallsWithID(id); len(calls) != 2 || calls[1].member != w.members[1] {
		t.Fatalf("api.test requests during failover: expected %s then %s, saw %s",
			w.members[0], w.members[1], describeCalls(calls))
	}
}

// refreshAsCodex sends Codex's refresh with the pool's refresh phantom to
// the token host and returns the answer and the token host's record of it.
func (w *poolWorld) refreshAsCodex(t *testing.T, client *http.Client, reason string) (response,
	string, tokenCall) {
	t.Helper()
	body := codexRefreshBody(w.phantom.RefreshToken, reason)
	resp, id := w.do(t, client, http.MethodPost, poolTokenURL, codexRefreshHeader(), body)
	calls := w.prov.tokenCallsWithID(id)
	if len(calls) != 1 {
		t.Fatalf("auth.test requests for the refresh: expected 1, saw %d", len(calls))
	}
	return resp, body, calls[0]
}

// assertPhantomAnswer checks a refresh answer: 200, the pool's access and
// refresh phantoms byte for byte, a phantom id token carrying the phantom
// account id, and the provider's other fields as they were.
func (w *poolWorld) assertPhantomAnswer(t *testing.T, resp response, real tokenSet) {
	t.Helper()
	if resp.status != http.StatusOK {
		t.Fatalf("refresh: expected 200, saw %d: %s", resp.status, resp.body)
	}
	ans := decodeTokenAnswer(t, resp.body)
	if got, _ := ans["access_token"].(string); got != w.phantom.AccessToken {
		t.Errorf("refresh answer access_token: expected the pool's access phantom %q, saw %q",
			w.phantom.AccessToken, got)
	}
	if got, _ := ans["refresh_token"].(string); got != w.phantom.RefreshToken {
		t.Errorf("refresh answer refresh_token: expected the pool's refresh phantom %q, saw %q",
			w.phantom.RefreshToken, got)
	}
	idTok, _ := ans["id_token"].(string)
	if acct, ok := idTokenAccount(idTok); !ok || acct != w.phantom.AccountID {
		t.Errorf("refresh answer id_token: expected a JWT whose chatgpt_account_id is the "+
			"pool's phantom account id %q, saw %q (claim %q)", w.phantom.AccountID, idTok, acct)
	}
	if idTok == real.IDToken {
		t.Errorf("refresh answer id_token: expected a phantom, saw the real one")
	}
	for k, want := range map[string]any{"token_type": "Bearer", "expires_in": 3600.0,
		"scope": "openid profile email offline_access"} {
		if ans[k] != want {
			t.Errorf("refresh answer %s: expected %v as the provider sent it, saw %v", k, want,
				ans[k])
		}
	}
}

// assertSamePhantoms checks that the pool's phantoms did not change.
func (w *poolWorld) assertSamePhantoms(t *testing.T, when string, got oauthPhantom) {
	t.Helper()
	if got.AccessToken != w.phantom.AccessToken || got.RefreshToken != w.phantom.RefreshToken ||
		got.AccountID != w.phantom.AccountID {
		t.Errorf("GET /api/phantom/%s %s: expected the phantoms of the start byte for byte "+
			"(access %q, refresh %q, account %q), saw access %q, refresh %q, account %q",
			w.pool, when, w.phantom.AccessToken, w.phantom.RefreshToken, w.phantom.AccountID,
			got.AccessToken, got.RefreshToken, got.AccountID)
	}
}

func TestPoolFailoverRetriesTheRequestOnTheNextMember(t *testing.T) {
	w := newPoolWorld(t, 2)
	a, b := w.members[0], w.members[1]
	w.prov.scriptAPI(a, usageLimit429())

	resp, id, body := w.callAPI(t, w.client)

	t.Run("client sees the second member's 200", func(t *testing.T) {
		if resp.status != http.StatusOK {
			t.Fatalf("status: expected 200, saw %d: %s", resp.status, resp.body)
		}
		// api.test answered with B's real account id and echoed B's real
		// access token; the agent must see the pool's phantoms.
		if want := `{"ok":true,"account":"` + w.phantom.AccountID + `"}`; resp.body != want {
			t.Errorf("body: expected %s, saw %s", want, resp.body)
		}
		if got := resp.header.Get("X-Debug-Auth"); got != "Bearer "+w.phantom.AccessToken {
			t.Errorf("X-Debug-Auth: expected the pool's access phantom, saw %q", got)
		}
	})

	t.Run("upstream saw A then B with the same body", func(t *testing.T) {
		calls := w.prov.apiCallsWithID(id)
		if len(calls) != 2 {
			t.Fatalf("api.test requests: expected 2 (A, then B), saw %d %s", len(calls),
				describeCalls(calls))
		}
		w.assertServedBy(t, calls[0], a, 0)
		w.assertServedBy(t, calls[1], b, 0)
		for i, c := range calls {
			if c.req.Method != http.MethodPost || c.req.Path != "/backend-api/codex/responses" {
				t.Errorf("request %d: expected POST /backend-api/codex/responses, saw %s %s", i,
					c.req.Method, c.req.Path)
			}
			if c.req.Body != body {
				t.Errorf("request %d body: expected the agent's %q, saw %q", i, body, c.req.Body)
			}
		}
	})

	t.Run("next request goes straight to B", func(t *testing.T) {
		resp, id, body := w.callAPI(t, w.client)
		if resp.status != http.StatusOK {
			t.Fatalf("status: expected 200, saw %d: %s", resp.status, resp.body)
		}
		c := w.onlyAPICall(t, id)
		w.assertServedBy(t, c, b, 0)
		if c.req.Body != body {
			t.Errorf("body: expected the agent's %q, saw %q", body, c.req.Body)
		}
	})

	t.Run("audit line written once", func(t *testing.T) {
		reason := w.pool + ":" + a + "->" + b + ":429"
		var failovers []auditLine
		for _, l := range auditLines(t, w.inst) {
			if l.Msg == "cred_failover" {
				failovers = append(failovers, l)
			}
		}
		if len(failovers) != 1 || failovers[0].Reason != reason {
			t.Fatalf("latchkey.audit cred_failover lines: expected one with reason %q, saw %+v",
				reason, failovers)
		}
		l := failovers[0]
		if l.Pool != w.pool || l.From != a || l.To != b || l.Tag != "429" ||
			l.Host != poolAPIHost {
			t.Errorf("audit line fields: expected pool %s from %s to %s tag 429 host %s, "+
				"saw %+v", w.pool, a, b, poolAPIHost, l)
		}
	})

	t.Run("status shows B active and A cooling", func(t *testing.T) {
		s := w.status(t)
		if s.Active != b {
			t.Errorf("active: expected %s, saw %s", b, s.Active)
		}
		ma, mb := s.member(t, a), s.member(t, b)
		if ma.State != "cooldown" || ma.LastFailureReason != "rate limit (429)" ||
			ma.CooldownUntil == nil {
			t.Errorf("%s: expected cooldown after rate limit (429), saw %+v", a, ma)
		} else if d := time.Until(*ma.CooldownUntil); d < 55*time.Minute || d > 61*time.Minute {
			t.Errorf("%s cooldown: expected about 1h from resets_in_seconds 3600, saw %v", a, d)
		}
		if mb.State != "healthy" || !mb.Active {
			t.Errorf("%s: expected healthy and active, saw %+v", b, mb)
		}
	})
}

func TestPoolRefreshAtTokenHostExpandsToTheActiveMemberOnly(t *testing.T) {
	w := newPoolWorld(t, 2)
	a, b := w.members[0], w.members[1]
	w.failOver(t)
	w.assertSamePhantoms(t, "before the refresh", w.phantomNow(t))
	b0, a0 := w.prov.generation(b, 0), w.prov.generation(a, 0)

	resp, body, call := w.refreshAsCodex(t, w.client, "scheduled")

	t.Run("upstream saw B's real refresh token", func(t *testing.T) {
		if call.member != b {
			t.Errorf("refresh reached auth.test as %s; expected %s's refresh token",
				orNone(call.member), b)
		}
		want := strings.Replace(body, w.phantom.RefreshToken, b0.Refresh, 1)
		if call.req.Body != want {
			t.Errorf("refresh body at auth.test: expected the agent's body with only the "+
				"refresh token replaced,\n%q\nsaw\n%q", want, call.req.Body)
		}
		if call.req.Path != "/oauth/token" || call.req.Method != http.MethodPost {
			t.Errorf("refresh request: expected POST /oauth/token, saw %s %s", call.req.Method,
				call.req.Path)
		}
		for k, vs := range codexRefreshHeader() {
			if got := call.req.Header.Get(k); got != vs[0] {
				t.Errorf("refresh header %s at auth.test: expected %q, saw %q", k, vs[0], got)
			}
		}
		if n := w.prov.refreshCount(a); n != 0 {
			t.Errorf("refreshes of %s: expected 0, saw %d", a, n)
		}
		if n := w.prov.refreshCount(b); n != 1 {
			t.Errorf("refreshes of %s: expected 1, saw %d", b, n)
		}
	})

	t.Run("answer holds the pool's phantoms", func(t *testing.T) {
		w.assertPhantomAnswer(t, resp, w.prov.current(b))
		w.assertSamePhantoms(t, "after the refresh", w.phantomNow(t))
	})

	t.Run("B's rotated tokens land on B", func(t *testing.T) {
		if n := len(w.prov.account(b).issued); n != 2 {
			t.Fatalf("generations of %s: expected 2 after one refresh, saw %d", b, n)
		}
		resp, id, _ := w.callAPI(t, w.client)
		if resp.status != http.StatusOK {
			t.Fatalf("status: expected 200, saw %d: %s", resp.status, resp.body)
		}
		w.assertServedBy(t, w.onlyAPICall(t, id), b, 1)
	})

	t.Run("A's tokens are unchanged", func(t *testing.T) {
		if n := len(w.prov.account(a).issued); n != 1 {
			t.Errorf("generations of %s: expected 1 (never refreshed), saw %d", a, n)
		}
		// Clear A's cooldown and park B, so that A serves again.
		w.api(t, http.MethodPost, "/api/pools/"+w.pool+"/reset", nil, http.StatusOK, nil)
		var rot struct{ From, To string }
		w.api(t, http.MethodPost, "/api/pools/"+w.pool+"/rotate", nil, http.StatusOK, &rot)
		if rot.From != b || rot.To != a {
			t.Fatalf("rotate: expected %s -> %s, saw %s -> %s", b, a, rot.From, rot.To)
		}
		resp, id, _ := w.callAPI(t, w.client)
		if resp.status != http.StatusOK {
			t.Fatalf("status: expected 200, saw %d: %s", resp.status, resp.body)
		}
		c := w.onlyAPICall(t, id)
		w.assertServedBy(t, c, a, 0)
		if c.req.Header.Get("Authorization") != "Bearer "+a0.Access {
			t.Errorf("%s's access token changed although only %s was refreshed", a, b)
		}
	})
}

func TestTokenHostPassesEveryOtherGrantUnchanged(t *testing.T) {
	w := newPoolWorld(t, 2)
	a := w.members[0]
	jsonHeader := http.Header{"Content-Type": {"application/json"},
		"Accept": {"application/json"}}
	// Codex's device login uses a raw client without User-Agent and
	// originator; Go sends none for an empty User-Agent.
	noUA := func(h http.Header) http.Header {
		h = h.Clone()
		h["User-Agent"] = []string{""}
		return h
	}
	formHeader := http.Header{"Content-Type": {"application/x-www-form-urlencoded"},
		"Accept": {"application/json"}}
	pad := strings.Repeat("x", 70<<10)

	cases := []struct {
		name, method, path string
		header             http.Header
		body               string
	}{
		{"device-auth usercode", "", "/api/accounts/deviceauth/usercode", noUA(jsonHeader),
			`{"client_id":"` + codexClientID + `"}`},
		{"device-auth token", "", "/api/accounts/deviceauth/token", noUA(jsonHeader),
			`{"device_auth_id":"deviceauth_` + randomHex(12) + `","user_code":"QX7R-9KDM"}`},
		{"authorization_code", "", "/oauth/token", noUA(formHeader),
			"grant_type=authorization_code&client_id=" + codexClientID + "&code=ac_" +
				randomHex(16) + "&redirect_uri=https%3A%2F%2Fauth.openai.com%2Fdeviceauth%2F" +
				"callback&code_verifier=" + randomHex(24)},
		{"absent grant", "", "/oauth/token", jsonHeader,
			`{"client_id":"` + codexClientID + `","refresh_token":"` + w.phantom.RefreshToken +
				`"}`},
		{"device_code grant", "", "/oauth/token", formHeader,
			"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=" +
				randomHex(16) + "&client_id=" + codexClientID},
		{"refresh over 64 KiB", "", "/oauth/token", codexRefreshHeader(),
			`{"client_id":"` + codexClientID + `","grant_type":"refresh_token",` +
				`"refresh_reason":"scheduled","refresh_token":"` + w.phantom.RefreshToken +
				`","padding":"` + pad + `"}`},
		// Only POST is probed: a refresh grant sent with another method
		// passes as it is.
		{"refresh with PUT", http.MethodPut, "/oauth/token", codexRefreshHeader(),
			codexRefreshBody(w.phantom.RefreshToken, "scheduled")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method := cmp.Or(c.method, http.MethodPost)
			resp, id := w.do(t, w.client, method, "https://"+tokenHostName+c.path, c.header,
				c.body)
			calls := w.prov.tokenCallsWithID(id)
			if len(calls) != 1 {
				t.Fatalf("auth.test requests: expected 1, saw %d", len(calls))
			}
			got := calls[0]
			if got.req.Method != method || got.req.Path != c.path {
				t.Errorf("request: expected %s %s, saw %s %s", method, c.path, got.req.Method,
					got.req.Path)
			}
			if got.req.Body != c.body {
				t.Errorf("body at auth.test: expected the agent's %d bytes unchanged, saw %d "+
					"bytes differing at %d", len(c.body), len(got.req.Body),
					firstDiff(c.body, got.req.Body))
			}
			for k, vs := range c.header {
				want := vs
				if len(vs) == 1 && vs[0] == "" {
					want = nil
				}
				if g := got.req.Header.Values(k); strings.Join(g, "\x00") !=
					strings.Join(want, "\x00") {
					t.Errorf("header %s at auth.test: expected %q, saw %q", k, want, g)
				}
			}
			if g := got.req.Header.Get(requestIDHeader); g != id {
				t.Errorf("header %s at auth.test: expected %q, saw %q", requestIDHeader, id, g)
			}
			if resp.status != got.status || resp.body != got.answer {
				t.Errorf("answer: expected auth.test's %d %s unchanged, saw %d %s", got.status,
					short(got.answer), resp.status, short(resp.body))
			}
		})
	}

	t.Run("nothing was refreshed or failed over", func(t *testing.T) {
		for _, m := range w.members {
			if n := w.prov.refreshCount(m); n != 0 {
				t.Errorf("refreshes of %s: expected 0, saw %d", m, n)
			}
		}
		s := w.status(t)
		for _, m := range s.Members {
			if m.State != "healthy" {
				t.Errorf("%s: expected healthy, saw %+v", m.Credential, m)
			}
		}
		if s.Active != a {
			t.Errorf("active: expected %s, saw %s", a, s.Active)
		}
	})

	// The control: the same instance does expand a refresh grant, here
	// Gemini's form body.
	t.Run("form refresh grant is expanded", func(t *testing.T) {
		a0 := w.prov.generation(a, 0)
		body := "refresh_token=" + w.phantom.RefreshToken + "&client_id=" + geminiClientID +
			"&client_secret=" + geminiSecret + "&grant_type=refresh_token"
		resp, id := w.do(t, w.client, http.MethodPost, poolTokenURL, http.Header{
			"Content-Type": {geminiFormType}, "User-Agent": {geminiUserAgent}}, body)
		calls := w.prov.tokenCallsWithID(id)
		if len(calls) != 1 {
			t.Fatalf("auth.test requests: expected 1, saw %d", len(calls))
		}
		want := strings.Replace(body, w.phantom.RefreshToken, a0.Refresh, 1)
		if calls[0].req.Body != want {
			t.Errorf("body at auth.test: expected %q, saw %q", want, calls[0].req.Body)
		}
		if ct := calls[0].req.Header.Get("Content-Type"); ct != geminiFormType {
			t.Errorf("Content-Type at auth.test: expected %q, saw %q", geminiFormType, ct)
		}
		w.assertPhantomAnswer(t, resp, w.prov.current(a))
		if n := w.prov.refreshCount(a); n != 1 {
			t.Errorf("refreshes of %s: expected 1, saw %d", a, n)
		}
	})
}

// short cuts s for a failure message.
func short(s string) string {
	if len(s) > 240 {
		return s[:240] + "…"
	}
	return s
}

// firstDiff returns the first byte offset where a and b differ.
func firstDiff(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

func TestTokenRefreshesAreCoalescedIntoOneExchange(t *testing.T) {
	const n = 20
	w := newPoolWorld(t, 2)
	a, b := w.members[0], w.members[1]
	release := w.prov.holdNextRefresh(a)
	defer release()

	body := codexRefreshBody(w.phantom.RefreshToken, "unauthorized_recovery")
	var (
		wg      sync.WaitGroup
		written = make(chan struct{}, n)
		results = make([]response, n)
		errs    = make([]error, n)
	)
	for i := range n {
		req, _, err := newTaggedRequest(http.MethodPost, poolTokenURL, codexRefreshHeader(), body)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			// Signalled once the request is written, or when it failed
			// before that.
			var once sync.Once
			signal := func() { once.Do(func() { written <- struct{}{} }) }
			results[i], errs[i] = sendTraced(w.client, req, signal)
			signal()
		})
	}
	// Let the one upstream exchange answer only once every refresh has
	// been sent, so the others arrive while it is in flight.
	timeout := time.After(requestTimeout)
sending:
	for got := 0; got < n; got++ {
		select {
		case <-written:
		case <-timeout:
			t.Errorf("only %d of %d refreshes were sent within %v", got, n, requestTimeout)
			break sending
		}
	}
	release()
	wg.Wait()

	for i := range n {
		if errs[i] != nil {
			t.Fatalf("refresh %d: %v", i, errs[i])
		}
		leaks.saw(t, "coalesced refresh", results[i].header, results[i].body)
	}
	for i := range n {
		if results[i].status != results[0].status || results[i].body != results[0].body {
			t.Errorf("refresh %d: expected the same answer as refresh 0 (%d %s), saw %d %s", i,
				results[0].status, short(results[0].body), results[i].status,
				short(results[i].body))
		}
	}
	w.assertPhantomAnswer(t, results[0], w.prov.current(a))

	if got := w.prov.refreshCount(a); got != 1 {
		t.Errorf("upstream refresh exchanges for %s: expected exactly 1, saw %d", a, got)
	}
	if got := w.prov.refreshCount(b); got != 0 {
		t.Errorf("upstream refresh exchanges for %s: expected 0, saw %d", b, got)
	}
	if calls := w.prov.tokenCalls(); len(calls) != 1 {
		t.Errorf("auth.test requests: expected 1, saw %d", len(calls))
	} else if want := strings.Replace(body, w.phantom.RefreshToken,
		w.prov.generation(a, 0).Refresh, 1); calls[0].req.Body != want {
		t.Errorf("the one exchange's body: expected %q, saw %q", want, calls[0].req.Body)
	}
	if lines := auditLines(t, w.inst); len(lines) != 0 {
		t.Errorf("audit lines: expected none (contention is no account failure), saw %+v", lines)
	}
	s := w.status(t)
	if s.Active != a || s.member(t, a).State != "healthy" {
		t.Errorf("pool status: expected %s active and healthy, saw %+v", a, s)
	}
}

func TestPoolRestartKeepsActiveMemberCooldownAndRotatedTokens(t *testing.T) {
	w := newPoolWorld(t, 2)
	a, b := w.members[0], w.members[1]
	w.failOver(t)
	resp, _, _ := w.refreshAsCodex(t, w.client, "scheduled")
	w.assertPhantomAnswer(t, resp, w.prov.current(b))
	before := w.status(t)
	if before.Active != b || before.member(t, a).CooldownUntil == nil {
		t.Fatalf("status before the restart: expected %s active and %s cooling, saw %+v", b,
			a, before)
	}

	w.inst.restart(t)
	client := agentClient(t, w.inst, true)

	t.Run("status survives", func(t *testing.T) {
		after := w.status(t)
		if after.Active != b {
			t.Errorf("active after restart: expected %s, saw %s", b, after.Active)
		}
		was, is := before.member(t, a), after.member(t, a)
		switch {
		case is.State != "cooldown" || is.CooldownUntil == nil:
			t.Errorf("%s after restart: expected cooling down, saw %+v", a, is)
		case is.CooldownUntil.Sub(*was.CooldownUntil).Abs() > time.Second:
			t.Errorf("%s cooldown_until: expected %v as before the restart, saw %v", a,
				*was.CooldownUntil, *is.CooldownUntil)
		}
		if is.LastFailureReason != was.LastFailureReason {
			t.Errorf("%s last_failure_reason: expected %q, saw %q", a, was.LastFailureReason,
				is.LastFailureReason)
		}
		if mb := after.member(t, b); mb.State != "healthy" || !mb.Active {
			t.Errorf("%s after restart: expected healthy and active, saw %+v", b, mb)
		}
		w.assertSamePhantoms(t, "after the restart", w.phantomNow(t))
	})

	t.Run("API uses B's newest access token", func(t *testing.T) {
		resp, id, _ := w.callAPI(t, client)
		if resp.status != http.StatusOK {
			t.Fatalf("status: expected 200, saw %d: %s", resp.status, resp.body)
		}
		w.assertServedBy(t, w.onlyAPICall(t, id), b, 1)
	})

	t.Run("refresh uses B's newest refresh token", func(t *testing.T) {
		b1 := w.prov.generation(b, 1)
		resp, body, call := w.refreshAsCodex(t, client, "scheduled")
		if want := strings.Replace(body, w.phantom.RefreshToken, b1.Refresh, 1); call.req.Body !=
			want {
			t.Errorf("refresh body at auth.test: expected %s's refresh token of generation 1,"+
				"\n%q\nsaw\n%q", b, want, call.req.Body)
		}
		if call.status != http.StatusOK {
			t.Errorf("auth.test answered the refresh %d %s; expected it to accept the token",
				call.status, call.answer)
		}
		w.assertPhantomAnswer(t, resp, w.prov.current(b))

		resp, id, _ := w.callAPI(t, client)
		if resp.status != http.StatusOK {
			t.Fatalf("status: expected 200, saw %d: %s", resp.status, resp.body)
		}
		w.assertServedBy(t, w.onlyAPICall(t, id), b, 2)
	})
}

// TestPoolNoRealTokenReachedAnyClient runs after the other tests of this
// file and checks everything their clients received against every real
// value any provider issued, across tests.
func TestPoolNoRealTokenReachedAnyClient(t *testing.T) {
	if leaks.count() == 0 {
		t.Skip("no answers were recorded: run it with the other tests of pool_e2e_test.go")
	}
	leaks.check(t, "")
}
