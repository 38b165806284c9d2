package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyproxy/latchkey/engine"
)

// oauthBody is a POST /api/credentials body for an OAuth credential named
// "acct" with extra fields (already JSON, each with a leading comma).
func oauthBody(extra string) string {
	return `{"name":"acct","type":"oauth","access_token":"` + testSecret + `-at",` +
		`"token_url":"https://auth.openai.com/oauth/token"` + extra + `}`
}

func TestOAuthCredentialRoutes(t *testing.T) {
	post := func(body string) request { return req("POST", credsPath, body) }
	patch := func(body string) request { return req("PATCH", credsPath+"/a", body) }

	cases := []apiCase{
		{
			name: "add with every field",
			req: post(oauthBody(`,"refresh_token":"` + testSecret + `-rt","id_token":"` +
				idToken + `","expires_at":"2026-12-03T10:00:00+01:00","account_id":"ws_1"`)),
			status: http.StatusCreated,
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				var got map[string]any
				decodeBody(t, rec, &got)
				if len(got) != 2 || got["name"] != "acct" || got["type"] != "oauth" {
					t.Fatalf("body = %v, want exactly name acct and type oauth", got)
				}
				info := credentialInfo(t, e, "acct")
				want := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
				if info.TokenURL != "https://auth.openai.com/oauth/token" ||
					!info.HasRefreshToken || info.ExpiresAt == nil || !info.ExpiresAt.Equal(want) {
					t.Fatalf("stored %+v, want the token URL, a refresh token, expiry %v",
						info, want)
				}
			},
		},
		{
			name:   "add with expires_in counts from now",
			req:    post(oauthBody(`,"expires_in":3600`)),
			status: http.StatusCreated,
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				info := credentialInfo(t, e, "acct")
				if info.ExpiresAt == nil || time.Until(*info.ExpiresAt) < 3590*time.Second ||
					time.Until(*info.ExpiresAt) > 3600*time.Second {
					t.Fatalf("expires_at = %v, want about an hour from now", info.ExpiresAt)
				}
			},
		},
		{
			name:   "add with only an access token and token url",
			req:    post(oauthBody("")),
			status: http.StatusCreated,
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				if info := credentialInfo(t, e, "acct"); info.HasRefreshToken ||
					info.ExpiresAt != nil {
					t.Fatalf("stored %+v, want no refresh token and no expiry", info)
				}
			},
		},
		refused("add without token_url", 400, codeInvalid,
			post(`{"name":"acct","type":"oauth","access_token":"t"}`)),
		refused("add without access_token", 400, codeInvalid,
			post(`{"name":"acct","type":"oauth","token_url":"https://a.example/t"}`)),
		refused("add with an ftp token_url", 400, codeInvalid,
			post(`{"name":"acct","type":"oauth","access_token":"t","token_url":"ftp://a/t"}`)),
		refused("add with a token_url without host", 400, codeInvalid,
			post(`{"name":"acct","type":"oauth","access_token":"t","token_url":"https:///t"}`)),
		refused("add with a relative token_url", 400, codeInvalid,
			post(`{"name":"acct","type":"oauth","access_token":"t","token_url":"/oauth/token"}`)),
		refused("add with both expiries", 400, codeInvalid,
			post(oauthBody(`,"expires_in":60,"expires_at":"2026-12-03T10:00:00Z"`))),
		refused("add with a non-RFC 3339 expiry", 400, codeInvalid,
			post(oauthBody(`,"expires_at":"03/12/2026"`))),
		refused("add with a negative expires_in", 400, codeInvalid,
			post(oauthBody(`,"expires_in":-5`))),
		refused("add with a huge expires_in", 400, codeInvalid,
			post(oauthBody(`,"expires_in":999999999999`))),
		{
			name: "a type error names the JSON field", req: post(oauthBody(`,"expires_in":true`)),
			status: 400, code: codeInvalidJSON, check: wantMessage(`field "expires_in" must be`),
		},
		refused("add with expires_in as a string", 400, codeInvalidJSON,
			post(oauthBody(`,"expires_in":"3600"`))),
		refused("add with a static value", 400, codeInvalid, post(oauthBody(`,"value":"x"`))),
		refused("add with a newline in the refresh token", 400, codeInvalid,
			post(oauthBody(`,"refresh_token":"a\nb"`))),
		refused("add with a taken name", 409, codeConflict,
			post(`{"name":"openai","type":"oauth","access_token":"t",`+
				`"token_url":"https://a.example/t"}`)),
		{
			name: "list shows oauth details without tokens", req: req("GET", credsPath, ""),
			setup: withPool, status: http.StatusOK,
			check: func(t *testing.T, _ *testEnv, rec *httptest.ResponseRecorder) {
				var got []map[string]any
				decodeBody(t, rec, &got)
				for _, c := range got {
					if c["name"] != "a" {
						continue
					}
					if c["type"] != "oauth" || c["pool"] != "codex" ||
						c["has_refresh_token"] != true || c["token_url"] == nil {
						t.Fatalf("entry = %v, want oauth in pool codex with a refresh token", c)
					}
					return
				}
				t.Fatalf("list %v lacks credential a", got)
			},
		},
		{
			name: "update tokens adds an id token and account id", setup: withOAuth("a"),
			req: patch(`{"access_token":"` + testSecret + `-at2","id_token":"` + idToken +
				`","account_id":"ws_2","expires_in":60}`),
			status: http.StatusNoContent,
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				p, err := e.eng.Phantom("a")
				if err != nil || p.IDToken == "" || p.AccountID == "" {
					t.Fatalf("phantom = %+v, %v; want a phantom id token and account id", p, err)
				}
				if info := credentialInfo(t, e, "a"); info.ExpiresAt == nil {
					t.Fatal("expiry not stored")
				}
			},
		},
		{
			name: "update of only the expiry", setup: withOAuth("a"),
			req:    patch(`{"expires_at":"2027-01-01T00:00:00Z"}`),
			status: http.StatusNoContent,
		},
		{
			name: "update tokens of a pool member", setup: withPool,
			req:    patch(`{"refresh_token":"` + testSecret + `-rt2"}`),
			status: http.StatusNoContent,
		},
		refused("update an oauth credential with a value", 400, codeInvalid,
			patch(`{"value":"x"}`)),
		refused("update a static credential with tokens", 400, codeInvalid,
			req("PATCH", credsPath+"/openai", `{"access_token":"t"}`)),
		refused("update with nothing", 400, codeInvalid, patch(`{}`)),
		refused("update with empty tokens", 400, codeInvalid, patch(`{"access_token":""}`)),
		refused("update with value and tokens", 400, codeInvalid,
			patch(`{"value":"x","access_token":"t"}`)),
		refused("update with both expiries", 400, codeInvalid,
			patch(`{"expires_in":60,"expires_at":"2026-12-03T10:00:00Z"}`)),
		refused("update the token url", 400, codeInvalidJSON,
			patch(`{"token_url":"https://b.example/t"}`)),
		refused("update tokens of an unknown credential", 404, codeNotFound,
			req("PATCH", credsPath+"/nope", `{"access_token":"t"}`)),
		{
			name: "phantom of an oauth credential is a JWT and a refresh phantom",
			req:  req("GET", "/api/phantom/a", ""), setup: withOAuth("a"),
			status: http.StatusOK, check: wantOAuthPhantom("a", "oauth"),
		},
		{
			name: "phantom of a pool", req: req("GET", "/api/phantom/codex", ""),
			setup: withPool, status: http.StatusOK, check: wantOAuthPhantom("codex", "pool"),
		},
	}
	// Every PATCH case targets the credential "a"; give the refusals it.
	for i := range cases {
		if cases[i].setup == nil && strings.HasPrefix(cases[i].req.path, credsPath+"/a") {
			cases[i].setup = withOAuth("a")
		}
	}
	runCases(t, cases)
}

// idToken is a syntactically valid unsigned id token with the OpenAI
// claims shape; it holds testSecret so that a leak is noticed.
const idToken = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJzay1yZWFsLXNlY3JldC1kby1ub3QtbGVhayIsImh0" +
	"dHBzOi8vYXBpLm9wZW5haS5jb20vYXV0aCI6eyJjaGF0Z3B0X2FjY291bnRfaWQiOiJ3c18yIn19.c2ln"

// credentialInfo returns the engine's view of a credential.
func credentialInfo(t *testing.T, e *testEnv, name string) engine.CredentialInfo {
	t.Helper()
	for _, c := range e.eng.Credentials() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("credential %s not stored", name)
	return engine.CredentialInfo{}
}

// wantOAuthPhantom checks a phantom answer for an OAuth credential or pool.
func wantOAuthPhantom(name, kind string) func(*testing.T, *testEnv, *httptest.ResponseRecorder) {
	return func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
		var got engine.Phantom
		decodeBody(t, rec, &got)
		want, err := e.eng.Phantom(name)
		if err != nil {
			t.Fatal(err)
		}
		if got != want || got.Kind != kind || strings.Count(got.AccessToken, ".") != 2 ||
			got.RefreshToken == "" || got.Phantom != "" {
			t.Fatalf("phantom = %+v, want the engine's %s phantoms %+v", got, kind, want)
		}
	}
}
