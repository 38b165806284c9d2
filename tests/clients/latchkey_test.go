//go:build clients

package clients

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchkeyproxy/latchkey/internal/testkit"
)

// Bounds of a latchkey process's life.
const (
	startTimeout = 30 * time.Second
	stopTimeout  = 15 * time.Second
	readyPoll    = 25 * time.Millisecond
	apiTimeout   = 30 * time.Second
)

// latchkey is one running latchkey process, configured to send the fake
// hosts to the fake upstream and to refuse every other CONNECT.
type latchkey struct {
	dir      string
	dataDir  string
	sock     string
	logPath  string
	proxyURL string

	// caddyRoot is the PEM file of the root of Caddy's local CA, which
	// signs the certificates of intercepted hosts: what agents trust.
	caddyRoot string

	token  string
	rest   *http.Client
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// startLatchkey starts latchkey for t, stopped when t ends; its log is
// shown when t fails.
func startLatchkey(t *testing.T, f *fake) *latchkey {
	t.Helper()
	// Not t.TempDir: the admin socket's path must stay short.
	dir, err := os.MkdirTemp("", "lkc-")
	if err != nil {
		t.Fatal(err)
	}
	lk := &latchkey{
		dir: dir, dataDir: filepath.Join(dir, "data"),
		sock: filepath.Join(dir, "admin.sock"), logPath: filepath.Join(dir, "latchkey.log"),
	}
	lk.rest = &http.Client{Timeout: apiTimeout, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", lk.sock)
		},
	}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("latchkey log (%s):\n%s", lk.logPath, tail(lk.logPath, 150))
			t.Logf("fake upstream saw:\n%s", f.summary())
		}
		if err := lk.stop(); err != nil {
			t.Errorf("stopping latchkey: %v", err)
		}
		os.RemoveAll(dir)
	})

	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	lk.proxyURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := os.WriteFile(filepath.Join(dir, "Caddyfile"), []byte(lk.caddyfile(port, f)),
		0o600); err != nil {
		t.Fatal(err)
	}
	if err := lk.run(); err != nil {
		t.Fatal(err)
	}
	if err := lk.waitReady(); err != nil {
		t.Fatalf("latchkey did not start: %v", err)
	}
	return lk
}

// caddyfile is the configuration: the admin API on a unix socket, the
// proxy on port. Hosts latchkey intercepts are dialled at the fake; every
// other CONNECT reaches the respond directive and is refused, so nothing
// leaves the machine.
func (lk *latchkey) caddyfile(port int, f *fake) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{
	admin unix/%s|0600
	skip_install_trust
	storage file_system %s
	persist_config off
	grace_period 1s
	latchkey {
		data_dir %s
	}
}

http://:%d {
	bind 127.0.0.1
	route {
		latchkey {
			passthrough
			upstream_root_ca %s
`, lk.sock, filepath.Join(lk.dir, "caddy"), lk.dataDir, port, ca.pemFile)
	for _, h := range fakeHosts {
		fmt.Fprintf(&b, "\t\t\tupstream_override %s %s\n", h, f.addr())
	}
	b.WriteString("\t\t}\n\t\trespond \"latchkey client tests: this host is not reachable\" 403\n\t}\n}\n")
	return b.String()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (lk *latchkey) run() error {
	logFile, err := os.OpenFile(lk.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	home := filepath.Join(lk.dir, "home")
	cmd := exec.Command(latchkeyBin, "run", "--config", filepath.Join(lk.dir, "Caddyfile"),
		"--adapter", "caddyfile")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"XDG_DATA_HOME=" + filepath.Join(home, "data"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
	}
	cmd.Dir = lk.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The kernel kills latchkey if the test binary dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting %s: %v", latchkeyBin, err)
	}
	lk.cmd, lk.exited = cmd, make(chan struct{})
	go func() {
		lk.err = cmd.Wait()
		logFile.Close()
		close(lk.exited)
	}()
	return nil
}

// waitReady polls, within startTimeout, until the admin API answers and
// the proxy port accepts connections, then saves Caddy's root.
func (lk *latchkey) waitReady() error {
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	var last error
	for {
		if last = lk.probe(); last == nil {
			return nil
		}
		select {
		case <-lk.exited:
			return fmt.Errorf("latchkey exited: %v\n%s", lk.err, tail(lk.logPath, 60))
		case <-deadline.C:
			return fmt.Errorf("not ready after %v: %v\n%s", startTimeout, last,
				tail(lk.logPath, 60))
		case <-tick.C:
		}
	}
}

func (lk *latchkey) probe() error {
	if lk.token == "" {
		raw, err := os.ReadFile(filepath.Join(lk.dataDir, "api_token"))
		if err != nil {
			return err
		}
		lk.token = strings.TrimSpace(string(raw))
	}
	status, body, err := lk.api(http.MethodGet, "/pki/ca/local", nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET /pki/ca/local: %d %s", status, body)
	}
	var root struct {
		PEM string `json:"root_certificate"`
	}
	if err := json.Unmarshal(body, &root); err != nil || !strings.Contains(root.PEM,
		"BEGIN CERTIFICATE") {
		return fmt.Errorf("GET /pki/ca/local: no root certificate in %s", body)
	}
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(lk.proxyURL, "http://"), time.Second)
	if err != nil {
		return err
	}
	conn.Close()
	lk.caddyRoot = filepath.Join(lk.dir, "caddy-root.pem")
	return os.WriteFile(lk.caddyRoot, []byte(root.PEM), 0o644)
}

// stop interrupts latchkey and waits for it, killing it after stopTimeout.
func (lk *latchkey) stop() error {
	if lk.cmd == nil {
		return nil
	}
	cmd := lk.cmd
	lk.cmd = nil
	select {
	case <-lk.exited:
		return fmt.Errorf("latchkey had exited: %v", lk.err)
	default:
	}
	cmd.Process.Signal(syscall.SIGINT)
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-lk.exited:
		return nil
	case <-timer.C:
	}
	cmd.Process.Kill()
	<-lk.exited
	return fmt.Errorf("latchkey ignored SIGINT for %v and was killed", stopTimeout)
}

// api sends one request to the admin API with the bearer token.
func (lk *latchkey) api(method, path string, body any) (int, []byte, error) {
	return testkit.AdminCall(lk.rest, lk.token, method, path, body, 4<<20)
}

// mustAPI is api that fails t unless the answer has status want, decoding
// the answer into out when it is not nil.
func (lk *latchkey) mustAPI(t *testing.T, method, path string, body any, want int, out any) {
	t.Helper()
	status, raw, err := lk.api(method, path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if status != want {
		t.Fatalf("%s %s: expected status %d, saw %d: %s", method, path, want, status, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", method, path, raw, err)
		}
	}
}

// phantom is GET /api/phantom/{name}.
type phantom struct {
	Name         string `json:"name"`
	Kind         string `json:"kind"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	AccountID    string `json:"account_id"`
}

// addOAuth adds an account of the fake to latchkey as an OAuth credential,
// the way an operator does after logging the account in.
func (lk *latchkey) addOAuth(t *testing.T, a *account, tokenURL string, withIDToken bool) {
	t.Helper()
	body := map[string]any{
		"name": a.name, "type": "oauth", "access_token": a.access,
		"refresh_token": a.refresh, "token_url": tokenURL, "account_id": a.accountID,
		"expires_in": 8 * 3600,
	}
	if withIDToken {
		body["id_token"] = a.idToken
	}
	lk.mustAPI(t, http.MethodPost, "/api/credentials", body, http.StatusCreated, nil)
}

// pool creates a pool of members bound to host and returns its phantoms.
func (lk *latchkey) pool(t *testing.T, name, host string, members ...string) phantom {
	t.Helper()
	lk.mustAPI(t, http.MethodPost, "/api/pools", map[string]any{
		"name":    name,
		"members": members,
	}, http.StatusCreated, nil)
	lk.mustAPI(t, http.MethodPost, "/api/bindings", map[string]any{
		"credential":  name,
		"destination": host,
	}, http.StatusCreated, nil)
	var p phantom
	lk.mustAPI(t, http.MethodGet, "/api/phantom/"+name, nil, http.StatusOK, &p)
	if p.AccessToken == "" || p.RefreshToken == "" {
		t.Fatalf("GET /api/phantom/%s: no access or refresh phantom: %+v", name, p)
	}
	return p
}

// activeMember is the member GET /api/pools/{name} reports as active.
func (lk *latchkey) activeMember(t *testing.T, pool string) string {
	t.Helper()
	var st struct {
		Active string `json:"active"`
	}
	lk.mustAPI(t, http.MethodGet, "/api/pools/"+pool, nil, http.StatusOK, &st)
	return st.Active
}

// tail returns the last max lines of a file.
func tail(path string, max int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > max {
		lines = append([]string{fmt.Sprintf("(%d earlier lines left out)", len(lines)-max)},
			lines[len(lines)-max:]...)
	}
	return strings.Join(lines, "\n")
}
