package main

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/latchkeyproxy/latchkey/internal/testkit"
)

// The fake upstream is this binary run as `latchkey-bench upstream`, a
// child process of its own, so that its CPU and memory are not mixed with
// the load generator's. It serves TLS (HTTP/1.1 and HTTP/2) on loopback
// with a certificate from the run's own test CA, valid for *.bench and
// *.mint.bench.

// upstreamFiles are the names, inside the run directory, of what the
// driver hands the upstream.
const (
	caFile      = "test-ca.pem"
	leafFile    = "upstream.pem"
	leafKeyFile = "upstream-key.pem"
	authFile    = "upstream-auth.txt"
)

// Upstream endpoints.
const (
	pathJSON     = "/v1/json"
	pathSSE      = "/v1/sse"
	pathDownload = "/v1/download"
	pathUpload   = "/v1/upload"
	pathProbe    = "/v1/probe"
)

// jsonResponse is the small JSON answer, about the size of a short
// completion.
var jsonResponse = []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1767225600,` +
	`"model":"bench-1","choices":[{"index":0,"message":{"role":"assistant","content":` +
	`"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":` +
	`12,"completion_tokens":9,"total_tokens":21}}`)

// jsonRequest is the small JSON request body.
var jsonRequest = []byte(`{"model":"bench-1","messages":[{"role":"system","content":"You ` +
	`are terse."},{"role":"user","content":"Say hello."}],"max_tokens":32,"stream":false}`)

// writeTestPKI makes an ECDSA CA and the upstream's leaf in dir.
func writeTestPKI(dir string) error {
	ca, err := testkit.NewCA("latchkey-bench test CA", []string{"*.bench", "*.mint.bench"},
		24*time.Hour)
	if err != nil {
		return err
	}
	leafDER := ca.Leaf.Certificate[0]
	leafKey := ca.LeafKey
	keyDER, err := x509.MarshalECPrivateKey(leafKey)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		caFile:      ca.PEM,
		leafFile:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		leafKeyFile: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// upstreamProc is the running upstream child.
type upstreamProc struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// startUpstream runs the upstream child on dir's files and waits for the
// address it listens on.
func startUpstream(dir string, auth []string) (*upstreamProc, error) {
	if err := os.WriteFile(filepath.Join(dir, authFile), []byte(strings.Join(auth, "\n")+"\n"),
		0o600); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "upstream", "-dir", dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	_ = stdin // held open: the child exits when the driver's end closes
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	bindToDriver(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	u := &upstreamProc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(u.done) }()
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case l, ok := <-line:
		addr, found := strings.CutPrefix(l, "listening ")
		if !ok || !found {
			u.stop()
			return nil, fmt.Errorf("upstream did not start (said %q)", l)
		}
		u.addr = addr
	case <-time.After(15 * time.Second):
		u.stop()
		return nil, errors.New("upstream did not start within 15s")
	}
	return u, nil
}

func (u *upstreamProc) pid() int { return u.cmd.Process.Pid }

func (u *upstreamProc) stop() {
	u.cmd.Process.Kill()
	select {
	case <-u.done:
	case <-time.After(5 * time.Second):
	}
}

// runUpstream is the child's main.
func runUpstream(args []string) {
	fs := flag.NewFlagSet("upstream", flag.ExitOnError)
	dir := fs.String("dir", "", "run directory with the certificate, key and allowed tokens")
	fs.Parse(args)

	cert, err := tls.LoadX509KeyPair(filepath.Join(*dir, leafFile), filepath.Join(*dir, leafKeyFile))
	if err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
	raw, err := os.ReadFile(filepath.Join(*dir, authFile))
	if err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
	allowed := map[string]bool{}
	for _, l := range strings.Split(string(raw), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			allowed["Bearer "+l] = true
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
	srv := &http.Server{
		Handler:           &fakeUpstream{allowed: allowed, pattern: bodyPattern()},
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	fmt.Printf("listening %s\n", ln.Addr())
	// The driver holds our stdin open; when it goes away, so do we.
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	if err := srv.ServeTLS(ln, "", ""); err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
}

// fakeUpstream answers the benchmark's endpoints. Requests must carry one
// of the real secrets (the proxies inject them; direct and tunnelled
// clients send them themselves), so a cell whose injection broke shows up
// as errors instead of as a fast run.
type fakeUpstream struct {
	allowed map[string]bool
	pattern []byte
}

func (u *fakeUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != pathProbe && !u.allowed[r.Header.Get("Authorization")] {
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	switch r.URL.Path {
	case pathJSON:
		io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(jsonResponse)))
		w.Write(jsonResponse)
	case pathSSE:
		u.sse(w, r)
	case pathDownload:
		n, _ := strconv.ParseInt(r.URL.Query().Get("bytes"), 10, 64)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		for n > 0 {
			chunk := u.pattern[:min(int64(len(u.pattern)), n)]
			if _, err := w.Write(chunk); err != nil {
				return
			}
			n -= int64(len(chunk))
		}
	case pathUpload:
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"bytes":%d,"sha256":"%s"}`, n, hex.EncodeToString(h.Sum(nil)))
	case pathProbe:
		// Answer before reading the body, and flush, so the client learns
		// when the request reached the upstream: the proxy forwarded it
		// without holding its body back.
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "data: headers-seen\n\n")
		http.NewResponseController(w).Flush()
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		fmt.Fprintf(w, "data: bytes=%d sha256=%s\n\n", n, hex.EncodeToString(h.Sum(nil)))
	default:
		http.NotFound(w, r)
	}
}

// sse streams n events, flushing each, as a streaming completion does.
func (u *fakeUpstream) sse(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	buf := make([]byte, 0, 128)
	for i := range n {
		buf = append(buf[:0], `data: {"type":"response.output_text.delta","seq":`...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, `,"delta":"tok"}`+"\n\n"...)
		if _, err := w.Write(buf); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// bodyPattern is 1 MiB of JSON-like text, the content of transfers: what
// the proxy's response scrub and request swap scan, with no secret in it.
func bodyPattern() []byte {
	var b strings.Builder
	for i := 0; b.Len() < 1<<20; i++ {
		fmt.Fprintf(&b, `{"id":%d,"role":"assistant","content":"lorem ipsum dolor sit amet, `+
			`consectetur adipiscing elit","tokens":%d},`+"\n", i*7919%1000003, i%4096)
	}
	return []byte(b.String()[:1<<20])
}
