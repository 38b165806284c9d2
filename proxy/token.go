package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/latchkeyproxy/latchkey/bodycodec"
	"github.com/latchkeyproxy/latchkey/engine"
	"github.com/latchkeyproxy/latchkey/oauth"
)

// maxTokenResponse bounds a token response latchkey reads to rewrite.
const maxTokenResponse = 1 << 20

// probeWarnEvery rate-limits the warning about token requests too large to
// probe.
const probeWarnEvery = time.Minute

var lastProbeWarn atomic.Int64

// serveTokenPost looks at a POST to a token host. A refresh grant carrying a
// latchkey refresh phantom is performed by the engine and answered with
// phantoms; anything else (device code, authorization code, other grants,
// no grant, bodies over the probe cap) reaches the upstream unchanged,
// headers and body. It reports whether it answered the request.
func (h *Handler) serveTokenPost(w http.ResponseWriter, r *http.Request, x *exchange) bool {
	head, err := io.ReadAll(io.LimitReader(r.Body, oauth.MaxProbe+1))
	if err != nil {
		http.Error(w, "latchkey: reading request body: "+err.Error(), http.StatusBadRequest)
		return true
	}
	// Whatever is decided, the upstream must see exactly what was sent.
	r.Body = readCloser{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}

	if len(head) > oauth.MaxProbe {
		now := time.Now().UnixNano()
		if last := lastProbeWarn.Load(); now-last > int64(probeWarnEvery) &&
			lastProbeWarn.CompareAndSwap(last, now) {
			h.logger.Warn("token request larger than the probe reads; passed unchanged",
				zap.String("host", x.target.Host), zap.Int("limit", oauth.MaxProbe))
		}
		return false
	}
	if !bodycodec.Identity(r.Header.Get("Content-Encoding")) {
		return false
	}
	grant, ok := oauth.ParseGrant(r.Header.Get("Content-Type"), head)
	if !ok || !grant.IsRefresh() {
		return false
	}
	identity, ok := h.engine.RefreshIdentity(grant.RefreshToken)
	if !ok {
		return false
	}

	res, err := h.engine.Refresh(r.Context(), engine.RefreshRequest{Identity: identity,
		ContentType: r.Header.Get("Content-Type"), Body: head, Grant: grant,
		Host: x.target.Host}, h.tokenExchange(r.Header))
	if err != nil {
		h.logger.Error("refresh failed", zap.String("identity", identity),
			zap.String("host", x.target.Host), zap.Error(err))
		writeTokenError(w, err)
		return true
	}
	for k, vs := range res.Header {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Length", itoa(int64(len(res.Body))))
	w.WriteHeader(res.Status)
	w.Write(res.Body)
	return true
}

// writeTokenError answers a refresh that latchkey could not complete. The
// body is latchkey's own words, never the upstream's, which may hold real
// tokens.
func writeTokenError(w http.ResponseWriter, err error) {
	msg := "latchkey: the refresh could not be completed"
	switch {
	case errors.Is(err, engine.ErrUnparseable):
		msg = "latchkey: the token response could not be read, so it was not forwarded"
	case errors.Is(err, engine.ErrNotDurable):
		msg = "latchkey: the new tokens could not be stored yet; they are kept and " +
			"retried, refresh again shortly"
	case errors.Is(err, engine.ErrNotRefreshable):
		msg = "latchkey: this credential cannot be refreshed (no refresh token)"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadGateway)
	io.WriteString(w, `{"error":"server_error","error_description":"`+msg+`"}`)
}

// tokenExchange returns the function the engine calls to send a token
// request upstream. It carries the agent's headers (its User-Agent, say)
// except those that describe the agent's own body or connection.
func (h *Handler) tokenExchange(agent http.Header) engine.TokenExchange {
	header := http.Header{}
	for k, vs := range agent {
		switch http.CanonicalHeaderKey(k) {
		case "Content-Length", "Content-Encoding", "Transfer-Encoding", "Connection",
			"Proxy-Authorization", "Proxy-Connection", "Keep-Alive", "Te", "Trailer",
			"Upgrade", "Accept-Encoding":
			continue
		}
		header[k] = append([]string(nil), vs...)
	}
	return func(ctx context.Context, tokenURL, contentType string,
		body []byte) (*engine.TokenAnswer, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		for k, vs := range header {
			req.Header[k] = vs
		}
		req.Header.Set("Content-Type", contentType)
		if req.Header.Get("Accept") == "" {
			req.Header.Set("Accept", "application/json")
		}
		resp, err := h.upstream.transport.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		decoded, err := oauth.DecodeBody(resp.Header.Get("Content-Encoding"), resp.Body,
			maxTokenResponse)
		if err != nil {
			return nil, errors.Join(engine.ErrUnparseable, err)
		}
		return &engine.TokenAnswer{Status: resp.StatusCode, Header: resp.Header, Body: decoded}, nil
	}
}

// readCloser reads from one reader and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}
