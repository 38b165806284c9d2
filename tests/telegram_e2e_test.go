package tests

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/latchkeyproxy/latchkey/telegram/telegramtest"
)

// End-to-end scenario of the Telegram bot (SPEC section 11): the latchkey
// binary runs with a telegram block whose api_url is a fake Bot API in
// this process. The operator sets up OAuth credentials, a pool, a binding
// and the phantoms entirely from the chat; an agent's request that the
// first member's account answers with 429 fails over in the proxy, and the
// chat gets exactly one notice. A reload keeps one poller.

// tgOperator is the chat the bot serves; tgStranger one it does not.
const (
	tgOperator int64 = 42
	tgStranger int64 = 99
	tgSecond   int64 = 43
)

// tgAPIHost is the API host of the scenario's accounts.
const tgAPIHost = "tg-api.test"

// tgUpstream is tgAPIHost: it answers 429 to the accounts told to be
// rate-limited and 200 to every other, and records who it served.
type tgUpstream struct {
	srv *httptest.Server

	mu      sync.Mutex
	limited map[string]bool // real access tokens answered with 429
	served  []string        // the real access token of each request
}

// startTGUpstream starts the upstream with the test PKI's leaf, which is
// valid for *.test.
func startTGUpstream(t *testing.T) *tgUpstream {
	u := &tgUpstream{limited: map[string]bool{}}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter,
		r *http.Request) {
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		u.mu.Lock()
		u.served = append(u.served, token)
		limited := u.limited[token]
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if limited {
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"error":{"type":"usage_limit_reached"}}`)
			return
		}
		io.WriteString(w, `{"ok":true}`)
	}))
	u.srv.TLS = &tls.Config{Certificates: []tls.Certificate{testPKI.leaf}}
	u.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	u.srv.StartTLS()
	t.Cleanup(u.srv.Close)
	return u
}

// tgSetTelegram writes the instance's Caddyfile with a telegram block in
// its global options and reloads the running instance with it.
func tgSetTelegram(t *testing.T, inst *instance, apiURL string, chats ...int64) {
	t.Helper()
	raw, err := os.ReadFile(inst.configPath)
	if err != nil {
		t.Fatal(err)
	}
	// Drop the block of an earlier call, then add the new one right after
	// the global options' opening brace.
	text := regexp.MustCompile(`(?s)\n\ttelegram \{.*?\n\t\}`).ReplaceAllString(string(raw), "")
	ids := make([]string, len(chats))
	for i, c := range chats {
		ids[i] = strconv.FormatInt(c, 10)
	}
	block := fmt.Sprintf("\n\ttelegram {\n\t\tbot_token {env.TELEGRAM_BOT_TOKEN}\n"+
		"\t\tchat_ids %s\n\t\tapi_url %s\n\t}", strings.Join(ids, " "), apiURL)
	i := strings.Index(text, "{\n")
	if i < 0 {
		t.Fatalf("the instance's Caddyfile has no global options block:\n%s", text)
	}
	text = text[:i+1] + block + text[i+1:]
	if err := os.WriteFile(inst.configPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"reload", "--config", inst.configPath, "--adapter", "caddyfile",
		"--address", inst.adminAddress}
	mustSucceed(t, args, inst.exec(t, "", args...))
}

// tgSay sends text from chat and returns the bot's replies, which must be
// HTML.
func tgSay(t *testing.T, tg *telegramtest.Server, chat int64, text string) []string {
	t.Helper()
	var out []string
	for _, m := range tg.Converse(t, chat, text) {
		if m.ParseMode != "HTML" {
			t.Errorf("reply to %q: expected parse_mode HTML, saw %q", text, m.ParseMode)
		}
		out = append(out, m.Text)
	}
	return out
}

// tgReply sends text from the operator and returns the one reply.
func tgReply(t *testing.T, tg *telegramtest.Server, text string) string {
	t.Helper()
	got := tgSay(t, tg, tgOperator, text)
	if len(got) != 1 {
		t.Fatalf("%q: expected one reply, saw %q", text, got)
	}
	return got[0]
}

// tgNotices returns the plain-text messages sent to chat: the notices.
func tgNotices(tg *telegramtest.Server, chat int64) []string {
	var out []string
	for _, m := range tg.Sent() {
		if m.ChatID == chat && m.ParseMode == "" {
			out = append(out, m.Text)
		}
	}
	return out
}

func TestTelegramBotManagesAPoolAndAnnouncesItsFailover(t *testing.T) {
	t.Setenv("TELEGRAM_BOT_TOKEN", "4242:e2e-"+newID())
	tg := telegramtest.NewServer(t)
	up := startTGUpstream(t)
	inst := newInstance(t, instanceOptions{comment: t.Name(),
		handlerLines: []string{"upstream_override " + tgAPIHost + " " +
			up.srv.Listener.Addr().String()}})

	tgSetTelegram(t, inst, tg.URL, tgOperator)
	tg.WaitPolling(t)
	suffix := newID()
	pool, a, b := "tgp-"+suffix, "tga-"+suffix, "tgb-"+suffix
	secrets := map[string][]string{
		a: {"at-" + a + "-" + newID(), "rt-" + a + "-" + newID()},
		b: {"at-" + b + "-" + newID(), "rt-" + b + "-" + newID()},
	}

	t.Run("command menu set at start", func(t *testing.T) {
		menus := tg.Menus()
		if len(menus) != 1 || len(menus[0]) != 6 || menus[0][0].Command != "pool" {
			t.Errorf("setMyCommands: expected one menu of 6 commands starting with pool, "+
				"saw %+v", menus)
		}
	})

	t.Run("foreign chat ignored and logged once", func(t *testing.T) {
		for range 2 {
			if got := tgSay(t, tg, tgStranger, "/pool list"); len(got) != 0 {
				t.Errorf("chat %d: expected no reply, saw %q", tgStranger, got)
			}
		}
		n := 0
		for _, line := range strings.Split(inst.logTail(0, 100000), "\n") {
			if strings.Contains(line, "ignoring telegram chat not in chat_ids") &&
				strings.Contains(line, `"chat_id":99`) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("log lines about chat %d: expected 1, saw %d", tgStranger, n)
		}
	})

	t.Run("credentials, pool, binding and phantom from the chat", func(t *testing.T) {
		for _, name := range []string{a, b} {
			tgReply(t, tg, "/cred add "+name+" oauth https://auth.tg.test/oauth/token")
			before := len(tg.Deleted())
			got := tgReply(t, tg, strings.Join(secrets[name], "\n"))
			want := "Credential <b>" + name + "</b> added (oauth, with a refresh token).\n" +
				"I deleted your message with the secret."
			if got != want {
				t.Fatalf("tokens of %s: expected %q, saw %q", name, want, got)
			}
			if len(tg.Deleted()) != before+1 {
				t.Errorf("tokens message of %s: expected it deleted, saw %+v", name,
					tg.Deleted())
			}
		}
		want := "Pool <b>" + pool + "</b> created with members " + a + ", " + b +
			" (strategy failover). Bind it with /bind add " + pool + " &lt;host&gt;."
		if got := tgReply(t, tg, "/pool create "+pool+" "+a+","+b); got != want {
			t.Fatalf("/pool create: expected %q, saw %q", want, got)
		}
		if got := tgReply(t, tg, "/bind add "+pool+" "+tgAPIHost); !strings.Contains(got,
			"added: <b>"+pool+"</b> on <b>"+tgAPIHost+"</b>") {
			t.Fatalf("/bind add: saw %q", got)
		}
	})

	phantom := regexp.MustCompile(`access token:\n<code>([^<]+)</code>`).FindStringSubmatch(
		tgReply(t, tg, "/phantom "+pool))
	if phantom == nil {
		t.Fatalf("/phantom %s: expected an access token phantom", pool)
	}

	t.Run("a 429 in the proxy fails over and is announced once", func(t *testing.T) {
		up.mu.Lock()
		up.limited[secrets[a][0]] = true
		up.mu.Unlock()

		resp := get(t, agentClient(t, inst, true), "https://"+tgAPIHost+"/v1/models",
			bearer(phantom[1]), newID())
		if resp.status != http.StatusOK {
			t.Fatalf("agent request: expected 200 from %s after the failover, saw %d: %s",
				b, resp.status, resp.body)
		}
		for _, s := range secrets[a] {
			assertNoSecret(t, resp, s)
		}

		want := `Pool "` + pool + `" failed over from "` + a + `" to "` + b +
			`" after rate limit (429).`
		waitNotices(t, tg, 1)
		status := tgReply(t, tg, "/status")
		if got := tgNotices(tg, tgOperator); len(got) != 1 || got[0] != want {
			t.Errorf("notices: expected exactly %q, saw %q", want, got)
		}
		if !regexp.MustCompile(regexp.QuoteMeta(pool) + ` +` + regexp.QuoteMeta(b) +
			` +1/2 +[1-9]\d* +1</pre>`).MatchString(status) {
			t.Errorf("/status: expected %s active on %s, 1/2 healthy, injections and 1 "+
				"failover; saw %q", pool, b, status)
		}
		st := tgReply(t, tg, "/pool status "+pool)
		if !regexp.MustCompile(`\n<pre>  ` + regexp.QuoteMeta(a) + `  cooldown until \S+Z  ` +
			`rate limit \(429\)\n\* ` + regexp.QuoteMeta(b) + `  healthy</pre>$`).MatchString(st) {
			t.Errorf("/pool status: expected %s cooling after rate limit (429) and %s "+
				"active, saw %q", a, b, st)
		}
	})

	t.Run("reload keeps one poller and serves the new chat list", func(t *testing.T) {
		tgSetTelegram(t, inst, tg.URL, tgOperator, tgSecond)
		for _, chat := range []int64{tgSecond, tgOperator} {
			got := tgSay(t, tg, chat, "/pool list")
			if len(got) != 1 || !strings.Contains(got[0], pool) {
				t.Errorf("chat %d after the reload: expected the pool list, saw %q", chat, got)
			}
		}
		if n := tg.Conflicts(); n != 0 {
			t.Errorf("overlapping getUpdates (409): expected none, saw %d", n)
		}
		if n := tg.GetMes(); n != 1 {
			t.Errorf("getMe calls: expected 1, the one bot kept across the reload; saw %d", n)
		}
	})

	t.Run("no secret in the chat or the log", func(t *testing.T) {
		logText := inst.logTail(0, 100000)
		for _, tokens := range secrets {
			for _, s := range tokens {
				for _, m := range tg.Sent() {
					if strings.Contains(m.Text, s) {
						t.Errorf("message %q holds a real token", m.Text)
					}
				}
				if strings.Contains(logText, s) {
					t.Errorf("the log holds the real token %s", s)
				}
			}
		}
		if strings.Contains(logText, os.Getenv("TELEGRAM_BOT_TOKEN")) {
			t.Errorf("the log holds the bot token")
		}
	})
}

// waitNotices waits until the operator has at least n notices.
func waitNotices(t *testing.T, tg *telegramtest.Server, n int) {
	t.Helper()
	for len(tgNotices(tg, tgOperator)) < n {
		tg.WaitSent(t, len(tg.Sent())+1)
	}
}
