package mitm

import (
	"errors"
	"io"
	"net"
	"testing"
)

func TestListenerPushAccept(t *testing.T) {
	l := NewListener(nil)
	defer l.Close()
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()

	pushed := make(chan error, 1)
	go func() { pushed <- l.Push(server) }()
	got, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	if got != server {
		t.Error("Accept returned a different connection than was pushed")
	}
	if err := <-pushed; err != nil {
		t.Errorf("Push: %v", err)
	}
}

func TestListenerCloseUnblocks(t *testing.T) {
	tests := []struct {
		name string
		call func(*Listener) error
	}{
		{"accept", func(l *Listener) error { _, err := l.Accept(); return err }},
		{"push", func(l *Listener) error {
			c, _ := net.Pipe()
			defer c.Close()
			return l.Push(c)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewListener(nil)
			errc := make(chan error, 1)
			go func() { errc <- tt.call(l) }()
			if err := l.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := <-errc; !errors.Is(err, net.ErrClosed) {
				t.Errorf("after Close got %v, want net.ErrClosed", err)
			}
		})
	}
}

func TestListenerAfterClose(t *testing.T) {
	l := NewListener(nil)
	for range 2 {
		if err := l.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	c, _ := net.Pipe()
	defer c.Close()
	if err := l.Push(c); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Push after Close = %v, want net.ErrClosed", err)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
	}
}

func TestListenerPushNil(t *testing.T) {
	l := NewListener(nil)
	defer l.Close()
	if err := l.Push(nil); err == nil {
		t.Error("Push(nil) succeeded, want an error")
	}
}

func TestListenerCloseKeepsAcceptedConns(t *testing.T) {
	l := NewListener(nil)
	client, server := net.Pipe()
	defer client.Close()
	go func() { _ = l.Push(server) }()
	accepted, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	defer accepted.Close()
	l.Close()

	go func() { _, _ = client.Write([]byte("still open")) }()
	buf := make([]byte, len("still open"))
	if _, err := io.ReadFull(accepted, buf); err != nil {
		t.Fatalf("reading accepted conn after Close: %v", err)
	}
	if string(buf) != "still open" {
		t.Errorf("read %q", buf)
	}
}

func TestListenerAddr(t *testing.T) {
	tcp := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}
	tests := []struct {
		name         string
		addr         net.Addr
		network, str string
	}{
		{"given", tcp, "tcp", "127.0.0.1:8443"},
		{"default", nil, "mitm", "mitm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewListener(tt.addr).Addr()
			if a.Network() != tt.network || a.String() != tt.str {
				t.Errorf("Addr() = %s/%s, want %s/%s", a.Network(), a, tt.network, tt.str)
			}
		})
	}
}
