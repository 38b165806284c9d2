package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkeyproxy/latchkey/engine"
)

func TestCredentialRoutes(t *testing.T) {
	long := strings.Repeat("a", engine.MaxNameLength+1)
	runCases(t, []apiCase{
		{
			name:   "list shows names and types but no values",
			req:    request{method: "GET", path: "/api/credentials"},
			status: http.StatusOK,
			check: func(t *testing.T, _ *testEnv, rec *httptest.ResponseRecorder) {
				var got []map[string]any
				decodeBody(t, rec, &got)
				if len(got) != 1 || got[0]["name"] != "openai" || got[0]["type"] != "static" {
					t.Fatalf("list = %v, want the one static credential openai", got)
				}
				for _, k := range []string{"created_at", "updated_at"} {
					if _, ok := got[0][k]; !ok {
						t.Errorf("list entry lacks %q: %v", k, got[0])
					}
				}
				if _, ok := got[0]["value"]; ok {
					t.Errorf("list entry has a value field: %v", got[0])
				}
			},
		},
		{
			name: "add static credential",
			req: req("POST", credsPath,
				`{"name":"anthropic","type":"static","value":"sk-ant-1"}`),
			status: http.StatusCreated,
			check:  wantCreated("anthropic"),
		},
		{
			name:   "add without type means static",
			req:    req("POST", credsPath, `{"name":"gh_1.x-y","value":"ghp_1"}`),
			status: http.StatusCreated,
			check:  wantCreated("gh_1.x-y"),
		},
		{
			name: "add with charset parameter",
			req: request{method: "POST", path: credsPath, body: `{"name":"b","value":"v"}`,
				header: map[string]string{"Content-Type": "application/json; charset=utf-8"}},
			status: http.StatusCreated,
			check:  wantCreated("b"),
		},
		refused("add taken name", 409, codeConflict,
			req("POST", credsPath, `{"name":"openai","value":"x"}`)),
		refused("add unknown type", 400, codeInvalid,
			req("POST", credsPath, `{"name":"o","type":"kerberos","value":"x"}`)),
		refused("add static with a token field", 400, codeInvalid,
			req("POST", credsPath, `{"name":"o","value":"x","access_token":"t"}`)),
		refused("add static with a token url", 400, codeInvalid,
			req("POST", credsPath, `{"name":"o","value":"x","token_url":"https://a.b/t"}`)),
		refused("add empty value", 400, codeInvalid,
			req("POST", credsPath, `{"name":"o","value":""}`)),
		refused("add missing value", 400, codeInvalid, req("POST", credsPath, `{"name":"o"}`)),
		refused("add value with newline", 400, codeInvalid,
			req("POST", credsPath, `{"name":"o","value":"a\nb"}`)),
		refused("add empty name", 400, codeInvalid,
			req("POST", credsPath, `{"name":"","value":"x"}`)),
		refused("add dot-dot name", 400, codeInvalid,
			req("POST", credsPath, `{"name":"../x","value":"x"}`)),
		refused("add 65-character name", 400, codeInvalid,
			req("POST", credsPath, `{"name":"`+long+`","value":"x"}`)),
		refused("add markup name", 400, codeInvalid,
			req("POST", credsPath, `{"name":"<b>","value":"x"}`)),
		refused("add name with space", 400, codeInvalid,
			req("POST", credsPath, `{"name":"a b","value":"x"}`)),
		{
			name:   "update value",
			req:    req("PATCH", "/api/credentials/openai", `{"value":"sk-new"}`),
			status: http.StatusNoContent,
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				if rec.Body.Len() != 0 {
					t.Errorf("204 has a body: %q", rec.Body)
				}
			},
		},
		refused("update unknown", 404, codeNotFound,
			req("PATCH", "/api/credentials/nope", `{"value":"x"}`)),
		refused("update empty value", 400, codeInvalid,
			req("PATCH", "/api/credentials/openai", `{"value":""}`)),
		refused("update hostile name", 400, codeInvalid,
			req("PATCH", "/api/credentials/%3Cb%3E", `{"value":"x"}`)),
		refused("update escaped dot-dot name", 400, codeInvalid,
			req("PATCH", "/api/credentials/..%2Fx", `{"value":"x"}`)),
		refused("update unknown field", 400, codeInvalidJSON,
			req("PATCH", "/api/credentials/openai", `{"value":"x","name":"y"}`)),
		{
			name:   "remove unbound",
			req:    request{method: "DELETE", path: "/api/credentials/spare"},
			setup:  withCredential("spare"),
			status: http.StatusNoContent,
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				for _, c := range e.eng.Credentials() {
					if c.Name == "spare" {
						t.Fatal("credential still listed after removal")
					}
				}
			},
		},
		refused("remove unknown", 404, codeNotFound, req("DELETE", "/api/credentials/nope", "")),
		refused("remove 65-character name", 400, codeInvalid,
			req("DELETE", "/api/credentials/"+long, "")),
		{
			name:   "remove bound lists the bindings",
			req:    request{method: "DELETE", path: "/api/credentials/openai"},
			status: http.StatusConflict,
			code:   codeReferenced,
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				var got struct {
					Bindings []bindingRef `json:"bindings"`
				}
				decodeBody(t, rec, &got)
				b := e.eng.Bindings()[0]
				want := bindingRef{ID: b.ID, Destination: "api.openai.com"}
				if len(got.Bindings) != 1 || got.Bindings[0] != want {
					t.Fatalf("bindings = %+v, want [%+v]", got.Bindings, want)
				}
			},
		},
	})
}

// TestListCredentialsEmpty checks that an empty list is [] and not null.
func TestListCredentialsEmpty(t *testing.T) {
	e := newTestEnv(t)
	for _, path := range []string{"/api/credentials", "/api/bindings"} {
		rec := e.do(t, request{method: "GET", path: path})
		if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "[]" {
			t.Errorf("GET %s = %d %q, want 200 []", path, rec.Code, rec.Body)
		}
	}
}

// wantCreated checks a 201 answer to POST /api/credentials.
func wantCreated(name string) func(*testing.T, *testEnv, *httptest.ResponseRecorder) {
	return func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
		var got map[string]any
		decodeBody(t, rec, &got)
		if len(got) != 2 || got["name"] != name || got["type"] != "static" {
			t.Fatalf("body = %v, want exactly name %q and type static", got, name)
		}
		found := false
		for _, c := range e.eng.Credentials() {
			found = found || c.Name == name
		}
		if !found {
			t.Fatalf("credential %q was not stored", name)
		}
	}
}

// withCredential returns a setup step adding a static credential.
func withCredential(name string) func(*testing.T, *testEnv) {
	return func(t *testing.T, e *testEnv) {
		if _, err := e.eng.AddStaticCredential(name, "spare-secret"); err != nil {
			t.Fatal(err)
		}
	}
}
