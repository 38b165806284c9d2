//go:build clients

package clients

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// startTunnel starts a plain CONNECT proxy that connects the fake hosts
// straight to the fake upstream, with no latchkey in between, and refuses
// every other host. A client run through it shows what the client sends
// when nothing touches its traffic: the baseline for "passed unchanged".
func startTunnel(t *testing.T, f *fake) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if r.Method != http.MethodConnect || err != nil || !slices.Contains(fakeHosts, host) {
			http.Error(w, "tunnel: not a fake host", http.StatusForbidden)
			return
		}
		up, err := net.DialTimeout("tcp", f.addr(), 5*time.Second)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer up.Close()
		w.WriteHeader(http.StatusOK)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		if err := brw.Flush(); err != nil {
			return
		}
		// When either side finishes, both close: an idle keep-alive
		// connection to the fake must not hold the tunnel open.
		done := make(chan struct{}, 2)
		go func() { io.Copy(up, brw.Reader); done <- struct{}{} }()
		go func() { io.Copy(conn, up); done <- struct{}{} }()
		<-done
		up.Close()
		conn.Close()
		<-done
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv.URL
}
