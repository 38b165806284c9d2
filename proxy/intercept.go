package proxy

import (
	"context"
	"crypto/tls"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/latchkeyproxy/latchkey/mitm"
)

// interceptServer serves the HTTP/1.1 and HTTP/2 requests inside
// intercepted tunnels. One long-lived http.Server per handler instance
// takes the tunnels' TLS connections from a channel-backed listener, so the
// standard library does the protocol work (ALPN, HTTP/2, keep-alive,
// WebSocket hijacking) for connections that did not come from a socket.
type interceptServer struct {
	listener *mitm.Listener
	server   *http.Server
}

type targetKey struct{}

func newInterceptServer(h *Handler) *interceptServer {
	l := mitm.NewListener(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	s := &http.Server{
		Handler:           http.HandlerFunc(h.serveInner),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		MaxHeaderBytes:    1 << 20,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if t, ok := mitm.TargetFrom(c); ok {
				ctx = context.WithValue(ctx, targetKey{}, t)
			}
			return ctx
		},
		// Agents that do not trust the CA fail the handshake; that is
		// worth seeing when debugging, not on every run.
		ErrorLog: newDebugStdLog(h.logger.Named("intercept")),
	}
	go s.Serve(l)
	return &interceptServer{listener: l, server: s}
}

// close stops taking new tunnels. Open ones keep being served until the
// agent closes them or they sit idle, so a reload never cuts a stream.
func (s *interceptServer) close() {
	s.listener.Close()
}

// serveIntercepted terminates TLS for a CONNECT to a bound host, with a
// certificate for the CONNECT target signed by the configured CA.
func (h *Handler) serveIntercepted(w http.ResponseWriter, r *http.Request,
	target mitm.Target) error {
	client, err := h.takeOver(w, r)
	if err != nil {
		return err
	}
	closed := &closeNotifyConn{Conn: client, done: make(chan struct{})}

	// The certificate is always for the CONNECT target, whatever SNI the
	// agent sends: the destination that decides what is injected is the
	// one the agent connected to.
	tlsConn := tls.Server(mitm.NewConn(closed, nil, target), &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return h.issuer.Certificate(target.Host)
		},
		NextProtos: []string{"h2", "http/1.1"},
		MinVersion: tls.VersionTLS12,
	})
	if err := h.intercept.listener.Push(tlsConn); err != nil {
		tlsConn.Close()
		return nil
	}

	// Hold the CONNECT request until the tunnel closes. Caddy's server
	// touches the connection's deadlines when a handler returns, which
	// must not happen to a connection that is still in use.
	<-closed.done
	return nil
}

// serveInner handles one request inside an intercepted tunnel.
func (h *Handler) serveInner(w http.ResponseWriter, r *http.Request) {
	target, ok := r.Context().Value(targetKey{}).(mitm.Target)
	if !ok {
		http.Error(w, "latchkey: tunnel without a target", http.StatusInternalServerError)
		return
	}

	// The Host must be the CONNECT target: otherwise an agent could open
	// a tunnel to one host and have the secrets of another injected.
	host, port, err := splitTarget(r.Host, atoiPort(target.Port))
	if err != nil || host.Host != target.Host || host.Port != target.Port {
		http.Error(w, "latchkey: request host does not match the tunnel's destination",
			http.StatusMisdirectedRequest)
		return
	}

	h.forward(w, r, &exchange{plan: h.engine.Plan(target.Host, port), target: target,
		scheme: "https", logger: h.logger})
}

// forward sends a request to its destination following its plan. At a
// token host that no binding names, only latchkey refreshes are touched;
// everything else passes as the agent sent it.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, x *exchange) {
	x.retryBodyLimit = h.RetryBodyLimit
	x.counter = h.engine.Count
	if x.plan.TokenHost {
		if r.Method == http.MethodPost && h.serveTokenPost(w, r, x) {
			return
		}
		x.passthrough = !x.plan.Bound()
	}
	if x.plan.Bound() && isWebSocketUpgrade(r) {
		h.serveWebSocket(w, r, x)
		return
	}
	h.upstream.proxy.ServeHTTP(w, withExchange(r, x))
}

// closeNotifyConn closes done when the connection is closed.
type closeNotifyConn struct {
	net.Conn
	once sync.Once
	done chan struct{}
}

func (c *closeNotifyConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.done) })
	return err
}

func atoiPort(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// newDebugStdLog adapts a zap logger for http.Server's error log at Debug.
func newDebugStdLog(l *zap.Logger) *log.Logger {
	std, err := zap.NewStdLogAt(l, zap.DebugLevel)
	if err != nil {
		return zap.NewStdLog(l)
	}
	return std
}
