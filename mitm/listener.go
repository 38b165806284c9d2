package mitm

import (
	"errors"
	"net"
	"sync"
)

// Listener is a net.Listener fed by Push instead of a socket. It lets the
// proxy hand intercepted connections to one long-lived http.Server (through
// tls.NewListener) instead of running a server per tunnel.
//
// A Listener is safe for concurrent use.
type Listener struct {
	addr net.Addr
	// conns is unbuffered so that a successful Push means an Accept caller
	// owns the connection: nothing is stranded in a buffer at Close.
	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
}

// NewListener returns an open Listener that reports addr from Addr. A nil
// addr is replaced by a placeholder whose Network and String are "mitm".
func NewListener(addr net.Addr) *Listener {
	if addr == nil {
		addr = placeholderAddr("mitm")
	}
	return &Listener{
		addr:   addr,
		conns:  make(chan net.Conn),
		closed: make(chan struct{}),
	}
}

// Push hands c to a caller of Accept. It blocks until Accept takes c or the
// Listener is closed, and returns net.ErrClosed after Close. On success the
// accepting side owns c; on error the caller still does and should close it.
func (l *Listener) Push(c net.Conn) error {
	if c == nil {
		return errors.New("pushing connection: nil net.Conn")
	}
	// Check closed first: select picks randomly among ready cases, and a
	// Push after Close must fail even if an Accept happens to be waiting.
	select {
	case <-l.closed:
		return net.ErrClosed
	default:
	}
	select {
	case l.conns <- c:
		return nil
	case <-l.closed:
		return net.ErrClosed
	}
}

// Accept waits for and returns the next pushed connection. It returns
// net.ErrClosed once the Listener is closed, which http.Server.Serve reports
// as its own return value (or as http.ErrServerClosed after Shutdown).
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case <-l.closed:
		return nil, net.ErrClosed
	default:
	}
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close stops the Listener, unblocking pending Accept and Push calls. It is
// idempotent and always returns nil; connections already accepted are not
// affected.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

// Addr returns the address given to NewListener.
func (l *Listener) Addr() net.Addr { return l.addr }

// placeholderAddr is a net.Addr for connections and listeners that have no
// real network address.
type placeholderAddr string

// Network returns the address itself, which names the kind of endpoint.
func (a placeholderAddr) Network() string { return string(a) }

// String returns the address itself.
func (a placeholderAddr) String() string { return string(a) }

var (
	_ net.Listener = (*Listener)(nil)
	_ net.Addr     = placeholderAddr("")
)
