package tests

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The harness of the reliability and security tests (crash, load,
// invariants, security). It is additive: it builds on the instance, PKI and
// client helpers of the other harness files and changes none of them.
//
// chaosProvider is a fake OAuth provider and API that records everything it
// receives:
//
//   - the token host (chaosTokenHost) rotates refresh tokens: each refresh
//     token is valid once, and the provider remembers per account which
//     generation is current;
//   - the API hosts (chaosAPIHosts) tell accounts apart by the real access
//     token or static secret in Authorization, answer 429 for an account
//     that is rate-limited (or a scripted status), else 200, and echo the
//     Authorization they saw in X-Echo-Auth so that a real secret would
//     reach the agent if latchkey did not scrub the answer.
//
// Every real value the provider issues, and every secret a test creates
// through chaosSecret, goes into chaosLedger, which the tests grep for in
// everything a client received and in every log.

// Where the chaos provider lives; every name is covered by the test PKI's
// *.test leaf.
const (
	chaosTokenHost = "tok.test"
	chaosTokenURL  = "https://" + chaosTokenHost + "/oauth/token"
)

// chaosAPIHosts are the API hosts the provider serves.
var chaosAPIHosts = []string{"h1.test", "h2.test", "h3.test"}

// chaosGen is one generation of an OAuth account's tokens.
type chaosGen struct {
	access, refresh string
}

// chaosAccount is one OAuth account at the provider.
type chaosAccount struct {
	name string

	// gens holds every generation; the last is current. presented[i]
	// says whether gens[i].refresh was ever sent to the token host.
	gens      []chaosGen
	presented []bool

	// limited makes the API answer 429 to the account's requests; script
	// holds statuses for its next requests, consumed first.
	limited bool
	script  []int

	// rotations counts accepted refreshes, graceUses those accepted under
	// the reuse grace, rejected the refreshes refused.
	rotations, graceUses, rejected int
}

// chaosRecord is one request the provider received and what it answered.
type chaosRecord struct {
	seq    int
	host   string
	method string
	target string // path and query
	header http.Header
	body   string
	status int

	// account is the OAuth account or static credential recognised in the
	// request ("" when none), gen the OAuth generation of the presented
	// token (-1 for a static secret or none).
	account string
	gen     int

	// refresh is set for a refresh grant: presented is the generation of
	// the refresh token latchkey sent (-1 when unknown), latest the
	// current generation when it arrived, grace whether it was accepted
	// only under the reuse grace.
	refresh   bool
	presented int
	latest    int
	grace     bool

	// life is the provider's life counter when the request arrived (see
	// setLife).
	life int
}

// chaosEvent is a moment of a refresh at the token host, for tests that
// act (kill -9) at a chosen one.
type chaosEvent struct {
	kind    string // "received" (tokens issued, answer not sent) or "answered"
	account string
	gen     int // the generation issued
}

// chaosProvider is the fake provider.
type chaosProvider struct {
	token, api *httptest.Server

	// retryAfter is the Retry-After of a 429 ("600" unless set).
	retryAfter string

	// reuseGrace accepts an older refresh token of an account as long as
	// no newer one was ever presented: the grace that lets any client
	// survive a crash between the provider issuing a token and the client
	// storing it. A rollback past a token that was used is still refused;
	// one to a token never used is not, so tests that enable the grace
	// check acknowledged rotations themselves.
	reuseGrace bool

	// answerDelay, when set, is how long a refresh answer is held after
	// the tokens were issued.
	answerDelay func() time.Duration

	// events, when set, receives refresh events; sends never block.
	events chan chaosEvent

	// limitedBarrier, when set, holds the 429 answers to rate-limited
	// accounts until that many such requests have arrived, so a test can
	// make several requests fail on one member at the same time.
	limitedBarrier *chaosBarrier

	mu       sync.Mutex
	life     int
	accounts map[string]*chaosAccount
	byToken  map[string]chaosTokenRef
	statics  map[string]string // secret → credential name
	records  []chaosRecord
}

// chaosTokenRef says whose token a value is.
type chaosTokenRef struct {
	account string
	gen     int
	refresh bool
}

// newChaosProvider starts the provider's two TLS servers; they close when
// t ends.
func newChaosProvider(t *testing.T) *chaosProvider {
	t.Helper()
	p := &chaosProvider{
		retryAfter: "600", accounts: map[string]*chaosAccount{},
		byToken: map[string]chaosTokenRef{}, statics: map[string]string{},
	}
	p.token = chaosTLSServer(http.HandlerFunc(p.serveToken))
	p.api = chaosTLSServer(http.HandlerFunc(p.serveAPI))
	t.Cleanup(func() {
		for _, s := range []*httptest.Server{p.token, p.api} {
			s.CloseClientConnections()
			s.Close()
		}
	})
	return p
}

// chaosTLSServer serves h over TLS (HTTP/2 and HTTP/1.1) with the test
// PKI's leaf.
func chaosTLSServer(h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = testPKIServerConfig()
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	return srv
}

// overrideLines are the latchkey directive lines that send the provider's
// hosts to its servers. They come after the harness's own overrides, and a
// later override of a host wins.
func (p *chaosProvider) overrideLines() []string {
	lines := []string{"upstream_override " + chaosTokenHost + " " +
		p.token.Listener.Addr().String()}
	for _, h := range chaosAPIHosts {
		lines = append(lines, "upstream_override "+h+" "+p.api.Listener.Addr().String())
	}
	return lines
}

// addAccount creates an OAuth account with a first generation of tokens
// and returns it.
func (p *chaosProvider) addAccount(name string) chaosGen {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := &chaosAccount{name: name}
	p.accounts[name] = a
	return p.issueLocked(a)
}

// issueLocked gives an account a new generation. The caller holds p.mu.
func (p *chaosProvider) issueLocked(a *chaosAccount) chaosGen {
	gen := len(a.gens)
	g := chaosGen{
		access:  fmt.Sprintf("at-chaos-%s-g%d-%s", a.name, gen, newID()+newID()),
		refresh: fmt.Sprintf("rt-chaos-%s-g%d-%s", a.name, gen, newID()+newID()),
	}
	a.gens = append(a.gens, g)
	a.presented = append(a.presented, false)
	p.byToken[g.access] = chaosTokenRef{account: a.name, gen: gen}
	p.byToken[g.refresh] = chaosTokenRef{account: a.name, gen: gen, refresh: true}
	chaosLedger.add(g.access, fmt.Sprintf("access token of %s generation %d", a.name, gen))
	chaosLedger.add(g.refresh, fmt.Sprintf("refresh token of %s generation %d", a.name, gen))
	return g
}

// reissue gives an account a new generation outside a refresh, as an
// operator's new login does, and returns it.
func (p *chaosProvider) reissue(name string) chaosGen {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.issueLocked(p.accounts[name])
}

// addStatic registers a static secret so the API recognises it.
func (p *chaosProvider) addStatic(name, secret string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.statics[secret] = name
}

// latest returns an account's current generation number.
func (p *chaosProvider) latest(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.accounts[name].gens) - 1
}

// gen returns an account's tokens of generation g.
func (p *chaosProvider) gen(name string, g int) chaosGen {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accounts[name].gens[g]
}

// stats returns an account's counters: rotations, grace uses, rejections.
func (p *chaosProvider) stats(name string) (rotations, graceUses, rejected int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.accounts[name]
	return a.rotations, a.graceUses, a.rejected
}

// setLimited makes the API answer 429 (or not) to an account.
func (p *chaosProvider) setLimited(name string, limited bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.accounts[name].limited = limited
}

// scriptStatus queues statuses for an account's next API requests.
func (p *chaosProvider) scriptStatus(name string, statuses ...int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.accounts[name]
	a.script = append(a.script, statuses...)
}

// clearScripts drops every queued status.
func (p *chaosProvider) clearScripts() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.accounts {
		a.script = nil
	}
}

// recordsSince returns the records with seq >= from, and the next seq.
func (p *chaosProvider) recordsSince(from int) ([]chaosRecord, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if from > len(p.records) {
		from = len(p.records)
	}
	return slices.Clone(p.records[from:]), len(p.records)
}

// recordsWithID returns the records tagged with id in requestIDHeader.
func (p *chaosProvider) recordsWithID(id string) []chaosRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []chaosRecord
	for _, r := range p.records {
		if r.header.Get(requestIDHeader) == id {
			out = append(out, r)
		}
	}
	return out
}

// emit sends an event without blocking.
func (p *chaosProvider) emit(ev chaosEvent) {
	if p.events == nil {
		return
	}
	select {
	case p.events <- ev:
	default:
	}
}

// setLife numbers what arrives from now on, so a test can tell the
// requests of one latchkey process from those of the next.
func (p *chaosProvider) setLife(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.life = n
}

// record appends a record and returns its seq. The caller holds p.mu.
func (p *chaosProvider) recordLocked(r chaosRecord) int {
	r.seq = len(p.records)
	r.life = p.life
	p.records = append(p.records, r)
	return r.seq
}

// serveToken is the token host: refresh grants rotate, anything else is
// refused.
func (p *chaosProvider) serveToken(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "reading body", http.StatusBadRequest)
		return
	}
	rec := chaosRecord{
		host: r.Host, method: r.Method, target: r.URL.RequestURI(),
		header: r.Header.Clone(), body: string(body), gen: -1, presented: -1, latest: -1,
	}
	params := chaosTokenParams(r.Header.Get("Content-Type"), body)

	status, answer := http.StatusBadRequest, `{"error":"unsupported_grant_type"}`
	var issued *chaosEvent
	p.mu.Lock()
	if r.URL.Path == "/oauth/token" && params["grant_type"] == "refresh_token" {
		rec.refresh = true
		status, answer = http.StatusBadRequest, `{"error":"invalid_grant",`+
			`"error_description":"refresh token invalid, expired or already used"}`
		if ref, ok := p.byToken[params["refresh_token"]]; ok && ref.refresh {
			a := p.accounts[ref.account]
			rec.account, rec.presented, rec.latest = a.name, ref.gen, len(a.gens)-1
			latest := len(a.gens) - 1
			grace := p.reuseGrace && ref.gen < latest && !slices.Contains(a.presented[ref.gen+1:], true)
			a.presented[ref.gen] = true
			if ref.gen == latest || grace {
				rec.grace = grace
				a.rotations++
				if grace {
					a.graceUses++
				}
				next := p.issueLocked(a)
				rec.gen = len(a.gens) - 1
				status = http.StatusOK
				answer = `{"access_token":"` + next.access + `","refresh_token":"` +
					next.refresh + `","expires_in":3600,"token_type":"Bearer",` +
					`"scope":"openid offline_access"}`
				issued = &chaosEvent{account: a.name, gen: rec.gen}
			} else {
				a.rejected++
			}
		}
	}
	rec.status = status
	p.recordLocked(rec)
	delay := p.answerDelay
	p.mu.Unlock()

	if issued != nil {
		p.emit(chaosEvent{kind: "received", account: issued.account, gen: issued.gen})
		if delay != nil {
			if d := delay(); d > 0 {
				select {
				case <-time.After(d): // the provider's latency, not synchronisation
				case <-r.Context().Done():
				}
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	io.WriteString(w, answer)
	if issued != nil {
		http.NewResponseController(w).Flush()
		p.emit(chaosEvent{kind: "answered", account: issued.account, gen: issued.gen})
	}
}

// chaosBarrier releases every waiter once n have arrived, or at a deadline.
type chaosBarrier struct {
	mu      sync.Mutex
	n       int
	arrived int
	open    chan struct{}
}

func newChaosBarrier(n int) *chaosBarrier {
	return &chaosBarrier{n: n, open: make(chan struct{})}
}

// arrive waits until n callers have arrived (at most 10 s).
func (b *chaosBarrier) arrive(ctx context.Context) {
	b.mu.Lock()
	b.arrived++
	if b.arrived == b.n {
		close(b.open)
	}
	b.mu.Unlock()
	select {
	case <-b.open:
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
	}
}

// chaosTokenParams reads the string fields of a JSON or form body.
func chaosTokenParams(contentType string, body []byte) map[string]string {
	out := map[string]string{}
	if strings.Contains(contentType, "json") {
		var obj map[string]any
		if json.Unmarshal(body, &obj) == nil {
			for k, v := range obj {
				if s, ok := v.(string); ok {
					out[k] = s
				}
			}
		}
		return out
	}
	if vals, err := url.ParseQuery(string(body)); err == nil {
		for k := range vals {
			out[k] = vals.Get(k)
		}
	}
	return out
}

// serveAPI is every API host.
func (p *chaosProvider) serveAPI(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		http.Error(w, "reading body", http.StatusBadRequest)
		return
	}
	auth := r.Header.Get("Authorization")
	token := strings.TrimPrefix(auth, "Bearer ")
	rec := chaosRecord{
		host: r.Host, method: r.Method, target: r.URL.RequestURI(),
		header: r.Header.Clone(), body: string(body), gen: -1, presented: -1, latest: -1,
	}

	p.mu.Lock()
	status := http.StatusOK
	if ref, ok := p.byToken[token]; ok && !ref.refresh {
		a := p.accounts[ref.account]
		rec.account, rec.gen = a.name, ref.gen
		switch {
		case len(a.script) > 0:
			status, a.script = a.script[0], a.script[1:]
		case a.limited:
			status = http.StatusTooManyRequests
		}
	} else if name, ok := p.statics[token]; ok {
		rec.account = name
	} else {
		status = http.StatusUnauthorized
	}
	rec.status = status
	p.recordLocked(rec)
	retryAfter := p.retryAfter
	barrier := p.limitedBarrier
	p.mu.Unlock()

	if barrier != nil && status == http.StatusTooManyRequests {
		barrier.arrive(r.Context())
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Echo-Auth", auth)
	switch status {
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", retryAfter)
		w.WriteHeader(status)
		io.WriteString(w, `{"error":{"type":"rate_limit_exceeded","message":"slow down"}}`)
	case http.StatusOK:
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"ok":true,"account":%q,"generation":%d,"echo":%q}`, rec.account,
			rec.gen, auth)
	default:
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"code":%d,"echo":%q}}`, status, auth)
	}
}

// testPKIServerConfig is the TLS configuration of a fake server with the
// test PKI's leaf.
func testPKIServerConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{testPKI.leaf}}
}

// chaosLedger holds every real value the reliability tests created or the
// chaos provider issued, with what it is.
var chaosLedger = &ledger{values: map[string]string{}}

type ledger struct {
	mu     sync.Mutex
	values map[string]string
}

func (l *ledger) add(value, what string) {
	if value == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.values[value] = what
}

// find returns what each real value found in text is.
func (l *ledger) find(text string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var found []string
	for v, what := range l.values {
		if strings.Contains(text, v) {
			found = append(found, what)
		}
	}
	slices.Sort(found)
	return found
}

// size is how many values the ledger holds.
func (l *ledger) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.values)
}

// chaosSecret returns a new static secret registered in the ledger.
func chaosSecret(kind string) string {
	s := newSecret(kind)
	chaosLedger.add(s, "static secret "+kind)
	return s
}

// harnessSecretShape matches the secrets that newSecret makes for every
// test of the package, and the real tokens of the OAuth harnesses, so a log
// can be checked for secrets of tests that did not register them.
var harnessSecretShape = regexp.MustCompile(`(sk-real-[a-z0-9-]*[0-9a-f]{36}|` +
	`(at|rt)-(real|chaos|login)-[A-Za-z0-9._-]{8,})`)

// assertLogClean fails t if the log at path holds a ledger value or a
// value shaped like a harness secret.
func assertLogClean(t *testing.T, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("reading log %s: %v", path, err)
		return
	}
	for _, what := range chaosLedger.find(string(raw)) {
		t.Errorf("log %s: expected no real secret, saw the %s", path, what)
	}
	for _, m := range harnessSecretShape.FindAllString(string(raw), 5) {
		t.Errorf("log %s: expected no real secret, saw a harness secret %.14s…", path, m)
	}
}

// chaosReceived records what a client received, for leak checks.
type chaosReceived struct {
	mu    sync.Mutex
	count int
	leaks []string
}

// saw checks one thing a client received for ledger values, now (the
// ledger only grows, so a later check would find the same).
func (c *chaosReceived) saw(what string, header http.Header, body string) {
	var b strings.Builder
	for k, vs := range header {
		fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(vs, ", "))
	}
	b.WriteString(body)
	found := chaosLedger.find(b.String())
	c.mu.Lock()
	defer c.mu.Unlock()
	c.count++
	for _, f := range found {
		c.leaks = append(c.leaks, what+": "+f)
	}
}

// check fails t for every leak seen so far, and forgets them.
func (c *chaosReceived) check(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.leaks {
		t.Errorf("a client received a real secret: %s", l)
	}
	c.leaks = nil
}

// newChaosInstance starts an instance whose provider hosts go to p, with
// extra directive lines. Its log is checked for secrets when t ends.
func newChaosInstance(t *testing.T, p *chaosProvider, extra ...string) *instance {
	t.Helper()
	inst := newInstance(t, instanceOptions{
		comment:      t.Name(),
		handlerLines: append(p.overrideLines(), extra...),
	})
	// Registered after newInstance's clean-ups, so it runs before them,
	// while the log is still there.
	t.Cleanup(func() { assertLogClean(t, inst.logPath) })
	return inst
}

// killNine kills the instance's process with SIGKILL and waits for it.
func killNine(t *testing.T, inst *instance) {
	t.Helper()
	if inst.cmd == nil {
		t.Fatalf("kill -9: the instance is not running")
	}
	inst.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-inst.exited:
	case <-time.After(stopTimeout):
		t.Fatalf("kill -9: latchkey did not exit within %v", stopTimeout)
	}
	inst.logFile.Close()
	inst.cmd = nil
}

// revive starts the instance again on its directory after killNine, and
// waits until it is ready.
func revive(t *testing.T, inst *instance) {
	t.Helper()
	inst.token, inst.caddyRoot = "", nil
	if err := inst.run(); err != nil {
		t.Fatalf("restarting latchkey: %v", err)
	}
	if err := inst.waitReady(); err != nil {
		t.Fatalf("restarting latchkey after kill -9: %v\nlog:\n%s", err, inst.logTail(0, 60))
	}
}

// chaosPhantoms is GET /api/phantom/{name} of an OAuth credential or pool.
type chaosPhantoms struct {
	Kind         string `json:"kind"`
	Phantom      string `json:"phantom"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// chaosPoolStatus is GET /api/pools/{name}.
type chaosPoolStatus struct {
	Name    string `json:"name"`
	Active  string `json:"active"`
	Members []struct {
		Credential string `json:"credential"`
		Active     bool   `json:"active"`
		State      string `json:"state"`
	} `json:"members"`
}

// addChaosOAuth adds an OAuth credential for the provider's account name
// (created at the provider) over REST and returns its phantoms.
func addChaosOAuth(t *testing.T, inst *instance, p *chaosProvider, name string) chaosPhantoms {
	t.Helper()
	g := p.addAccount(name)
	inst.mustAPI(t, http.MethodPost, "/api/credentials", map[string]any{
		"name": name, "type": "oauth", "access_token": g.access, "refresh_token": g.refresh,
		"token_url": chaosTokenURL,
	}, http.StatusCreated, nil)
	var ph chaosPhantoms
	inst.mustAPI(t, http.MethodGet, "/api/phantom/"+name, nil, http.StatusOK, &ph)
	if ph.AccessToken == "" || ph.RefreshToken == "" {
		t.Fatalf("GET /api/phantom/%s: expected access and refresh phantoms, saw %+v", name, ph)
	}
	return ph
}

// chaosRefreshBody is a refresh grant as a JSON client sends it.
func chaosRefreshBody(refreshPhantom string) string {
	return `{"grant_type":"refresh_token","refresh_token":"` + refreshPhantom +
		`","client_id":"chaos-client"}`
}

// chaosDo sends one request through client and reads the answer, without
// touching a testing.T (for goroutines).
func chaosDo(ctx context.Context, client *http.Client, method, rawURL string,
	header http.Header, body string,
) (response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		return response{}, err
	}
	for k, vs := range header {
		req.Header[k] = slices.Clone(vs)
	}
	resp, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return response{}, err
	}
	return response{
		status: resp.StatusCode, proto: resp.ProtoMajor, header: resp.Header,
		body: string(raw), tls: resp.TLS,
	}, nil
}

// chaosRefresh sends a refresh grant with the refresh phantom through
// client.
func chaosRefresh(ctx context.Context, client *http.Client, refreshPhantom,
	id string,
) (response, error) {
	return chaosDo(ctx, client, http.MethodPost, chaosTokenURL,
		http.Header{"Content-Type": {"application/json"}, requestIDHeader: {id}},
		chaosRefreshBody(refreshPhantom))
}

// chaosCall sends an API request with the access phantom to host.
func chaosCall(ctx context.Context, client *http.Client, host, accessPhantom,
	id string,
) (response, error) {
	return chaosDo(ctx, client, http.MethodPost, "https://"+host+"/v1/responses",
		http.Header{
			"Authorization": {"Bearer " + accessPhantom},
			"Content-Type":  {"application/json"}, requestIDHeader: {id},
		},
		`{"model":"m","input":"hello `+id+`"}`)
}

// envInt reads a positive integer from the environment, or def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// longProfile reports whether LATCHKEY_LONG=1 asks for the long profiles.
func longProfile() bool { return os.Getenv("LATCHKEY_LONG") == "1" }

// waitFor polls cond every pollInterval until it holds or timeout passes,
// and reports whether it held.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollInterval) // polling interval, not synchronisation
	}
}
