package cli

import (
	"strings"
	"testing"
)

const (
	credJSON = `{"name":"openai","type":"static","created_at":"2026-01-02T03:04:05Z",` +
		`"updated_at":"2026-01-02T03:04:05Z"}`
	bindJSON = `{"id":"bnd_1","credential":"openai","destination":"api.openai.com",` +
		`"ports":[443],"header":"Authorization","template":"Bearer {value}",` +
		`"created_at":"2026-01-02T03:04:05Z"}`
	bindAnyPortJSON = `{"id":"bnd_22","credential":"github","destination":"*.github.com",` +
		`"ports":[],"header":"X-Api-Key","template":"{value}",` +
		`"created_at":"2026-01-02T03:04:05Z"}`
	createdJSON = `{"name":"openai","type":"static"}`
	phantomJSON = `{"name":"openai","kind":"static","phantom":"lk_ph_abc"}`
	bindAdded   = "binding bnd_1 added: openai on api.openai.com, ports 443, header Authorization\n"
)

// commandCase is one run of the CLI against the fake admin endpoint.
type commandCase struct {
	name    string
	args    []string
	stdin   string
	answers map[string]answer

	// want is the exact stdout; wantErr the exact stderr line.
	want    string
	wantErr string

	// request, when set, is the last request the endpoint must see;
	// calls, when set, how many it must see in all (default 1).
	request *seen
	calls   int
}

func TestCommands(t *testing.T) {
	runCommandCases(t, []commandCase{
		{
			name:    "cred add reads the secret from stdin",
			args:    []string{"cred", "add", "openai"},
			stdin:   "sk-1\r\nignored\n",
			answers: one("POST /api/credentials", 201, createdJSON),
			want:    "credential \"openai\" added\n",
			request: &seen{method: "POST", path: "/api/credentials",
				body: `{"name":"openai","type":"static","value":"sk-1"}`},
		},
		{
			name:    "cred add --json prints the answer",
			args:    []string{"cred", "add", "openai", "--json"},
			stdin:   "sk-1\n",
			answers: one("POST /api/credentials", 201, createdJSON+"\n"),
			want:    createdJSON + "\n",
		},
		{
			name:    "cred add refuses an empty secret",
			args:    []string{"cred", "add", "openai"},
			stdin:   "\n",
			wantErr: "latchkey: the secret is empty; type it at the prompt or pipe it on stdin\n",
		},
		{
			name:  "cred add shows the server's refusal",
			args:  []string{"cred", "add", "<b>"},
			stdin: "sk\n",
			answers: one("POST /api/credentials", 400,
				apiErr(`name \"<b>\" has a bad character`, "invalid")),
			wantErr: "latchkey: name \"<b>\" has a bad character\n",
		},
		{
			name:    "cred list is a table",
			args:    []string{"cred", "list"},
			answers: one("GET /api/credentials", 200, "["+credJSON+"]"),
			want: "NAME    TYPE    POOL  EXPIRES  CREATED               UPDATED\n" +
				"openai  static  -     -        2026-01-02T03:04:05Z  2026-01-02T03:04:05Z\n",
			request: &seen{method: "GET", path: "/api/credentials"},
		},
		{
			name:    "cred list when empty",
			args:    []string{"cred", "list"},
			answers: one("GET /api/credentials", 200, "[]\n"),
			want:    "no credentials\n",
		},
		{
			name:    "cred list --json",
			args:    []string{"cred", "list", "--json"},
			answers: one("GET /api/credentials", 200, "["+credJSON+"]\n"),
			want:    "[" + credJSON + "]\n",
		},
		{
			name:  "cred update",
			args:  []string{"cred", "update", "openai"},
			stdin: "sk-2",
			answers: map[string]answer{"GET /api/credentials": {200, "[" + credJSON + "]"},
				"PATCH /api/credentials/openai": {204, ""}},
			want: "credential \"openai\" updated\n",
			request: &seen{method: "PATCH", path: "/api/credentials/openai",
				body: `{"value":"sk-2"}`},
			calls: 2,
		},
		{
			name:  "cred update of an unknown credential",
			args:  []string{"cred", "update", "nope"},
			stdin: "sk-2\n",
			answers: map[string]answer{"GET /api/credentials": {200, "[" + credJSON + "]"},
				"PATCH /api/credentials/nope": {404,
					apiErr(`no credential called \"nope\"`, "not_found")}},
			wantErr: "latchkey: no credential called \"nope\"\n",
		},
		{
			name:    "cred remove",
			args:    []string{"cred", "remove", "openai"},
			answers: one("DELETE /api/credentials/openai", 204, ""),
			want:    "credential \"openai\" removed\n",
		},
		{
			name:    "cred remove --json prints nothing for 204",
			args:    []string{"cred", "remove", "openai", "--json"},
			answers: one("DELETE /api/credentials/openai", 204, ""),
			want:    "",
		},
		{
			name: "cred remove while bound says what to remove",
			args: []string{"cred", "remove", "openai"},
			answers: one("DELETE /api/credentials/openai", 409, `{"error":"in use",`+
				`"code":"conflict","bindings":[{"id":"bnd_1","destination":"api.openai.com"},`+
				`{"id":"bnd_2","destination":"*.openai.com"}]}`),
			wantErr: "latchkey: \"openai\" is still used by bindings bnd_1 (api.openai.com), " +
				"bnd_2 (*.openai.com); remove them with: latchkey bind remove bnd_1 && " +
				"latchkey bind remove bnd_2\n",
		},
		{
			name:    "cred remove escapes a hostile name",
			args:    []string{"cred", "remove", "../x"},
			answers: one("DELETE /api/credentials/..%2Fx", 400, apiErr("bad name", "invalid")),
			wantErr: "latchkey: bad name\n",
			request: &seen{method: "DELETE", path: "/api/credentials/..%2Fx"},
		},
		{
			name: "bind add sends the flags",
			args: []string{"bind", "add", "openai", "--host", "api.openai.com", "--port", "443",
				"--port", "8443", "--header", "X-Api-Key", "--template", "{value}"},
			answers: one("POST /api/bindings", 201, bindJSON),
			want:    bindAdded,
			request: &seen{method: "POST", path: "/api/bindings",
				body: `{"credential":"openai","destination":"api.openai.com","ports":[443,8443],` +
					`"header":"X-Api-Key","template":"{value}"}`},
		},
		{
			name:    "bind add leaves defaults to the server",
			args:    []string{"bind", "add", "openai", "--host", "api.openai.com"},
			answers: one("POST /api/bindings", 201, bindJSON),
			want:    bindAdded,
			request: &seen{method: "POST", path: "/api/bindings",
				body: `{"credential":"openai","destination":"api.openai.com"}`},
		},
		{
			name:    "bind add needs --host",
			args:    []string{"bind", "add", "openai"},
			wantErr: "latchkey: required flag(s) \"host\" not set\n",
		},
		{
			name: "bind add needs a credential",
			args: []string{"bind", "add", "--host", "a.com"},
			wantErr: "latchkey: expected 1 argument(s), got 0; usage: latchkey bind add " +
				"<credential> --host <glob> [--port N]... [--header H] [--template T] [flags]\n",
		},
		{
			name:    "bind list is a table",
			args:    []string{"bind", "list"},
			answers: one("GET /api/bindings", 200, "["+bindJSON+","+bindAnyPortJSON+"]"),
			want: "ID      CREDENTIAL  DESTINATION     PORTS  HEADER         TEMPLATE\n" +
				"bnd_1   openai      api.openai.com  443    Authorization  Bearer {value}\n" +
				"bnd_22  github      *.github.com    any    X-Api-Key      {value}\n",
		},
		{
			name:    "bind list when empty",
			args:    []string{"bind", "list"},
			answers: one("GET /api/bindings", 200, "[]"),
			want:    "no bindings\n",
		},
		{
			name:    "bind remove",
			args:    []string{"bind", "remove", "bnd_1"},
			answers: one("DELETE /api/bindings/bnd_1", 204, ""),
			want:    "binding \"bnd_1\" removed\n",
		},
		{
			name: "bind remove of an unknown id",
			args: []string{"bind", "remove", "bnd_9"},
			answers: one("DELETE /api/bindings/bnd_9", 404,
				apiErr(`no binding with id \"bnd_9\"`, "not_found")),
			wantErr: "latchkey: no binding with id \"bnd_9\"\n",
		},
		{
			name:    "phantom prints only the value",
			args:    []string{"phantom", "openai"},
			answers: one("GET /api/phantom/openai", 200, phantomJSON),
			want:    "lk_ph_abc\n",
			request: &seen{method: "GET", path: "/api/phantom/openai"},
		},
		{
			name:    "phantom --json",
			args:    []string{"phantom", "openai", "--json"},
			answers: one("GET /api/phantom/openai", 200, phantomJSON),
			want:    phantomJSON + "\n",
		},
		{
			name: "an unknown subcommand fails",
			args: []string{"cred", "foo"},
			wantErr: "latchkey: unknown command \"foo\" for \"latchkey cred\"; " +
				"see latchkey cred --help\n",
		},
		{
			name: "an answer outside the error shape",
			args: []string{"phantom", "openai"},
			wantErr: "latchkey: the admin endpoint answered 404 Not Found: 404 page not found " +
				"(does the running Caddy include latchkey?)\n",
		},
		{
			name: "a multi-line server message stays one line",
			args: []string{"cred", "list"},
			answers: map[string]answer{"GET /api/credentials": {500,
				`{"error":"internal\nerror\u001b[31m","code":"internal"}`}},
			wantErr: "latchkey: internal error?[31m\n",
		},
	})
}

// runCommandCases runs each case against its own fake admin endpoint and
// checks the output, the error line and the requests sent.
func runCommandCases(t *testing.T, cases []commandCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			admin := newFakeAdmin(t, tc.answers)
			args := append(tc.args, "--address", admin.addr, "--token-file", writeToken(t))
			stdout, stderr, err := run(t, tc.stdin, args...)

			if stdout != tc.want {
				t.Errorf("stdout =\n%q\nwant\n%q", stdout, tc.want)
			}
			if stderr != tc.wantErr {
				t.Errorf("stderr =\n%q\nwant\n%q", stderr, tc.wantErr)
			}
			if (err != nil) != (tc.wantErr != "") {
				t.Errorf("err = %v, want an error exactly when stderr is expected", err)
			}
			if strings.Count(stderr, "\n") > 1 {
				t.Errorf("stderr has more than one line: %q", stderr)
			}

			reqs := admin.requests()
			for _, r := range reqs {
				if r.auth != "Bearer "+testToken {
					t.Errorf("Authorization = %q, want the token", r.auth)
				}
				if r.origin != "" {
					t.Errorf("Origin %q sent on a unix socket", r.origin)
				}
			}
			if tc.request != nil {
				if want := max(tc.calls, 1); len(reqs) != want {
					t.Fatalf("endpoint saw %d requests, want %d", len(reqs), want)
				}
				got := reqs[len(reqs)-1]
				if got.method != tc.request.method || got.path != tc.request.path ||
					got.body != tc.request.body {
					t.Errorf("request = %s %s %s\nwant      %s %s %s", got.method, got.path,
						got.body, tc.request.method, tc.request.path, tc.request.body)
				}
				if got.body != "" && got.ctype != "application/json" {
					t.Errorf("Content-Type = %q, want application/json", got.ctype)
				}
			}
			if tc.answers == nil && tc.wantErr != "" && !strings.Contains(tc.name, "outside") &&
				len(reqs) != 0 {
				t.Errorf("a refused command still sent %d requests", len(reqs))
			}
		})
	}
}

// one is an endpoint that answers one route.
func one(route string, status int, body string) map[string]answer {
	return map[string]answer{route: {status, body}}
}

// apiErr is an error answer in the API's shape.
func apiErr(msg, code string) string {
	return `{"error":"` + msg + `","code":"` + code + `"}`
}
