package admin

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyproxy/latchkey/engine"
	"github.com/latchkeyproxy/latchkey/poolops"
)

const poolsPath = "/api/pools"

// withPool adds the OAuth credentials a, b and c and the pool "codex" of
// a and b.
func withPool(t *testing.T, e *testEnv) {
	t.Helper()
	withOAuth("a", "b", "c")(t, e)
	if _, err := e.eng.CreatePool(engine.PoolSpec{Name: "codex",
		Members: []string{"a", "b"}}); err != nil {
		t.Fatalf("creating pool: %v", err)
	}
}

// withOAuth returns a setup step adding OAuth credentials whose tokens
// hold testSecret, so that runCases notices any of them in a response.
func withOAuth(names ...string) func(*testing.T, *testEnv) {
	return func(t *testing.T, e *testEnv) {
		t.Helper()
		for _, n := range names {
			if _, err := e.eng.AddOAuthCredential(engine.OAuthSpec{Name: n,
				AccessToken: testSecret + "-at-" + n, RefreshToken: testSecret + "-rt-" + n,
				TokenURL: "https://auth.example.com/oauth/token"}); err != nil {
				t.Fatalf("adding oauth credential %s: %v", n, err)
			}
		}
	}
}

// then chains setup steps.
func then(steps ...func(*testing.T, *testEnv)) func(*testing.T, *testEnv) {
	return func(t *testing.T, e *testEnv) {
		for _, s := range steps {
			s(t, e)
		}
	}
}

// rotated rotates "codex" once, parking a.
func rotated(t *testing.T, e *testEnv) {
	t.Helper()
	if _, err := poolops.New(e.eng).Rotate("codex"); err != nil {
		t.Fatalf("rotating: %v", err)
	}
}

// boundPool binds "codex" to chatgpt.com.
func boundPool(t *testing.T, e *testEnv) {
	t.Helper()
	if _, err := e.eng.AddBinding(engine.BindingSpec{Credential: "codex",
		Destination: "chatgpt.com"}); err != nil {
		t.Fatalf("binding pool: %v", err)
	}
}

// losingRace makes every rotate lose its race with a membership change.
func losingRace(_ *testing.T, e *testEnv) {
	e.api.newPools = func(eng *engine.Engine) poolService {
		return racingPools{poolops.New(eng)}
	}
}

// racingPools is poolops whose rotates always lose the race, as one does
// when the membership changes between reading the active member and
// parking it.
type racingPools struct{ *poolops.Ops }

// Rotate fails as a rotate does that lost its race: with ErrRace, having
// written nothing.
func (racingPools) Rotate(name string) (poolops.RotateResult, error) {
	return poolops.RotateResult{}, fmt.Errorf("pool %q changed while rotating; nothing "+
		"was written: %w", name, poolops.ErrRace)
}

func TestPoolRoutes(t *testing.T) {
	long := strings.Repeat("p", engine.MaxNameLength+1)
	create := func(body string) request { return req("POST", poolsPath, body) }
	refusedCreate := func(name string, status int, code, body string) apiCase {
		return refused(name, status, code, create(body))
	}

	cases := []apiCase{
		{
			name: "list shows each pool with its members in order", req: req("GET", poolsPath, ""),
			status: http.StatusOK,
			check: func(t *testing.T, _ *testEnv, rec *httptest.ResponseRecorder) {
				var got []engine.Pool
				decodeBody(t, rec, &got)
				if len(got) != 1 || got[0].Name != "codex" || got[0].Strategy != "failover" ||
					len(got[0].Members) != 2 || got[0].Members[1] !=
					(engine.PoolMember{Credential: "b", Position: 1}) ||
					got[0].CreatedAt.IsZero() {
					t.Fatalf("list = %+v, want codex (failover) with a at 0 and b at 1", got)
				}
			},
		},
		{
			name:   "create answers 201 with the committed pool",
			req:    create(`{"name":"claude","members":["c"],"strategy":"failover"}`),
			status: http.StatusCreated,
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				var got engine.Pool
				decodeBody(t, rec, &got)
				want, err := e.eng.GetPool("claude")
				if err != nil {
					t.Fatalf("pool not in the engine after 201: %v", err)
				}
				if got.Name != want.Name || !got.CreatedAt.Equal(want.CreatedAt) ||
					len(got.Members) != 1 || got.Members[0].Credential != "c" {
					t.Fatalf("answer = %+v, want the engine's %+v", got, want)
				}
			},
		},
		{
			name:   "create without strategy means failover",
			req:    create(`{"name":"claude","members":["c"]}`),
			status: http.StatusCreated,
			check: func(t *testing.T, _ *testEnv, rec *httptest.ResponseRecorder) {
				var got engine.Pool
				decodeBody(t, rec, &got)
				if got.Strategy != "failover" {
					t.Fatalf("strategy = %q, want failover", got.Strategy)
				}
			},
		},
		refusedCreate("create without members", 400, codeInvalid, `{"name":"x"}`),
		refusedCreate("create with empty members", 400, codeInvalid,
			`{"name":"x","members":[]}`),
		refusedCreate("create with a duplicate member", 400, codeInvalid,
			`{"name":"x","members":["c","c"]}`),
		refusedCreate("create with an unknown member", 400, codeInvalid,
			`{"name":"x","members":["zz"]}`),
		refusedCreate("create with a static member", 400, codeInvalid,
			`{"name":"x","members":["openai"]}`),
		refusedCreate("create with a hostile member name", 400, codeInvalid,
			`{"name":"x","members":["<b>"]}`),
		refusedCreate("create with a space in the name", 400, codeInvalid,
			`{"name":"a b","members":["c"]}`),
		refusedCreate("create with markup in the name", 400, codeInvalid,
			`{"name":"<b>","members":["c"]}`),
		refusedCreate("create with a 65-character name", 400, codeInvalid,
			`{"name":"`+long+`","members":["c"]}`),
		refusedCreate("create with an unknown strategy", 400, codeInvalid,
			`{"name":"x","members":["c"],"strategy":"round_robin"}`),
		refusedCreate("create with members as a string", 400, codeInvalidJSON,
			`{"name":"x","members":"c"}`),
		refusedCreate("create with an unknown field", 400, codeInvalidJSON,
			`{"name":"x","members":["c"],"epoch":2}`),
		refusedCreate("create with a credential's name", 409, codeConflict,
			`{"name":"openai","members":["c"]}`),
		refusedCreate("create with a pool's name", 409, codeConflict,
			`{"name":"codex","members":["c"]}`),
		refusedCreate("create with a member of another pool", 409, codeAlreadyPooled,
			`{"name":"x","members":["c","a"]}`),
		{
			name: "status shows the live active member and each member's health",
			req:  req("GET", poolsPath+"/codex", ""), setup: then(withPool, rotated),
			status: http.StatusOK,
			check: func(t *testing.T, _ *testEnv, rec *httptest.ResponseRecorder) {
				var got engine.PoolStatus
				decodeBody(t, rec, &got)
				a, b := got.Members[0], got.Members[1]
				if got.Active != "b" || a.Active || !b.Active || a.State != "cooldown" ||
					a.CooldownUntil == nil || a.LastFailureReason != "manual rotate" ||
					b.State != "healthy" || b.CooldownUntil != nil {
					t.Fatalf("status = %+v, want b active and a cooling for manual rotate", got)
				}
			},
		},
		refused("status of an unknown pool", 404, codeNotFound,
			req("GET", poolsPath+"/nope", "")),
		refused("status of a hostile name", 400, codeInvalid,
			req("GET", poolsPath+"/%3Cb%3E", "")),
		refused("status of a 65-character name", 400, codeInvalid,
			req("GET", poolsPath+"/"+long, "")),
		{
			name:   "rotate parks the active member and reports from and to",
			req:    req("POST", poolsPath+"/codex/rotate", ""),
			status: http.StatusOK,
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				var got engine.RotateResult
				decodeBody(t, rec, &got)
				if got.Pool != "codex" || got.From != "a" || got.To != "b" ||
					time.Until(got.ParkedUntil) < 290*time.Second {
					t.Fatalf("rotate = %+v, want codex a -> b parked for 300 s", got)
				}
				if st, _ := e.eng.PoolStatus("codex"); st.Active != "b" {
					t.Fatalf("engine active = %q after rotate, want b", st.Active)
				}
			},
		},
		{
			name:   "rotate accepts an empty object",
			req:    req("POST", poolsPath+"/codex/rotate", `{}`),
			status: http.StatusOK,
		},
		refused("rotate with an unknown field", 400, codeInvalidJSON,
			req("POST", poolsPath+"/codex/rotate", `{"to":"b"}`)),
		refused("rotate of an unknown pool", 404, codeNotFound,
			req("POST", poolsPath+"/nope/rotate", "")),
		refused("rotate of a hostile name", 400, codeInvalid,
			req("POST", poolsPath+"/a%20b/rotate", "")),
		{
			name: "rotate that races a membership change is a 409 race",
			req:  req("POST", poolsPath+"/codex/rotate", ""), setup: then(withPool, losingRace),
			status: http.StatusConflict, code: codeRace,
		},
		{
			name: "reset clears every cooldown", req: req("POST", poolsPath+"/codex/reset", ""),
			setup: then(withPool, rotated, rotated), status: http.StatusOK,
			check: wantHealthy("a", "b"),
		},
		{
			name:  "reset of one member clears only its cooldown",
			req:   req("POST", poolsPath+"/codex/reset", `{"member":"a"}`),
			setup: then(withPool, rotated, rotated), status: http.StatusOK,
			check: wantHealthy("a"),
		},
		refused("reset of a non-member", 400, codeInvalid,
			req("POST", poolsPath+"/codex/reset", `{"member":"c"}`)),
		refused("reset with an unknown field", 400, codeInvalidJSON,
			req("POST", poolsPath+"/codex/reset", `{"members":["a"]}`)),
		refused("reset of an unknown pool", 404, codeNotFound,
			req("POST", poolsPath+"/nope/reset", "")),
		refused("reset of a hostile name", 400, codeInvalid,
			req("POST", poolsPath+"/..%2Fx/reset", "")),
		{
			name:   "remove answers 204 and frees the members",
			req:    req("DELETE", poolsPath+"/codex", ""),
			status: http.StatusNoContent,
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				if rec.Body.Len() != 0 {
					t.Errorf("204 has a body: %q", rec.Body)
				}
				if _, err := e.eng.GetPool("codex"); err == nil {
					t.Fatal("pool still in the engine after 204")
				}
				for _, c := range e.eng.Credentials() {
					if c.Pool != "" {
						t.Errorf("credential %s still shows pool %q", c.Name, c.Pool)
					}
				}
			},
		},
		refused("remove of an unknown pool", 404, codeNotFound,
			req("DELETE", poolsPath+"/nope", "")),
		refused("remove of a hostile name", 400, codeInvalid,
			req("DELETE", poolsPath+"/%3Cb%3E", "")),
		{
			name: "remove of a bound pool lists the bindings",
			req:  req("DELETE", poolsPath+"/codex", ""), setup: then(withPool, boundPool),
			status: http.StatusConflict, code: codeReferenced,
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				var got errorBody
				decodeBody(t, rec, &got)
				var want bindingRef
				for _, b := range e.eng.Bindings() {
					if b.Credential == "codex" {
						want = bindingRef{ID: b.ID, Destination: b.Destination}
					}
				}
				if len(got.Bindings) != 1 || got.Bindings[0] != want {
					t.Fatalf("bindings = %+v, want [%+v]", got.Bindings, want)
				}
			},
		},
		refused("removing a pool member credential is a conflict", 409,
			codeConflict, req("DELETE", credsPath+"/a", "")),
	}
	// Every case starts from the pool "codex" unless it says otherwise.
	for i := range cases {
		if cases[i].setup == nil {
			cases[i].setup = withPool
		}
	}
	runCases(t, cases)
}

// wantHealthy checks a PoolStatus answer in which the named members are
// healthy and the others are still cooling.
func wantHealthy(names ...string) func(*testing.T, *testEnv, *httptest.ResponseRecorder) {
	return func(t *testing.T, _ *testEnv, rec *httptest.ResponseRecorder) {
		var got engine.PoolStatus
		decodeBody(t, rec, &got)
		for _, m := range got.Members {
			want := "cooldown"
			for _, n := range names {
				if m.Credential == n {
					want = "healthy"
				}
			}
			if m.State != want {
				t.Errorf("member %s is %s, want %s (status %+v)", m.Credential, m.State, want,
					got)
			}
		}
	}
}

// TestListPoolsEmpty checks that no pools is [] and not null.
func TestListPoolsEmpty(t *testing.T) {
	e := newTestEnv(t)
	rec := e.do(t, request{method: "GET", path: poolsPath})
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "[]" {
		t.Errorf("GET %s = %d %q, want 200 []", poolsPath, rec.Code, rec.Body)
	}
}

// TestPoolStoreFailureIsInternal checks that every pool write answers 500
// with the generic message, never a client error, when the store fails.
func TestPoolStoreFailureIsInternal(t *testing.T) {
	cases := []request{
		req("POST", poolsPath, `{"name":"claude","members":["c"]}`),
		req("POST", poolsPath+"/codex/rotate", ""),
		req("POST", poolsPath+"/codex/reset", ""),
		req("DELETE", poolsPath+"/codex", ""),
	}
	for _, rq := range cases {
		t.Run(rq.method+" "+rq.path, func(t *testing.T) {
			e := newTestEnv(t)
			withPool(t, e)
			before := e.state(t)
			if err := e.db.Close(); err != nil {
				t.Fatal(err)
			}

			rec := e.do(t, rq)
			if rec.Code != http.StatusInternalServerError {
				t.Fatalf("status = %d, want 500; body %s", rec.Code, rec.Body)
			}
			checkErrorBody(t, rec, codeInternal)
			if body := rec.Body.String(); !strings.Contains(body, `"internal error"`) ||
				strings.Contains(body, testSecret) {
				t.Errorf("body = %s, want only \"internal error\"", body)
			}
			if after := e.state(t); after != before {
				t.Errorf("failed write changed the live state:\nbefore %s\nafter  %s",
					before, after)
			}
			if n := len(e.logs.FilterMessage("api request failed").All()); n != 1 {
				t.Errorf("logged %d failures, want 1", n)
			}
		})
	}
}
