//go:build clients

package clients

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// The OpenAI token URL, which makes auth.openai.com a token host.
const openAITokenURL = "https://auth.openai.com/oauth/token"

// codexInstall names the package CODEX_BIN comes from.
const codexInstall = "@openai/codex@0.171.0"

// codexPrompt is what every Codex turn asks.
const codexPrompt = "Reply with one short sentence."

// codexAuth is $CODEX_HOME/auth.json.
type codexAuth struct {
	AuthMode     string  `json:"auth_mode"`
	OpenAIAPIKey *string `json:"OPENAI_API_KEY"`
	Tokens       struct {
		IDToken      string `json:"id_token"`
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		AccountID    string `json:"account_id"`
	} `json:"tokens"`
	LastRefresh string `json:"last_refresh"`
}

// codex is one isolated Codex installation: its CODEX_HOME, a HOME and a
// working directory, all under one temporary directory.
type codex struct {
	bin  string
	root string
	home string // CODEX_HOME
	work string
	env  []string
	runs []clientRun
}

// newCodex prepares a Codex that goes through latchkey and trusts its CA.
func newCodex(t *testing.T, lk *latchkey) *codex {
	t.Helper()
	return newCodexVia(t, lk.proxyURL, lk.caddyRoot)
}

// newCodexVia prepares a Codex that uses proxy and trusts the CA in caFile.
func newCodexVia(t *testing.T, proxy, caFile string) *codex {
	t.Helper()
	root := t.TempDir()
	c := &codex{
		bin: clientBin(t, "CODEX_BIN", codexInstall), root: root,
		home: mkdir(t, filepath.Join(root, "codex-home")), work: mkdir(t, filepath.Join(root, "work")),
	}
	c.env = []string{
		"HOME=" + mkdir(t, filepath.Join(root, "home")),
		"CODEX_HOME=" + c.home,
		"HTTPS_PROXY=" + proxy,
		"CODEX_CA_CERTIFICATE=" + caFile,
	}
	// Credentials in auth.json, never in a keyring.
	writeFile(t, filepath.Join(c.home, "config.toml"), `cli_auth_credentials_store = "file"`+"\n")
	return c
}

// writeAuth writes auth.json with a pool's phantoms, as an operator does
// from GET /api/phantom/{name}.
func (c *codex) writeAuth(t *testing.T, p phantom, lastRefresh time.Time) {
	t.Helper()
	var a codexAuth
	a.AuthMode = "chatgpt"
	a.Tokens.IDToken, a.Tokens.AccessToken = p.IDToken, p.AccessToken
	a.Tokens.RefreshToken, a.Tokens.AccountID = p.RefreshToken, p.AccountID
	a.LastRefresh = lastRefresh.UTC().Format(time.RFC3339Nano)
	raw, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(c.home, "auth.json"), string(raw))
}

// readAuth reads auth.json as Codex left it.
func (c *codex) readAuth(t *testing.T) codexAuth {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(c.home, "auth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var a codexAuth
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("auth.json: %v\n%s", err, raw)
	}
	return a
}

// run runs codex with args and keeps the result for the leak scan.
func (c *codex) run(t *testing.T, args ...string) clientRun {
	t.Helper()
	res := runClient(t, c.work, c.env, c.bin, args...)
	c.runs = append(c.runs, res)
	return res
}

// exec runs one non-interactive turn.
func (c *codex) exec(t *testing.T) clientRun {
	t.Helper()
	return c.run(t, "exec", "--skip-git-repo-check", codexPrompt)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// codexPool makes two ChatGPT accounts, adds them to latchkey and pools
// them bound to chatgpt.com.
func codexPool(t *testing.T, f *fake, lk *latchkey) (a, b *account, p phantom) {
	t.Helper()
	a, b = f.addAccount("codexA", providerOpenAI), f.addAccount("codexB", providerOpenAI)
	lk.addOAuth(t, a, openAITokenURL, true)
	lk.addOAuth(t, b, openAITokenURL, true)
	p = lk.pool(t, "codex", hostChatGPT, a.name, b.name)
	if p.IDToken == "" || p.AccountID == "" {
		t.Fatalf("the pool's phantom has no id token or account id: %+v", p)
	}
	return a, b, p
}

// isUpgrade selects the Codex WebSocket upgrades.
func isUpgrade(r *record) bool {
	return r.Host == hostChatGPT && r.Path == "/backend-api/codex/responses" &&
		r.Method == http.MethodGet
}

// checkChatGPTIdentity checks every request the ChatGPT backend saw: each
// carried a current real access token of a pool member and that member's
// real account id, never a phantom; the members appear in the order want
// (each one at least once, none again after the next took over).
func checkChatGPTIdentity(t *testing.T, f *fake, p phantom, want ...*account) {
	t.Helper()
	var order []string
	for _, r := range f.requests(func(r *record) bool { return r.Host == hostChatGPT }) {
		id := r.Header.Get("ChatGPT-Account-Id")
		if strings.Contains(r.Header.Get("Authorization"), p.AccessToken) ||
			id == p.AccountID {
			t.Errorf("a phantom reached the upstream: %s", r)
		}
		if r.Account == unknownBearer || r.Stale {
			t.Errorf("the upstream got a token that is no member's current one: %s", r)
		}
		if r.Header.Get("Authorization") == "" {
			continue
		}
		var acct *account
		for _, a := range want {
			if a.name == r.Account {
				acct = a
			}
		}
		if acct == nil {
			t.Errorf("request as %q, expected one of the pool's members: %s", r.Account, r)
			continue
		}
		if id != acct.accountID {
			t.Errorf("ChatGPT-Account-Id %q is not %s's real id %s: %s", id, acct.name,
				acct.accountID, r)
		}
		if len(order) == 0 || order[len(order)-1] != acct.name {
			order = append(order, acct.name)
		}
	}
	if n := len(f.requests(func(r *record) bool {
		return r.Path == "/backend-api/wham/accounts/check" && r.Status == http.StatusOK
	})); n == 0 {
		t.Errorf("no successful workspace check (accounts/check) at the upstream")
	}
	var names []string
	for _, a := range want {
		names = append(names, a.name)
	}
	if !slices.Equal(order, names) {
		t.Errorf("members served in the order %v, expected %v", order, names)
	}
}

// checkPhantomAuth checks that auth.json holds the pool's phantoms only.
func checkPhantomAuth(t *testing.T, c *codex, p phantom) codexAuth {
	t.Helper()
	a := c.readAuth(t)
	if a.Tokens.AccessToken != p.AccessToken || a.Tokens.RefreshToken != p.RefreshToken ||
		a.Tokens.AccountID != p.AccountID {
		t.Errorf("auth.json does not hold the pool's phantoms: %+v", a.Tokens)
	}
	return a
}

// TestCodexWebSocketFailover runs `codex exec` against a two-member pool
// whose first member is at its usage limit, once answering the WebSocket
// upgrade with 429 and once in-band on the socket. Either way the turn
// must complete on the second member without Codex noticing.
func TestCodexWebSocketFailover(t *testing.T) {
	t.Run("healthy_first_member", func(t *testing.T) {
		f := newFake(t)
		lk := startLatchkey(t, f)
		a, b, p := codexPool(t, f, lk)
		c := newCodex(t, lk)
		c.writeAuth(t, p, time.Now())
		mustSucceed(t, c.exec(t), a.answer)
		ups := f.requests(isUpgrade)
		if len(ups) != 1 || ups[0].Account != a.name ||
			ups[0].Status != http.StatusSwitchingProtocols || !hasFrame(ups[0].Frames,
			"response.create") {
			t.Errorf("expected one WebSocket turn as %s\n%s", a.name, f.summary())
		}
		checkChatGPTIdentity(t, f, p, a)
		checkPhantomAuth(t, c, p)
		assertNoSecrets(t, f.secrets(a.name, b.name), c.runs, c.root)
	})
	for _, mode := range []string{limitHTTP, limitInBand, limitInBandTurn} {
		name := map[string]string{
			limitHTTP:   "upgrade_answered_429",
			limitInBand: "inband_error_message", limitInBandTurn: "inband_error_after_prewarm",
		}[mode]
		t.Run(name, func(t *testing.T) {
			f := newFake(t)
			lk := startLatchkey(t, f)
			a, b, p := codexPool(t, f, lk)
			f.setLimit(a.name, mode)

			c := newCodex(t, lk)
			c.writeAuth(t, p, time.Now())
			res := c.exec(t)
			mustSucceed(t, res, b.answer)
			if strings.Contains(strings.ToLower(res.stdout+res.stderr), "usage limit") {
				t.Errorf("Codex saw the usage limit\n%s", res)
			}

			ups := f.requests(isUpgrade)
			if len(ups) < 2 || ups[0].Account != a.name || ups[len(ups)-1].Account != b.name {
				t.Fatalf("expected WebSocket upgrades as %s then %s, saw:\n%s", a.name, b.name,
					f.summary())
			}
			first, last := ups[0], ups[len(ups)-1]
			switch mode {
			case limitHTTP:
				if first.Status != http.StatusTooManyRequests {
					t.Errorf("the first upgrade was answered %d, expected 429", first.Status)
				}
			case limitInBand, limitInBandTurn:
				if first.Status != http.StatusSwitchingProtocols ||
					!hasFrame(first.Frames, "response.create") {
					t.Errorf("expected %s's socket to carry a response.create: %s", a.name, first)
				}
			}
			if last.Status != http.StatusSwitchingProtocols || !hasFrame(last.Frames,
				"response.create") {
				t.Errorf("expected the turn on %s's socket: %s", b.name, last)
			}
			for _, u := range ups {
				if strings.Contains(u.Note, "extensions offered") {
					t.Errorf("the upstream was offered a WebSocket extension: %s", u)
				}
				// latchkey replays the turn, which continues from the
				// prewarm answered on A's connection; B cannot know it.
				// Codex recovers by sending the turn again in full on a
				// new connection, at the cost of a round trip.
				if strings.Contains(u.Note, "previous_response_id") {
					t.Logf("replayed turn referred to a response of another connection; "+
						"Codex reconnected: %s", u)
				}
			}
			if n := len(f.requests(func(r *record) bool {
				return r.Path == "/backend-api/codex/responses" && r.Method == http.MethodPost
			})); n != 0 {
				t.Errorf("Codex fell back to HTTPS %d times; the WebSocket should have served", n)
			}
			checkChatGPTIdentity(t, f, p, a, b)
			checkPhantomAuth(t, c, p)
			if got := lk.activeMember(t, "codex"); got != b.name {
				t.Errorf("the pool's active member is %q, expected %s", got, b.name)
			}
			assertNoSecrets(t, f.secrets(a.name, b.name), c.runs, c.root)
		})
	}
}

// TestCodexHTTPSFailover makes the upstream refuse Codex's WebSocket, so
// Codex falls back to POSTing its turn (a zstd-compressed body) over HTTPS.
// The first member answers the POST 429 usage_limit_reached; latchkey must
// replay the POST as the second member before Codex sees the 429.
func TestCodexHTTPSFailover(t *testing.T) {
	f := newFake(t)
	lk := startLatchkey(t, f)
	a, b, p := codexPool(t, f, lk)
	f.refuseWebSockets()
	f.setLimit(a.name, limitHTTP)

	c := newCodex(t, lk)
	c.writeAuth(t, p, time.Now())
	res := c.exec(t)
	mustSucceed(t, res, b.answer)

	posts := f.requests(func(r *record) bool {
		return r.Path == "/backend-api/codex/responses" && r.Method == http.MethodPost
	})
	if len(posts) < 2 || posts[0].Account != a.name ||
		posts[0].Status != http.StatusTooManyRequests {
		t.Fatalf("expected the first POST of the turn as %s, answered 429\n%s", a.name,
			f.summary())
	}
	retry := posts[1]
	if retry.Account != b.name || retry.Status != http.StatusOK {
		t.Errorf("expected the turn replayed as %s: %s", b.name, retry)
	}
	if !bytes.Equal(retry.Body, posts[0].Body) || len(retry.Body) == 0 ||
		retry.Header.Get("Content-Encoding") != posts[0].Header.Get("Content-Encoding") {
		t.Errorf("the replayed POST's body differs from the first (%d bytes, %q) vs (%d bytes, %q)",
			len(retry.Body), retry.Header.Get("Content-Encoding"), len(posts[0].Body),
			posts[0].Header.Get("Content-Encoding"))
	}
	if n := len(posts); n != 2 {
		t.Errorf("expected 2 POSTs (one per member), saw %d\n%s", n, f.summary())
	}
	checkChatGPTIdentity(t, f, p, a, b)
	checkPhantomAuth(t, c, p)
	assertNoSecrets(t, f.secrets(a.name, b.name), c.runs, c.root)
}

func hasFrame(frames []string, typ string) bool {
	for _, fr := range frames {
		if strings.Contains(fr, `"type":"`+typ+`"`) {
			return true
		}
	}
	return false
}

// TestCodexScheduledRefresh moves a pool to its second member, then runs
// Codex with a last_refresh more than eight days old, which makes Codex
// refresh before its turn. The refresh must reach the token host once, for
// the active member, rotate that member's tokens in latchkey, and leave
// only phantoms in auth.json.
func TestCodexScheduledRefresh(t *testing.T) {
	f := newFake(t)
	lk := startLatchkey(t, f)
	a, b, p := codexPool(t, f, lk)
	c := newCodex(t, lk)

	// A at its limit: the pool moves to B.
	f.setLimit(a.name, limitHTTP)
	c.writeAuth(t, p, time.Now())
	mustSucceed(t, c.exec(t), b.answer)
	if got := lk.activeMember(t, "codex"); got != b.name {
		t.Fatalf("the pool's active member is %q after the failover, expected %s", got, b.name)
	}
	f.setLimit(a.name, limitNone)
	before := len(f.requests(nil))
	oldB := f.state(b.name)

	stale := time.Now().Add(-9 * 24 * time.Hour)
	c.writeAuth(t, p, stale)
	res := c.exec(t)
	mustSucceed(t, res, b.answer)

	refreshes := f.requests(func(r *record) bool {
		return r.Seq > before && r.Host == hostOpenAIAuth && r.Path == "/oauth/token"
	})
	if len(refreshes) == 0 {
		t.Fatalf("Codex did not refresh although last_refresh was %s (auth.json now says %s). "+
			"Codex 0.171.0 schedules its 8-day refresh only for an access token without a "+
			"readable exp, and the access phantom's claims are %s",
			stale.Format(time.RFC3339), c.readAuth(t).LastRefresh, jwtClaims(p.AccessToken))
	}
	if len(refreshes) != 1 {
		t.Fatalf("expected exactly one refresh at the token host, saw %d\n%s", len(refreshes),
			f.summary())
	}
	r := refreshes[0]
	var grant map[string]any
	json.Unmarshal(r.Body, &grant)
	if r.Account != b.name || r.Stale || r.Status != http.StatusOK ||
		grant["refresh_token"] != oldB.Refresh {
		t.Errorf("expected the refresh with %s's current real refresh token, saw %s: %s", b.name,
			r, r.Body)
	}
	if grant["refresh_reason"] != "scheduled" {
		t.Errorf("refresh_reason %v, expected scheduled", grant["refresh_reason"])
	}
	if f.state(a.name).Gen != 1 {
		t.Errorf("%s's tokens were rotated; only the active member's should be", a.name)
	}
	newB := f.state(b.name)
	if newB.Gen != oldB.Gen+1 {
		t.Errorf("%s's tokens were rotated %d times, expected once", b.name, newB.Gen-oldB.Gen)
	}
	// After the refresh the turn used B's new token: latchkey stored it.
	after := f.requests(func(r *record) bool {
		return r.Seq > refreshes[0].Seq && r.Host == hostChatGPT && r.Account == b.name
	})
	if len(after) == 0 {
		t.Errorf("no ChatGPT request as %s after the refresh", b.name)
	}
	for _, r := range after {
		if r.Header.Get("Authorization") != "Bearer "+newB.Access {
			t.Errorf("a request after the refresh did not carry %s's new token: %s", b.name, r)
		}
	}

	auth := checkPhantomAuth(t, c, p)
	if last, err := time.Parse(time.RFC3339Nano, auth.LastRefresh); err != nil ||
		!last.After(stale.Add(time.Hour)) {
		t.Errorf("auth.json's last_refresh is %q; Codex did not record its refresh",
			auth.LastRefresh)
	}
	if auth.Tokens.IDToken == "" || auth.Tokens.IDToken == newB.IDToken {
		t.Errorf("auth.json's id_token is not a phantom")
	}
	assertNoSecrets(t, f.secrets(a.name, b.name), c.runs, c.root)
}

// jwtClaims returns the decoded claims of a JWT, or a note that it is none.
func jwtClaims(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "(not a JWT)"
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "(undecodable)"
	}
	return string(raw)
}

// TestCodexDeviceLogin runs `codex login --device-auth` twice: once through
// a plain tunnel straight to the fake, once through latchkey, which
// intercepts auth.openai.com because it is the pool members' token host.
// latchkey must pass every login request on exactly as the client sent it
// (none is a refresh grant), and the login must complete.
func TestCodexDeviceLogin(t *testing.T) {
	f := newFake(t)
	lk := startLatchkey(t, f)
	a, b, _ := codexPool(t, f, lk)
	d := f.startDeviceLogin("codexD", 1)
	isLogin := func(r *record) bool { return r.Host == hostOpenAIAuth }

	direct := newCodexVia(t, startTunnel(t, f), ca.pemFile)
	res := direct.run(t, "login", "--device-auth")
	if res.code != 0 || !strings.Contains(res.stdout, d.userCode) {
		t.Fatalf("the login without latchkey failed; the fake is wrong\n%s", res)
	}
	baseline := f.requests(isLogin)
	mark := len(f.requests(nil))
	f.restartDeviceLogin()

	// Only latchkey's certificate is trusted, and latchkey refuses hosts
	// it does not intercept: a login that completes went through it.
	c := newCodex(t, lk)
	res = c.run(t, "login", "--device-auth")
	if res.code != 0 || !strings.Contains(res.stdout, d.userCode) ||
		!strings.Contains(res.stderr, "Successfully logged in") {
		t.Fatalf("the login through latchkey failed\n%s", res)
	}
	got := f.requests(func(r *record) bool { return r.Seq > mark && isLogin(r) })

	if len(got) != len(baseline) || len(got) < 4 {
		t.Fatalf("through latchkey the auth host saw %d requests, directly %d (expected at "+
			"least 4: usercode, a pending poll, the code, the exchange)\n%s", len(got),
			len(baseline), f.summary())
	}
	for i := range got {
		g, w := got[i], baseline[i]
		if g.Method != w.Method || g.Path != w.Path || g.Query != w.Query {
			t.Errorf("request %d: %s %s?%s through latchkey, %s %s?%s directly", i+1, g.Method,
				g.Path, g.Query, w.Method, w.Path, w.Query)
		}
		if !bytes.Equal(g.Body, w.Body) {
			t.Errorf("request %d to %s: body changed\nthrough latchkey: %s\ndirectly:        %s",
				i+1, g.Path, g.Body, w.Body)
		}
		if !reflect.DeepEqual(g.Header, w.Header) {
			t.Errorf("request %d to %s: headers changed\nthrough latchkey: %v\ndirectly:        %v",
				i+1, g.Path, g.Header, w.Header)
		}
		if g.Status != w.Status {
			t.Errorf("request %d to %s: answered %d through latchkey, %d directly", i+1, g.Path,
				g.Status, w.Status)
		}
	}

	// The login's own tokens reach the client as issued: they are not
	// latchkey's to replace.
	auth, want := c.readAuth(t), f.state(d.account.name)
	if auth.Tokens.AccessToken != want.Access || auth.Tokens.RefreshToken != want.Refresh ||
		auth.Tokens.IDToken != want.IDToken || auth.Tokens.AccountID != d.account.accountID {
		t.Errorf("auth.json after the login does not hold the login's tokens: %+v", auth.Tokens)
	}
	for _, m := range []*account{a, b} {
		if f.state(m.name).Gen != 1 {
			t.Errorf("the login rotated pool member %s's tokens", m.name)
		}
	}
}
