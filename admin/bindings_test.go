package admin

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkeyproxy/latchkey/engine"
)

func TestBindingRoutes(t *testing.T) {
	runCases(t, []apiCase{
		{
			name:   "list",
			req:    request{method: "GET", path: "/api/bindings"},
			status: http.StatusOK,
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				var got []engine.Binding
				decodeBody(t, rec, &got)
				if len(got) != 1 || got[0].ID != e.eng.Bindings()[0].ID ||
					got[0].Credential != "openai" || got[0].Destination != "api.openai.com" {
					t.Fatalf("list = %+v, want the seeded binding", got)
				}
			},
		},
		{
			name:   "add with defaults",
			req:    req("POST", bindsPath, `{"credential":"openai","destination":"*.openai.com"}`),
			status: http.StatusCreated,
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				var got engine.Binding
				decodeBody(t, rec, &got)
				if got.ID == "" || got.Destination != "*.openai.com" ||
					got.Header != engine.DefaultHeader || got.Template != engine.DefaultTemplate {
					t.Fatalf("binding = %+v, want an id and the default header and template", got)
				}
				if n := len(e.eng.Bindings()); n != 2 {
					t.Fatalf("engine has %d bindings, want 2", n)
				}
			},
		},
		{
			name: "add with ports, header and template",
			req: req("POST", bindsPath, `{"credential":"openai","destination":"api.example.com",`+
				`"ports":[8443,443],"header":"X-Api-Key","template":"{value}"}`),
			status: http.StatusCreated,
			check: func(t *testing.T, _ *testEnv, rec *httptest.ResponseRecorder) {
				var got engine.Binding
				decodeBody(t, rec, &got)
				if got.Header != "X-Api-Key" || got.Template != "{value}" || len(got.Ports) != 2 {
					t.Fatalf("binding = %+v, want the given header, template and two ports", got)
				}
			},
		},
		refused("add unknown credential", 400, codeInvalid,
			req("POST", bindsPath, `{"credential":"nope","destination":"a.com"}`)),
		refused("add hostile credential", 400, codeInvalid,
			req("POST", bindsPath, `{"credential":"<b>","destination":"a.com"}`)),
		refused("add bad destination", 400, codeInvalid,
			req("POST", bindsPath, `{"credential":"openai","destination":"a b/c"}`)),
		refused("add port out of range", 400, codeInvalid,
			req("POST", bindsPath,
				`{"credential":"openai","destination":"a.com","ports":[70000]}`)),
		refused("add template without value", 400, codeInvalid,
			req("POST", bindsPath,
				`{"credential":"openai","destination":"a.com","template":"Bearer"}`)),
		refused("add ports as string", 400, codeInvalidJSON,
			req("POST", bindsPath, `{"credential":"openai","destination":"a.com","ports":"443"}`)),
		refused("add unknown field", 400, codeInvalidJSON,
			req("POST", bindsPath, `{"credential":"openai","destination":"a.com","host":"b.com"}`)),
		{
			name:   "remove",
			path:   func(b engine.Binding) string { return "/api/bindings/" + b.ID },
			req:    request{method: "DELETE"},
			status: http.StatusNoContent,
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				if n := len(e.eng.Bindings()); n != 0 {
					t.Fatalf("engine has %d bindings after removal, want 0", n)
				}
			},
		},
		refused("remove unknown", 404, codeNotFound,
			req("DELETE", "/api/bindings/bnd_000000000000", "")),
		refused("remove hostile id", 404, codeNotFound, req("DELETE", "/api/bindings/%3Cb%3E", "")),
	})
}
