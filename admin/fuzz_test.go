package admin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/latchkeyproxy/latchkey/engine"
	"github.com/latchkeyproxy/latchkey/store"
)

// fuzzToken is the API token of the fuzz targets' backend.
const fuzzToken = "fuzz-token-0123456789abcdef0123"

// fuzzBackend serves one engine.
type fuzzBackend struct{ eng *engine.Engine }

func (b fuzzBackend) Engine() *engine.Engine { return b.eng }
func (b fuzzBackend) APIToken() string       { return fuzzToken }

// fuzzRoutes are the routes that take a body, which the fuzz target picks
// from: what the body can change and what the seeds exercise.
var fuzzRoutes = []struct{ method, path string }{
	{http.MethodPost, "/api/credentials"},
	{http.MethodPatch, "/api/credentials/seed-static"},
	{http.MethodPatch, "/api/credentials/seed-free"},
	{http.MethodPost, "/api/bindings"},
	{http.MethodPost, "/api/pools"},
	{http.MethodPost, "/api/pools/seed-pool/rotate"},
	{http.MethodPost, "/api/pools/seed-pool/reset"},
}

// secretFields are the body fields whose values are secrets (or, for
// account_id, real account data): no answer or log may echo them.
var secretFields = map[string]bool{
	"value": true, "access_token": true, "refresh_token": true,
	"id_token": true, "account_id": true,
}

// fuzzWorld is a real engine over a real store behind the API's routes.
type fuzzWorld struct {
	eng  *engine.Engine
	mux  *http.ServeMux
	logs *observer.ObservedLogs

	// handlerErr is what the last handler returned for Caddy to render:
	// always nil, since the API renders its errors itself.
	handlerErr error

	// close closes the engine and the store and removes the directory.
	close func()
}

// newFuzzWorld opens a world in a new directory; close removes it.
func newFuzzWorld(t testing.TB) *fuzzWorld {
	dir, err := os.MkdirTemp("", "lk-admin-fuzz-")
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(store.Options{Dir: dir, EncryptionKey: make([]byte, 32)})
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("opening store: %v", err)
	}
	core, logs := observer.New(zap.DebugLevel)
	eng, err := engine.New(db, zap.New(core))
	if err != nil {
		db.Close()
		os.RemoveAll(dir)
		t.Fatalf("creating engine: %v", err)
	}

	// What the routes work on: a bound static credential, a pool of two
	// OAuth members bound to its host, and a free OAuth credential.
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = eng.AddStaticCredential("seed-static", "sk-seed-static-secret-0001")
	must(err)
	for _, n := range []string{"seed-a", "seed-b", "seed-free"} {
		_, err = eng.AddOAuthCredential(engine.OAuthSpec{
			Name: n, AccessToken: "at-seed-" + n,
			RefreshToken: "rt-seed-" + n, TokenURL: "https://auth.example.com/oauth/token",
		})
		must(err)
	}
	_, err = eng.CreatePool(engine.PoolSpec{Name: "seed-pool", Members: []string{"seed-a", "seed-b"}})
	must(err)
	_, err = eng.AddBinding(engine.BindingSpec{Credential: "seed-static", Destination: "api.example.com"})
	must(err)
	_, err = eng.AddBinding(engine.BindingSpec{Credential: "seed-pool", Destination: "chatgpt.example.com"})
	must(err)

	api := &API{
		lookup: func() (backend, error) { return fuzzBackend{eng: eng}, nil },
		logger: zap.New(core),
	}
	fw := &fuzzWorld{
		eng: eng, mux: http.NewServeMux(), logs: logs,
		close: func() {
			eng.Close()
			db.Close()
			os.RemoveAll(dir)
		},
	}
	for _, rt := range api.Routes() {
		h := rt.Handler
		fw.mux.HandleFunc(rt.Pattern, func(w http.ResponseWriter, r *http.Request) {
			fw.handlerErr = h.ServeHTTP(w, r)
		})
	}
	return fw
}

// state renders everything the API can change.
func (w *fuzzWorld) state(t *testing.T) string {
	var statuses []engine.PoolStatus
	for _, p := range w.eng.Pools() {
		st, err := w.eng.PoolStatus(p.Name)
		if err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, st)
	}
	out, err := json.Marshal(map[string]any{
		"credentials": w.eng.Credentials(),
		"bindings":    w.eng.Bindings(), "pools": w.eng.Pools(), "statuses": statuses,
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func jsonOf(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(raw)
}

// bodyStrings returns the string values of a JSON body, as far as it
// parses: those of secret fields and all the others. A value inside an
// array or a nested object counts under the key that holds it.
func bodyStrings(body []byte) (secrets, others []string) {
	dec := json.NewDecoder(bytes.NewReader(body))
	// Each frame is an object (expecting a key or a value) or an array.
	type frame struct {
		object, wantKey bool
		key             string
	}
	var stack []frame
	for range 10000 {
		tok, err := dec.Token()
		if err != nil {
			return
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		key := ""
		if top != nil {
			key = top.key
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, frame{object: true, wantKey: true, key: key})
			case '[':
				stack = append(stack, frame{key: key})
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].wantKey = true
				}
			}
			continue
		case string:
			if top != nil && top.object && top.wantKey {
				top.key, top.wantKey = v, false
				others = append(others, v)
				continue
			}
			if secretFields[key] {
				secrets = append(secrets, v)
			} else {
				others = append(others, v)
			}
		}
		if top != nil && top.object {
			top.wantKey = true
		}
	}
	return
}

// FuzzAdminRequest sends any body, with any Content-Type, to the routes
// that take one, on a real engine and store. It checks SPEC invariant 5
// (bad input gets a clear error and changes nothing) and invariant 1 for
// the admin channel (no secret value of a request comes back in an answer
// or goes into a log):
//
//   - no answer is a 5xx: nothing a client sends is an internal error;
//   - an error answer is {"error": "...", "code": "..."} and the state is
//     exactly what it was;
//   - no answer and no log line holds the value of a secret field of the
//     request (value, access_token, refresh_token, id_token, account_id),
//     unless that value is also some non-secret string of the request or
//     of the state (a name the answer may rightly quote).
func FuzzAdminRequest(f *testing.F) {
	const jsonCT = "application/json"
	seeds := []struct {
		route    uint8
		ct, body string
	}{
		{0, jsonCT, `{"name":"n1","value":"sk-fuzz-secret-value-1"}`},
		{0, jsonCT, `{"name":"o1","type":"oauth","access_token":"at-fuzz-secret-1",` +
			`"refresh_token":"rt-fuzz-secret-1","token_url":"https://auth.example.com/t",` +
			`"expires_in":3600,"account_id":"acct-fuzz-secret-1"}`},
		{0, jsonCT, `{"name":"o2","type":"oauth","access_token":"at-fuzz-secret-2",` +
			`"token_url":"ftp://x"}`},
		{0, jsonCT, `{"name":"bad name","value":"sk-fuzz-secret-value-2"}`},
		{0, jsonCT, `{"name":"n2","value":"sk-fuzz-secret-value-3","value":"sk-other-secret-4"}`},
		{0, jsonCT, `{"name":"n3","value":"sk-fuzz-secret-value-5","extra":"sk-fuzz-secret-value-5"}`},
		{0, jsonCT, `{"name":"n4","value":123456789012}`},
		{0, jsonCT, `{"name":"n5","value":"sk-fuzz-secret-value-6"} trailing`},
		{0, jsonCT, `{"name":"n6","type":"static","access_token":"at-fuzz-secret-7"}`},
		{0, jsonCT, `{"name":"n7","value":"sk-fuzz-secret` + "\xff" + `-value"}`},
		{0, jsonCT, `{"name":"n8","value":"sk-fuzz-secret-value-8\u0000"}`},
		{0, jsonCT, `[{"name":"n9","value":"sk-fuzz-secret-value-9"}]`},
		{0, jsonCT, `{"name":"n10","value":"sk-fuzz-secret-value-10"`},
		{0, "text/plain", `{"name":"n11","value":"sk-fuzz-secret-value-11"}`},
		{0, "application/json; charset=latin1", `{"name":"n12","value":"sk-fuzz-secret-12"}`},
		{0, jsonCT, `{"name":"seed-static","value":"sk-fuzz-secret-value-13"}`},
		{1, jsonCT, `{"value":"sk-fuzz-rotated-secret-1"}`},
		{1, jsonCT, `{"access_token":"at-fuzz-wrong-type-1"}`},
		{1, jsonCT, `{}`},
		{2, jsonCT, `{"access_token":"at-fuzz-new-1","expires_at":"2026-12-03T10:00:00Z"}`},
		{2, jsonCT, `{"refresh_token":"rt-fuzz-new-1","expires_in":-1}`},
		{2, jsonCT, `{"expires_at":"not a time","expires_in":5}`},
		{3, jsonCT, `{"credential":"seed-free","destination":"*.example.com","ports":[443]}`},
		{3, jsonCT, `{"credential":"seed-free","destination":"*","header":"X-Key",` +
			`"template":"Key {value}"}`},
		{3, jsonCT, `{"credential":"nope","destination":"api.example.com"}`},
		{3, jsonCT, `{"credential":"seed-free","destination":"bad host!","ports":[70000]}`},
		{3, jsonCT, `{"credential":"seed-free","destination":"a.example.com","header":"Bad\nHeader"}`},
		{4, jsonCT, `{"name":"p2","members":["seed-free"]}`},
		{4, jsonCT, `{"name":"p3","members":["seed-a"]}`},
		{4, jsonCT, `{"name":"p4","members":["seed-static"]}`},
		{4, jsonCT, `{"name":"p5","members":["seed-free","seed-free"],"strategy":"random"}`},
		{4, jsonCT, `{"name":"p6","members":[]}`},
		{5, jsonCT, ``},
		{5, jsonCT, `{}`},
		{5, jsonCT, `{"force":true}`},
		{6, jsonCT, `{"member":"seed-a"}`},
		{6, jsonCT, `{"member":"seed-static"}`},
		{6, "", `{}`},
	}
	for _, s := range seeds {
		f.Add(s.route, s.ct, []byte(s.body))
	}
	f.Add(uint8(0), jsonCT, append([]byte(`{"name":"big","value":"`),
		append(bytes.Repeat([]byte("x"), maxBodyBytes), []byte(`"}`)...)...))

	// One world per fuzzing process: the state grows with what the
	// fuzzer adds, as a long-running install's does, up to a bound past
	// which a fresh world keeps each input cheap.
	w := newFuzzWorld(f)
	f.Cleanup(func() { w.close() })
	f.Fuzz(func(t *testing.T, route uint8, contentType string, body []byte) {
		if len(w.eng.Credentials())+len(w.eng.Bindings()) > 200 {
			w.close()
			w = newFuzzWorld(t)
		}
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		before := w.state(t)
		logsBefore := w.logs.Len()

		req := httptest.NewRequest(rt.method, rt.path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+fuzzToken)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		w.mux.ServeHTTP(rec, req)
		answer := rec.Body.String()
		if w.handlerErr != nil {
			t.Fatalf("%s %s: handler returned an error for Caddy to render: %v", rt.method,
				rt.path, w.handlerErr)
		}

		if rec.Code >= 500 {
			t.Fatalf("%s %s: status %d for a client's body: %s", rt.method, rt.path, rec.Code,
				answer)
		}
		if rec.Code >= 400 {
			var e struct {
				Error string `json:"error"`
				Code  string `json:"code"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" ||
				e.Code == "" {
				t.Fatalf("%s %s: error answer %d is not {error, code}: %q", rt.method, rt.path,
					rec.Code, answer)
			}
			if after := w.state(t); after != before {
				t.Fatalf("%s %s: refused with %d (%s) but the state changed:\nbefore %s\nafter  %s",
					rt.method, rt.path, rec.Code, e.Code, before, after)
			}
		}

		secrets, others := bodyStrings(body)
		context := before + "\n" + rt.path + "\n" + strings.Join(others, "\n")
		var newLogs strings.Builder
		for _, e := range w.logs.All()[logsBefore:] {
			newLogs.WriteString(e.Message)
			for k, v := range e.ContextMap() {
				newLogs.WriteString(" " + k + "=" + jsonOf(v))
			}
			newLogs.WriteString("\n")
		}
		for _, s := range secrets {
			if len(s) < 8 || strings.Contains(context, s) {
				continue
			}
			if strings.Contains(answer, s) {
				t.Fatalf("%s %s: the answer (%d) echoes a secret field's value %q: %s",
					rt.method, rt.path, rec.Code, s, answer)
			}
			if strings.Contains(newLogs.String(), s) {
				t.Fatalf("%s %s: a log line holds a secret field's value %q: %s",
					rt.method, rt.path, s, newLogs.String())
			}
			// What the channels show never holds it either.
			if strings.Contains(w.state(t), s) {
				t.Fatalf("%s %s: the listed state holds a secret field's value %q",
					rt.method, rt.path, s)
			}
		}
		if rec.Code < 300 && rec.Code != http.StatusNoContent {
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s %s: success answer %d is not JSON: %q", rt.method, rt.path,
					rec.Code, answer)
			}
		}
	})
}

// Interface guard.
var _ backend = fuzzBackend{}
