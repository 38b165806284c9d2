package cli

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
)

// envMainArgs, when set, makes the test binary run caddycmd.Main with
// these JSON-encoded arguments instead of the tests: the real caddy root
// command with this package's commands registered, as in a built binary.
const envMainArgs = "LATCHKEY_CLI_TEST_MAIN_ARGS"

func TestMain(m *testing.M) {
	if raw := os.Getenv(envMainArgs); raw != "" {
		var args []string
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			panic(err)
		}
		os.Args = append([]string{"latchkey"}, args...)
		caddycmd.Main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestExitStatus runs the commands under caddycmd.Main and checks the
// exit status and the single stderr line.
func TestExitStatus(t *testing.T) {
	admin := newFakeAdmin(t, map[string]answer{
		"GET /api/phantom/openai": {200, `{"name":"openai","kind":"static","phantom":"lk_ph_1"}`},
		"DELETE /api/credentials/openai": {409, `{"error":"in use","code":"conflict",` +
			`"bindings":[{"id":"bnd_1","destination":"api.openai.com"}]}`},
	})
	conn := []string{"--address", admin.addr, "--token-file", writeToken(t)}

	cases := []struct {
		name       string
		args       []string
		wantStatus int
		wantOut    string
		wantErr    string
	}{
		{name: "success", args: append([]string{"phantom", "openai"}, conn...),
			wantOut: "lk_ph_1\n"},
		{name: "conflict", args: append([]string{"cred", "remove", "openai"}, conn...),
			wantStatus: 1, wantErr: `latchkey: "openai" is still used by bindings bnd_1 ` +
				"(api.openai.com); remove them with: latchkey bind remove bnd_1\n"},
		{name: "unreachable", wantStatus: 1,
			args: []string{"cred", "list", "--address", "unix/" + shortTempDir(t) + "/x.sock",
				"--token-file", writeToken(t)},
			wantErr: "latchkey: cannot reach the admin endpoint at "},
		// The root is caddycmd's, named after caddy.CustomBinaryName.
		{name: "usage error", args: []string{"cred", "add"}, wantStatus: 1,
			wantErr: "latchkey: expected 1 argument(s), got 0; " +
				"usage: caddy cred add <name> [--type oauth --token-url URL] [flags]\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, _ := json.Marshal(tc.args)
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), envMainArgs+"="+string(raw))
			var out, errOut strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &errOut
			err := cmd.Run()

			status := 0
			if ee, ok := errors.AsType[*exec.ExitError](err); ok {
				status = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if status != tc.wantStatus {
				t.Errorf("exit status = %d, want %d (stderr %q)", status, tc.wantStatus,
					errOut.String())
			}
			if out.String() != tc.wantOut {
				t.Errorf("stdout = %q, want %q", out.String(), tc.wantOut)
			}
			if got := errOut.String(); !strings.HasPrefix(got, tc.wantErr) ||
				strings.Count(got, "\n") > 1 || (tc.wantErr == "" && got != "") {
				t.Errorf("stderr = %q, want one line starting %q", got, tc.wantErr)
			}
		})
	}
}
