package oauth

import (
	"strings"
	"testing"
)

const (
	jsonCT = "application/json"
	formCT = "application/x-www-form-urlencoded"
	// geminiCT is the exact Content-Type Gemini CLI sends (CLIENTS.md 4).
	geminiCT = "application/x-www-form-urlencoded;charset=UTF-8"

	codexRefresh = `{"client_id":"app_EMoamEEZ73f0CkXaXp7hrann","grant_type":"refresh_token",` +
		`"refresh_reason":"unauthorized_recovery","refresh_token":"lk-rt-pool-abc"}`
	claudeRefresh = `{"grant_type":"refresh_token","refresh_token":"lk-rt-claude-1",` +
		`"client_id":"9d1c250a-e61b-44d9-88ed-5944d1962f5e",` +
		`"scope":"user:profile user:inference user:sessions:claude_code user:mcp_servers ` +
		`user:file_upload"}`
	geminiRefresh = "refresh_token=lk-rt-gem-1" +
		"&client_id=681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com" +
		"&client_secret=GOCSPX-secret&grant_type=refresh_token"
	codexAuthCode = "grant_type=authorization_code&client_id=app_EMoamEEZ73f0CkXaXp7hrann" +
		"&code=ac_123&redirect_uri=https%3A%2F%2Fauth.openai.com%2Fdeviceauth%2Fcallback" +
		"&code_verifier=ver_456"
)

func TestParseGrant(t *testing.T) {
	tests := []struct {
		name   string
		ct     string
		body   string
		want   Grant
		wantOK bool
	}{
		{"codex json refresh with refresh_reason", jsonCT, codexRefresh,
			Grant{"refresh_token", "lk-rt-pool-abc", "app_EMoamEEZ73f0CkXaXp7hrann",
				FormatJSON}, true},
		{"claude json refresh with scope", jsonCT, claudeRefresh,
			Grant{"refresh_token", "lk-rt-claude-1", "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
				FormatJSON}, true},
		{"gemini form refresh with charset", geminiCT, geminiRefresh,
			Grant{"refresh_token", "lk-rt-gem-1",
				"681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com",
				FormatForm}, true},
		{"codex authorization_code form", formCT, codexAuthCode,
			Grant{Type: "authorization_code", ClientID: "app_EMoamEEZ73f0CkXaXp7hrann",
				Format: FormatForm}, true},
		{"device_code grant escaped", formCT,
			"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code" +
				"&device_code=d&client_id=c",
			Grant{Type: "urn:ietf:params:oauth:grant-type:device_code", ClientID: "c",
				Format: FormatForm}, true},
		{"device_code grant json", "application/json; charset=utf-8",
			`{"grant_type":"urn:ietf:params:oauth:grant-type:device_code","device_code":"d"}`,
			Grant{Type: "urn:ietf:params:oauth:grant-type:device_code", Format: FormatJSON}, true},
		{"codex device usercode body has no grant", jsonCT,
			`{"client_id":"app_EMoamEEZ73f0CkXaXp7hrann"}`,
			Grant{ClientID: "app_EMoamEEZ73f0CkXaXp7hrann", Format: FormatJSON}, true},
		{"absent grant form", formCT, "client_id=c&refresh_token=r",
			Grant{RefreshToken: "r", ClientID: "c", Format: FormatForm}, true},
		{"empty form body", formCT, "", Grant{Format: FormatForm}, true},
		{"plus json type", "application/vnd.example+json", `{"grant_type":"refresh_token"}`,
			Grant{Type: "refresh_token", Format: FormatJSON}, true},
		{"upper-case content type", "Application/JSON", `{"grant_type":"refresh_token"}`,
			Grant{Type: "refresh_token", Format: FormatJSON}, true},
		{"json escapes in keys and values", jsonCT,
			`{"grant\u005ftype":"refresh_token","refresh_token":"a\/b\u002dc"}`,
			Grant{Type: "refresh_token", RefreshToken: "a/b-c", Format: FormatJSON}, true},
		{"nested refresh_token is not top level", jsonCT,
			`{"grant_type":"refresh_token","x":{"refresh_token":"inner"}}`,
			Grant{Type: "refresh_token", Format: FormatJSON}, true},
		{"form plus is a space", formCT, "grant_type=refresh_token&refresh_token=a+b%2Bc",
			Grant{Type: "refresh_token", RefreshToken: "a b+c", Format: FormatForm}, true},
		{"text/plain is not probed", "text/plain", "grant_type=refresh_token&refresh_token=r",
			Grant{}, false},
		{"missing content type is not probed", "", codexRefresh, Grant{}, false},
		{"malformed json", jsonCT, `{"grant_type":"refresh_token",`, Grant{}, false},
		{"json array", jsonCT, `[{"grant_type":"refresh_token"}]`, Grant{}, false},
		{"json string", jsonCT, `"grant_type"`, Grant{}, false},
		{"duplicate grant_type json", jsonCT,
			`{"grant_type":"authorization_code","grant_type":"refresh_token"}`, Grant{}, false},
		{"duplicate grant_type via escape", jsonCT,
			`{"grant_type":"refresh_token","grant\u005ftype":"x"}`, Grant{}, false},
		{"duplicate grant_type form", formCT, "grant_type=refresh_token&grant_type=password",
			Grant{}, false},
		{"duplicate refresh_token form", formCT,
			"grant_type=refresh_token&refresh_token=a&refresh_token=b", Grant{}, false},
		{"non-string grant_type", jsonCT, `{"grant_type":1}`, Grant{}, false},
		{"null refresh_token", jsonCT, `{"grant_type":"refresh_token","refresh_token":null}`,
			Grant{}, false},
		{"bad percent escape", formCT, "grant_type=refresh_token&refresh_token=%zz",
			Grant{}, false},
		{"semicolon separator", formCT, "grant_type=refresh_token;refresh_token=r", Grant{}, false},
		{"body over MaxProbe", jsonCT,
			`{"grant_type":"refresh_token","pad":"` + strings.Repeat("x", MaxProbe) + `"}`,
			Grant{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseGrant(tt.ct, []byte(tt.body))
			if ok != tt.wantOK || got != tt.want {
				t.Fatalf("ParseGrant = %+v, %v; want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestGrantIsRefresh(t *testing.T) {
	tests := []struct {
		g    Grant
		want bool
	}{
		{Grant{Type: "refresh_token", RefreshToken: "r"}, true},
		{Grant{Type: "refresh_token"}, false},
		{Grant{Type: "authorization_code", RefreshToken: "r"}, false},
		{Grant{Type: "Refresh_Token", RefreshToken: "r"}, false},
	}
	for _, tt := range tests {
		if got := tt.g.IsRefresh(); got != tt.want {
			t.Errorf("%+v.IsRefresh() = %v, want %v", tt.g, got, tt.want)
		}
	}
}

func TestReplaceRefreshTokenKeepsOtherBytes(t *testing.T) {
	tests := []struct {
		name     string
		ct       string
		body     string
		oldRaw   string // the value's bytes, last occurrence in body
		real     string
		wantRaw  string // the new value's bytes
		wantReal string // what ParseGrant reads back
	}{
		{"codex json", jsonCT, codexRefresh, `"lk-rt-pool-abc"`, "rt-real-1",
			`"rt-real-1"`, "rt-real-1"},
		{"claude json field in the middle", jsonCT, claudeRefresh, `"lk-rt-claude-1"`,
			"rt-real-2", `"rt-real-2"`, "rt-real-2"},
		{"json with spaces and newlines", jsonCT,
			"{\n  \"grant_type\" : \"refresh_token\" ,\n  \"refresh_token\" :\t\"lk-rt-x\" \n}\n",
			`"lk-rt-x"`, "real", `"real"`, "real"},
		{"json with escapes around", jsonCT,
			`{"a":"q\"uo\\te","refresh_token":"lk\u002drt","b":"\u00e9"}`,
			`"lk\u002drt"`, "real", `"real"`, "real"},
		{"json real needs escaping", jsonCT, `{"refresh_token":"p","z":1}`, `"p"`,
			"a\"b\\c\n<>&é", `"a\"b\\c\n<>&é"`, "a\"b\\c\n<>&é"},
		{"form field first", geminiCT, geminiRefresh, "lk-rt-gem-1", "1//0gReal+tok=",
			"1%2F%2F0gReal%2Btok%3D", "1//0gReal+tok="},
		{"form field middle", formCT, "grant_type=refresh_token&refresh_token=p%2D1&client_id=c",
			"p%2D1", "r r", "r+r", "r r"},
		{"form field last", formCT, "client_id=c&grant_type=refresh_token&refresh_token=p",
			"p", "real", "real", "real"},
		{"form keeps odd spelling of other pairs", formCT,
			"a=%41%42&&grant_type=refresh%5Ftoken&refresh_token=p&b", "p", "real", "real", "real"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			g, ok := ParseGrant(tt.ct, body)
			if !ok {
				t.Fatal("ParseGrant failed")
			}
			out, err := ReplaceRefreshToken(g, body, tt.real)
			if err != nil {
				t.Fatalf("ReplaceRefreshToken: %v", err)
			}
			at := strings.LastIndex(tt.body, tt.oldRaw)
			prefix, suffix := tt.body[:at], tt.body[at+len(tt.oldRaw):]
			if want := prefix + tt.wantRaw + suffix; string(out) != want {
				t.Fatalf("got  %q\nwant %q", out, want)
			}
			g2, ok := ParseGrant(tt.ct, out)
			if !ok || g2.RefreshToken != tt.wantReal || g2.Type != g.Type ||
				g2.ClientID != g.ClientID {
				t.Fatalf("reparsed %+v, %v", g2, ok)
			}
			if string(body) != tt.body {
				t.Fatal("input body was modified")
			}
		})
	}
}

func TestReplaceRefreshTokenErrors(t *testing.T) {
	const (
		old  = "lk-rt-phantom-old"
		real = "real-refresh-secret"
	)
	tests := []struct {
		name string
		g    Grant
		body string
		real string
	}{
		{"json field absent", Grant{Format: FormatJSON}, `{"grant_type":"refresh_token"}`, real},
		{"json field twice", Grant{Format: FormatJSON, RefreshToken: old},
			`{"refresh_token":"` + old + `","refresh_token":"` + old + `"}`, real},
		{"json value is not the grant's", Grant{Format: FormatJSON, RefreshToken: "other"},
			`{"refresh_token":"` + old + `"}`, real},
		{"json value not a string", Grant{Format: FormatJSON}, `{"refresh_token":5}`, real},
		{"json real not utf-8", Grant{Format: FormatJSON, RefreshToken: old},
			`{"refresh_token":"` + old + `"}`, real + "\xff"},
		{"json invalid", Grant{Format: FormatJSON}, `{"refresh_token":"` + old, real},
		{"form field absent", Grant{Format: FormatForm}, "grant_type=refresh_token", real},
		{"form field twice", Grant{Format: FormatForm, RefreshToken: old},
			"refresh_token=" + old + "&refresh_token=" + old, real},
		{"form value is not the grant's", Grant{Format: FormatForm, RefreshToken: "other"},
			"refresh_token=" + old, real},
		{"form bad escape", Grant{Format: FormatForm}, "refresh_token=" + old + "%zz", real},
		{"zero format", Grant{RefreshToken: old}, "refresh_token=" + old, real},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := ReplaceRefreshToken(tt.g, []byte(tt.body), tt.real)
			if err == nil {
				t.Fatalf("no error, got %q", out)
			}
			if msg := err.Error(); strings.Contains(msg, old) || strings.Contains(msg, real) {
				t.Fatalf("error %q contains a token", msg)
			}
		})
	}
}

func TestReplaceRefreshTokenFormWithoutEquals(t *testing.T) {
	body := []byte("grant_type=refresh_token&refresh_token")
	g, ok := ParseGrant(formCT, body)
	if !ok {
		t.Fatal("ParseGrant failed")
	}
	out, err := ReplaceRefreshToken(g, body, "real")
	if err != nil {
		t.Fatal(err)
	}
	if want := "grant_type=refresh_token&refresh_token=real"; string(out) != want {
		t.Fatalf("got %q, want %q", out, want)
	}
}

func TestFormatString(t *testing.T) {
	for f, want := range map[Format]string{FormatForm: "form", FormatJSON: "json", 0: "unknown"} {
		if got := f.String(); got != want {
			t.Errorf("Format(%d).String() = %q, want %q", int(f), got, want)
		}
	}
}

func BenchmarkParseGrantJSON(b *testing.B) {
	body := []byte(codexRefresh)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if g, ok := ParseGrant(jsonCT, body); !ok || !g.IsRefresh() {
			b.Fatal("ParseGrant failed")
		}
	}
}

func BenchmarkReplaceRefreshTokenJSON(b *testing.B) {
	body := []byte(codexRefresh)
	g, _ := ParseGrant(jsonCT, body)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReplaceRefreshToken(g, body, "rt-real-token-value"); err != nil {
			b.Fatal(err)
		}
	}
}
