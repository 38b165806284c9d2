package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
)

// upstream is how the handler talks to real servers: one transport with
// the guarded dialer, and a reverse proxy that streams both ways.
type upstream struct {
	transport *http.Transport
	proxy     *httputil.ReverseProxy
}

func newUpstream(d *dialer, rootCAFiles []string, logger *zap.Logger) (*upstream, error) {
	roots, err := upstreamRoots(rootCAFiles)
	if err != nil {
		return nil, err
	}
	t := &http.Transport{
		// Never read HTTP_PROXY from the environment: upstream traffic
		// goes where the agent asked, through the guarded dialer only.
		Proxy:                 nil,
		DialContext:           d.DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Pass Accept-Encoding through as the agent sent it and leave
		// decoding to the response rewrite, which needs to know.
		DisableCompression: true,
	}
	u := &upstream{transport: t}
	u.proxy = &httputil.ReverseProxy{
		Rewrite:        rewrite,
		Transport:      t,
		ModifyResponse: modifyResponse,
		ErrorHandler:   errorHandler(logger),
		BufferPool:     bufferPool{},
		ErrorLog:       zap.NewStdLog(logger.Named("reverse_proxy")),
	}
	return u, nil
}

// upstreamRoots returns the system roots plus the given PEM files.
func upstreamRoots(files []string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for _, f := range files {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading upstream_root_ca: %v", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("upstream_root_ca %s holds no PEM certificate", f)
		}
	}
	return pool, nil
}

// errorHandler answers when the upstream cannot be reached. The message
// names the destination and the cause, never a header or body value.
func errorHandler(logger *zap.Logger) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		status := http.StatusBadGateway
		if errors.Is(err, errPrivateDestination) {
			status = http.StatusForbidden
		}
		if r.Context().Err() != nil {
			// The agent went away; there is nobody to answer.
			return
		}
		logger.Warn("upstream request failed", zap.String("host", r.Host),
			zap.Int("status", status), zap.Error(err))
		http.Error(w, "latchkey: upstream "+r.Host+": "+err.Error(), status)
	}
}

// bufferPool lends the reverse proxy its copy buffers, so streaming a body
// does not allocate a new buffer per request.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *(copyBuffers.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(&b) }
