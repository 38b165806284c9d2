package main

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/latchkeyproxy/latchkey/internal/testkit"
)

// upstreams are the fake API and token host, on one TLS listener, told
// apart by Host.
type upstreams struct {
	addr, caFile string
	srv          *http.Server
	api          *fakeAPI
	auth         *fakeAuth
}

func startUpstreams(dir string) (*upstreams, error) {
	cert, caPEM, err := demoCertificate()
	if err != nil {
		return nil, err
	}
	u := &upstreams{api: &fakeAPI{}, auth: &fakeAuth{}, caFile: filepath.Join(dir, "upstream-ca.pem")}
	if err := os.WriteFile(u.caFile, caPEM, 0o600); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u.addr = l.Addr().String()
	u.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Host, "auth.") {
			u.auth.ServeHTTP(w, r)
			return
		}
		u.api.ServeHTTP(w, r)
	}), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go u.srv.ServeTLS(l, "", "")
	return u, nil
}

func (u *upstreams) close() { u.srv.Close() }

// fakeAPI answers with the account it recognises by the real token, and
// rate-limits acct_a after three requests, as a usage limit would.
type fakeAPI struct {
	mu   sync.Mutex
	seen []string
	a    int
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	acct := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer real-access-")
	acct = strings.TrimPrefix(acct, "Bearer ")
	f.mu.Lock()
	f.seen = append(f.seen, acct)
	if acct == "acct_a" {
		f.a++
	}
	limited := acct == "acct_a" && f.a > 3
	f.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	if limited {
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"type":"usage_limit_reached","resets_in_seconds":3600}}`)
		return
	}
	io.WriteString(w, `{"answer":"hello from the API"}`)
}

func (f *fakeAPI) served() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.seen))
	for i, s := range f.seen {
		out[i] = s
		if strings.HasPrefix(s, "real-access-") || strings.Contains(s, "refreshed") {
			out[i] = "(rotated token)"
		}
	}
	return out
}

// fakeAuth is the token host: it rotates tokens on refresh.
type fakeAuth struct {
	mu   sync.Mutex
	last string
}

func (f *fakeAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		GrantType    string `json:"grant_type"`
		RefreshToken string `json:"refresh_token"`
	}
	json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req)
	acct := strings.TrimPrefix(req.RefreshToken, "real-refresh-")
	f.mu.Lock()
	f.last = acct
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if req.GrantType != "refresh_token" || acct == req.RefreshToken {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"invalid_grant"}`)
		return
	}
	io.WriteString(w, `{"access_token":"real-access-`+acct+`","refresh_token":"real-refresh-`+
		acct+`","expires_in":3600,"token_type":"Bearer"}`)
}

func (f *fakeAuth) lastRefresh() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

// demoCertificate makes a CA and a leaf for the demo hosts.
func demoCertificate() (tls.Certificate, []byte, error) {
	ca, err := testkit.NewCA("demo CA", []string{"api.demo.test", "auth.demo.test"},
		24*time.Hour)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return ca.Leaf, ca.PEM, nil
}
