package telegram

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func TestGlobalOptionAdaptsToJSON(t *testing.T) {
	tests := []struct {
		name, input, want, err string
	}{
		{
			name: "every option",
			input: `telegram {
				bot_token {env.TELEGRAM_BOT_TOKEN}
				chat_ids 42 -1001234567890
				chat_ids 7
				api_url http://127.0.0.1:8081
			}`,
			want: `{"bot_token":"{env.TELEGRAM_BOT_TOKEN}","chat_ids":[42,-1001234567890,7],` +
				`"api_url":"http://127.0.0.1:8081"}`,
		},
		{
			name:  "token only",
			input: "telegram {\n bot_token {env.TELEGRAM_BOT_TOKEN}\n}",
			want:  `{"bot_token":"{env.TELEGRAM_BOT_TOKEN}"}`,
		},
		{name: "no token", input: "telegram {\n chat_ids 1\n}", err: "needs bot_token"},
		{name: "bad chat id", input: "telegram {\n bot_token x\n chat_ids me\n}",
			err: `chat id "me" is not a Telegram chat id`},
		{name: "zero chat id", input: "telegram {\n bot_token x\n chat_ids 0\n}",
			err: `chat id "0"`},
		{name: "unknown option", input: "telegram {\n bot_token x\n chat 1\n}",
			err: `unknown telegram option "chat"`},
		{name: "two tokens", input: "telegram {\n bot_token x y\n}", err: "wrong argument count"},
		{name: "argument on the option", input: "telegram x {\n}", err: "wrong argument count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			val, err := parseGlobalOption(caddyfile.NewTestDispenser(tt.input), nil)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("expected an error with %q, saw %v", tt.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := val.(httpcaddyfile.App)
			if got.Name != "telegram" || string(got.Value) != tt.want {
				t.Errorf("expected app telegram %s, saw %s %s", tt.want, got.Name, got.Value)
			}
			var back App
			if err := json.Unmarshal(got.Value, &back); err != nil {
				t.Errorf("the JSON does not decode into the app: %v", err)
			}
		})
	}
}

func TestResolveChecksTheSettingsWithoutShowingTheToken(t *testing.T) {
	t.Setenv("LK_EMPTY_TOKEN", "")
	t.Setenv("LK_SET_TOKEN", "777:from-env")
	tests := []struct {
		name string
		app  App
		err  string
	}{
		{"empty", App{}, "bot_token is required"},
		{"unset variable", App{BotToken: "{env.LK_EMPTY_TOKEN}"},
			`bot_token "{env.LK_EMPTY_TOKEN}" is empty once its placeholders are replaced`},
		{"slash in token", App{BotToken: "12/secretpart"}, "bot_token holds characters"},
		{"bad url", App{BotToken: "1:a", APIURL: "ftp://x"}, `api_url "ftp://x" must be`},
		{"no host", App{BotToken: "1:a", APIURL: "https://"}, "must be an http or https URL"},
		{"from env", App{BotToken: "{env.LK_SET_TOKEN}"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.app.resolve()
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tt.app.token != "777:from-env" || tt.app.apiURL != DefaultAPIURL {
					t.Errorf("resolved token and URL: saw %q %q", tt.app.token, tt.app.apiURL)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("expected an error with %q, saw %v", tt.err, err)
			}
			if strings.Contains(err.Error(), "secretpart") {
				t.Errorf("error %q shows the token", err)
			}
		})
	}
}
