package tests

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchkeyproxy/latchkey/internal/testkit"
)

// Bounds of the instance lifecycle.
const (
	startTimeout = 30 * time.Second
	stopTimeout  = 15 * time.Second
	pollInterval = 20 * time.Millisecond
	cliTimeout   = 30 * time.Second
)

// instanceOptions says how to configure an instance.
type instanceOptions struct {
	// dir reuses an existing instance directory (its data dir, Caddy
	// storage and log) instead of making a new one.
	dir string

	// handlerLines are extra lines inside the latchkey directive block,
	// such as "basic_auth agent s3cret".
	handlerLines []string

	// comment is written as a comment at the top of the Caddyfile.
	comment string
}

// instance is one running latchkey process and what a test needs to talk
// to it.
type instance struct {
	// dir holds everything of the instance: Caddyfile, admin socket, data
	// dir, Caddy storage, HOME and the log.
	dir string

	// dataDir is latchkey's data_dir.
	dataDir string

	// sock is the admin socket's path; adminAddress is it as Caddy and the
	// CLI spell it.
	sock         string
	adminAddress string

	// configPath is the Caddyfile.
	configPath string

	// logPath receives the process's stdout and stderr.
	logPath string

	// proxyURL is the forward proxy agents use.
	proxyURL *url.URL

	// token is the admin API bearer token.
	token string

	// caddyRoot trusts only the root of Caddy's local CA, which signs the
	// certificates of intercepted hosts: how the agent sees the world.
	caddyRoot *x509.CertPool

	opts    instanceOptions
	rest    *http.Client
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	logFile *os.File
}

// newInstance starts an instance owned by t and stopped when t ends. Its
// log is shown when t fails.
func newInstance(t *testing.T, opts instanceOptions) *instance {
	t.Helper()
	inst, err := startInstance(opts)
	if err != nil {
		t.Fatalf("starting latchkey: %v", err)
	}
	if opts.dir == "" {
		t.Cleanup(func() { os.RemoveAll(inst.dir) })
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("latchkey log (%s):\n%s", inst.logPath, inst.logTail(0, 150))
		}
		if err := inst.stop(); err != nil {
			t.Errorf("stopping latchkey: %v", err)
		}
	})
	return inst
}

// startInstance writes a Caddyfile and runs `latchkey run` on it, and
// returns once the admin API answers. On error nothing is left running.
func startInstance(opts instanceOptions) (*instance, error) {
	dir := opts.dir
	if dir == "" {
		// Not t.TempDir: unix socket paths must stay under ~100 bytes,
		// and test names can be long.
		var err error
		if dir, err = os.MkdirTemp("", "lk-"); err != nil {
			return nil, err
		}
	}
	inst := &instance{
		dir:        dir,
		dataDir:    filepath.Join(dir, "data"),
		sock:       filepath.Join(dir, "admin.sock"),
		configPath: filepath.Join(dir, "Caddyfile"),
		logPath:    filepath.Join(dir, "latchkey.log"),
		opts:       opts,
	}
	inst.adminAddress = "unix/" + inst.sock
	inst.rest = &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", inst.sock)
			},
		},
	}

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	inst.proxyURL = &url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(port)}
	if err := inst.writeCaddyfile(nil); err != nil {
		return nil, err
	}

	if err := inst.run(); err != nil {
		return nil, err
	}
	if err := inst.waitReady(); err != nil {
		log := inst.logTail(0, 80)
		inst.stop()
		return nil, fmt.Errorf("%v\nlatchkey log:\n%s", err, log)
	}
	return inst, nil
}

// freePort reserves a free TCP port on 127.0.0.1 and releases it for the
// instance to take (there is a small race with other processes).
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeCaddyfile writes the instance's Caddyfile, with extraOverrides
// mapped to the upstream on top of the three standard hosts.
func (inst *instance) writeCaddyfile(extraOverrides []string) error {
	var b strings.Builder
	if inst.opts.comment != "" {
		fmt.Fprintf(&b, "# %s\n", inst.opts.comment)
	}
	fmt.Fprintf(&b, `{
	admin %s|0600
	skip_install_trust
	storage file_system %s
	persist_config off
	grace_period 2s
	latchkey {
		data_dir %s
	}
}

`, inst.adminAddress, filepath.Join(inst.dir, "caddy"), inst.dataDir)

	// The site address has no host: Caddy would otherwise add a host
	// matcher for it, which no CONNECT request (Host api.test:443) passes.
	fmt.Fprintf(&b, "http://:%s {\n\tbind 127.0.0.1\n\troute {\n\t\tlatchkey {\n",
		inst.proxyURL.Port())
	hosts := append([]string{"api.test", "unbound.test", "other.test"}, extraOverrides...)
	for _, h := range hosts {
		fmt.Fprintf(&b, "\t\t\tupstream_override %s %s\n", h, fakeUpstream.addr())
	}
	fmt.Fprintf(&b, "\t\t\tupstream_root_ca %s\n", testPKI.caFile)
	for _, line := range inst.opts.handlerLines {
		fmt.Fprintf(&b, "\t\t\t%s\n", line)
	}
	b.WriteString("\t\t}\n\t}\n}\n")
	return os.WriteFile(inst.configPath, []byte(b.String()), 0o600)
}

// env is the environment of the instance and of CLI runs: HOME and the XDG
// directories point into the instance directory, so nothing is written to
// the real user's.
func (inst *instance) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "HTTP_PROXY", "HTTPS_PROXY",
			"http_proxy", "https_proxy", "ALL_PROXY", "all_proxy":
			continue
		}
		env = append(env, kv)
	}
	home := filepath.Join(inst.dir, "home")
	return append(env, "HOME="+home,
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"))
}

// run starts the process, appending its output to the log file.
func (inst *instance) run() error {
	logFile, err := os.OpenFile(inst.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(latchkeyBin, "run", "--config", inst.configPath,
		"--adapter", "caddyfile")
	cmd.Env = inst.env()
	cmd.Dir = inst.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	bindToTestProcess(cmd)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting %s: %v", latchkeyBin, err)
	}
	inst.cmd, inst.logFile, inst.exited = cmd, logFile, make(chan struct{})
	go func() {
		inst.waitErr = cmd.Wait()
		close(inst.exited)
	}()
	return nil
}

// waitReady polls until the admin API answers an authenticated request and
// the proxy port accepts connections.
func (inst *instance) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-inst.exited:
			return fmt.Errorf("latchkey exited during start: %v", inst.waitErr)
		default:
		}
		if last = inst.probe(); last == nil {
			return nil
		}
		time.Sleep(pollInterval) // polling interval, not synchronisation
	}
	return fmt.Errorf("latchkey not ready after %v: %v", startTimeout, last)
}

// probe checks readiness once.
func (inst *instance) probe() error {
	if inst.token == "" {
		raw, err := os.ReadFile(filepath.Join(inst.dataDir, "api_token"))
		if err != nil {
			return err
		}
		inst.token = strings.TrimSpace(string(raw))
	}
	status, body, err := inst.api(http.MethodGet, "/api/credentials", nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET /api/credentials: status %d: %s", status, body)
	}
	conn, err := net.DialTimeout("tcp", inst.proxyURL.Host, time.Second)
	if err != nil {
		return err
	}
	conn.Close()
	if inst.caddyRoot == nil {
		return inst.fetchCaddyRoot()
	}
	return nil
}

// fetchCaddyRoot reads the root of Caddy's local CA from the admin API.
func (inst *instance) fetchCaddyRoot() error {
	status, body, err := inst.api(http.MethodGet, "/pki/ca/local", nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET /pki/ca/local: status %d: %s", status, body)
	}
	var ca struct {
		Root string `json:"root_certificate"`
	}
	if err := json.Unmarshal(body, &ca); err != nil {
		return fmt.Errorf("GET /pki/ca/local: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(ca.Root)) {
		return fmt.Errorf("GET /pki/ca/local: no PEM certificate in root_certificate")
	}
	inst.caddyRoot = pool
	return nil
}

// stop sends SIGINT and waits for the process to exit, killing it after
// stopTimeout. Stopping a stopped instance does nothing.
func (inst *instance) stop() error {
	if inst.cmd == nil {
		return nil
	}
	defer func() {
		inst.logFile.Close()
		inst.cmd = nil
	}()
	select {
	case <-inst.exited:
		return fmt.Errorf("latchkey had already exited: %v", inst.waitErr)
	default:
	}
	inst.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-inst.exited:
		return nil
	case <-time.After(stopTimeout):
	}
	inst.cmd.Process.Kill()
	<-inst.exited
	return fmt.Errorf("latchkey did not exit within %v of SIGINT; killed", stopTimeout)
}

// restart stops the instance and starts a new process on the same
// directory and Caddyfile.
func (inst *instance) restart(t *testing.T) {
	t.Helper()
	if err := inst.stop(); err != nil {
		t.Fatalf("stopping latchkey: %v", err)
	}
	inst.token, inst.caddyRoot = "", nil
	if err := inst.run(); err != nil {
		t.Fatalf("restarting latchkey: %v", err)
	}
	if err := inst.waitReady(); err != nil {
		t.Fatalf("restarting latchkey: %v", err)
	}
}

// logTail returns the log from byte offset from, at most the last max
// lines of it.
func (inst *instance) logTail(from int64, max int) string {
	raw, err := os.ReadFile(inst.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if from > int64(len(raw)) {
		from = 0
	}
	lines := strings.Split(strings.TrimRight(string(raw[from:]), "\n"), "\n")
	if len(lines) > max {
		lines = append([]string{fmt.Sprintf("(%d earlier lines left out)",
			len(lines)-max)}, lines[len(lines)-max:]...)
	}
	return strings.Join(lines, "\n")
}

// logSize is the current length of the log, for logTail.
func (inst *instance) logSize() int64 {
	fi, err := os.Stat(inst.logPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// showLogOnFailure arranges for the log written during t to be shown if t
// fails, for instances shared between tests.
func (inst *instance) showLogOnFailure(t *testing.T) {
	from := inst.logSize()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("latchkey log during this test:\n%s", inst.logTail(from, 100))
		}
	})
}

// api sends one request to the admin endpoint with the bearer token and
// returns the status and body. body, when not nil, is sent as JSON.
func (inst *instance) api(method, path string, body any) (int, []byte, error) {
	return testkit.AdminCall(inst.rest, inst.token, method, path, body, 4<<20)
}

// mustAPI is api that fails t unless the status is want, and decodes the
// answer into out when out is not nil.
func (inst *instance) mustAPI(t *testing.T, method, path string, body any, want int,
	out any) {
	t.Helper()
	status, raw, err := inst.api(method, path, body)
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

// cliResult is the outcome of one CLI run.
type cliResult struct {
	stdout, stderr string
	code           int
}

// cli runs a management subcommand with args, plus the flags that point
// it at this instance, feeding it stdin.
func (inst *instance) cli(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	full := append(append([]string{}, args...),
		"--data-dir", inst.dataDir, "--address", inst.adminAddress)
	return inst.exec(t, stdin, full...)
}

// exec runs the binary with exactly args in the instance's environment.
func (inst *instance) exec(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, latchkeyBin, args...)
	cmd.Env = inst.env()
	cmd.Dir = inst.dir
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.code = exitErr.ExitCode()
	default:
		t.Fatalf("running latchkey %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// mustCLI is cli that fails t unless the command exits 0.
func (inst *instance) mustCLI(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	return mustSucceed(t, args, inst.cli(t, stdin, args...))
}

// mustSucceed fails t unless res is a zero exit status, and returns its
// standard output.
func mustSucceed(t *testing.T, args []string, res cliResult) string {
	t.Helper()
	if res.code != 0 {
		t.Fatalf("latchkey %s: expected exit status 0, saw %d\nstdout: %s\nstderr: %s",
			strings.Join(args, " "), res.code, res.stdout, res.stderr)
	}
	return res.stdout
}
