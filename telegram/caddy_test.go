package telegram

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage"

	"github.com/latchkeyproxy/latchkey/app"
	"github.com/latchkeyproxy/latchkey/engine"
	"github.com/latchkeyproxy/latchkey/failover"
	"github.com/latchkeyproxy/latchkey/poolops"
	"github.com/latchkeyproxy/latchkey/telegram/telegramtest"
)

// These tests run a whole Caddy in the test process, with the latchkey and
// telegram apps configured as an operator would, so that the events app,
// the apps' lifecycle and config reloads are the real ones. Caddy is one
// per process: these tests must not run in parallel.

// caddyConfig is a config with the latchkey app on dir and the telegram
// app on the fake, serving chats. The admin endpoint is off and storage
// sits in dir, so nothing outside the test is touched.
func caddyConfig(t *testing.T, dir, apiURL string, chats ...int64) []byte {
	t.Helper()
	cfg := map[string]any{
		"admin":   map[string]any{"disabled": true, "config": map[string]any{"persist": false}},
		"storage": map[string]any{"module": "file_system", "root": filepath.Join(dir, "caddy")},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{
			"level": "ERROR"}}},
		"apps": map[string]any{
			"latchkey": map[string]any{"data_dir": filepath.Join(dir, "latchkey")},
			"telegram": map[string]any{"bot_token": "{env.LK_TEST_TELEGRAM_TOKEN}",
				"api_url": apiURL, "chat_ids": chats},
		},
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// loadCaddy loads a config into the process's Caddy, which stops when t
// ends.
func loadCaddy(t *testing.T, cfg []byte) {
	t.Helper()
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("loading the Caddy config: %v", err)
	}
	t.Cleanup(func() { caddy.Stop() })
}

// liveEngine returns the engine of the running latchkey app.
func liveEngine(t *testing.T) *engine.Engine {
	t.Helper()
	val, err := caddy.ActiveContext().AppIfConfigured(app.ModuleID)
	if err != nil {
		t.Fatal(err)
	}
	return val.(*app.App).Engine()
}

func TestReloadKeepsOnePollerAndServesTheNewConfig(t *testing.T) {
	t.Setenv("LK_TEST_TELEGRAM_TOKEN", testToken)
	tg := telegramtest.NewServer(t)
	dir := t.TempDir()

	loadCaddy(t, caddyConfig(t, dir, tg.URL, operator))
	tg.WaitPolling(t)
	if got := tg.Converse(t, 43, "/pool list"); len(got) != 0 {
		t.Errorf("chat 43 before the reload: expected no reply, saw %+v", got)
	}

	// The new config starts while the old one still runs; with one bot
	// per token the fake never sees two pollers.
	loadCaddy(t, caddyConfig(t, dir, tg.URL, operator, 43))
	for _, chat := range []int64{43, operator} {
		got := tg.Converse(t, chat, "/pool list")
		if len(got) != 1 || !strings.HasPrefix(got[0].Text, "No pools") {
			t.Errorf("chat %d after the reload: expected one pool list, saw %+v", chat, got)
		}
	}
	if n := tg.Conflicts(); n != 0 {
		t.Errorf("overlapping getUpdates (409): expected none, saw %d", n)
	}
	if n := tg.GetMes(); n != 1 {
		t.Errorf("getMe calls: expected 1 (one bot across the reload), saw %d", n)
	}
	if n := len(tg.Menus()); n != 1 {
		t.Errorf("setMyCommands calls: expected 1, saw %d", n)
	}

	// Stopping Caddy stops the poller promptly, though a poll was open.
	start := time.Now()
	caddy.Stop()
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("stopping Caddy took %v; expected the poll to be cancelled at once", took)
	}
	polls := tg.Polls()
	time.Sleep(100 * time.Millisecond) // would be enough for a stray poller to ask again
	if tg.Polls() != polls {
		t.Errorf("getUpdates after Stop: expected none, saw %d", tg.Polls()-polls)
	}
}

func TestFailoverInTheProxySendsExactlyOneNotice(t *testing.T) {
	t.Setenv("LK_TEST_TELEGRAM_TOKEN", testToken)
	tg := telegramtest.NewServer(t)
	loadCaddy(t, caddyConfig(t, t.TempDir(), tg.URL, operator, -100))
	tg.WaitPolling(t)

	eng := liveEngine(t)
	seedCredentials(t, eng)
	ops := poolops.New(eng)
	if _, err := ops.Create("p", []string{"a", "b"}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := ops.Create("q", []string{"c"}, ""); err != nil {
		t.Fatal(err)
	}

	// What the proxy does on a 429 from the active member: report it. The
	// same failure reported again inside the announce window is not news.
	limited := failover.Verdict{Kind: failover.RateLimited, Tag: "429", Cooldown: time.Minute}
	for range 2 {
		if _, err := eng.ReportFailure("p", "a", limited, "api.test"); err != nil {
			t.Fatal(err)
		}
	}
	// A second, different event: notices are sent in order, so once its
	// notices are in, any duplicate of the first would be too.
	auth := failover.Verdict{Kind: failover.AuthFailure, Tag: "401", Cooldown: time.Minute}
	if _, err := eng.ReportFailure("q", "c", auth, "api.test"); err != nil {
		t.Fatal(err)
	}
	sent := tg.WaitSent(t, 4)

	want := []string{
		`Pool "p" failed over from "a" to "b" after rate limit (429).`,
		`Pool "q" exhausted: all members are cooling down, no healthy account to fail over ` +
			`to (auth failure (401)).`,
	}
	for _, chat := range []int64{operator, -100} {
		var got []string
		for _, m := range sent {
			if m.ChatID == chat {
				if m.ParseMode != "" {
					t.Errorf("notice to %d: expected plain text, saw parse mode %q", chat,
						m.ParseMode)
				}
				got = append(got, m.Text)
			}
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("notices to chat %d:\n expected %q\n      saw %q", chat, want, got)
		}
	}

	// /status counts the failover the engine recorded.
	got := tg.Converse(t, operator, "/status")
	wantStatus := "<b>latchkey</b> since <T>: 4 credentials, 0 bindings, 2 pools.\n" +
		"<pre>POOL  ACTIVE  HEALTHY  INJECTIONS  FAILOVERS\n" +
		"p     b       1/2      0           1\n" +
		"q     c       0/1      0           0</pre>"
	if len(got) != 1 || normalise(got[0].Text) != wantStatus {
		t.Errorf("/status:\n expected %q\n      saw %+v", wantStatus, got)
	}
}

func TestValidateMakesNoNetworkCall(t *testing.T) {
	t.Setenv("LK_TEST_TELEGRAM_TOKEN", testToken)
	tg := telegramtest.NewServer(t)
	cfg := mustConfig(t, caddyConfig(t, t.TempDir(), tg.URL, operator))
	if err := caddy.Validate(cfg); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if tg.GetMes() != 0 || tg.Polls() != 0 || len(tg.Menus()) != 0 {
		t.Errorf("Bot API calls during validate: expected none, saw getMe %d, getUpdates %d, "+
			"setMyCommands %d", tg.GetMes(), tg.Polls(), len(tg.Menus()))
	}
}

// mustConfig decodes a JSON config for caddy.Validate.
func mustConfig(t *testing.T, raw []byte) *caddy.Config {
	t.Helper()
	var cfg caddy.Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	return &cfg
}
