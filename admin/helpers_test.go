package admin

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/latchkeyproxy/latchkey/engine"
	"github.com/latchkeyproxy/latchkey/store"
)

const (
	testToken  = "0123456789abcdef0123456789abcdef"
	testSecret = "sk-real-secret-do-not-leak"
)

// fakeBackend stands in for the latchkey app.
type fakeBackend struct {
	eng   *engine.Engine
	token string
}

func (b fakeBackend) Engine() *engine.Engine { return b.eng }
func (b fakeBackend) APIToken() string       { return b.token }

// testEnv is a real engine over a real store, served through the API's
// routes on a mux registered the way Caddy registers them.
type testEnv struct {
	db   *store.DB
	eng  *engine.Engine
	api  *API
	mux  *http.ServeMux
	logs *observer.ObservedLogs
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	db, err := store.Open(store.Options{Dir: t.TempDir(), EncryptionKey: make([]byte, 32)})
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	eng, err := engine.New(db, zap.NewNop())
	if err != nil {
		t.Fatalf("creating engine: %v", err)
	}

	core, logs := observer.New(zap.DebugLevel)
	env := &testEnv{db: db, eng: eng, logs: logs}
	env.api = &API{
		lookup: func() (backend, error) { return fakeBackend{eng: eng, token: testToken}, nil },
		logger: zap.New(core),
	}
	env.mux = newMux(t, env.api)
	return env
}

// newMux registers the API's routes like Caddy's admin server does: a
// handler's returned error would be rendered by Caddy, so here it fails the
// test, because the API renders all of its errors itself.
func newMux(t *testing.T, api *API) *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range api.Routes() {
		h := rt.Handler
		mux.HandleFunc(rt.Pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := h.ServeHTTP(w, r); err != nil {
				t.Errorf("handler returned an error for Caddy to render: %v", err)
			}
		})
	}
	return mux
}

// seed adds the credential "openai" bound to api.openai.com and returns the
// binding.
func (e *testEnv) seed(t *testing.T) engine.Binding {
	t.Helper()
	if _, err := e.eng.AddStaticCredential("openai", testSecret); err != nil {
		t.Fatalf("adding credential: %v", err)
	}
	b, err := e.eng.AddBinding(engine.BindingSpec{Credential: "openai",
		Destination: "api.openai.com", Ports: []int{443}})
	if err != nil {
		t.Fatalf("adding binding: %v", err)
	}
	return b
}

// state renders everything the API can change, to compare before and
// after a request.
func (e *testEnv) state(t *testing.T) string {
	t.Helper()
	var statuses []engine.PoolStatus
	for _, p := range e.eng.Pools() {
		st, err := e.eng.PoolStatus(p.Name)
		if err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, st)
	}
	out, err := json.Marshal(map[string]any{
		"credentials": e.eng.Credentials(),
		"bindings":    e.eng.Bindings(),
		"pools":       e.eng.Pools(),
		"statuses":    statuses,
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// request describes one call to the API.
type request struct {
	method string
	path   string
	body   string

	// auth is the Authorization header; empty means the valid token and
	// omitAuth sends none at all.
	auth     string
	omitAuth bool

	// header holds extra request headers.
	header map[string]string

	// chunked hides the body's length, as a streaming client would.
	chunked bool
}

func (e *testEnv) do(t *testing.T, rq request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, newRequest(rq))
	return rec
}

// newRequest builds the HTTP request rq describes.
func newRequest(rq request) *http.Request {
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	req := httptest.NewRequest(rq.method, rq.path, body)
	switch {
	case rq.omitAuth:
	case rq.auth != "":
		req.Header.Set("Authorization", rq.auth)
	default:
		req.Header.Set("Authorization", "Bearer "+testToken)
	}
	if rq.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range rq.header {
		req.Header.Set(k, v)
	}
	if rq.chunked {
		req.ContentLength = -1
		req.Body = io.NopCloser(onlyReader{strings.NewReader(rq.body)})
	}
	return req
}

// onlyReader hides every method but Read.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// apiCase is one row of a route table test.
type apiCase struct {
	name string
	req  request

	// setup runs after seeding, before the request.
	setup func(t *testing.T, e *testEnv)

	// path, when set, builds the request path from the seeded binding.
	path func(b engine.Binding) string

	status int

	// code is the expected error code; empty for a success.
	code string

	// check inspects a response further.
	check func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder)
}

// runCases runs each case against a freshly seeded engine. For every error
// it checks the error shape and that the state did not change; for every
// response, that the real secret is not in it.
func runCases(t *testing.T, cases []apiCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			b := e.seed(t)
			if tc.setup != nil {
				tc.setup(t, e)
			}
			rq := tc.req
			if tc.path != nil {
				rq.path = tc.path(b)
			}

			before := e.state(t)
			rec := e.do(t, rq)
			if rec.Code != tc.status {
				t.Fatalf("%s %s: status = %d, want %d; body %s", rq.method, rq.path,
					rec.Code, tc.status, rec.Body)
			}
			if strings.Contains(rec.Body.String(), testSecret) {
				t.Fatalf("response contains the real secret: %s", rec.Body)
			}
			if tc.code != "" {
				t.Logf("%d %s", rec.Code, strings.TrimSpace(rec.Body.String()))
				checkErrorBody(t, rec, tc.code)
				if after := e.state(t); after != before {
					t.Fatalf("rejected request changed state:\nbefore %s\nafter  %s",
						before, after)
				}
			}
			if tc.check != nil {
				tc.check(t, e, rec)
			}
		})
	}
}

// checkErrorBody asserts the JSON error shape and its code.
func checkErrorBody(t *testing.T, rec *httptest.ResponseRecorder, code string) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var body struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body is not JSON: %v", err)
	}
	if body.Code != code {
		t.Errorf("code = %q, want %q (error %q)", body.Code, code, body.Error)
	}
	if body.Error == "" || strings.ContainsAny(body.Error, "\r\n") {
		t.Errorf("error message %q must be one non-empty line", body.Error)
	}
}

// decodeBody decodes a JSON response body into v.
func decodeBody(t *testing.T, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("response %q is not the expected JSON: %v", rec.Body, err)
	}
}

// errDown is what a broken app lookup reports.
var errDown = errors.New("not configured")

// Paths used by many cases.
const (
	credsPath = "/api/credentials"
	bindsPath = "/api/bindings"
)

// req is a request with the valid token.
func req(method, path, body string) request {
	return request{method: method, path: path, body: body}
}

// refused is a case the API must reject with status and code, changing
// nothing.
func refused(name string, status int, code string, rq request) apiCase {
	return apiCase{name: name, req: rq, status: status, code: code}
}
