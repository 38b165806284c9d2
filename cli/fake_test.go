package cli

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"
)

const testToken = "test-token-0123456789"

// answer is a canned response of the fake admin endpoint.
type answer struct {
	status int
	body   string
}

// seen is a request the fake admin endpoint received.
type seen struct {
	method string
	path   string
	auth   string
	origin string
	ctype  string
	body   string
}

// fakeAdmin is an admin endpoint on a unix socket that answers each
// "METHOD /escaped/path" with a canned response and records what it got.
type fakeAdmin struct {
	addr    string
	answers map[string]answer

	mu   sync.Mutex
	reqs []seen
}

func newFakeAdmin(t *testing.T, answers map[string]answer) *fakeAdmin {
	t.Helper()
	// Socket paths are limited to about 100 bytes, which a test's
	// TempDir can exceed.
	dir, err := os.MkdirTemp("", "lkcli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "admin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}

	f := &fakeAdmin{addr: "unix/" + sock, answers: answers}
	srv := httptest.NewUnstartedServer(f)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return f
}

func (f *fakeAdmin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, seen{method: r.Method, path: r.URL.EscapedPath(),
		auth: r.Header.Get("Authorization"), origin: r.Header.Get("Origin"),
		ctype: r.Header.Get("Content-Type"), body: string(body)})
	f.mu.Unlock()

	a, ok := f.answers[r.Method+" "+r.URL.EscapedPath()]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if a.body != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(a.status)
	io.WriteString(w, a.body)
}

// requests returns what the endpoint received so far.
func (f *fakeAdmin) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

// writeToken writes a token file and returns its path.
func writeToken(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "api_token")
	if err := os.WriteFile(path, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// newRoot builds the commands under a fresh root, the way caddycmd does:
// a command per registration, set up by its CobraFunc.
func newRoot() *cobra.Command {
	root := &cobra.Command{Use: "latchkey", SilenceUsage: true}
	for name, setup := range map[string]func(*cobra.Command){
		"cred": setupCred, "bind": setupBind, "pool": setupPool, "phantom": setupPhantom,
		"status": setupStatus,
	} {
		cmd := &cobra.Command{Use: name}
		setup(cmd)
		root.AddCommand(cmd)
	}
	return root
}

// run executes the CLI with stdin and returns its output.
func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errOut.String(), err
}
