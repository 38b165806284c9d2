//go:build clients

package clients

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// maxRecordedBody bounds the request body the fake keeps of one request.
const maxRecordedBody = 32 << 20

// fake is one TLS server standing in for chatgpt.com, auth.openai.com,
// api.anthropic.com and platform.claude.com, told apart by Host. It knows
// the real accounts the test created, recognises each by the real token it
// is sent, answers as that account's script says, rotates tokens on
// refresh, and records every request it saw.
type fake struct {
	srv *httptest.Server

	// ctx ends when the fake closes, which ends its open WebSockets.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	accounts map[string]*account
	tokens   map[string]tokenOwner // every access or refresh token ever issued
	log      []*record
	device   *deviceLogin

	// noWebSocket answers every Codex WebSocket upgrade 404, which makes
	// Codex fall back to HTTPS POSTs.
	noWebSocket bool
}

// tokenOwner says whose a real token is and which generation it belongs to.
type tokenOwner struct {
	account *account
	gen     int
	refresh bool
}

// Providers of accounts.
const (
	providerOpenAI    = "openai"
	providerAnthropic = "anthropic"
)

// Usage-limit modes of an account.
const (
	// limitNone serves every request.
	limitNone = ""

	// limitHTTP answers 429 usage_limit_reached to WebSocket upgrades and
	// POSTs of codex/responses (Codex), or 429 with
	// anthropic-ratelimit-unified-status: rejected to /v1/messages.
	limitHTTP = "http"

	// limitInBand accepts Codex's WebSocket and answers each
	// response.create with an in-band usage_limit_reached error message.
	limitInBand = "inband"

	// limitInBandTurn is limitInBand for the turn only: the prewarm
	// (generate:false) is answered, so the error comes after events of the
	// connection already reached the client.
	limitInBandTurn = "inband-turn"
)

// account is one real upstream account.
type account struct {
	name      string
	provider  string
	accountID string
	email     string
	answer    string

	// The current tokens, and how many refreshes rotated them.
	access, refresh, idToken string
	gen                      int

	// issued holds every token and id token this account ever had.
	issued []string

	limit string

	// statuses are answers to the account's next inference requests
	// (WebSocket upgrades, Codex POSTs, /v1/messages), one per request, in
	// order; when they run out the limit mode applies. 200 serves.
	statuses []int
}

// accountState is a copy of an account's tokens and counters.
type accountState struct {
	Access, Refresh, IDToken string
	Gen                      int
}

// record is one request the fake saw.
type record struct {
	Seq     int
	Host    string
	Method  string
	Path    string
	Query   string
	Proto   string
	Header  http.Header
	Body    []byte
	Account string // the account the request's token belongs to; see attribute
	Stale   bool   // the token was one a refresh had replaced
	Status  int    // what the fake answered
	Frames  []string
	Note    string
}

func (r record) String() string {
	s := fmt.Sprintf("#%d %s %s%s -> %d", r.Seq, r.Method, r.Host, r.Path, r.Status)
	if r.Account != "" {
		s += " as " + r.Account
		if r.Stale {
			s += " (stale token)"
		}
	}
	if len(r.Frames) > 0 {
		s += fmt.Sprintf(" [%d ws messages]", len(r.Frames))
	}
	if r.Note != "" {
		s += " (" + r.Note + ")"
	}
	return s
}

// Account names recorded for tokens that are not any account's.
const (
	unknownBearer  = "(unknown bearer)"
	unknownRefresh = "(unknown refresh token)"
)

func startFake(ca *testCA) *fake {
	f := &fake{accounts: map[string]*account{}, tokens: map[string]tokenOwner{}}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.srv = httptest.NewUnstartedServer(f)
	f.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.leaf}}
	f.srv.EnableHTTP2 = true
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.srv.StartTLS()
	return f
}

func (f *fake) addr() string { return f.srv.Listener.Addr().String() }

func (f *fake) close() {
	f.cancel()
	f.srv.CloseClientConnections()
	f.srv.Close()
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// randomUUID returns a random version 4 UUID.
func randomUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// addAccount creates a real account. Its tokens are distinctive random
// strings, so a leak scan finds them wherever they end up.
func (f *fake) addAccount(name, provider string) *account {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := &account{
		name: name, provider: provider, accountID: randomUUID(),
		email: name + "@accounts.example", answer: "LATCHKEY-ANSWER-FROM-" + strings.ToUpper(name),
	}
	f.rotate(a)
	f.issue(a, a.accountID)
	f.accounts[name] = a
	return a
}

// rotate gives an account new tokens.
func (f *fake) rotate(a *account) {
	a.gen++
	switch a.provider {
	case providerAnthropic:
		a.access = fmt.Sprintf("sk-ant-oat01-REAL-%s-%d-%s", a.name, a.gen, randomHex(16))
		a.refresh = fmt.Sprintf("sk-ant-ort01-REAL-%s-%d-%s", a.name, a.gen, randomHex(16))
	default:
		a.access = fmt.Sprintf("REAL-AT-%s-%d-%s", a.name, a.gen, randomHex(16))
		a.refresh = fmt.Sprintf("REAL-RT-%s-%d-%s", a.name, a.gen, randomHex(16))
		a.idToken = fakeIDToken(a)
		f.issue(a, a.idToken)
	}
	f.tokens[a.access] = tokenOwner{account: a, gen: a.gen}
	f.tokens[a.refresh] = tokenOwner{account: a, gen: a.gen, refresh: true}
	f.issue(a, a.access, a.refresh)
}

func (f *fake) issue(a *account, values ...string) {
	a.issued = append(a.issued, values...)
}

// fakeIDToken makes an OpenAI-shaped id token for an account: a JWT whose
// claims carry the account id where Codex reads it. The signature is
// random; Codex does not check it.
func fakeIDToken(a *account) string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT","kid":"fake"}`))
	now := time.Now().Unix()
	claims, _ := json.Marshal(map[string]any{
		"iss":   "https://auth.openai.com",
		"aud":   []string{"app_EMoamEEZ73f0CkXaXp7hrann"},
		"sub":   "auth0|" + a.name,
		"email": a.email,
		"iat":   now,
		"exp":   now + 3600,
		"jti":   randomHex(8),
		"https://api.openai.com/auth": map[string]any{
			"chatgpt_account_id": a.accountID,
			"chatgpt_plan_type":  "plus",
			"chatgpt_user_id":    "user-" + a.name,
			"user_id":            "user-" + a.name,
		},
		"https://api.openai.com/profile": map[string]any{"email": a.email},
	})
	return header + "." + enc.EncodeToString(claims) + "." + enc.EncodeToString([]byte(randomHex(32)))
}

// setLimit sets an account's usage-limit mode.
func (f *fake) setLimit(name, mode string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accounts[name].limit = mode
}

// state returns a copy of an account's tokens.
func (f *fake) state(name string) accountState {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.accounts[name]
	return accountState{Access: a.access, Refresh: a.refresh, IDToken: a.idToken, Gen: a.gen}
}

// secrets returns every real value of the named accounts that an agent
// must never see: all their tokens and id tokens so far, and account ids.
func (f *fake) secrets(names ...string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, n := range names {
		out = append(out, f.accounts[n].issued...)
	}
	return out
}

// requests returns copies of the recorded requests that match keep.
func (f *fake) requests(keep func(r *record) bool) []record {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []record
	for _, r := range f.log {
		if keep == nil || keep(r) {
			c := *r
			c.Frames = append([]string(nil), r.Frames...)
			out = append(out, c)
		}
	}
	return out
}

// summary lists every recorded request, for failure messages.
func (f *fake) summary() string {
	var b strings.Builder
	for _, r := range f.requests(nil) {
		b.WriteString(r.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// ServeHTTP records the request and routes it by host.
func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRecordedBody))
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	rec := &record{
		Host: host, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Proto: r.Proto, Header: r.Header.Clone(), Body: body,
	}
	f.mu.Lock()
	rec.Seq = len(f.log) + 1
	f.log = append(f.log, rec)
	f.mu.Unlock()

	sw := &statusWriter{ResponseWriter: w, f: f, rec: rec}
	switch host {
	case hostChatGPT:
		f.serveChatGPT(sw, r, rec)
	case hostOpenAIAuth:
		f.serveOpenAIAuth(sw, r, rec)
	case hostAnthropic:
		f.serveAnthropic(sw, r, rec)
	case hostClaudeAuth:
		f.serveClaudeAuth(sw, r, rec)
	default:
		notFound(sw)
	}
}

// statusWriter notes the status the fake answered in the record. It keeps
// the writer's Hijack and Flush, which WebSockets and SSE need.
type statusWriter struct {
	http.ResponseWriter
	f   *fake
	rec *record
}

func (w *statusWriter) WriteHeader(status int) {
	w.f.mu.Lock()
	if w.rec.Status == 0 {
		w.rec.Status = status
	}
	w.f.mu.Unlock()
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	w.f.mu.Lock()
	if w.rec.Status == 0 {
		w.rec.Status = http.StatusOK
	}
	w.f.mu.Unlock()
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() {
	http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// note adds a remark to a record.
func (f *fake) note(rec *record, format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if rec.Note != "" {
		rec.Note += "; "
	}
	rec.Note += fmt.Sprintf(format, args...)
}

// bearer finds the account whose access token the request carries and
// notes it in the record. A token that no account was ever given, or one
// a refresh replaced, gets no account.
func (f *fake) bearer(r *http.Request, rec *record) (*account, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return nil, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	o, known := f.tokens[tok]
	if !known || o.refresh {
		rec.Account = unknownBearer
		return nil, false
	}
	rec.Account = o.account.name
	if o.gen != o.account.gen {
		rec.Stale = true
		return nil, false
	}
	return o.account, true
}

// byRefresh finds the account whose refresh token a grant carries.
func (f *fake) byRefresh(tok string, rec *record) (*account, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, known := f.tokens[tok]
	if !known || !o.refresh {
		rec.Account = unknownRefresh
		return nil, false
	}
	rec.Account = o.account.name
	if o.gen != o.account.gen {
		rec.Stale = true
		return nil, false
	}
	return o.account, true
}

// queue adds answers to an account's status sequence.
func (f *fake) queue(name string, statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.accounts[name]
	a.statuses = append(a.statuses, statuses...)
}

// next says how an account answers its next inference request: a status
// from its sequence (0 when the sequence is empty) and its limit mode.
// A queued status other than 200 is answered as that failure; a queued 200
// serves whatever the limit mode.
func (f *fake) next(a *account) (int, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(a.statuses) == 0 {
		return 0, a.limit
	}
	st := a.statuses[0]
	a.statuses = a.statuses[1:]
	return st, limitNone
}

// writeFailure answers a scripted failure the way the account's provider
// does: 429 is the usage limit, 401 an expired or revoked token.
func writeFailure(w http.ResponseWriter, a *account, status int) {
	switch {
	case status == http.StatusTooManyRequests && a.provider == providerAnthropic:
		writeRejected(w)
	case status == http.StatusTooManyRequests:
		writeUsageLimit(w)
	case status == http.StatusUnauthorized && a.provider == providerAnthropic:
		writeJSON(w, status, map[string]any{"type": "error", "error": map[string]any{
			"type": "authentication_error", "message": "OAuth token has been revoked.",
		}})
	case status == http.StatusUnauthorized:
		writeJSON(w, status, map[string]any{"error": map[string]any{
			"message": "Provided authentication token is expired. Please try signing in again.",
			"type":    nil, "code": "token_expired", "param": nil,
		}, "status": 401})
	default:
		writeJSON(w, status, map[string]any{"error": map[string]any{
			"message": "scripted failure", "type": "server_error",
		}})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(raw)))
	w.WriteHeader(status)
	w.Write(raw)
}

func notFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, map[string]any{"detail": "Not Found"})
}
