package tests

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// requestIDHeader carries a unique id per test request, so a test finds
// the requests it sent among everything the shared upstream recorded.
const requestIDHeader = "X-Test-Request"

// wsReadLimit is the largest WebSocket message either side of the test
// accepts (the library's default is 32 KiB).
const wsReadLimit = 1 << 20

// gateTimeout bounds how long the SSE route waits for a test to open its
// gate, so a broken test cannot hang the upstream.
const gateTimeout = 20 * time.Second

// recordedRequest is what the upstream saw of one request.
type recordedRequest struct {
	Method   string      `json:"method"`
	Host     string      `json:"host"`
	Path     string      `json:"path"`
	RawQuery string      `json:"query"`
	Proto    string      `json:"proto"`
	Header   http.Header `json:"headers"`
	Body     string      `json:"body"`
}

// upstream is the fake TLS server standing in for api.test and the other
// hosts. It records every request and serves:
//
//   - /echo: a JSON document of the request it saw;
//   - /sse: ?n= events "data: i", each flushed; with ?gate=<id> it stops
//     after the first event until the test opens that gate;
//   - /ws: a WebSocket that first sends "auth-sha256:<hex>" (the digest of
//     the Authorization header of the upgrade request, so the check does
//     not need the secret to travel back) and then echoes every message;
//   - /leak: the request's Authorization value in the body (padded with
//     ?pad= bytes before it, to force streaming) and in X-Debug-Auth.
type upstream struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests []recordedRequest
	gates    map[string]chan struct{}
	sseSent  map[string]int
}

// startUpstream starts the upstream with the test PKI's leaf, over HTTP/2
// and HTTP/1.1.
func startUpstream(p *pki) *upstream {
	u := &upstream{gates: map[string]chan struct{}{}, sseSent: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", u.serveEcho)
	mux.HandleFunc("/sse", u.serveSSE)
	mux.HandleFunc("/ws", u.serveWebSocket)
	mux.HandleFunc("/leak", u.serveLeak)

	u.srv = httptest.NewUnstartedServer(u.record(mux))
	u.srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.leaf}}
	u.srv.EnableHTTP2 = true
	// Agents that refuse the certificate (as tests make them) are
	// expected; their handshake errors are noise.
	u.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	u.srv.StartTLS()
	return u
}

// addr is the upstream's "127.0.0.1:port".
func (u *upstream) addr() string {
	return u.srv.Listener.Addr().String()
}

// port is the upstream's TCP port.
func (u *upstream) port() string {
	return u.addr()[strings.LastIndexByte(u.addr(), ':')+1:]
}

func (u *upstream) close() {
	u.srv.CloseClientConnections()
	u.srv.Close()
}

// record stores the request (body included, read in full and put back)
// before handing it to next.
func (u *upstream) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
			return
		}
		rec := recordedRequest{
			Method: r.Method, Host: r.Host, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
			Proto: r.Proto, Header: r.Header.Clone(), Body: string(body),
		}
		u.mu.Lock()
		u.requests = append(u.requests, rec)
		u.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		next.ServeHTTP(w, r)
	})
}

// requestsWithID returns the recorded requests that carried id in
// requestIDHeader.
func (u *upstream) requestsWithID(id string) []recordedRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []recordedRequest
	for _, r := range u.requests {
		if r.Header.Get(requestIDHeader) == id {
			out = append(out, r)
		}
	}
	return out
}

// onlyRequest returns the one request recorded with id, failing the test
// when there is none or more than one.
func (u *upstream) onlyRequest(t *testing.T, id string) recordedRequest {
	t.Helper()
	reqs := u.requestsWithID(id)
	if len(reqs) != 1 {
		t.Fatalf("upstream requests with %s %s: expected 1, saw %d", requestIDHeader, id,
			len(reqs))
	}
	return reqs[0]
}

func (u *upstream) serveEcho(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(recordedRequest{
		Method: r.Method, Host: r.Host, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Proto: r.Proto, Header: r.Header, Body: string(body),
	})
}

// openGate registers a gate for the SSE route and returns the function
// that opens it.
func (u *upstream) openGate(id string) func() {
	ch := make(chan struct{})
	u.mu.Lock()
	u.gates[id] = ch
	u.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

// sseEventsSent reports how many events the SSE route has written for the
// request whose gate is id.
func (u *upstream) sseEventsSent(id string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.sseSent[id]
}

func (u *upstream) serveSSE(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil || n < 1 || n > 10000 {
		http.Error(w, "n must be 1-10000", http.StatusBadRequest)
		return
	}
	id := r.URL.Query().Get("gate")
	u.mu.Lock()
	gate := u.gates[id]
	u.mu.Unlock()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	for i := 1; i <= n; i++ {
		if _, err := fmt.Fprintf(w, "data: %d\n\n", i); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		u.mu.Lock()
		u.sseSent[id] = i
		u.mu.Unlock()

		if i == 1 && gate != nil {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			case <-time.After(gateTimeout):
				fmt.Fprintf(w, "event: error\ndata: gate %s never opened\n\n", id)
				return
			}
		}
	}
}

func (u *upstream) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	sum := sha256.Sum256([]byte(r.Header.Get("Authorization")))
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(wsReadLimit)

	ctx := r.Context()
	if err := c.Write(ctx, websocket.MessageText,
		[]byte("auth-sha256:"+hex.EncodeToString(sum[:]))); err != nil {
		return
	}
	// Echo a bounded number of messages; the tests send a handful.
	for range 1000 {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, data); err != nil {
			return
		}
	}
	c.Close(websocket.StatusNormalClosure, "enough")
}

func (u *upstream) serveLeak(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	pad, _ := strconv.Atoi(r.URL.Query().Get("pad"))
	pad = min(max(pad, 0), 1<<20)

	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Debug-Auth", auth)
	fmt.Fprintf(w, "%s\nyou sent: %s\nagain: %s\n", strings.Repeat("x", pad), auth, auth)
}
