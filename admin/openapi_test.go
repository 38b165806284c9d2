package admin

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// conformanceCase is one request of the OpenAPI conformance walk.
type conformanceCase struct {
	name   string
	setup  func(*testing.T, *testEnv)
	req    request
	status int

	// badRequest says the request breaks the document (a hostile name, a
	// malformed body, no token), so the validator must refuse it too:
	// the document and the handlers agree on what is bad input.
	badRequest bool

	// storeDown closes the store before the request.
	storeDown bool

	// appDown makes the app lookup fail.
	appDown bool

	// pathFor, when set, builds the request path after the setup, for
	// paths that hold a random id.
	pathFor func(e *testEnv) string
}

// statusKey identifies one documented answer: "METHOD /pattern STATUS".
type statusKey string

func keyOf(method, pattern string, status int) statusKey {
	return statusKey(method + " " + pattern + " " + strconv.Itoa(status))
}

// unreachableStatuses are documented answers no test can provoke, with the
// reason. Everything else the document declares must be exercised.
var unreachableStatuses = map[statusKey]string{
	keyOf("GET", "/api/credentials", 500):  "reads come from memory",
	keyOf("GET", "/api/bindings", 500):     "reads come from memory",
	keyOf("GET", "/api/pools", 500):        "reads come from memory",
	keyOf("GET", "/api/pools/{name}", 500): "reads come from memory",
	keyOf("GET", "/api/phantom/{name}", 500): "only an id token that is not a JWT " +
		"could make it fail, and the engine refuses to store those",
	keyOf("GET", "/api/status", 500): "reads come from memory",
}

// TestHandlersConformToOpenAPI walks every route, each success and each
// error status, against a real engine, and validates every request and
// response against admin/openapi.yaml: a status, field or type that the
// document does not declare fails the test, and so does a declared answer
// that no case produces.
func TestHandlersConformToOpenAPI(t *testing.T) {
	doc := loadOpenAPI(t)
	covered := map[statusKey]bool{}
	for _, tc := range append(conformanceCases(), genericCases(t, doc)...) {
		t.Run(tc.name, func(t *testing.T) {
			pattern := checkConformance(t, doc, tc)
			covered[keyOf(tc.req.method, pattern, tc.status)] = true
		})
	}

	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for code := range op.Responses.Map() {
				status, _ := strconv.Atoi(code)
				key := keyOf(method, path, status)
				if !covered[key] && unreachableStatuses[key] == "" {
					t.Errorf("%s is documented but no case produced it", key)
				}
			}
		}
	}
}

// checkConformance runs one case and validates its request and response.
// It returns the documented path pattern the request matched.
func checkConformance(t *testing.T, doc *openapi3.T, tc conformanceCase) string {
	e := newTestEnv(t)
	e.seed(t)
	if tc.setup != nil {
		tc.setup(t, e)
	}
	if tc.storeDown {
		if err := e.db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if tc.appDown {
		e.api.lookup = func() (backend, error) { return nil, errDown }
	}
	if tc.pathFor != nil {
		tc.req.path = tc.pathFor(e)
	}

	// The validator reads the body, so it gets its own copy.
	route, params := findRoute(t, doc, tc.req)
	input := &openapi3filter.RequestValidationInput{Request: newRequest(tc.req),
		PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: checkBearer}}
	err := openapi3filter.ValidateRequest(context.Background(), input)
	switch {
	case tc.badRequest && err == nil:
		t.Errorf("the document accepts %s %s %s, which the case calls bad input",
			tc.req.method, tc.req.path, short(tc.req.body))
	case !tc.badRequest && err != nil:
		t.Errorf("the document refuses the request: %v", err)
	}

	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, newRequest(tc.req))
	if rec.Code != tc.status {
		t.Fatalf("%s %s: status = %d, want %d; body %s", tc.req.method, tc.req.path,
			rec.Code, tc.status, rec.Body)
	}
	resp := &openapi3filter.ResponseValidationInput{RequestValidationInput: input,
		Status: rec.Code, Header: rec.Header(),
		Body:    io.NopCloser(bytes.NewReader(rec.Body.Bytes())),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), resp); err != nil {
		t.Errorf("%d answer does not match the document: %v\nbody %s", rec.Code, err, rec.Body)
	}
	return route.Path
}

// checkBearer is the document's security scheme: the test token.
func checkBearer(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.RequestValidationInput.Request.Header.Get("Authorization") != "Bearer "+testToken {
		return errors.New("no valid bearer token")
	}
	return nil
}

// loadOpenAPI parses and validates the embedded document.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openAPIDocument)
	if err != nil {
		t.Fatalf("parsing openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

// findRoute matches a request against the document's paths segment by
// segment, as the server's mux does: an escaped slash stays inside its
// segment, so a hostile name still reaches its route and its parameter
// schema.
func findRoute(t *testing.T, doc *openapi3.T, rq request) (*routers.Route, map[string]string) {
	t.Helper()
	u, err := url.Parse(rq.path)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(u.EscapedPath(), "/")
	for path, item := range doc.Paths.Map() {
		want := strings.Split(path, "/")
		if len(want) != len(got) {
			continue
		}
		params := map[string]string{}
		for i, seg := range want {
			if name, ok := strings.CutPrefix(seg, "{"); ok {
				params[strings.TrimSuffix(name, "}")], _ = url.PathUnescape(got[i])
			} else if seg != got[i] {
				params = nil
				break
			}
		}
		if params == nil {
			continue
		}
		op := item.GetOperation(rq.method)
		if op == nil {
			t.Fatalf("the document has no %s %s", rq.method, path)
		}
		return &routers.Route{Spec: doc, Path: path, PathItem: item, Method: rq.method,
			Operation: op}, params
	}
	t.Fatalf("the document has no path for %s", rq.path)
	return nil, nil
}

// genericCases are the answers every operation gives the same way: 401
// without the token and 503 without the app, plus 413 for every body and
// 500 for every write when the store fails.
func genericCases(t *testing.T, doc *openapi3.T) []conformanceCase {
	t.Helper()
	huge := `{"name":"x","value":"` + strings.Repeat("a", maxBodyBytes) + `"}`
	var out []conformanceCase
	for path, item := range doc.Paths.Map() {
		concrete := strings.NewReplacer("{name}", "codex", "{id}", "bnd_x").Replace(path)
		for method, op := range item.Operations() {
			rq := req(method, concrete, validBodies[method+" "+path])
			name := method + " " + path
			out = append(out,
				conformanceCase{name: name + " without a token", req: authAs(rq, ""),
					status: 401, badRequest: true},
				conformanceCase{name: name + " without the app", req: rq, status: 503,
					appDown: true},
			)
			if op.RequestBody != nil {
				out = append(out, conformanceCase{name: name + " over 1 MiB",
					req: req(method, concrete, huge), status: 413, badRequest: true})
			}
			if op.Responses.Status(500) != nil && method != http.MethodGet {
				out = append(out, conformanceCase{name: name + " with the store down",
					req: rq, status: 500, setup: withPool, storeDown: true})
			}
		}
	}
	slices.SortFunc(out, func(a, b conformanceCase) int { return strings.Compare(a.name, b.name) })
	return out
}

// validBodies are valid bodies for the operations that need one, so that
// only the failure a generic case injects can make them fail.
var validBodies = map[string]string{
	"POST /api/credentials":         `{"name":"x","value":"v"}`,
	"PATCH /api/credentials/{name}": `{"value":"v"}`,
	"POST /api/bindings":            `{"credential":"openai","destination":"a.example"}`,
	"POST /api/pools":               `{"name":"x","members":["c"]}`,
}

func short(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// conformanceCases are the successes and the specific errors of every
// route.
func conformanceCases() []conformanceCase {
	ok := func(name string, rq request, status int,
		setup func(*testing.T, *testEnv)) conformanceCase {
		return conformanceCase{name: name, req: rq, status: status, setup: setup}
	}
	bad := func(name string, rq request, status int) conformanceCase {
		return conformanceCase{name: name, req: rq, status: status, badRequest: true,
			setup: withPool}
	}
	refusedOK := func(name string, rq request, status int) conformanceCase {
		return conformanceCase{name: name, req: rq, status: status, setup: withPool}
	}
	withExpiry := func(t *testing.T, e *testEnv) {
		withPool(t, e)
		rq := req("PATCH", credsPath+"/a", `{"expires_in":3600,"id_token":"`+idToken+
			`","account_id":"ws_1"}`)
		if rec := e.do(t, rq); rec.Code != http.StatusNoContent {
			t.Fatalf("setting an expiry: %d %s", rec.Code, rec.Body)
		}
	}
	return []conformanceCase{
		ok("list credentials", req("GET", credsPath, ""), 200, withExpiry),
		ok("add static", req("POST", credsPath, `{"name":"s2","value":"v"}`), 201, nil),
		ok("add oauth", req("POST", credsPath, oauthBody(`,"refresh_token":"r",`+
			`"expires_at":"2026-12-03T10:00:00Z","account_id":"ws"`)), 201, nil),
		bad("add malformed", req("POST", credsPath, `{"name":`), 400),
		bad("add with a hostile name", req("POST", credsPath, `{"name":"<b>","value":"v"}`), 400),
		refusedOK("add with an ftp token url", req("POST", credsPath,
			`{"name":"o","type":"oauth","access_token":"t","token_url":"ftp://a/t"}`), 400),
		refusedOK("add a taken name", req("POST", credsPath, `{"name":"openai","value":"v"}`),
			409),
		ok("update static", req("PATCH", credsPath+"/openai", `{"value":"v2"}`), 204, nil),
		ok("update oauth", req("PATCH", credsPath+"/a", `{"access_token":"t2"}`), 204,
			withPool),
		refusedOK("update oauth with a value", req("PATCH", credsPath+"/a", `{"value":"v"}`),
			400),
		refusedOK("update unknown", req("PATCH", credsPath+"/nope", `{"value":"v"}`), 404),
		ok("remove credential", req("DELETE", credsPath+"/c", ""), 204, withPool),
		bad("remove hostile name", req("DELETE", credsPath+"/%3Cb%3E", ""), 400),
		refusedOK("remove unknown credential", req("DELETE", credsPath+"/nope", ""), 404),
		refusedOK("remove bound credential", req("DELETE", credsPath+"/openai", ""), 409),
		refusedOK("remove pool member", req("DELETE", credsPath+"/a", ""), 409),

		ok("list bindings", req("GET", bindsPath, ""), 200, nil),
		ok("add binding", req("POST", bindsPath,
			`{"credential":"openai","destination":"*.openai.com","ports":[443]}`), 201, nil),
		refusedOK("add binding of unknown credential", req("POST", bindsPath,
			`{"credential":"nope","destination":"a.example"}`), 400),
		{name: "remove binding", req: req("DELETE", "", ""), status: 204,
			pathFor: seededBindingPath},
		refusedOK("remove unknown binding", req("DELETE", bindsPath+"/bnd_nope", ""), 404),

		ok("phantom of static", req("GET", "/api/phantom/openai", ""), 200, nil),
		ok("phantom of oauth", req("GET", "/api/phantom/a", ""), 200, withExpiry),
		ok("phantom of pool", req("GET", "/api/phantom/codex", ""), 200, withExpiry),
		bad("phantom of hostile name", req("GET", "/api/phantom/a%20b", ""), 400),
		refusedOK("phantom of unknown", req("GET", "/api/phantom/nope", ""), 404),

		ok("list pools", req("GET", poolsPath, ""), 200, withPool),
		ok("list no pools", req("GET", poolsPath, ""), 200, nil),
		ok("create pool", req("POST", poolsPath, `{"name":"claude","members":["c"]}`), 201,
			withPool),
		refusedOK("create with unknown member", req("POST", poolsPath,
			`{"name":"x","members":["zz"]}`), 400),
		bad("create with no members", req("POST", poolsPath, `{"name":"x","members":[]}`), 400),
		bad("create with bad strategy", req("POST", poolsPath,
			`{"name":"x","members":["c"],"strategy":"random"}`), 400),
		refusedOK("create with taken name", req("POST", poolsPath,
			`{"name":"openai","members":["c"]}`), 409),
		refusedOK("create with pooled member", req("POST", poolsPath,
			`{"name":"x","members":["a"]}`), 409),
		ok("pool status with a cooldown", req("GET", poolsPath+"/codex", ""), 200,
			then(withPool, rotated)),
		bad("pool status of hostile name", req("GET", poolsPath+"/%3Cb%3E", ""), 400),
		refusedOK("pool status of unknown", req("GET", poolsPath+"/nope", ""), 404),
		ok("remove pool", req("DELETE", poolsPath+"/codex", ""), 204, withPool),
		bad("remove pool of hostile name", req("DELETE", poolsPath+"/..%2Fx", ""), 400),
		refusedOK("remove unknown pool", req("DELETE", poolsPath+"/nope", ""), 404),
		ok("remove bound pool", req("DELETE", poolsPath+"/codex", ""), 409,
			then(withPool, boundPool)),
		ok("rotate", req("POST", poolsPath+"/codex/rotate", ""), 200, withPool),
		ok("rotate with empty object", req("POST", poolsPath+"/codex/rotate", `{}`), 200,
			withPool),
		bad("rotate with a field", req("POST", poolsPath+"/codex/rotate", `{"to":"b"}`), 400),
		refusedOK("rotate unknown", req("POST", poolsPath+"/nope/rotate", ""), 404),
		ok("rotate losing a race", req("POST", poolsPath+"/codex/rotate", ""), 409,
			then(withPool, losingRace)),
		ok("reset", req("POST", poolsPath+"/codex/reset", ""), 200, then(withPool, rotated)),
		ok("reset one member", req("POST", poolsPath+"/codex/reset", `{"member":"a"}`), 200,
			then(withPool, rotated)),
		refusedOK("reset non-member", req("POST", poolsPath+"/codex/reset",
			`{"member":"c"}`), 400),
		refusedOK("reset unknown", req("POST", poolsPath+"/nope/reset", ""), 404),

		ok("openapi document", req("GET", "/api/openapi.yaml", ""), 200, nil),
		ok("status", req("GET", "/api/status", ""), 200, nil),
	}
}

// seededBindingPath is the path of the binding every case is seeded with.
func seededBindingPath(e *testEnv) string {
	return bindsPath + "/" + e.eng.Bindings()[0].ID
}

// TestOpenAPIValidationCatchesDrift checks that the conformance walk would
// fail on a handler that drifts from the document: an undeclared status,
// a wrong type, an undeclared field, a missing field or an unknown code.
func TestOpenAPIValidationCatchesDrift(t *testing.T) {
	doc := loadOpenAPI(t)
	cases := []struct {
		name   string
		rq     request
		status int
		body   string
	}{
		{"undeclared status", req("GET", poolsPath, ""), http.StatusTeapot, `[]`},
		{"wrong field type", req("GET", poolsPath+"/codex", ""), 200,
			`{"name":"codex","strategy":"failover","active":1,"members":[]}`},
		{"undeclared field", req("POST", poolsPath, `{"name":"p","members":["a"]}`), 201,
			`{"name":"p","strategy":"failover","created_at":"2026-12-03T10:00:00Z",` +
				`"members":[],"epoch":1}`},
		{"missing field", req("POST", poolsPath+"/codex/rotate", ""), 200,
			`{"pool":"codex","from":"a","to":"b"}`},
		{"bad timestamp", req("POST", poolsPath+"/codex/rotate", ""), 200,
			`{"pool":"codex","from":"a","to":"b","parked_until":"tomorrow"}`},
		{"unknown error code", req("GET", poolsPath+"/nope", ""), 404,
			`{"error":"no pool","code":"missing"}`},
		{"referenced without bindings", req("DELETE", poolsPath+"/codex", ""), 409,
			`{"error":"in use","code":"referenced"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			route, params := findRoute(t, doc, tc.rq)
			in := &openapi3filter.RequestValidationInput{Request: newRequest(tc.rq),
				PathParams: params, Route: route}
			header := http.Header{"Content-Type": {"application/json"}}
			resp := &openapi3filter.ResponseValidationInput{RequestValidationInput: in,
				Status: tc.status, Header: header,
				Body:    io.NopCloser(strings.NewReader(tc.body)),
				Options: &openapi3filter.Options{IncludeResponseStatus: true}}
			if err := openapi3filter.ValidateResponse(context.Background(), resp); err == nil {
				t.Fatalf("a %d answer %s passed validation; want it refused", tc.status,
					tc.body)
			}
		})
	}
}

// TestOpenAPIDescribesExactlyTheRoutes checks that the document and the
// route table list the same paths and methods.
func TestOpenAPIDescribesExactlyTheRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	var documented, served []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	for _, rt := range (&API{}).routeTable() {
		for method := range rt.methods {
			served = append(served, method+" "+rt.pattern)
		}
	}
	slices.Sort(documented)
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Fatalf("document lists\n%q\nroute table serves\n%q", documented, served)
	}
}

// TestOpenAPIDocumentIsServed checks GET /api/openapi.yaml: the embedded
// document, as YAML, behind the token.
func TestOpenAPIDocumentIsServed(t *testing.T) {
	e := newTestEnv(t)
	rec := e.do(t, req("GET", "/api/openapi.yaml", ""))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/yaml" ||
		!bytes.Equal(rec.Body.Bytes(), openAPIDocument) {
		t.Fatalf("GET /api/openapi.yaml = %d %q, want 200 application/yaml with the document",
			rec.Code, rec.Header().Get("Content-Type"))
	}
	if rec := e.do(t, authAs(req("GET", "/api/openapi.yaml", ""), "")); rec.Code != 401 {
		t.Fatalf("without a token: status %d, want 401", rec.Code)
	}
}
