package mitm

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
)

// maxUnwrap bounds how many NetConn layers TargetFrom looks through, so that
// a wrapper whose NetConn returns itself cannot make it loop forever.
const maxUnwrap = 16

// Target is the destination a client asked to tunnel to with CONNECT.
type Target struct {
	// Host is the DNS name or IP address, lower-case and without the
	// brackets of an IPv6 literal.
	Host string
	// Port is the port as the client sent it, usually "443".
	Port string
}

// String returns the target as host:port, bracketing IPv6 addresses.
func (t Target) String() string { return net.JoinHostPort(t.Host, t.Port) }

// Conn wraps a hijacked client connection: reads go first through the
// bufio.Reader the HTTP server already filled (the client may have sent its
// TLS ClientHello together with the CONNECT), and it remembers the CONNECT
// target.
//
// Writes, Close, addresses and deadlines go straight to the embedded
// connection. Bytes that were already buffered are returned regardless of
// read deadlines, as they are already in memory.
type Conn struct {
	net.Conn

	target Target

	mu sync.Mutex
	// pending holds the bytes the HTTP server read past the CONNECT request.
	// They are copied out of the bufio.Reader so that the reader (and its
	// buffer, which net/http may pool) is not retained.
	pending []byte
}

// NewConn returns a Conn for c, the connection returned by
// http.Hijacker.Hijack, whose reads start with whatever buffered (the
// hijacked bufio.Reader, which reads from c) still holds. buffered may be nil.
// target's Host is lower-cased and stripped of IPv6 brackets.
//
// NewConn drains buffered; it must not be read from afterwards.
func NewConn(c net.Conn, buffered *bufio.Reader, target Target) *Conn {
	target.Host = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(target.Host, "["), "]"))
	conn := &Conn{Conn: c, target: target}
	if buffered != nil {
		if n := buffered.Buffered(); n > 0 {
			conn.pending = make([]byte, n)
			// Reading no more than Buffered() never touches c.
			_, _ = io.ReadFull(buffered, conn.pending)
		}
	}
	return conn
}

// Read reads first the bytes that were buffered when the Conn was created,
// then from the embedded connection.
func (c *Conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		if len(c.pending) == 0 {
			c.pending = nil
		}
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}

// Target returns the CONNECT target the Conn was created with.
func (c *Conn) Target() Target { return c.target }

// NetConn returns the wrapped connection. Like tls.Conn.NetConn, it lets code
// that unwraps connection layers (TargetFrom among them) see through a Conn.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// TargetFrom finds the Conn under a *tls.Conn (via NetConn()) or a Conn
// itself; used from http.Server.ConnContext. It looks through any wrapper
// with a NetConn() net.Conn method and reports false when no Conn is found.
func TargetFrom(c net.Conn) (Target, bool) {
	for range maxUnwrap {
		switch v := c.(type) {
		case nil:
			return Target{}, false
		case *Conn:
			if v == nil {
				return Target{}, false
			}
			return v.target, true
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return Target{}, false
		}
	}
	return Target{}, false
}

var _ net.Conn = (*Conn)(nil)
