package mitm

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"
)

func TestStreamConnReadDeadlineIsRecoverable(t *testing.T) {
	pr, pw := io.Pipe()
	sc := NewStreamConn(pr, httptest.NewRecorder(), nil, nil)
	defer sc.Close()

	// A deadline in the past fails the Read (whether or not it was already
	// blocked) but leaves the body read outstanding.
	if err := sc.SetReadDeadline(time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	_, err := sc.Read(buf)
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Read past deadline = %v, want a timeout net.Error", err)
	}

	sc.SetReadDeadline(time.Time{})
	go func() { _, _ = pw.Write([]byte("after timeout")) }()
	n, err := sc.Read(buf)
	if err != nil || string(buf[:n]) != "after timeout" {
		t.Fatalf("Read after clearing deadline = %q, %v", buf[:n], err)
	}

	pw.Close()
	if _, err := sc.Read(buf); err != io.EOF {
		t.Errorf("Read at end of body = %v, want io.EOF", err)
	}
}

func TestStreamConnReadsInSmallPieces(t *testing.T) {
	pr, pw := io.Pipe()
	sc := NewStreamConn(pr, httptest.NewRecorder(), nil, nil)
	defer sc.Close()
	go func() {
		_, _ = pw.Write([]byte("abcdef"))
		pw.Close()
	}()
	got, err := io.ReadAll(io.LimitReader(readerFunc(func(p []byte) (int, error) {
		return sc.Read(p[:min(len(p), 2)])
	}), 100))
	if err != nil || string(got) != "abcdef" {
		t.Errorf("read %q, %v, want %q", got, err, "abcdef")
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestStreamConnWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	sc := NewStreamConn(http.NoBody, rec, nil, nil)
	defer sc.Close()

	sc.SetWriteDeadline(time.Unix(1, 0))
	if _, err := sc.Write([]byte("late")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Write past deadline = %v, want os.ErrDeadlineExceeded", err)
	}
	if rec.Body.Len() != 0 {
		t.Errorf("a Write past its deadline reached the stream: %q", rec.Body)
	}

	// The recorder has no write deadline support; a future deadline must
	// still let the Write through.
	sc.SetWriteDeadline(time.Now().Add(time.Hour))
	if n, err := sc.Write([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if rec.Body.String() != "hello" || !rec.Flushed {
		t.Errorf("stream got %q (flushed %v), want %q flushed", rec.Body, rec.Flushed, "hello")
	}
}

func TestStreamConnClose(t *testing.T) {
	pr, pw := io.Pipe()
	sc := NewStreamConn(pr, httptest.NewRecorder(), nil, nil)

	readErr := make(chan error, 1)
	go func() {
		_, err := sc.Read(make([]byte, 1))
		readErr <- err
	}()
	if err := sc.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := sc.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	<-sc.Done()
	if err := <-readErr; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read during Close = %v, want net.ErrClosed", err)
	}
	if _, err := sc.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close = %v, want net.ErrClosed", err)
	}
	if _, err := sc.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close = %v, want net.ErrClosed", err)
	}
	if _, err := pw.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("body writer after Close = %v, want the body closed", err)
	}
}

// stuckWriter is a ResponseWriter whose Write blocks, as an HTTP/2 stream
// out of flow-control window does, until a write deadline in the past is set.
type stuckWriter struct {
	http.ResponseWriter
	entered chan struct{}
	expire  chan struct{}
	once    sync.Once
}

func (w *stuckWriter) Write(p []byte) (int, error) {
	close(w.entered)
	<-w.expire
	return 0, os.ErrDeadlineExceeded
}

func (w *stuckWriter) SetWriteDeadline(t time.Time) error {
	if !t.IsZero() && t.Before(time.Now()) {
		w.once.Do(func() { close(w.expire) })
	}
	return nil
}

func TestStreamConnCloseAbortsBlockedWrite(t *testing.T) {
	w := &stuckWriter{
		ResponseWriter: httptest.NewRecorder(),
		entered:        make(chan struct{}),
		expire:         make(chan struct{}),
	}
	sc := NewStreamConn(http.NoBody, w, nil, nil)
	writeErr := make(chan error, 1)
	go func() {
		_, err := sc.Write([]byte("x"))
		writeErr <- err
	}()
	<-w.entered
	sc.Close()
	<-sc.Done()
	if err := <-writeErr; err == nil {
		t.Error("blocked Write succeeded after Close, want an error")
	}
}

func TestStreamConnAddrs(t *testing.T) {
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2}
	tests := []struct {
		name          string
		local, remote net.Addr
		wantL, wantR  string
	}{
		{"given", local, remote, "127.0.0.1:1", "127.0.0.1:2"},
		{"default", nil, nil, "mitm-stream", "mitm-stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := NewStreamConn(nil, httptest.NewRecorder(), tt.local, tt.remote)
			defer sc.Close()
			if sc.LocalAddr().String() != tt.wantL || sc.RemoteAddr().String() != tt.wantR {
				t.Errorf("addrs = %s, %s, want %s, %s",
					sc.LocalAddr(), sc.RemoteAddr(), tt.wantL, tt.wantR)
			}
		})
	}
}

// clientStream is the client end of an HTTP/2 CONNECT stream as a net.Conn.
type clientStream struct {
	body io.ReadCloser
	pw   *io.PipeWriter
}

func (c *clientStream) Read(p []byte) (int, error)  { return c.body.Read(p) }
func (c *clientStream) Write(p []byte) (int, error) { return c.pw.Write(p) }
func (c *clientStream) Close() error {
	c.pw.Close()
	return c.body.Close()
}
func (c *clientStream) LocalAddr() net.Addr              { return placeholderAddr("client") }
func (c *clientStream) RemoteAddr() net.Addr             { return placeholderAddr("proxy") }
func (c *clientStream) SetDeadline(time.Time) error      { return nil }
func (c *clientStream) SetReadDeadline(time.Time) error  { return nil }
func (c *clientStream) SetWriteDeadline(time.Time) error { return nil }

// TestStreamConnInterceptsHTTP2Connect drives the HTTP/2 CONNECT path end to
// end: the client opens a CONNECT stream to an HTTP/2 proxy, whose handler
// wraps the stream in a StreamConn and a Conn and pushes it to the
// intercepting server; the client then speaks TLS, and HTTP/1.1 or HTTP/2
// inside it, over the stream.
func TestStreamConnInterceptsHTTP2Connect(t *testing.T) {
	ca := newTestCA(t)
	iss := newTestIssuer(t, ca, 0)
	l := newInterceptServer(t, iss)

	handlersDone := make(chan struct{}, 16)
	proxy := httptest.NewUnstartedServer(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			defer func() { handlersDone <- struct{}{} }()
			if r.Method != http.MethodConnect || r.ProtoMajor != 2 {
				http.Error(w, "want an HTTP/2 CONNECT", http.StatusBadRequest)
				return
			}
			host, port, err := net.SplitHostPort(r.Host)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusOK)
			if err := http.NewResponseController(w).Flush(); err != nil {
				return
			}
			local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
			sc := NewStreamConn(r.Body, w, local, nil)
			if err := l.Push(NewConn(sc, nil, Target{Host: host, Port: port})); err != nil {
				sc.Close()
				return
			}
			select {
			case <-sc.Done():
			case <-r.Context().Done():
				sc.Close()
			}
		}))
	proxy.EnableHTTP2 = true
	proxy.StartTLS()
	t.Cleanup(proxy.Close)
	proxyTransport := proxy.Client().Transport

	tests := []struct {
		name       string
		nextProtos []string
		wantProto  string
	}{
		{"http1 inside", []string{"http/1.1"}, "HTTP/1.1"},
		{"http2 inside", []string{"h2"}, "HTTP/2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const target = "example.com:443"
			dials := 0
			tr := &http.Transport{
				ForceAttemptHTTP2: true,
				DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					dials++
					pr, pw := io.Pipe()
					req, err := http.NewRequestWithContext(
						context.WithoutCancel(ctx), http.MethodConnect, proxy.URL, pr)
					if err != nil {
						return nil, err
					}
					req.Host = target
					resp, err := proxyTransport.RoundTrip(req)
					if err != nil {
						return nil, err
					}
					if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
						resp.Body.Close()
						return nil, errors.New("CONNECT answered " + resp.Status + " " + resp.Proto)
					}
					tc := tls.Client(&clientStream{body: resp.Body, pw: pw}, &tls.Config{
						RootCAs:    ca.pool(),
						ServerName: "example.com",
						NextProtos: tt.nextProtos,
					})
					if err := tc.HandshakeContext(ctx); err != nil {
						tc.Close()
						return nil, err
					}
					return tc, nil
				},
			}
			client := &http.Client{Transport: tr}
			// Two requests, so an HTTP/1.1 server inside has to interrupt and
			// resume its background read between them, which a stream whose
			// read deadline is final would not survive.
			for range 2 {
				resp, err := client.Get("https://" + target + "/")
				if err != nil {
					t.Fatalf("GET through the HTTP/2 tunnel: %v", err)
				}
				body, err := io.ReadAll(bufio.NewReader(resp.Body))
				resp.Body.Close()
				if err != nil {
					t.Fatalf("reading body: %v", err)
				}
				if want := target + " " + tt.wantProto; string(body) != want {
					t.Errorf("handler saw %q, want %q", body, want)
				}
			}
			if dials != 1 {
				t.Errorf("dialed %d tunnels, want both requests on one", dials)
			}
			tr.CloseIdleConnections()
			// Closing the tunnel must let the proxy's CONNECT handler return.
			select {
			case <-handlersDone:
			case <-time.After(10 * time.Second):
				t.Fatal("CONNECT handler still running after the client closed the tunnel")
			}
		})
	}
}
