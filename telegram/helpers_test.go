package telegram

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/latchkeyproxy/latchkey/engine"
	"github.com/latchkeyproxy/latchkey/poolops"
	"github.com/latchkeyproxy/latchkey/store"
	"github.com/latchkeyproxy/latchkey/telegram/telegramtest"
)

// testToken is the bot token of every test bot. Each test has its own fake
// server, so the bots never share a key in the pool.
const testToken = "123456:TEST-token_abc"

// operator is the allowed private chat of the tests.
const operator int64 = 42

// harness is a running bot over its own engine, talking to a fake Bot API.
type harness struct {
	t    *testing.T
	eng  *engine.Engine
	ops  *poolops.Ops
	tg   *telegramtest.Server
	app  *App
	logs *observer.ObservedLogs
}

// newHarness starts a bot that serves chats over a new engine holding the
// OAuth credentials a, b and c and the static credential s.
func newHarness(t *testing.T, chats ...int64) *harness {
	t.Helper()
	h := &harness{t: t, eng: newEngine(t), tg: telegramtest.NewServer(t)}
	h.ops = poolops.New(h.eng)
	seedCredentials(t, h.eng)
	core, logs := observer.New(zapcore.DebugLevel)
	h.logs = logs
	h.app = startApp(t, h.eng, h.tg.URL, zap.New(core), chats...)
	h.tg.WaitPolling(t)
	return h
}

// newEngine opens an engine on a new database.
func newEngine(t *testing.T) *engine.Engine {
	t.Helper()
	db, err := store.Open(store.Options{Dir: t.TempDir(),
		EncryptionKey: bytes.Repeat([]byte{7}, store.EncryptionKeySize)})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(); db.Close() })
	return eng
}

// seedCredentials adds OAuth credentials a, b, c and static s.
func seedCredentials(t *testing.T, eng *engine.Engine) {
	t.Helper()
	for _, n := range []string{"a", "b", "c"} {
		if _, err := eng.AddOAuthCredential(engine.OAuthSpec{Name: n, AccessToken: "at-" + n,
			RefreshToken: "rt-" + n, TokenURL: "https://auth.test/oauth/token"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := eng.AddStaticCredential("s", "static-secret"); err != nil {
		t.Fatal(err)
	}
}

// startApp starts an App the way Caddy would after Provision, without a
// Caddy config around it, and stops it when t ends.
func startApp(t *testing.T, eng *engine.Engine, apiURL string, logger *zap.Logger,
	chats ...int64) *App {
	t.Helper()
	a := &App{BotToken: testToken, ChatIDs: chats, APIURL: apiURL, logger: logger,
		shared: new(atomic.Pointer[sharedBot])}
	if err := a.resolve(); err != nil {
		t.Fatal(err)
	}
	a.cfg = newConfig(chats, eng, logger)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Stop(); err != nil {
			t.Errorf("stopping the bot: %v", err)
		}
	})
	return a
}

// say sends text from the operator and returns the texts of the replies,
// checking that each was sent in HTML mode.
func (h *harness) say(text string) []string {
	h.t.Helper()
	return h.sayIn(operator, text)
}

// sayIn sends text from chat and returns the texts of the replies.
func (h *harness) sayIn(chat int64, text string) []string {
	h.t.Helper()
	var out []string
	for _, m := range h.tg.Converse(h.t, chat, text) {
		if m.ParseMode != "HTML" {
			h.t.Errorf("reply to %q: expected parse_mode HTML, saw %q", text, m.ParseMode)
		}
		out = append(out, m.Text)
	}
	return out
}

// reply sends text and returns the one reply, failing when there is not
// exactly one.
func (h *harness) reply(text string) string {
	h.t.Helper()
	got := h.say(text)
	if len(got) != 1 {
		h.t.Fatalf("%q: expected one reply, saw %d: %q", text, len(got), got)
	}
	return got[0]
}

// timestamp matches an RFC 3339 time as replies print it.
var timestamp = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)

// normalise replaces the times in a reply with <T>, which tests cannot
// know in advance.
func normalise(s string) string {
	return timestamp.ReplaceAllString(s, "<T>")
}

// logged returns the messages of the log entries that contain substr in
// their message.
func (h *harness) logged(substr string) []observer.LoggedEntry {
	return h.logs.FilterMessageSnippet(substr).All()
}

// assertNotLogged fails when any log entry, message or field, holds secret.
func assertNotLogged(t *testing.T, logs *observer.ObservedLogs, secret string) {
	t.Helper()
	for _, e := range logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += " " + k + "=" + fmt.Sprint(v)
		}
		if strings.Contains(line, secret) {
			t.Errorf("log entry %q holds the secret %q", line, secret)
		}
	}
}
