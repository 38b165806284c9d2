package admin

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkeyproxy/latchkey/engine"
)

func TestPhantomRoute(t *testing.T) {
	runCases(t, []apiCase{
		{
			name:   "phantom of a credential",
			req:    request{method: "GET", path: "/api/phantom/openai"},
			status: http.StatusOK,
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				var got engine.Phantom
				decodeBody(t, rec, &got)
				want, err := e.eng.Phantom("openai")
				if err != nil {
					t.Fatal(err)
				}
				if got != want || got.Phantom == "" || got.Kind != "static" {
					t.Fatalf("phantom = %+v, want %+v", got, want)
				}
				if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", cc)
				}
			},
		},
		refused("unknown", 404, codeNotFound, req("GET", "/api/phantom/nope", "")),
		refused("hostile name", 400, codeInvalid, req("GET", "/api/phantom/%3Cb%3E", "")),
	})
}
