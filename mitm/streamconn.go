package mitm

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// streamReadSize is the size of a StreamConn's read buffer: large enough for
// a full TLS record (16 KiB plus overhead) in one read.
const streamReadSize = 32 << 10

// StreamConn turns an HTTP/2 CONNECT stream (the request body plus a
// ResponseWriter that is flushed after each write) into a net.Conn, so that an
// HTTP/2 CONNECT can be intercepted like a hijacked HTTP/1.1 one. Wrap it in
// a Conn with NewConn(sc, nil, target) to carry the CONNECT target.
//
// The handler must send the 2xx response header and flush it before the
// tunnel is used (the client waits for it before its TLS handshake), and must
// not return before the StreamConn is closed, because the request body and
// ResponseWriter are invalid after that; wait on Done (and on the request
// context, to notice a client that resets the stream):
//
//	w.WriteHeader(http.StatusOK)
//	http.NewResponseController(w).Flush()
//	sc := mitm.NewStreamConn(r.Body, w, localAddr, remoteAddr)
//	if err := listener.Push(mitm.NewConn(sc, nil, target)); err != nil {
//		sc.Close()
//		return
//	}
//	select {
//	case <-sc.Done():
//	case <-r.Context().Done():
//		sc.Close()
//	}
//
// Deadlines: read deadlines are implemented by the StreamConn itself and can
// be moved and cleared like a socket's. They are deliberately not passed to
// http.ResponseController, because an HTTP/2 stream whose read deadline
// expires is closed for good, while http.Server and crypto/tls expect a timed
// out read to be retryable (http.Server interrupts its background read that
// way after every HTTP/1.1 request). Write deadlines fail a Write that starts
// after the deadline with os.ErrDeadlineExceeded, and are forwarded to
// http.ResponseController only while a Write is in progress; expiring there
// resets the stream, which matches crypto/tls treating a timed out write as
// fatal. If the ResponseWriter does not support write deadlines, a Write
// that is already blocked is not interrupted.
//
// A StreamConn is safe for concurrent use: one reader and one writer may run
// at the same time, as HTTP/2 streams are full duplex.
type StreamConn struct {
	body          io.ReadCloser
	w             http.ResponseWriter
	rc            *http.ResponseController
	local, remote net.Addr

	closed    chan struct{} // closed when Close starts
	done      chan struct{} // closed when Close has finished
	closeOnce sync.Once
	closeErr  error

	// The read side hands body reads to one goroutine so that a Read can
	// give up at its deadline while the body read stays outstanding; the
	// next Read picks up its result, so no data is lost.
	rmu      sync.Mutex
	started  bool          // readLoop is running
	inFlight bool          // a body read was requested and not yet received
	want     chan struct{} // asks readLoop for one body read; capacity 1
	chunks   chan readChunk
	buf      []byte // owned by readLoop between a want and its chunk
	left     []byte // unread part of the last chunk, within buf
	rerr     error  // sticky body error, io.EOF included
	rdl      deadline

	wmu     sync.Mutex // held for the whole of a Write
	wclosed bool
	wdlMu   sync.Mutex
	wdl     time.Time
}

// readChunk is the result of one body read.
type readChunk struct {
	n   int
	err error
}

// NewStreamConn returns a StreamConn reading from body and writing to w,
// which report local and remote as their addresses. A nil address is
// replaced by a placeholder whose Network and String are "mitm-stream"; a
// nil body by http.NoBody.
func NewStreamConn(body io.ReadCloser, w http.ResponseWriter, local, remote net.Addr) *StreamConn {
	if body == nil {
		body = http.NoBody
	}
	if local == nil {
		local = placeholderAddr("mitm-stream")
	}
	if remote == nil {
		remote = placeholderAddr("mitm-stream")
	}
	return &StreamConn{
		body:   body,
		w:      w,
		rc:     http.NewResponseController(w),
		local:  local,
		remote: remote,
		closed: make(chan struct{}),
		done:   make(chan struct{}),
		want:   make(chan struct{}, 1),
		chunks: make(chan readChunk),
	}
}

// Read reads from the request body. It returns os.ErrDeadlineExceeded when
// the read deadline passes and net.ErrClosed after Close.
func (s *StreamConn) Read(p []byte) (int, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	select {
	case <-s.closed:
		return 0, net.ErrClosed
	default:
	}
	if len(p) == 0 {
		return 0, nil
	}
	if len(s.left) > 0 {
		return s.takeLeft(p), nil
	}
	if s.rerr != nil {
		return 0, s.rerr
	}
	if !s.started {
		s.started = true
		s.buf = make([]byte, streamReadSize)
		go s.readLoop()
	}
	if !s.inFlight {
		s.inFlight = true
		s.want <- struct{}{}
	}
	select {
	case c := <-s.chunks:
		s.inFlight = false
		s.left = s.buf[:c.n]
		s.rerr = c.err
		if c.n == 0 {
			return 0, c.err
		}
		// The error, if any, is returned by the next Read once the data
		// is consumed.
		return s.takeLeft(p), nil
	case <-s.rdl.wait():
		return 0, os.ErrDeadlineExceeded
	case <-s.closed:
		return 0, net.ErrClosed
	}
}

// takeLeft copies buffered body bytes into p. The caller holds s.rmu.
func (s *StreamConn) takeLeft(p []byte) int {
	n := copy(p, s.left)
	s.left = s.left[n:]
	return n
}

// readLoop performs body reads on request until the body fails or the
// StreamConn is closed. Closing the body unblocks a pending read.
func (s *StreamConn) readLoop() {
	for {
		select {
		case <-s.want:
		case <-s.closed:
			return
		}
		n, err := s.body.Read(s.buf)
		select {
		case s.chunks <- readChunk{n: n, err: err}:
		case <-s.closed:
			return
		}
		if err != nil {
			return
		}
	}
}

// Write writes p to the response and flushes it, so the client sees it
// immediately. It returns net.ErrClosed after Close and os.ErrDeadlineExceeded
// when the write deadline has passed.
func (s *StreamConn) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	select {
	case <-s.closed:
		return 0, net.ErrClosed
	default:
	}
	if s.wclosed {
		return 0, net.ErrClosed
	}
	s.wdlMu.Lock()
	dl := s.wdl
	s.wdlMu.Unlock()
	if !dl.IsZero() {
		if !time.Now().Before(dl) {
			return 0, os.ErrDeadlineExceeded
		}
		// Arm the stream's deadline only for this Write, and disarm it
		// after: left armed, it would reset an idle stream.
		if s.rc.SetWriteDeadline(dl) == nil {
			defer func() { _ = s.rc.SetWriteDeadline(time.Time{}) }()
		}
	}
	n, err := s.w.Write(p)
	if err == nil {
		if ferr := s.rc.Flush(); errors.Is(ferr, http.ErrNotSupported) {
			err = fmt.Errorf("writing to stream: response writer cannot flush: %w", ferr)
		} else {
			err = ferr
		}
	}
	if err != nil && !dl.IsZero() && !time.Now().Before(dl) {
		err = os.ErrDeadlineExceeded
	}
	return n, err
}

// Close closes the request body and stops further writes, then closes Done.
// A Write blocked at that moment is aborted by expiring the stream's write
// deadline, which resets the stream; otherwise the handler can return and
// end the stream cleanly. Close is idempotent and returns the body's Close
// error every time.
func (s *StreamConn) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.closeErr = s.body.Close()
		if !s.wmu.TryLock() {
			// A Write is in progress, most likely waiting for HTTP/2 flow
			// control. Waiting for it could take forever, and the handler
			// must not return while it runs, so abort it.
			_ = s.rc.SetWriteDeadline(time.Unix(1, 0))
			s.wmu.Lock()
		}
		s.wclosed = true
		s.wmu.Unlock()
		close(s.done)
	})
	return s.closeErr
}

// Done returns a channel that is closed once Close has finished, after which
// no Read or Write touches the body or ResponseWriter any more and the
// handler may return.
func (s *StreamConn) Done() <-chan struct{} { return s.done }

// LocalAddr returns the local address given to NewStreamConn.
func (s *StreamConn) LocalAddr() net.Addr { return s.local }

// RemoteAddr returns the remote address given to NewStreamConn.
func (s *StreamConn) RemoteAddr() net.Addr { return s.remote }

// SetDeadline sets both the read and the write deadline. It always returns
// nil.
func (s *StreamConn) SetDeadline(t time.Time) error {
	_ = s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline, which also applies to a Read that
// is already blocked; the zero time clears it. It always returns nil.
func (s *StreamConn) SetReadDeadline(t time.Time) error {
	s.rdl.set(t)
	return nil
}

// SetWriteDeadline sets the write deadline; the zero time clears it. It takes
// effect from the next Write and always returns nil.
func (s *StreamConn) SetWriteDeadline(t time.Time) error {
	s.wdlMu.Lock()
	s.wdl = t
	s.wdlMu.Unlock()
	return nil
}

// deadline is a resettable deadline: a channel that is closed when the
// deadline passes. Its zero value has no deadline.
type deadline struct {
	mu    sync.Mutex
	timer *time.Timer
	ch    chan struct{}
}

// set moves the deadline to t; the zero time clears it.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	// A timer that could not be stopped has fired or is about to: its
	// channel is (or will be) closed, so start a new one.
	if d.timer != nil && !d.timer.Stop() {
		d.ch = nil
	}
	d.timer = nil
	if d.ch == nil || isClosed(d.ch) {
		d.ch = make(chan struct{})
	}
	if t.IsZero() {
		return
	}
	wait := time.Until(t)
	if wait <= 0 {
		close(d.ch)
		return
	}
	// The timer closes the channel it was created for, never a successor.
	ch := d.ch
	d.timer = time.AfterFunc(wait, func() { close(ch) })
}

// wait returns a channel that is closed when the current deadline passes.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	return d.ch
}

// isClosed reports whether ch is closed.
func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

var _ net.Conn = (*StreamConn)(nil)
