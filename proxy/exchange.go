package proxy

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"

	"go.uber.org/zap"

	"github.com/latchkeyproxy/latchkey/engine"
	"github.com/latchkeyproxy/latchkey/mitm"
)

// exchange is what the handler decided about one request, carried in the
// request's context to the reverse proxy's rewrite and response hooks.
type exchange struct {
	// plan is the engine's plan for the destination, resolved once.
	plan *engine.Plan

	// target is the destination the agent asked for.
	target mitm.Target

	// scheme is "https" for intercepted tunnels and "http" (or what the
	// agent wrote) for absolute-URI requests.
	scheme string

	logger *zap.Logger

	// passthrough sends the request as the agent wrote it: token-host
	// requests that are not latchkey refreshes must reach the upstream
	// byte for byte.
	passthrough bool

	// pools are the pool identities injected into this request, with the
	// member that served; the retry transport attributes answers to them.
	pools []engine.Served

	// replay keeps the agent's body (with phantoms) so the request can be
	// sent again as another pool member; origHeader and origURL are the
	// request before injection.
	replay     *replayBody
	origHeader http.Header
	origURL    url.URL

	// retryBodyLimit is the largest body kept for a replay.
	retryBodyLimit int64

	// counter counts events for monitoring; nil counts nothing.
	counter func(m engine.Metric, identity, label string)
}

// count adds one to a monitoring counter for an identity.
func (x *exchange) count(m engine.Metric, identity string) {
	if x.counter != nil {
		x.counter(m, identity, "")
	}
}

type exchangeKey struct{}

// withExchange attaches x to r's context.
func withExchange(r *http.Request, x *exchange) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), exchangeKey{}, x))
}

// exchangeOf returns the exchange attached to r.
func exchangeOf(r *http.Request) *exchange {
	x, _ := r.Context().Value(exchangeKey{}).(*exchange)
	return x
}

// rewrite points the outbound request at the destination and injects the
// real secrets. The Host header stays what the agent sent (it was checked
// against the destination), so an upstream override changes only where the
// proxy dials.
func rewrite(pr *httputil.ProxyRequest) {
	x := exchangeOf(pr.In)
	pr.Out.URL.Scheme = x.scheme
	pr.Out.URL.Host = net.JoinHostPort(x.target.Host, x.target.Port)
	if x.passthrough {
		return
	}

	// A request that may be retried as another pool member keeps what it
	// looked like before injection.
	if x.plan.HasPool() {
		x.origHeader = pr.Out.Header.Clone()
		x.origURL = *pr.Out.URL
		if hasBody(pr.Out) {
			x.replay = newReplayBody(pr.Out.Body, pr.Out.ContentLength, x.retryBodyLimit)
			pr.Out.Body = x.replay
		}
	}
	injected := injectRequest(pr.Out, x)
	x.pools = x.plan.Pools(injected)
}
