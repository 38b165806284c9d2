// Command demo shows latchkey at work with nothing but this repository: it
// starts fake upstreams on loopback (an API that rate-limits its first
// account after a few requests, and an OAuth token host), starts latchkey,
// sets up two accounts and a pool through the CLI, and then acts as an agent
// that only ever holds phantoms, narrating what happens. Run it with
// `make demo`.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("bin", "bin/latchkey", "the latchkey binary")
	flag.Parse()
	if err := run(*bin); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// say prints one narrated step.
func say(format string, args ...any) {
	fmt.Printf("==> "+format+"\n", args...)
}

func run(bin string) error {
	dir, err := os.MkdirTemp("", "latchkey-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	ups, err := startUpstreams(dir)
	if err != nil {
		return err
	}
	defer ups.close()
	say("fake upstreams on %s: api.demo.test (rate-limits acct_a after 3 requests) "+
		"and auth.demo.test (OAuth token host)", ups.addr)

	lk, err := startLatchkey(bin, dir, ups)
	if err != nil {
		return err
	}
	defer lk.stop()
	say("latchkey running: proxy %s, admin %s", lk.proxyURL, lk.socket)

	// The operator's side: two real accounts, one pool, one binding.
	for _, acct := range []string{"acct_a", "acct_b"} {
		tokens := "real-access-" + acct + "\nreal-refresh-" + acct + "\n"
		if _, err := lk.cli(tokens, "cred", "add", acct, "--type", "oauth",
			"--token-url", "https://auth.demo.test/oauth/token"); err != nil {
			return err
		}
	}
	if _, err := lk.cli("", "pool", "create", "demo", "--members", "acct_a,acct_b"); err != nil {
		return err
	}
	if _, err := lk.cli("", "bind", "add", "demo", "--host", "api.demo.test"); err != nil {
		return err
	}
	out, err := lk.cli("", "phantom", "demo", "--json")
	if err != nil {
		return err
	}
	var ph struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal([]byte(out), &ph); err != nil {
		return fmt.Errorf("reading phantoms: %v", err)
	}
	say("operator: credentials acct_a and acct_b, pool \"demo\" bound to api.demo.test")
	say("the agent gets only phantoms: access %s…", ph.AccessToken[:24])

	// The agent's side: it only knows the proxy, Caddy's root and the
	// phantoms.
	agent, err := lk.agentClient()
	if err != nil {
		return err
	}
	for i := 1; i <= 5; i++ {
		status, body, err := agent.call("POST", "https://api.demo.test/v1/chat",
			`{"prompt":"hello `+fmt.Sprint(i)+`"}`, ph.AccessToken)
		if err != nil {
			return err
		}
		say("agent request %d -> %d %s", i, status, body)
	}
	say("the upstream saw: %s", strings.Join(ups.api.served(), ", "))

	refresh := `{"grant_type":"refresh_token","client_id":"demo-agent","refresh_token":"` +
		ph.RefreshToken + `"}`
	status, body, err := agent.call("POST", "https://auth.demo.test/oauth/token", refresh, "")
	if err != nil {
		return err
	}
	say("agent refresh through the token host -> %d %s", status, shorten(body))
	say("the token host saw the refresh token of %s", ups.auth.lastRefresh())

	if line := lk.auditLine(); line != "" {
		say("audit log: %s", line)
	}
	status2, err := lk.cli("", "pool", "status", "demo")
	if err != nil {
		return err
	}
	say("pool status:\n%s", status2)
	say("done: the agent never saw a 429, a real token or a real account")
	return nil
}

func shorten(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// instance is the running latchkey.
type instance struct {
	bin, dir, socket, proxyURL, dataDir string
	cmd                                 *exec.Cmd
	log                                 *bytes.Buffer
}

func startLatchkey(bin, dir string, ups *upstreams) (*instance, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	lk := &instance{bin: bin, dir: dir, socket: filepath.Join(dir, "admin.sock"),
		dataDir: filepath.Join(dir, "data"), proxyURL: "http://127.0.0.1:" + port,
		log: &bytes.Buffer{}}
	caddyfile := fmt.Sprintf(`{
	admin unix/%s|0600
	skip_install_trust
	storage file_system %s
	persist_config off
	latchkey {
		data_dir %s
	}
}
http://:%s {
	bind 127.0.0.1
	route {
		latchkey {
			upstream_override api.demo.test %s
			upstream_override auth.demo.test %s
			upstream_root_ca %s
		}
	}
}
`, lk.socket, filepath.Join(dir, "caddy"), lk.dataDir, port, ups.addr, ups.addr, ups.caFile)
	cfg := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfg, []byte(caddyfile), 0o600); err != nil {
		return nil, err
	}
	lk.cmd = exec.Command(bin, "run", "--config", cfg, "--adapter", "caddyfile")
	lk.cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	lk.cmd.Stdout, lk.cmd.Stderr = lk.log, lk.log
	if err := lk.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %v (run `make build` first)", bin, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := lk.cli("", "cred", "list"); err == nil {
			return lk, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	lk.stop()
	return nil, fmt.Errorf("latchkey did not start:\n%s", lk.log)
}

func (lk *instance) stop() {
	if lk.cmd.Process != nil {
		lk.cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { lk.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			lk.cmd.Process.Kill()
		}
	}
}

// cli runs a latchkey subcommand against this instance.
func (lk *instance) cli(stdin string, args ...string) (string, error) {
	args = append(args, "--address", "unix/"+lk.socket, "--data-dir", lk.dataDir)
	cmd := exec.Command(lk.bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("latchkey %s: %v: %s", strings.Join(args[:2], " "), err,
			strings.TrimSpace(errOut.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// auditLine returns the first failover line of latchkey's audit log.
func (lk *instance) auditLine() string {
	sc := bufio.NewScanner(bytes.NewReader(lk.log.Bytes()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "latchkey.audit") && strings.Contains(sc.Text(), "cred_failover") {
			return sc.Text()
		}
	}
	return ""
}

// agent is an HTTP client that goes through the proxy and trusts only
// Caddy's local CA, as an agent set up from the README would.
type agent struct{ client *http.Client }

func (lk *instance) agentClient() (*agent, error) {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", lk.socket)
	}}
	resp, err := (&http.Client{Transport: tr}).Get("http://admin/pki/ca/local")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var ca struct {
		Root string `json:"root_certificate"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ca); err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(ca.Root)) {
		return nil, errors.New("no root certificate from the admin API")
	}
	proxy, _ := url.Parse(lk.proxyURL)
	return &agent{client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: roots}}}}, nil
}

func (a *agent) call(method, target, body, bearer string) (int, string, error) {
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, strings.TrimSpace(string(b)), nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port, nil
}
