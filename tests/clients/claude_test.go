//go:build clients

package clients

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The Claude token URL, which makes platform.claude.com a token host.
const claudeTokenURL = "https://platform.claude.com/v1/oauth/token"

// claudeInstall names the package CLAUDE_BIN comes from.
const claudeInstall = "@anthropic-ai/claude-code@2.1.332"

// claudePrompt is what every Claude turn asks.
const claudePrompt = "Reply with one short sentence."

// claudeCredentials is ~/.claude/.credentials.json.
type claudeCredentials struct {
	OAuth struct {
		AccessToken      string   `json:"accessToken"`
		RefreshToken     string   `json:"refreshToken"`
		ExpiresAt        int64    `json:"expiresAt"`
		Scopes           []string `json:"scopes"`
		SubscriptionType string   `json:"subscriptionType,omitempty"`
	} `json:"claudeAiOauth"`
}

// claude is one isolated Claude Code: a HOME and a working directory.
type claude struct {
	bin  string
	root string
	home string
	work string
	env  []string
	runs []clientRun
}

// newClaude prepares a Claude Code that goes through latchkey and trusts
// its CA.
func newClaude(t *testing.T, lk *latchkey) *claude {
	t.Helper()
	root := t.TempDir()
	c := &claude{
		bin: clientBin(t, "CLAUDE_BIN", claudeInstall), root: root,
		home: mkdir(t, filepath.Join(root, "home")), work: mkdir(t, filepath.Join(root, "work")),
	}
	mkdir(t, filepath.Join(c.home, ".claude"))
	c.env = []string{
		"HOME=" + c.home,
		"HTTPS_PROXY=" + lk.proxyURL,
		"NODE_EXTRA_CA_CERTS=" + lk.caddyRoot,
	}
	return c
}

func (c *claude) credentialsPath() string {
	return filepath.Join(c.home, ".claude", ".credentials.json")
}

// writeCredentials writes the pool's phantoms with an access token that
// expires at expires.
func (c *claude) writeCredentials(t *testing.T, p phantom, expires time.Time) {
	t.Helper()
	var cr claudeCredentials
	cr.OAuth.AccessToken, cr.OAuth.RefreshToken = p.AccessToken, p.RefreshToken
	cr.OAuth.ExpiresAt = expires.UnixMilli()
	cr.OAuth.Scopes = []string{"user:inference", "user:profile", "user:sessions:claude_code"}
	cr.OAuth.SubscriptionType = "max"
	raw, err := json.Marshal(cr)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, c.credentialsPath(), string(raw))
}

func (c *claude) readCredentials(t *testing.T) claudeCredentials {
	t.Helper()
	raw, err := os.ReadFile(c.credentialsPath())
	if err != nil {
		t.Fatal(err)
	}
	var cr claudeCredentials
	if err := json.Unmarshal(raw, &cr); err != nil {
		t.Fatalf(".credentials.json: %v\n%s", err, raw)
	}
	return cr
}

// print runs `claude -p` once.
func (c *claude) print(t *testing.T) clientRun {
	t.Helper()
	res := runClient(t, c.work, c.env, c.bin, "-p", claudePrompt)
	c.runs = append(c.runs, res)
	return res
}

func isMessages(r *record) bool {
	return r.Host == hostAnthropic && r.Path == "/v1/messages"
}

// TestClaudePool runs Claude Code against a two-member pool: the first
// member is at its usage limit (429, unified status rejected), so the
// answer must come from the second; then, with the access token about to
// expire, Claude refreshes, and the refresh must go to the member now
// active, with phantoms on the client's side only.
func TestClaudePool(t *testing.T) {
	f := newFake(t)
	lk := startLatchkey(t, f)
	a, b := f.addAccount("claudeA", providerAnthropic), f.addAccount("claudeB", providerAnthropic)
	lk.addOAuth(t, a, claudeTokenURL, false)
	lk.addOAuth(t, b, claudeTokenURL, false)
	p := lk.pool(t, "claude", hostAnthropic, a.name, b.name)
	c := newClaude(t, lk)

	t.Run("rejected_429_fails_over", func(t *testing.T) {
		f.setLimit(a.name, limitHTTP)
		c.writeCredentials(t, p, time.Now().Add(8*time.Hour))
		mustSucceed(t, c.print(t), b.answer)

		msgs := f.requests(isMessages)
		if len(msgs) < 2 || msgs[0].Account != a.name ||
			msgs[0].Status != http.StatusTooManyRequests {
			t.Fatalf("expected the first message to %s, answered 429\n%s", a.name, f.summary())
		}
		served := false
		for _, m := range msgs[1:] {
			if m.Account != b.name {
				t.Errorf("after the failover a message went to %q: %s", m.Account, m)
			}
			served = served || m.Status == http.StatusOK
		}
		if !served {
			t.Errorf("%s answered no message\n%s", b.name, f.summary())
		}
		if got := lk.activeMember(t, "claude"); got != b.name {
			t.Errorf("the pool's active member is %q, expected %s", got, b.name)
		}
		checkClaudeTraffic(t, f, p)
	})

	t.Run("refresh_lands_on_active_member", func(t *testing.T) {
		f.setLimit(a.name, limitNone)
		oldB := f.state(b.name)
		mark := len(f.requests(nil))
		c.writeCredentials(t, p, time.Now().Add(2*time.Minute))
		start := time.Now()
		mustSucceed(t, c.print(t), b.answer)

		refreshes := f.requests(func(r *record) bool {
			return r.Seq > mark && r.Host == hostClaudeAuth
		})
		if len(refreshes) != 1 {
			t.Fatalf("expected exactly one refresh at the token host, saw %d\n%s",
				len(refreshes), f.summary())
		}
		r := refreshes[0]
		var grant map[string]any
		json.Unmarshal(r.Body, &grant)
		if r.Account != b.name || r.Stale || r.Status != http.StatusOK ||
			grant["refresh_token"] != oldB.Refresh || grant["client_id"] != claudeClientID {
			t.Errorf("expected the refresh with %s's real refresh token, saw %s: %s", b.name, r,
				r.Body)
		}
		if f.state(a.name).Gen != 1 {
			t.Errorf("%s's tokens were rotated; only the active member's should be", a.name)
		}
		newB := f.state(b.name)
		if newB.Gen != oldB.Gen+1 {
			t.Fatalf("%s's tokens were rotated %d times, expected once", b.name,
				newB.Gen-oldB.Gen)
		}
		after := f.requests(func(m *record) bool { return m.Seq > r.Seq && isMessages(m) })
		for _, m := range after {
			if m.Header.Get("Authorization") != "Bearer "+newB.Access {
				t.Errorf("a message after the refresh did not carry %s's new token: %s", b.name, m)
			}
		}
		if len(after) == 0 {
			t.Errorf("no message after the refresh\n%s", f.summary())
		}

		cr := c.readCredentials(t)
		if cr.OAuth.AccessToken != p.AccessToken || cr.OAuth.RefreshToken != p.RefreshToken {
			t.Errorf(".credentials.json does not hold the pool's phantoms: %+v", cr.OAuth)
		}
		if exp := time.UnixMilli(cr.OAuth.ExpiresAt); exp.Before(start.Add(time.Hour)) {
			t.Errorf(".credentials.json's expiresAt is %v; Claude did not store the refresh", exp)
		}
		checkClaudeTraffic(t, f, p)
	})

	// What latchkey answers Claude's refresh grant, which the files Claude
	// writes do not show in full: the grant as Claude sent it (the fake saw
	// it with the real token latchkey put in, so the phantom goes back in
	// its place), sent through latchkey again.
	t.Run("refresh_answer_holds_phantoms_only", func(t *testing.T) {
		grants := f.requests(func(r *record) bool {
			return r.Host == hostClaudeAuth && r.Account == b.name
		})
		if len(grants) == 0 {
			t.Skip("no refresh to replay")
		}
		g := grants[len(grants)-1]
		var sent map[string]any
		json.Unmarshal(g.Body, &sent)
		real, _ := sent["refresh_token"].(string)
		body := bytes.Replace(g.Body, []byte(real), []byte(p.RefreshToken), 1)
		status, h, out := agentPost(t, lk, claudeTokenURL, g.Header.Get("Content-Type"), body)
		if status != http.StatusOK {
			t.Fatalf("the refresh through latchkey was answered %d: %s", status, out)
		}
		var ans struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			Account      struct {
				UUID string `json:"uuid"`
			} `json:"account"`
		}
		json.Unmarshal(out, &ans)
		if ans.AccessToken != p.AccessToken || ans.RefreshToken != p.RefreshToken {
			t.Errorf("the refresh answer does not carry the pool's phantoms: %s", out)
		}
		if ans.Account.UUID != "" && ans.Account.UUID != p.AccountID {
			t.Errorf("the refresh answer names account %s, not the pool's phantom account %s",
				ans.Account.UUID, p.AccountID)
		}
		assertNoSecretIn(t, "the token host's answer to Claude's refresh grant",
			f.secrets(a.name, b.name), h, out)
	})

	assertNoSecrets(t, f.secrets(a.name, b.name), c.runs, c.root)
}

// checkClaudeTraffic checks that no phantom and no token that is not a
// member's current one reached api.anthropic.com or the token host.
func checkClaudeTraffic(t *testing.T, f *fake, p phantom) {
	t.Helper()
	for _, r := range f.requests(func(r *record) bool {
		return r.Host == hostAnthropic || r.Host == hostClaudeAuth
	}) {
		if r.Account == unknownBearer || r.Account == unknownRefresh || r.Stale {
			t.Errorf("the upstream got a token that is no member's current one: %s", r)
		}
		for _, ph := range []string{p.AccessToken, p.RefreshToken, p.AccountID} {
			if ph != "" && (containsHeader(r.Header, ph) || bytes.Contains(r.Body, []byte(ph))) {
				t.Errorf("a phantom reached the upstream: %s", r)
			}
		}
	}
}

func containsHeader(h http.Header, s string) bool {
	for _, vs := range h {
		for _, v := range vs {
			if strings.Contains(v, s) {
				return true
			}
		}
	}
	return false
}

// TestClaudeUnauthorizedMember has the first member's token rejected with
// 401 (revoked, not expired): latchkey must move the request to the second
// member instead of passing the 401 on, so Claude neither fails nor starts
// a refresh of its own.
func TestClaudeUnauthorizedMember(t *testing.T) {
	f := newFake(t)
	lk := startLatchkey(t, f)
	a, b := f.addAccount("claudeA", providerAnthropic), f.addAccount("claudeB", providerAnthropic)
	lk.addOAuth(t, a, claudeTokenURL, false)
	lk.addOAuth(t, b, claudeTokenURL, false)
	p := lk.pool(t, "claude", hostAnthropic, a.name, b.name)
	f.queue(a.name, http.StatusUnauthorized, http.StatusUnauthorized, http.StatusUnauthorized)

	c := newClaude(t, lk)
	c.writeCredentials(t, p, time.Now().Add(8*time.Hour))
	mustSucceed(t, c.print(t), b.answer)

	msgs := f.requests(isMessages)
	if len(msgs) < 2 || msgs[0].Account != a.name || msgs[0].Status != http.StatusUnauthorized ||
		msgs[1].Account != b.name || msgs[1].Status != http.StatusOK {
		t.Errorf("expected a 401 as %s, then the message as %s\n%s", a.name, b.name, f.summary())
	}
	if n := len(f.requests(func(r *record) bool { return r.Host == hostClaudeAuth })); n != 0 {
		t.Errorf("Claude refreshed %d times: it must have seen the 401", n)
	}
	checkClaudeTraffic(t, f, p)
	assertNoSecrets(t, f.secrets(a.name, b.name), c.runs, c.root)
}
