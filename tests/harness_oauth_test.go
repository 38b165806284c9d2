package tests

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The OAuth side of the end-to-end tests: a provider whose accounts sit
// behind one latchkey pool. The provider serves two hosts, each its own TLS
// server with the test PKI's leaf and reached through upstream_override:
//
//   - auth.test, the token host: refresh grants rotate tokens (the old
//     refresh token is spent at once, like ChatGPT's), the Codex device
//     login endpoints and an authorization_code exchange answer as the real
//     ones do, and every request is recorded byte for byte;
//   - api.test, the API host: it tells the accounts apart by the real access
//     token in Authorization, answers from a per-account script (a usage
//     limit 429, say) and otherwise 200 with the account id, and echoes the
//     Authorization it saw in X-Debug-Auth so that a real token would come
//     back to the agent if latchkey did not rewrite the answer.
//
// Everything the agent receives through these helpers is kept in leaks, and
// every real token or account id the provider ever issued is registered
// there, so a test can check that no real value reached a client.

// Where the provider lives.
const (
	tokenHostName = "auth.test"
	poolTokenURL  = "https://" + tokenHostName + "/oauth/token"
	poolAPIHost   = "api.test"
	poolAPIURL    = "https://" + poolAPIHost + "/backend-api/codex/responses"
)

// Client constants of the real clients, as captured (CLIENTS.md sections 2
// and 4).
const (
	codexClientID   = "app_EMoamEEZ73f0CkXaXp7hrann"
	codexUserAgent  = "codex_cli_rs/0.171.0 (Debian 12.0.0; x86_64) xterm (codex_cli_rs; 0.171.0)"
	codexOriginator = "codex_cli_rs"
	geminiClientID  = "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com"
	geminiSecret    = "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"
	geminiFormType  = "application/x-www-form-urlencoded;charset=UTF-8"
	geminiUserAgent = "google-api-nodejs-client/10.9.0"
)

// refreshHoldTimeout bounds how long a held refresh waits for its release,
// so a broken test cannot hang the provider.
const refreshHoldTimeout = 20 * time.Second

// tokenSet is one generation of an account's tokens.
type tokenSet struct {
	Access, Refresh, IDToken string
}

// apiAnswer is one scripted answer of the API host.
type apiAnswer struct {
	status int
	header http.Header
	body   string
}

// usageLimit429 is ChatGPT's terminal usage-limit answer (CLIENTS.md 5).
func usageLimit429() apiAnswer {
	return apiAnswer{status: http.StatusTooManyRequests,
		header: http.Header{"Content-Type": {"application/json"}},
		body: `{"error":{"type":"usage_limit_reached","message":"The usage limit has been ` +
			`reached","plan_type":"plus","resets_in_seconds":3600}}`}
}

// oauthAccount is one real account of the provider.
type oauthAccount struct {
	name      string
	accountID string

	// issued holds every generation; [0] is what the operator gave
	// latchkey, the last one is current. Only the current refresh token
	// is accepted.
	issued []tokenSet

	// refreshes counts refresh requests that carried one of the account's
	// refresh tokens, accepted or not; rotations counts accepted ones.
	refreshes, rotations int

	// script are the API host's next answers for the account.
	script []apiAnswer

	// hold, when set, makes the next accepted refresh wait for it to be
	// closed before answering (the old token is spent before the wait).
	hold chan struct{}
}

// tokenCall is one request the token host received.
type tokenCall struct {
	req recordedRequest

	// member is the account whose refresh token the request carried, or
	// "" for any other request.
	member string

	// status and answer are what the token host answered.
	status int
	answer string
}

// apiCall is one request the API host received.
type apiCall struct {
	req recordedRequest

	// member is the account whose access token was presented ("" when
	// none), generation the index into its issued tokens.
	member     string
	generation int
}

// oauthProvider is the fake provider: accounts, both hosts and their
// records.
type oauthProvider struct {
	auth, api *httptest.Server

	mu       sync.Mutex
	accounts map[string]*oauthAccount
	byAccess map[string]*oauthAccount
	tokens   []tokenCall
	calls    []apiCall
}

// newOAuthProvider starts a provider with the named accounts, each with a
// first generation of tokens. Its servers close when t ends.
func newOAuthProvider(t *testing.T, names ...string) *oauthProvider {
	t.Helper()
	p := &oauthProvider{accounts: map[string]*oauthAccount{},
		byAccess: map[string]*oauthAccount{}}
	for _, n := range names {
		a := &oauthAccount{name: n, accountID: randomUUID()}
		leaks.real("account id of "+n, a.accountID)
		p.accounts[n] = a
		p.issue(a)
	}
	p.auth = startTLSServer(http.HandlerFunc(p.serveAuth))
	p.api = startTLSServer(http.HandlerFunc(p.serveAPI))
	t.Cleanup(func() {
		p.auth.CloseClientConnections()
		p.auth.Close()
		p.api.CloseClientConnections()
		p.api.Close()
	})
	return p
}

// startTLSServer serves h over TLS with the test PKI's leaf (valid for
// api.test and *.test), HTTP/2 and HTTP/1.1.
func startTLSServer(h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{testPKI.leaf}}
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	return srv
}

// overrideLines are the latchkey directive lines that send api.test and
// auth.test to this provider. The harness's template maps api.test to the
// shared upstream first; a later upstream_override of the same host wins.
func (p *oauthProvider) overrideLines() []string {
	return []string{
		"upstream_override " + poolAPIHost + " " + p.api.Listener.Addr().String(),
		"upstream_override " + tokenHostName + " " + p.auth.Listener.Addr().String(),
	}
}

// issue gives an account a new generation of tokens and registers them as
// real values. The caller holds p.mu or owns p alone.
func (p *oauthProvider) issue(a *oauthAccount) tokenSet {
	gen := len(a.issued)
	ts := tokenSet{
		Access:  fmt.Sprintf("at-real-%s-g%d-%s", a.name, gen, randomHex(16)),
		Refresh: fmt.Sprintf("rt-real-%s-g%d-%s", a.name, gen, randomHex(16)),
		IDToken: fakeIDToken(a.name, a.accountID),
	}
	a.issued = append(a.issued, ts)
	p.byAccess[ts.Access] = a
	leaks.real(fmt.Sprintf("access token of %s (generation %d)", a.name, gen), ts.Access)
	leaks.real(fmt.Sprintf("refresh token of %s (generation %d)", a.name, gen), ts.Refresh)
	leaks.real(fmt.Sprintf("id token of %s (generation %d)", a.name, gen), ts.IDToken)
	return ts
}

// account returns a copy of the named account's state.
func (p *oauthProvider) account(name string) oauthAccount {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.accounts[name]
	if !ok {
		panic("no account " + name)
	}
	c := *a
	c.issued = slices.Clone(a.issued)
	c.script = nil
	c.hold = nil
	return c
}

// current returns the account's current tokens.
func (p *oauthProvider) current(name string) tokenSet {
	a := p.account(name)
	return a.issued[len(a.issued)-1]
}

// generation returns the account's tokens of generation gen.
func (p *oauthProvider) generation(name string, gen int) tokenSet {
	return p.account(name).issued[gen]
}

// accountID returns the account's real account id.
func (p *oauthProvider) accountID(name string) string {
	return p.account(name).accountID
}

// refreshCount is how many refresh requests carried one of the account's
// refresh tokens.
func (p *oauthProvider) refreshCount(name string) int {
	return p.account(name).refreshes
}

// scriptAPI queues the API host's next answers for the account.
func (p *oauthProvider) scriptAPI(name string, answers ...apiAnswer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.accounts[name]
	a.script = append(a.script, answers...)
}

// holdNextRefresh makes the account's next accepted refresh wait until the
// returned function is called (at most refreshHoldTimeout). Calling the
// function again does nothing.
func (p *oauthProvider) holdNextRefresh(name string) func() {
	ch := make(chan struct{})
	p.mu.Lock()
	p.accounts[name].hold = ch
	p.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

// tokenCalls returns everything the token host received, in order.
func (p *oauthProvider) tokenCalls() []tokenCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.tokens)
}

// tokenCallsWithID returns the token host's requests tagged with id.
func (p *oauthProvider) tokenCallsWithID(id string) []tokenCall {
	var out []tokenCall
	for _, c := range p.tokenCalls() {
		if c.req.Header.Get(requestIDHeader) == id {
			out = append(out, c)
		}
	}
	return out
}

// apiCallsWithID returns the API host's requests tagged with id, in order.
func (p *oauthProvider) apiCallsWithID(id string) []apiCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []apiCall
	for _, c := range p.calls {
		if c.req.Header.Get(requestIDHeader) == id {
			out = append(out, c)
		}
	}
	return out
}

// readRecord reads a request's body (bounded) and returns the record.
func readRecord(r *http.Request) (recordedRequest, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	return recordedRequest{Method: r.Method, Host: r.Host, Path: r.URL.Path,
		RawQuery: r.URL.RawQuery, Proto: r.Proto, Header: r.Header.Clone(),
		Body: string(body)}, err
}

// serveAuth is the token host.
func (p *oauthProvider) serveAuth(w http.ResponseWriter, r *http.Request) {
	rec, err := readRecord(r)
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	call := tokenCall{req: rec}
	var hold chan struct{}
	switch {
	case r.Method != http.MethodPost:
		call.status, call.answer = http.StatusMethodNotAllowed, `{"error":"invalid_request"}`
	case r.URL.Path == "/api/accounts/deviceauth/usercode":
		call.status = http.StatusOK
		call.answer = `{"device_auth_id":"deviceauth_` + randomHex(12) +
			`","user_code":"QX7R-9KDM","interval":"5"}`
	case r.URL.Path == "/api/accounts/deviceauth/token":
		call.status = http.StatusOK
		call.answer = `{"authorization_code":"ac_` + randomHex(16) +
			`","code_challenge":"` + randomHex(16) + `","code_verifier":"` + randomHex(24) + `"}`
	case r.URL.Path == "/oauth/token":
		params, ok := tokenParams(r.Header.Get("Content-Type"), []byte(rec.Body))
		switch {
		case !ok:
			call.status = http.StatusBadRequest
			call.answer = `{"error":"invalid_request","error_description":"unreadable body"}`
		case params["grant_type"] == "refresh_token":
			hold = p.refresh(&call, params["refresh_token"])
		case params["grant_type"] == "authorization_code":
			// A login: tokens latchkey has never seen, which the agent
			// receives as they are (they are not registered as real
			// values of latchkey's credentials).
			call.status = http.StatusOK
			call.answer = `{"id_token":"` + fakeIDToken("login", randomUUID()) +
				`","access_token":"at-login-` + randomHex(16) + `","refresh_token":"rt-login-` +
				randomHex(16) + `"}`
		case params["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code":
			call.status, call.answer = http.StatusBadRequest, `{"error":"authorization_pending"}`
		case params["grant_type"] == "":
			call.status = http.StatusBadRequest
			call.answer = `{"error":"invalid_request","error_description":"grant_type is required"}`
		default:
			call.status, call.answer = http.StatusBadRequest, `{"error":"unsupported_grant_type"}`
		}
	default:
		call.status, call.answer = http.StatusNotFound, `{"error":"not_found"}`
	}

	p.mu.Lock()
	p.tokens = append(p.tokens, call)
	p.mu.Unlock()

	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		case <-time.After(refreshHoldTimeout):
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(call.status)
	io.WriteString(w, call.answer)
}

// refresh decides a refresh grant: the account's current refresh token is
// spent and a new generation issued; a spent or unknown one is
// invalid_grant. It returns the hold the answer must wait for, if any.
func (p *oauthProvider) refresh(call *tokenCall, token string) chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	call.status = http.StatusBadRequest
	call.answer = `{"error":"invalid_grant","error_description":"The refresh token is ` +
		`invalid, expired or was already used."}`
	for _, a := range p.accounts {
		for gen, ts := range a.issued {
			if ts.Refresh != token {
				continue
			}
			call.member = a.name
			a.refreshes++
			if gen != len(a.issued)-1 {
				return nil
			}
			a.rotations++
			next := p.issue(a)
			call.status = http.StatusOK
			call.answer = `{"access_token":"` + next.Access + `","expires_in":3600,` +
				`"id_token":"` + next.IDToken + `","refresh_token":"` + next.Refresh + `",` +
				`"scope":"openid profile email offline_access","token_type":"Bearer"}`
			hold := a.hold
			a.hold = nil
			return hold
		}
	}
	return nil
}

// tokenParams reads the string fields of a JSON object or a form body.
func tokenParams(contentType string, body []byte) (map[string]string, bool) {
	out := map[string]string{}
	if strings.Contains(contentType, "json") {
		var obj map[string]any
		if err := json.Unmarshal(body, &obj); err != nil {
			return nil, false
		}
		for k, v := range obj {
			if s, ok := v.(string); ok {
				out[k] = s
			}
		}
		return out, true
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, false
	}
	for k := range vals {
		out[k] = vals.Get(k)
	}
	return out, true
}

// serveAPI is the API host.
func (p *oauthProvider) serveAPI(w http.ResponseWriter, r *http.Request) {
	rec, err := readRecord(r)
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")

	p.mu.Lock()
	call := apiCall{req: rec, generation: -1}
	a := p.byAccess[token]
	var ans apiAnswer
	switch {
	case a == nil:
		ans = apiAnswer{status: http.StatusUnauthorized,
			header: http.Header{"Content-Type": {"application/json"}},
			body: `{"error":{"message":"Provided authentication token is expired.","type":null,` +
				`"code":"token_expired","param":null},"status":401}`}
	case len(a.script) > 0:
		ans, a.script = a.script[0], a.script[1:]
	default:
		ans = apiAnswer{status: http.StatusOK,
			header: http.Header{"Content-Type": {"application/json"}},
			body:   `{"ok":true,"account":"` + a.accountID + `"}`}
	}
	if a != nil {
		call.member = a.name
		for gen, ts := range a.issued {
			if ts.Access == token {
				call.generation = gen
			}
		}
	}
	p.calls = append(p.calls, call)
	p.mu.Unlock()

	for k, vs := range ans.header {
		w.Header()[k] = vs
	}
	w.Header().Set("X-Debug-Auth", r.Header.Get("Authorization"))
	w.WriteHeader(ans.status)
	io.WriteString(w, ans.body)
}

// fakeIDToken is an id token shaped like ChatGPT's: the signature is never
// checked by clients, only the three parts and the payload's claims.
func fakeIDToken(name, accountID string) string {
	now := time.Now().Unix()
	claims, _ := json.Marshal(map[string]any{
		"iss":   "https://auth.openai.com",
		"aud":   []string{codexClientID},
		"sub":   "auth0|" + randomHex(12),
		"email": name + "@example.test",
		"iat":   now,
		"exp":   now + 3600,
		"jti":   randomUUID(),
		"https://api.openai.com/auth": map[string]any{
			"chatgpt_account_id": accountID,
			"chatgpt_plan_type":  "plus",
			"chatgpt_user_id":    "user-" + randomHex(12),
		},
	})
	enc := base64.RawURLEncoding
	sig := make([]byte, 64)
	rand.Read(sig)
	return enc.EncodeToString([]byte(`{"alg":"RS256","kid":"test","typ":"JWT"}`)) + "." +
		enc.EncodeToString(claims) + "." + enc.EncodeToString(sig)
}

// jwtShape matches a JWT whose header and payload are base64url JSON.
var jwtShape = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.(eyJ[A-Za-z0-9_-]*)\.[A-Za-z0-9_-]*`)

// jwtPayloads returns the decoded payloads of the JWTs in s.
func jwtPayloads(s string) []string {
	var out []string
	for _, m := range jwtShape.FindAllStringSubmatch(s, -1) {
		if raw, err := base64.RawURLEncoding.DecodeString(m[1]); err == nil {
			out = append(out, string(raw))
		}
	}
	return out
}

// idTokenAccount returns the chatgpt_account_id claim of an id token.
func idTokenAccount(tok string) (string, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	var claims struct {
		Auth struct {
			AccountID string `json:"chatgpt_account_id"`
		} `json:"https://api.openai.com/auth"`
	}
	if json.Unmarshal(raw, &claims) != nil {
		return "", false
	}
	return claims.Auth.AccountID, true
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func randomUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// leaks collects, for the whole run, every real value the providers issued
// and everything the clients received, so that any test can check that no
// real value ever reached a client.
var leaks = &leakWatch{reals: map[string]string{}}

type leakWatch struct {
	mu    sync.Mutex
	reals map[string]string // value → what it is
	views []clientView
}

// clientView is one answer a client received.
type clientView struct {
	test, what string
	text       string
}

// real registers real values.
func (l *leakWatch) real(what string, values ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range values {
		if v != "" {
			l.reals[v] = what
		}
	}
}

// saw records an answer a client of test t received: every header name and
// value and the body, plus the decoded payload of every JWT in them, so a
// real account id inside a phantom id token is found too.
func (l *leakWatch) saw(t *testing.T, what string, header http.Header, body string) {
	var b strings.Builder
	for k, vs := range header {
		fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(vs, ", "))
	}
	b.WriteString(body)
	text := b.String()
	for _, p := range jwtPayloads(text) {
		text += "\n" + p
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.views = append(l.views, clientView{test: t.Name(), what: what, text: text})
}

// count returns how many answers were recorded.
func (l *leakWatch) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.views)
}

// check fails t for every real value found in an answer recorded by a test
// whose name starts with prefix ("" for all).
func (l *leakWatch) check(t *testing.T, prefix string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range l.views {
		if !strings.HasPrefix(v.test, prefix) {
			continue
		}
		for real, what := range l.reals {
			if strings.Contains(v.text, real) {
				t.Errorf("%s, %s: the client received the %s", v.test, v.what, what)
			}
		}
	}
}

// checkLog fails t for every real value in the instance's log.
func (l *leakWatch) checkLog(t *testing.T, inst *instance) {
	t.Helper()
	raw, err := os.ReadFile(inst.logPath)
	if err != nil {
		t.Errorf("reading the latchkey log: %v", err)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for real, what := range l.reals {
		if bytes.Contains(raw, []byte(real)) {
			t.Errorf("latchkey log: expected no real secret, saw the %s", what)
		}
	}
}

// oauthPhantom is the answer of GET /api/phantom/{name} for an OAuth
// credential or pool.
type oauthPhantom struct {
	Name         string `json:"name"`
	Kind         string `json:"kind"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	AccountID    string `json:"account_id"`
}

// poolStatus is the answer of GET /api/pools/{name}.
type poolStatus struct {
	Name     string         `json:"name"`
	Strategy string         `json:"strategy"`
	Active   string         `json:"active"`
	Members  []memberStatus `json:"members"`
}

type memberStatus struct {
	Credential        string     `json:"credential"`
	Position          int        `json:"position"`
	Active            bool       `json:"active"`
	State             string     `json:"state"`
	CooldownUntil     *time.Time `json:"cooldown_until"`
	LastFailureReason string     `json:"last_failure_reason"`
}

// member returns the status of the named member.
func (s poolStatus) member(t *testing.T, name string) memberStatus {
	t.Helper()
	for _, m := range s.Members {
		if m.Credential == name {
			return m
		}
	}
	t.Fatalf("pool %s: expected member %s in the status, saw %+v", s.Name, name, s.Members)
	return memberStatus{}
}

// poolWorld is a running latchkey with a provider's accounts as OAuth
// credentials (created over REST), pooled in that order and bound to
// api.test; the agent knows only the pool's phantoms.
type poolWorld struct {
	inst    *instance
	prov    *oauthProvider
	pool    string
	members []string
	phantom oauthPhantom
	client  *http.Client
}

// newPoolWorld sets up a pool of n members named a-…, b-…, and so on.
func newPoolWorld(t *testing.T, n int) *poolWorld {
	t.Helper()
	suffix := newID()
	w := &poolWorld{pool: "pool-" + suffix}
	for i := range n {
		w.members = append(w.members, string(rune('a'+i))+"-"+suffix)
	}
	w.prov = newOAuthProvider(t, w.members...)
	w.inst = newInstance(t, instanceOptions{comment: t.Name(),
		handlerLines: w.prov.overrideLines()})
	// Registered after the instance's own clean-ups, so it runs first,
	// while the log is still there.
	t.Cleanup(func() {
		leaks.check(t, t.Name())
		leaks.checkLog(t, w.inst)
	})

	for _, m := range w.members {
		ts := w.prov.current(m)
		w.api(t, http.MethodPost, "/api/credentials", map[string]any{
			"name": m, "type": "oauth", "access_token": ts.Access,
			"refresh_token": ts.Refresh, "id_token": ts.IDToken, "token_url": poolTokenURL,
			"account_id": w.prov.accountID(m),
		}, http.StatusCreated, nil)
	}
	w.api(t, http.MethodPost, "/api/pools", map[string]any{"name": w.pool,
		"members": w.members}, http.StatusCreated, nil)
	w.api(t, http.MethodPost, "/api/bindings", map[string]any{"credential": w.pool,
		"destination": poolAPIHost}, http.StatusCreated, nil)

	w.phantom = w.phantomNow(t)
	if w.phantom.Kind != "pool" || w.phantom.AccessToken == "" ||
		w.phantom.RefreshToken == "" || w.phantom.AccountID == "" {
		t.Fatalf("GET /api/phantom/%s: expected kind pool with access, refresh and account "+
			"phantoms, saw %+v", w.pool, w.phantom)
	}
	w.client = agentClient(t, w.inst, true)
	return w
}

// api calls the admin API, recording the answer as something a client
// received, and decodes it into out when out is not nil.
func (w *poolWorld) api(t *testing.T, method, path string, body any, want int, out any) {
	t.Helper()
	status, raw, err := w.inst.api(method, path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	leaks.saw(t, method+" "+path, nil, string(raw))
	if status != want {
		t.Fatalf("%s %s: expected status %d, saw %d: %s", method, path, want, status, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", method, path, raw, err)
		}
	}
}

// phantomNow returns the pool's phantoms as the REST API gives them now.
func (w *poolWorld) phantomNow(t *testing.T) oauthPhantom {
	t.Helper()
	var p oauthPhantom
	w.api(t, http.MethodGet, "/api/phantom/"+w.pool, nil, http.StatusOK, &p)
	return p
}

// status returns the pool's live status.
func (w *poolWorld) status(t *testing.T) poolStatus {
	t.Helper()
	var s poolStatus
	w.api(t, http.MethodGet, "/api/pools/"+w.pool, nil, http.StatusOK, &s)
	return s
}

// agentHeader is what a Codex CLI holding the pool's phantoms sends to the
// API host.
func (w *poolWorld) agentHeader() http.Header {
	return http.Header{
		"Authorization":      {"Bearer " + w.phantom.AccessToken},
		"Chatgpt-Account-Id": {w.phantom.AccountID},
		"Content-Type":       {"application/json"},
		"Originator":         {"codex_exec"},
		"User-Agent":         {"codex_exec/0.171.0 (Debian 12.0.0; x86_64) xterm"},
	}
}

// codexResponsesBody is a small Codex inference request.
func codexResponsesBody(text string) string {
	return `{"model":"gpt-5-codex","instructions":"You are a coding agent.","input":[` +
		`{"type":"message","role":"user","content":[{"type":"input_text","text":"` + text +
		`"}]}],"tools":[],"stream":false,"store":false,"prompt_cache_key":"` + randomUUID() + `"}`
}

// codexRefreshBody is Codex's refresh request (CLIENTS.md 2.3), byte for
// byte.
func codexRefreshBody(refreshToken, reason string) string {
	return `{"client_id":"` + codexClientID + `","grant_type":"refresh_token",` +
		`"refresh_reason":"` + reason + `","refresh_token":"` + refreshToken + `"}`
}

// codexRefreshHeader is what Codex sends with a refresh besides the body.
func codexRefreshHeader() http.Header {
	return http.Header{"Content-Type": {"application/json"}, "User-Agent": {codexUserAgent},
		"Originator": {codexOriginator}}
}

// do sends one request through client with a new request id and records
// the answer. It returns the answer and the id.
func (w *poolWorld) do(t *testing.T, client *http.Client, method, rawURL string,
	header http.Header, body string) (response, string) {
	t.Helper()
	req, id, err := newTaggedRequest(method, rawURL, header, body)
	if err != nil {
		t.Fatal(err)
	}
	resp := send(t, client, req, id)
	leaks.saw(t, method+" "+rawURL, resp.header, resp.body)
	return resp, id
}

// callAPI sends a Codex inference POST with the pool's phantoms.
func (w *poolWorld) callAPI(t *testing.T, client *http.Client) (response, string, string) {
	t.Helper()
	body := codexResponsesBody("hello " + newID())
	resp, id := w.do(t, client, http.MethodPost, poolAPIURL, w.agentHeader(), body)
	return resp, id, body
}

// onlyAPICall returns the one API request with id, failing t otherwise.
func (w *poolWorld) onlyAPICall(t *testing.T, id string) apiCall {
	t.Helper()
	calls := w.prov.apiCallsWithID(id)
	if len(calls) != 1 {
		t.Fatalf("api.test requests of %s: expected 1, saw %d (%s)", id, len(calls),
			describeCalls(calls))
	}
	return calls[0]
}

// describeCalls names the member and generation of each API call.
func describeCalls(calls []apiCall) string {
	var parts []string
	for _, c := range calls {
		parts = append(parts, fmt.Sprintf("%q generation %d", c.member, c.generation))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// assertServedBy checks that an API call carried the member's access token
// of generation gen and its real account id.
func (w *poolWorld) assertServedBy(t *testing.T, c apiCall, member string, gen int) {
	t.Helper()
	want := w.prov.generation(member, gen).Access
	if got := c.req.Header.Get("Authorization"); got != "Bearer "+want {
		t.Errorf("api.test Authorization: expected %s's access token of generation %d, saw "+
			"%s generation %d", member, gen, orNone(c.member), c.generation)
	}
	if got := c.req.Header.Get("Chatgpt-Account-Id"); got != w.prov.accountID(member) {
		t.Errorf("api.test ChatGPT-Account-Id: expected %s's real account id, saw %q", member,
			got)
	}
}

func orNone(s string) string {
	if s == "" {
		return "(no account's token)"
	}
	return s
}

// newTaggedRequest builds a request with header and body and a new id.
func newTaggedRequest(method, rawURL string, header http.Header, body string) (*http.Request,
	string, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		return nil, "", err
	}
	for k, vs := range header {
		req.Header[k] = slices.Clone(vs)
	}
	id := newID()
	req.Header.Set(requestIDHeader, id)
	return req, id, nil
}

// sendTraced sends req and reads the answer without touching t, for use
// from goroutines; wrote is called once the request has been written.
func sendTraced(client *http.Client, req *http.Request, wrote func()) (response, error) {
	var once sync.Once
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) {
		once.Do(wrote)
	}}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, proto: resp.ProtoMajor, header: resp.Header,
		body: string(body), tls: resp.TLS}, nil
}

// auditLine is one line of the latchkey.audit logger.
type auditLine struct {
	Logger string `json:"logger"`
	Msg    string `json:"msg"`
	Reason string `json:"reason"`
	Pool   string `json:"pool"`
	From   string `json:"from"`
	To     string `json:"to"`
	Tag    string `json:"tag"`
	Host   string `json:"host"`
}

// auditLines returns the audit log lines of the instance's log (JSON lines;
// other lines are skipped).
func auditLines(t *testing.T, inst *instance) []auditLine {
	t.Helper()
	raw, err := os.ReadFile(inst.logPath)
	if err != nil {
		t.Fatalf("reading the latchkey log: %v", err)
	}
	var out []auditLine
	for _, line := range strings.Split(string(raw), "\n") {
		var l auditLine
		if json.Unmarshal([]byte(line), &l) == nil && l.Logger == "latchkey.audit" {
			out = append(out, l)
		}
	}
	return out
}

// decodeTokenAnswer parses a JSON token response.
func decodeTokenAnswer(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("token answer: expected JSON, saw %q: %v", body, err)
	}
	return m
}
