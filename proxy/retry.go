package proxy

import (
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/latchkeyproxy/latchkey/engine"
	"github.com/latchkeyproxy/latchkey/failover"
)

// retryTransport sends a request and, when a pool member's answer is in a
// failover class (429, quota 403, 401) and nothing has reached the agent
// yet, records the failure (the pool moves to its next member) and sends
// the request again as that member. Real agents stop at a usage-limit 429
// or crash on a 401, so the retry must happen before they see it. Only when
// every member failed does the agent get the last answer.
type retryTransport struct {
	base   http.RoundTripper
	h      *Handler
	logger *zap.Logger
}

// RoundTrip sends req and retries it on the pool's next member as long as
// the answer is a failover class and the request can be replayed.
func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	x := exchangeOf(req)
	if err != nil || x == nil || len(x.pools) == 0 {
		return resp, err
	}

	// One attempt per member, plus one for a refresh of an expired token.
	attempts := t.h.engine.PoolSize(x.pools[0].Identity) + 1
	for range attempts {
		served := x.pools[0]
		var verdict failover.Verdict
		verdict, resp = t.classify(resp)
		if verdict.Kind == failover.None {
			return resp, nil
		}

		if !t.handleFailure(req, x, served, verdict) {
			return resp, nil
		}
		next, ok := t.rebuild(req, x)
		if !ok {
			return resp, nil
		}
		resp.Body.Close()
		x.count(engine.MetricRetries, served.Identity)
		t.logger.Info("retrying on another pool member", zap.String("pool", served.Identity),
			zap.String("from", served.Member), zap.String("host", x.target.Host))
		if resp, err = t.base.RoundTrip(next); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// classify reads what the classifier needs of an answer and returns the
// verdict with the answer intact.
func (t *retryTransport) classify(resp *http.Response) (failover.Verdict, *http.Response) {
	r := failover.Response{Status: resp.StatusCode, Header: resp.Header}
	if failover.NeedsBody(resp.StatusCode, false) && resp.Body != nil {
		// A body that cannot be read or decoded is classified on its
		// status alone and still forwarded as it came.
		r.Body, resp.Body, _ = failover.ReadBody(resp.Header, resp.Body)
	}
	return failover.Classify(r, time.Now(), t.h.engine.MaxCooldown()), resp
}

// handleFailure applies a verdict to the serving member and reports whether
// another attempt can succeed: after refreshing an expired access token, or
// after the pool moved to a member that is not cooling down.
func (t *retryTransport) handleFailure(req *http.Request, x *exchange, served engine.Served,
	v failover.Verdict) bool {
	if v.Tag == "401" && served.AccessExpired(time.Now()) {
		err := t.h.engine.RefreshExpired(req.Context(), served.Identity, served.Member,
			x.target.Host, t.h.tokenExchange(nil))
		if err == nil {
			return true
		}
		t.logger.Info("refreshing an expired token failed; failing over",
			zap.String("credential", served.Member), zap.Error(err))
	}
	out, err := t.h.engine.ReportFailure(served.Identity, served.Member, v, x.target.Host)
	if err != nil {
		t.logger.Error("recording a pool failure", zap.String("pool", served.Identity),
			zap.Error(err))
		return false
	}
	// Another request may have moved the pool first; what matters is
	// whether someone other than the member that failed serves now.
	return !out.Exhausted && out.To != served.Member
}

// rebuild makes the request again from what the agent sent, injected for
// the pool's current member. It fails when the body was not kept.
func (t *retryTransport) rebuild(req *http.Request, x *exchange) (*http.Request, bool) {
	if x.origHeader == nil || (x.replay != nil && !x.replay.replayable()) {
		return nil, false
	}
	next := req.Clone(req.Context())
	next.Header = x.origHeader.Clone()
	copyHopByHop(next.Header, req.Header)
	u := x.origURL
	next.URL = &u
	if x.replay != nil {
		next.Body = x.replay.reader()
		next.ContentLength = -1
	}

	x.plan = t.h.engine.Plan(x.target.Host, atoiPort(x.target.Port))
	injected := injectRequest(next, x)
	x.pools = x.plan.Pools(injected)
	if len(x.pools) == 0 {
		return nil, false
	}
	return next, true
}

// hopByHop are the headers that describe one connection, not the request.
var hopByHop = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// copyHopByHop makes dst's connection headers those of the request the
// reverse proxy prepared (src): the kept copy of the agent's headers may
// still hold the agent's own, such as Proxy-Authorization, which must not
// travel upstream, while an upgrade must keep its Connection and Upgrade.
func copyHopByHop(dst, src http.Header) {
	for _, f := range dst.Values("Connection") {
		for _, name := range strings.Split(f, ",") {
			if name = strings.TrimSpace(name); name != "" {
				dst.Del(name)
			}
		}
	}
	for _, name := range hopByHop {
		dst.Del(name)
		if vs, ok := src[name]; ok {
			dst[name] = vs
		}
	}
}
