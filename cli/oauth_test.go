package cli

import (
	"bytes"
	"strings"
	"testing"
)

const (
	oauthCredJSON = `{"name":"acct_a","type":"oauth","token_url":"https://auth.test/token",` +
		`"expires_at":"2026-12-03T10:00:00Z","has_refresh_token":true,"pool":"codex",` +
		`"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}`
	oauthCreatedJSON = `{"name":"acct_a","type":"oauth"}`
	tokenURL         = "https://auth.test/token"
)

func TestOAuthCredentialCommands(t *testing.T) {
	add := []string{"cred", "add", "acct_a", "--type", "oauth", "--token-url", tokenURL}
	withFlags := func(extra ...string) []string {
		return append(append([]string{}, add...), extra...)
	}
	listed := map[string]answer{
		"GET /api/credentials":          {200, "[" + credJSON + "," + oauthCredJSON + "]"},
		"PATCH /api/credentials/acct_a": {204, ""},
	}

	runCommandCases(t, []commandCase{
		{
			name:    "cred add --type oauth reads three tokens, one per line",
			args:    withFlags("--expires-in", "3600", "--account-id", "ws_1"),
			stdin:   "at-1\r\nrt-1\nid-1\nignored\n",
			answers: one("POST /api/credentials", 201, oauthCreatedJSON),
			want:    "credential \"acct_a\" added\n",
			request: &seen{
				method: "POST", path: "/api/credentials",
				body: `{"name":"acct_a","type":"oauth","token_url":"` + tokenURL + `",` +
					`"access_token":"at-1","refresh_token":"rt-1","id_token":"id-1",` +
					`"expires_in":3600,"account_id":"ws_1"}`,
			},
		},
		{
			name:    "cred add --type oauth skips an empty refresh line",
			args:    withFlags("--expires-at", "2026-12-03T10:00:00Z"),
			stdin:   "at-1\n\nid-1\n",
			answers: one("POST /api/credentials", 201, oauthCreatedJSON),
			want:    "credential \"acct_a\" added\n",
			request: &seen{
				method: "POST", path: "/api/credentials",
				body: `{"name":"acct_a","type":"oauth","token_url":"` + tokenURL + `",` +
					`"access_token":"at-1","id_token":"id-1","expires_at":"2026-12-03T10:00:00Z"}`,
			},
		},
		{
			name:    "cred add --type oauth with only an access token",
			args:    add,
			stdin:   "at-1",
			answers: one("POST /api/credentials", 201, oauthCreatedJSON),
			want:    "credential \"acct_a\" added\n",
			request: &seen{
				method: "POST", path: "/api/credentials",
				body: `{"name":"acct_a","type":"oauth","token_url":"` + tokenURL + `",` +
					`"access_token":"at-1"}`,
			},
		},
		{
			name:  "cred add --type oauth refuses an empty access token",
			args:  add,
			stdin: "\nrt-1\n",
			wantErr: "latchkey: the access token is empty; type it at the prompt or pipe the " +
				"tokens on stdin, one per line: access, refresh, id token\n",
		},
		{
			name:    "cred add --type oauth needs --token-url",
			args:    []string{"cred", "add", "acct_a", "--type", "oauth"},
			stdin:   "at-1\n",
			wantErr: "latchkey: --type oauth needs --token-url, the account's token endpoint\n",
		},
		{
			name:    "cred add refuses both expiries before reading tokens",
			args:    withFlags("--expires-in", "60", "--expires-at", "2026-12-03T10:00:00Z"),
			stdin:   "at-1\n",
			wantErr: "latchkey: give --expires-in or --expires-at, not both\n",
		},
		{
			name:    "cred add refuses a zero lifetime",
			args:    withFlags("--expires-in", "0"),
			stdin:   "at-1\n",
			wantErr: "latchkey: --expires-in must be a positive number of seconds\n",
		},
		{
			name:  "cred add refuses an expiry that is not RFC 3339",
			args:  withFlags("--expires-at", "tomorrow"),
			stdin: "at-1\n",
			wantErr: "latchkey: --expires-at \"tomorrow\" is not an RFC 3339 time such as " +
				"2026-12-03T10:00:00Z\n",
		},
		{
			name:    "cred add refuses oauth flags for a static credential",
			args:    []string{"cred", "add", "openai", "--token-url", tokenURL},
			stdin:   "sk-1\n",
			wantErr: "latchkey: --token-url is for oauth credentials only\n",
		},
		{
			name:    "cred add refuses an unknown type",
			args:    []string{"cred", "add", "x", "--type", "kerberos"},
			stdin:   "sk-1\n",
			wantErr: "latchkey: unknown credential type \"kerberos\"; use static or oauth\n",
		},
		{
			name:    "cred update of an oauth credential reads its tokens",
			args:    []string{"cred", "update", "acct_a", "--expires-in", "600"},
			stdin:   "at-2\nrt-2\n",
			answers: listed,
			want:    "credential \"acct_a\" updated\n",
			calls:   2,
			request: &seen{
				method: "PATCH", path: "/api/credentials/acct_a",
				body: `{"access_token":"at-2","refresh_token":"rt-2","expires_in":600}`,
			},
		},
		{
			name:    "cred update refuses oauth flags for a static credential",
			args:    []string{"cred", "update", "openai", "--account-id", "ws"},
			stdin:   "sk-2\n",
			answers: listed,
			wantErr: "latchkey: --account-id is for oauth credentials only\n",
		},
		{
			name:    "cred list shows pools and expiries",
			args:    []string{"cred", "list"},
			answers: one("GET /api/credentials", 200, "["+credJSON+","+oauthCredJSON+"]"),
			want: "NAME    TYPE    POOL   EXPIRES               CREATED               UPDATED\n" +
				"openai  static  -      -                     2026-01-02T03:04:05Z  " +
				"2026-01-02T03:04:05Z\n" +
				"acct_a  oauth   codex  2026-12-03T10:00:00Z  2026-01-02T03:04:05Z  " +
				"2026-01-02T03:04:05Z\n",
		},
		{
			name: "phantom of a pool prints the auth-file fields",
			args: []string{"phantom", "codex"},
			answers: one("GET /api/phantom/codex", 200, `{"name":"codex","kind":"pool",`+
				`"access_token":"eyJ.a.b","refresh_token":"lk-rt","account_id":"acc"}`),
			want: "access_token:  eyJ.a.b\nrefresh_token: lk-rt\naccount_id:    acc\n",
		},
	})
}

// TestReadTokens checks the stdin side of token input.
func TestReadTokens(t *testing.T) {
	cases := []struct {
		name, stdin string
		want        oauthTokens
		wantErr     string
	}{
		{name: "three lines", stdin: "a\nr\ni\n", want: oauthTokens{"a", "r", "i"}},
		{name: "CRLF", stdin: "a\r\nr\r\ni\r\n", want: oauthTokens{"a", "r", "i"}},
		{name: "access only without newline", stdin: "a", want: oauthTokens{access: "a"}},
		{name: "id without refresh", stdin: "a\n\ni\n", want: oauthTokens{access: "a", id: "i"}},
		{name: "later lines ignored", stdin: "a\nr\ni\nx\n", want: oauthTokens{"a", "r", "i"}},
		{name: "empty", stdin: "", wantErr: "access token is empty"},
		{
			name: "too long", stdin: "a\n" + strings.Repeat("r", maxSecretBytes+1) + "\n",
			wantErr: "longer than",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var prompt bytes.Buffer
			got, err := readTokens(strings.NewReader(tc.stdin), &prompt, "acct")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("tokens = %+v, %v; want %+v", got, err, tc.want)
			}
			if prompt.Len() != 0 {
				t.Errorf("prompted %q although stdin is not a terminal", prompt.String())
			}
		})
	}
}
