package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/latchkeyproxy/latchkey/internal/testkit"
)

// instance is one bin/latchkey child process: its directory (Caddyfile,
// admin socket, data dir, Caddy storage, HOME, log), the port it serves
// on and a client for its admin socket.
type instance struct {
	name    string
	dir     string
	dataDir string
	sock    string
	port    int
	logPath string
	token   string
	root    *x509.CertPool // root of the instance's Caddy local CA
	admin   *http.Client
	cmd     *exec.Cmd
	done    chan struct{}
}

// newInstance prepares an instance directory under parent.
func newInstance(parent, name string) (*instance, error) {
	dir := filepath.Join(parent, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	inst := &instance{
		name: name, dir: dir, dataDir: filepath.Join(dir, "data"),
		sock: filepath.Join(dir, "admin.sock"), port: port,
		logPath: filepath.Join(dir, "latchkey.log"),
	}
	inst.admin = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", inst.sock)
		},
	}}
	return inst, nil
}

// globalOptions is the global block every instance shares: admin on a unix
// socket, nothing installed into the system trust store, storage and
// config kept inside the run directory.
func (inst *instance) globalOptions(withLatchkey bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "{\n\tadmin unix/%s|0600\n\tskip_install_trust\n", inst.sock)
	fmt.Fprintf(&b, "\tstorage file_system %s\n\tpersist_config off\n\tgrace_period 1s\n",
		filepath.Join(inst.dir, "caddy"))
	// A free port for Caddy's HTTP listener, so that automatic HTTPS never
	// tries port 80.
	httpPort, _ := freePort()
	fmt.Fprintf(&b, "\thttp_port %d\n\tauto_https disable_redirects\n", httpPort)
	if withLatchkey {
		fmt.Fprintf(&b, "\tlatchkey {\n\t\tdata_dir %s\n\t}\n", inst.dataDir)
	}
	b.WriteString("}\n\n")
	return b.String()
}

// start writes the Caddyfile and runs the binary on it, then waits until
// the admin API and the serving port answer.
func (inst *instance) start(bin, caddyfile string, latchkeyApp bool) error {
	cfg := filepath.Join(inst.dir, "Caddyfile")
	if err := os.WriteFile(cfg, []byte(caddyfile), 0o600); err != nil {
		return err
	}
	logFile, err := os.OpenFile(inst.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "run", "--config", cfg, "--adapter", "caddyfile")
	home := filepath.Join(inst.dir, "home")
	cmd.Env = append(cleanEnv(), "HOME="+home, "XDG_DATA_HOME="+filepath.Join(home, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"))
	cmd.Dir = inst.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	bindToDriver(cmd)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting %s: %v", bin, err)
	}
	inst.cmd, inst.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); logFile.Close(); close(inst.done) }()

	deadline := time.Now().Add(45 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-inst.done:
			return fmt.Errorf("%s exited during start; log:\n%s", inst.name, inst.logTail())
		default:
		}
		if last = inst.ready(latchkeyApp); last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
	inst.stop()
	return fmt.Errorf("%s not ready after 45s: %v; log:\n%s", inst.name, last, inst.logTail())
}

func (inst *instance) ready(latchkeyApp bool) error {
	if latchkeyApp && inst.token == "" {
		raw, err := os.ReadFile(filepath.Join(inst.dataDir, "api_token"))
		if err != nil {
			return err
		}
		inst.token = strings.TrimSpace(string(raw))
	}
	if inst.root == nil {
		var ca struct {
			Root string `json:"root_certificate"`
		}
		if err := inst.api(http.MethodGet, "/pki/ca/local", nil, http.StatusOK, &ca); err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(ca.Root)) {
			return errors.New("no PEM certificate in root_certificate")
		}
		inst.root = pool
	}
	if latchkeyApp {
		if err := inst.api(http.MethodGet, "/api/credentials", nil, http.StatusOK, nil); err != nil {
			return err
		}
	}
	c, err := net.DialTimeout("tcp", inst.addr(), time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

func (inst *instance) addr() string { return "127.0.0.1:" + strconv.Itoa(inst.port) }

func (inst *instance) pid() int { return inst.cmd.Process.Pid }

// stop sends SIGINT and waits, killing the process after 10 s.
func (inst *instance) stop() {
	if inst.cmd == nil {
		return
	}
	inst.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-inst.done:
	case <-time.After(10 * time.Second):
		inst.cmd.Process.Kill()
		<-inst.done
	}
	inst.cmd = nil
}

// api sends one admin request and checks the status; out, when not nil,
// receives the decoded JSON answer.
func (inst *instance) api(method, path string, body any, want int, out any) error {
	status, raw, err := inst.call(method, path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %v", method, path, err)
	}
	if status != want {
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, status, want,
			bytes.TrimSpace(raw))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decoding %q: %v", method, path, raw, err)
		}
	}
	return nil
}

func (inst *instance) call(method, path string, body any) (int, []byte, error) {
	return testkit.AdminCall(inst.admin, inst.token, method, path, body, 64<<20)
}

// metric returns the value of a Prometheus sample on the admin /metrics
// endpoint whose line starts with prefix, or -1.
func (inst *instance) metric(prefix string) float64 {
	status, raw, err := inst.call(http.MethodGet, "/metrics", nil)
	if err != nil || status != http.StatusOK {
		return -1
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

func (inst *instance) logTail() string {
	raw, _ := os.ReadFile(inst.logPath)
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

// cleanEnv is the driver's environment without what would send the
// children's traffic elsewhere or make them write to the real HOME.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); strings.ToUpper(k) {
		case "HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "HTTP_PROXY", "HTTPS_PROXY",
			"ALL_PROXY", "NO_PROXY", "GODEBUG":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// freePort reserves a free loopback port and releases it for a child to
// take (there is a small race with other processes).
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tlsConfig trusts roots for server name name.
func tlsConfig(roots *x509.CertPool) *tls.Config {
	return &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
}
