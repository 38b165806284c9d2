package mitm

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
)

func TestConnReadsBufferedBytesFirst(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()

	go func() {
		// Two writes: the first lands in the bufio.Reader's buffer, the
		// second is still in the connection when NewConn is called.
		_, _ = client.Write([]byte("xbuffered|"))
		_, _ = client.Write([]byte("unread"))
	}()
	br := bufio.NewReader(server)
	if b, err := br.ReadByte(); err != nil || b != 'x' {
		t.Fatalf("ReadByte = %q, %v", b, err)
	}
	c := NewConn(server, br, Target{Host: "example.com", Port: "443"})
	if n := br.Buffered(); n != 0 {
		t.Errorf("bufio.Reader still holds %d bytes, want NewConn to drain it", n)
	}
	buf := make([]byte, len("buffered|unread"))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("reading: %v", err)
	}
	if string(buf) != "buffered|unread" {
		t.Errorf("read %q, want %q", buf, "buffered|unread")
	}
}

func TestNewConnTarget(t *testing.T) {
	tests := []struct {
		in         Target
		host, full string
	}{
		{Target{Host: "Example.COM", Port: "443"}, "example.com", "example.com:443"},
		{Target{Host: "[::1]", Port: "8443"}, "::1", "[::1]:8443"},
		{Target{Host: "10.0.0.1", Port: "443"}, "10.0.0.1", "10.0.0.1:443"},
	}
	for _, tt := range tests {
		t.Run(tt.in.Host, func(t *testing.T) {
			c := NewConn(nil, nil, tt.in)
			if got := c.Target(); got.Host != tt.host || got.Port != tt.in.Port {
				t.Errorf("Target() = %+v, want host %q port %q", got, tt.host, tt.in.Port)
			}
			if got := c.Target().String(); got != tt.full {
				t.Errorf("Target().String() = %q, want %q", got, tt.full)
			}
		})
	}
}

// wrapped is a connection wrapper that exposes what it wraps, as
// tls.Conn does.
type wrapped struct{ net.Conn }

func (w wrapped) NetConn() net.Conn { return w.Conn }

func TestTargetFrom(t *testing.T) {
	raw, other := net.Pipe()
	defer raw.Close()
	defer other.Close()
	want := Target{Host: "example.com", Port: "443"}
	c := NewConn(raw, nil, want)
	tests := []struct {
		name string
		conn net.Conn
		ok   bool
	}{
		{"conn", c, true},
		{"tls server over conn", tls.Server(c, &tls.Config{}), true},
		{"tls over wrapper over conn", tls.Server(wrapped{c}, &tls.Config{}), true},
		{"plain conn", raw, false},
		{"tls over plain conn", tls.Server(raw, &tls.Config{}), false},
		{"nil", nil, false},
		{"typed nil conn", (*Conn)(nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := TargetFrom(tt.conn)
			if ok != tt.ok || (ok && got != want) {
				t.Errorf("TargetFrom = %+v, %v, want %+v, %v", got, ok, want, tt.ok)
			}
		})
	}
}

// targetKey is the context key the test server's ConnContext stores the
// CONNECT target under.
type targetKey struct{}

// newInterceptServer starts the long-lived TLS-terminating HTTP server that
// intercepted connections are pushed to, and returns the Listener feeding it.
// Its handler answers with the CONNECT target and the protocol it served.
func newInterceptServer(t *testing.T, iss *Issuer) *Listener {
	t.Helper()
	l := NewListener(nil)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			target, ok := r.Context().Value(targetKey{}).(Target)
			if !ok {
				http.Error(w, "no target", http.StatusInternalServerError)
				return
			}
			fmt.Fprintf(w, "%s %s", target, r.Proto)
		}),
		TLSConfig: &tls.Config{
			GetCertificate: iss.GetCertificate,
			NextProtos:     []string{"h2", "http/1.1"},
		},
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if target, ok := TargetFrom(c); ok {
				ctx = context.WithValue(ctx, targetKey{}, target)
			}
			return ctx
		},
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(tls.NewListener(l, srv.TLSConfig)) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; err != http.ErrServerClosed {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
	return l
}

// pipelinedConn is the client end of a CONNECT tunnel that does not wait
// for the proxy's answer: the CONNECT request goes out in the same write as
// the TLS ClientHello, and the proxy's response is consumed before the first
// TLS bytes are read.
type pipelinedConn struct {
	net.Conn
	connect []byte // sent with the first Write
	br      *bufio.Reader
	gotResp bool
}

func (p *pipelinedConn) Write(b []byte) (int, error) {
	if p.connect == nil {
		return p.Conn.Write(b)
	}
	buf := append(p.connect, b...)
	p.connect = nil
	if _, err := p.Conn.Write(buf); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (p *pipelinedConn) Read(b []byte) (int, error) {
	if !p.gotResp {
		p.gotResp = true
		resp, err := http.ReadResponse(p.br, &http.Request{Method: http.MethodConnect})
		if err != nil {
			return 0, fmt.Errorf("reading CONNECT response: %v", err)
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("CONNECT answered %s", resp.Status)
		}
	}
	return p.br.Read(b)
}

// TestInterceptTLS drives the HTTP/1.1 CONNECT path end to end: a front
// server reads the CONNECT from a loopback socket (its bufio.Reader also
// picking up the start of the ClientHello), wraps the socket in a Conn and
// pushes it to the intercepting server, which completes the handshake with a
// minted leaf and answers over HTTP/1.1 or HTTP/2.
func TestInterceptTLS(t *testing.T) {
	ca := newTestCA(t)
	iss := newTestIssuer(t, ca, 0)
	l := newInterceptServer(t, iss)

	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening: %v", err)
	}
	t.Cleanup(func() { front.Close() })
	buffered := make(chan int, 16)
	go func() {
		for {
			c, err := front.Accept()
			if err != nil {
				return
			}
			go serveConnect(t, c, l, buffered)
		}
	}()

	tests := []struct {
		name       string
		host       string
		nextProtos []string
		wantProto  string
	}{
		{"http1", "example.com", []string{"http/1.1"}, "HTTP/1.1"},
		{"http2", "example.com", []string{"h2", "http/1.1"}, "HTTP/2.0"},
		{"http1 ip without sni", "127.0.0.1", []string{"http/1.1"}, "HTTP/1.1"},
		{"http2 ipv6 without sni", "::1", []string{"h2"}, "HTTP/2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := net.JoinHostPort(tt.host, "443")
			connect := "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n"
			tr := &http.Transport{
				ForceAttemptHTTP2: true,
				DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					var d net.Dialer
					raw, err := d.DialContext(ctx, "tcp", front.Addr().String())
					if err != nil {
						return nil, err
					}
					pc := &pipelinedConn{
						Conn:    raw,
						connect: []byte(connect),
						br:      bufio.NewReader(raw),
					}
					tc := tls.Client(pc, &tls.Config{
						RootCAs:    ca.pool(),
						ServerName: tt.host,
						NextProtos: tt.nextProtos,
					})
					if err := tc.HandshakeContext(ctx); err != nil {
						raw.Close()
						return nil, err
					}
					return tc, nil
				},
			}
			defer tr.CloseIdleConnections()

			resp, err := (&http.Client{Transport: tr}).Get("https://" + target + "/")
			if err != nil {
				t.Fatalf("GET through the tunnel: %v", err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("reading body: %v", err)
			}
			if resp.Proto != tt.wantProto {
				t.Errorf("response protocol = %s, want %s", resp.Proto, tt.wantProto)
			}
			if want := target + " " + tt.wantProto; string(body) != want {
				t.Errorf("handler saw %q, want %q", body, want)
			}
			if n := <-buffered; n == 0 {
				t.Error("front server buffered nothing past the CONNECT; the test lost its point")
			}
		})
	}
}

// serveConnect plays the proxy's CONNECT handler for TestInterceptTLS.
func serveConnect(t *testing.T, c net.Conn, l *Listener, buffered chan<- int) {
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil || req.Method != http.MethodConnect {
		t.Errorf("front server: reading CONNECT: %v", err)
		c.Close()
		return
	}
	// The client sent the ClientHello in the same write as the CONNECT, so
	// wait for its first bytes to be buffered: this is the state NewConn
	// must handle, with the record header already out of the socket.
	if _, err := br.Peek(5); err != nil {
		t.Errorf("front server: peeking ClientHello: %v", err)
		c.Close()
		return
	}
	buffered <- br.Buffered()
	host, port, err := net.SplitHostPort(req.Host)
	if err != nil {
		t.Errorf("front server: CONNECT target %q: %v", req.Host, err)
		c.Close()
		return
	}
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection Established\r\n\r\n"); err != nil {
		c.Close()
		return
	}
	if err := l.Push(NewConn(c, br, Target{Host: host, Port: port})); err != nil {
		c.Close()
	}
}

func TestConnNetConn(t *testing.T) {
	raw, other := net.Pipe()
	defer raw.Close()
	defer other.Close()
	if got := NewConn(raw, nil, Target{}).NetConn(); got != raw {
		t.Error("NetConn() does not return the wrapped connection")
	}
}
