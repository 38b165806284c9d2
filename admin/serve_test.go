package admin

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

func TestAuthorization(t *testing.T) {
	get := req("GET", credsPath, "")
	cases := []apiCase{
		{name: "missing token", req: authAs(get, "")},
		{name: "wrong token", req: authAs(get, "Bearer wrong")},
		{name: "token prefix", req: authAs(get, "Bearer "+testToken[:8])},
		{name: "basic scheme", req: authAs(get, "Basic "+testToken)},
		{name: "bare token", req: authAs(get, testToken)},
		{name: "empty bearer", req: authAs(get, "Bearer ")},
		{name: "write without token",
			req: authAs(req("POST", credsPath, `{"name":"new","value":"v"}`), "")},
		{name: "remove with wrong token",
			req: authAs(req("DELETE", "/api/credentials/openai", ""), "Bearer x")},
		{name: "phantom without token", req: authAs(req("GET", "/api/phantom/openai", ""), "")},
		{name: "wrong method without token is still 401",
			req: authAs(req("PUT", bindsPath, ""), "")},
	}
	for i := range cases {
		cases[i].status = http.StatusUnauthorized
		cases[i].code = codeUnauthorized
		cases[i].check = func(t *testing.T, _ *testEnv, rec *httptest.ResponseRecorder) {
			if got := rec.Header().Get("WWW-Authenticate"); got != "Bearer" {
				t.Errorf("WWW-Authenticate = %q, want Bearer", got)
			}
			if got := rec.Header().Get("Allow"); got != "" {
				t.Errorf("an unauthorized caller was told the methods: Allow %q", got)
			}
		}
	}
	cases = append(cases, apiCase{
		name:   "scheme is case-insensitive",
		req:    authAs(get, "bearer "+testToken),
		status: http.StatusOK,
	})
	runCases(t, cases)
}

func TestMethodNotAllowed(t *testing.T) {
	cases := []struct {
		method, path, allow string
	}{
		{"PUT", "/api/credentials", "GET, POST"},
		{"DELETE", "/api/credentials", "GET, POST"},
		{"GET", "/api/credentials/openai", "DELETE, PATCH"},
		{"POST", "/api/credentials/openai", "DELETE, PATCH"},
		{"PATCH", "/api/bindings", "GET, POST"},
		{"GET", "/api/bindings/bnd_1", "DELETE"},
		{"POST", "/api/phantom/openai", "GET"},
		{"DELETE", "/api/phantom/openai", "GET"},
		{"PUT", "/api/pools", "GET, POST"},
		{"PATCH", "/api/pools/codex", "DELETE, GET"},
		{"GET", "/api/pools/codex/rotate", "POST"},
		{"DELETE", "/api/pools/codex/reset", "POST"},
		{"POST", "/api/openapi.yaml", "GET"},
	}
	var table []apiCase
	for _, c := range cases {
		allow := c.allow
		table = append(table, apiCase{
			name:   c.method + " " + c.path,
			req:    request{method: c.method, path: c.path, body: `{"value":"x"}`},
			status: http.StatusMethodNotAllowed,
			code:   codeMethodNotAllowed,
			check: func(t *testing.T, _ *testEnv, rec *httptest.ResponseRecorder) {
				if got := rec.Header().Get("Allow"); got != allow {
					t.Errorf("Allow = %q, want %q", got, allow)
				}
			},
		})
	}
	runCases(t, table)
}

func TestRequestBodies(t *testing.T) {
	huge := `{"name":"big","value":"` + strings.Repeat("a", maxBodyBytes) + `"}`
	post := func(body string) request { return req("POST", credsPath, body) }
	withHeader := func(k, v string) request {
		rq := post(`{"name":"x","value":"v"}`)
		rq.header = map[string]string{k: v}
		return rq
	}
	chunked := post(huge)
	chunked.chunked = true

	runCases(t, []apiCase{
		refused("over 1 MiB", 413, codeTooLarge, post(huge)),
		refused("over 1 MiB without length", 413, codeTooLarge, chunked),
		refused("patch over 1 MiB", 413, codeTooLarge,
			req("PATCH", "/api/credentials/openai", huge)),
		refused("binding over 1 MiB", 413, codeTooLarge, req("POST", bindsPath, huge)),
		refused("empty body", 400, codeInvalidJSON, post("")),
		refused("whitespace body", 400, codeInvalidJSON, post(" \n\t")),
		refused("truncated", 400, codeInvalidJSON, post(`{"name":"x","value":"v"`)),
		refused("syntax error", 400, codeInvalidJSON, post(`{"name":"x" "value":"v"}`)),
		refused("array", 400, codeInvalidJSON, post(`[{"name":"x","value":"v"}]`)),
		refused("string", 400, codeInvalidJSON, post(`"x"`)),
		refused("null", 400, codeInvalidJSON, post(`null`)),
		refused("unknown field", 400, codeInvalidJSON,
			post(`{"name":"x","value":"v","secret":"s"}`)),
		refused("trailing object", 400, codeInvalidJSON, post(`{"name":"x","value":"v"}{}`)),
		refused("trailing garbage", 400, codeInvalidJSON, post(`{"name":"x","value":"v"} x`)),
		refused("wrong field type", 400, codeInvalidJSON, post(`{"name":1,"value":"v"}`)),
		refused("invalid UTF-8", 400, codeInvalidJSON,
			post("{\"name\":\"x\",\"value\":\"\xff\xfe\"}")),
		refused("form content type", 400, codeInvalidJSON,
			withHeader("Content-Type", "application/x-www-form-urlencoded")),
		refused("latin-1 charset", 400, codeInvalidJSON,
			withHeader("Content-Type", "application/json; charset=iso-8859-1")),
		refused("compressed", 400, codeInvalidJSON, withHeader("Content-Encoding", "gzip")),
		{
			name:   "message names the unknown field",
			req:    post(`{"name":"x","value":"v","colour":1}`),
			status: 400, code: codeInvalidJSON,
			check: wantMessage(`unknown field "colour"`),
		},
		{
			name:   "message does not echo a value",
			req:    post(`{"name":"x","value":"sk-` + "\x01" + `"}`),
			status: 400, code: codeInvalidJSON,
			check: func(t *testing.T, _ *testEnv, rec *httptest.ResponseRecorder) {
				if strings.Contains(rec.Body.String(), "\\u0001") {
					t.Fatalf("error echoes the value: %s", rec.Body)
				}
			},
		},
	})
}

func TestUnavailable(t *testing.T) {
	e := newTestEnv(t)
	e.api.lookup = func() (backend, error) { return nil, errDown }
	e.mux = newMux(t, e.api)

	rec := e.do(t, request{method: "GET", path: "/api/credentials"})
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503", rec.Code)
	}
	checkErrorBody(t, rec, codeUnavailable)
}

// TestEmptyAppTokenRefusesAll checks that an app without a token fails
// closed rather than accepting an empty bearer.
func TestEmptyAppTokenRefusesAll(t *testing.T) {
	e := newTestEnv(t)
	e.api.lookup = func() (backend, error) { return fakeBackend{eng: e.eng}, nil }
	e.mux = newMux(t, e.api)

	for _, auth := range []string{"Bearer ", "Bearer x"} {
		rec := e.do(t, request{method: "GET", path: "/api/credentials", auth: auth})
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("auth %q: status = %d, want 401", auth, rec.Code)
		}
	}
}

// TestInternalError checks that a store failure is a 500 with a generic
// message and a log line that holds the cause but not the secret.
func TestInternalError(t *testing.T) {
	e := newTestEnv(t)
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}

	rec := e.do(t, request{method: "POST", path: "/api/credentials",
		body: `{"name":"x","value":"` + testSecret + `"}`})
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500; body %s", rec.Code, rec.Body)
	}
	checkErrorBody(t, rec, codeInternal)
	if body := rec.Body.String(); strings.Contains(body, "DB") ||
		!strings.Contains(body, "internal error") {
		t.Errorf("body = %s, want only \"internal error\"", rec.Body)
	}

	logged := e.logs.FilterMessage("api request failed").All()
	if len(logged) != 1 || logged[0].ContextMap()["error"] == nil {
		t.Fatalf("want one error log with the cause, got %v", e.logs.All())
	}
	for _, entry := range e.logs.All() {
		for k, v := range entry.ContextMap() {
			if s, ok := v.(string); ok && strings.Contains(s, testSecret) {
				t.Errorf("log field %s holds the secret", k)
			}
		}
	}
}

func TestRoutePatterns(t *testing.T) {
	var got []string
	for _, rt := range (&API{}).Routes() {
		got = append(got, rt.Pattern)
	}
	want := []string{"/api/credentials", "/api/credentials/{name}", "/api/bindings",
		"/api/bindings/{id}", "/api/phantom/{name}", "/api/pools", "/api/pools/{name}",
		"/api/pools/{name}/rotate", "/api/pools/{name}/reset", "/api/status", "/api/openapi.yaml"}
	if !slices.Equal(got, want) {
		t.Fatalf("patterns = %q, want %q", got, want)
	}

	// Caddy mounts these next to its own routes; a clash would panic.
	mux := http.NewServeMux()
	for _, p := range append(got, "/config/", "/id/", "/load", "/pki/", "/{params...}") {
		mux.Handle(p, http.NotFoundHandler())
	}
}

func TestModuleInfo(t *testing.T) {
	info := API{}.CaddyModule()
	if info.ID != "admin.api.latchkey" {
		t.Fatalf("module ID = %q", info.ID)
	}
	if _, ok := info.New().(caddy.AdminRouter); !ok {
		t.Fatal("new module is not an AdminRouter")
	}
}

// wantMessage checks that the error message contains s.
func wantMessage(s string) func(*testing.T, *testEnv, *httptest.ResponseRecorder) {
	return func(t *testing.T, _ *testEnv, rec *httptest.ResponseRecorder) {
		var body errorBody
		decodeBody(t, rec, &body)
		if !strings.Contains(body.Error, s) {
			t.Errorf("error %q does not contain %q", body.Error, s)
		}
	}
}

// authAs sets the request's Authorization header; empty sends none.
func authAs(rq request, auth string) request {
	rq.auth, rq.omitAuth = auth, auth == ""
	return rq
}
