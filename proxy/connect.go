package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/latchkeyproxy/latchkey/mitm"
)

// serveConnect answers a CONNECT: bound hosts are intercepted, every other
// host is tunnelled blindly (or handed to the next handler in passthrough
// mode), so certificate pinning elsewhere keeps working.
func (h *Handler) serveConnect(w http.ResponseWriter, r *http.Request,
	next caddyhttp.Handler) error {
	target, port, err := splitTarget(r.Host, 443)
	if err != nil {
		http.Error(w, "latchkey: "+err.Error(), http.StatusBadRequest)
		return nil
	}

	if h.engine.Plan(target.Host, port).Intercepted() {
		return h.serveIntercepted(w, r, target)
	}
	if h.Passthrough {
		return next.ServeHTTP(w, r)
	}
	return h.serveTunnel(w, r, target)
}

// serveTunnel connects the agent to the destination and copies bytes both
// ways without looking at them.
func (h *Handler) serveTunnel(w http.ResponseWriter, r *http.Request, target mitm.Target) error {
	upstream, err := h.dialer.DialContext(r.Context(), "tcp",
		net.JoinHostPort(target.Host, target.Port))
	if err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, errPrivateDestination) {
			status = http.StatusForbidden
		}
		h.logger.Info("tunnel refused", zap.String("host", target.Host),
			zap.String("port", target.Port), zap.Int("status", status), zap.Error(err))
		http.Error(w, "latchkey: "+err.Error(), status)
		return nil
	}
	defer upstream.Close()

	client, err := h.takeOver(w, r)
	if err != nil {
		return err
	}
	defer client.Close()
	pipe(client, upstream)
	return nil
}

// takeOver answers 200 to a CONNECT and returns the agent's side of the
// tunnel as a connection: the hijacked TCP connection for HTTP/1.1, or the
// request stream for HTTP/2 (whose connection carries other streams).
func (h *Handler) takeOver(w http.ResponseWriter, r *http.Request) (net.Conn, error) {
	if r.ProtoMajor >= 2 {
		w.WriteHeader(http.StatusOK)
		if err := http.NewResponseController(w).Flush(); err != nil {
			return nil, err
		}
		return mitm.NewStreamConn(r.Body, w, localAddr(r), remoteAddr(r)), nil
	}

	w.WriteHeader(http.StatusOK)
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, err
	}
	if err := brw.Flush(); err != nil {
		conn.Close()
		return nil, err
	}
	// The server's deadlines were for the CONNECT request; the tunnel
	// lives as long as the agent keeps it.
	conn.SetDeadline(time.Time{})
	return &bufferedConn{Conn: conn, r: brw.Reader}, nil
}

// pipe copies both ways until both directions are done, closing the write
// side of each connection when its source ends so half-closes propagate.
func pipe(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	copyHalf := func(dst, src net.Conn) {
		defer wg.Done()
		buf := copyBuffers.Get().(*[]byte)
		io.CopyBuffer(dst, src, *buf)
		copyBuffers.Put(buf)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			dst.Close()
		}
	}
	go copyHalf(a, b)
	go copyHalf(b, a)
	wg.Wait()
}

// bufferedConn reads first what the HTTP server had already buffered from
// the agent, such as a TLS ClientHello sent right behind the CONNECT.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// CloseWrite half-closes the underlying TCP connection when it can.
func (c *bufferedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

func localAddr(r *http.Request) net.Addr {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return a
	}
	return &net.TCPAddr{}
}

func remoteAddr(r *http.Request) net.Addr {
	if a, err := net.ResolveTCPAddr("tcp", r.RemoteAddr); err == nil {
		return a
	}
	return &net.TCPAddr{}
}
