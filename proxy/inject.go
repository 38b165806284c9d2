package proxy

import (
	"io"
	"net/http"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/latchkeyproxy/latchkey/bodycodec"
	"github.com/latchkeyproxy/latchkey/engine"
	"github.com/latchkeyproxy/latchkey/phantom"
	"github.com/latchkeyproxy/latchkey/swap"
)

// injectRequest swaps phantoms in an outbound request following the plan:
// bound headers are set from their templates, every other header, the path,
// the query and an unencoded body have bound phantoms replaced by secrets
// and unbound phantoms removed. It returns the bound identities injected.
func injectRequest(out *http.Request, x *exchange) []string {
	p := x.plan
	var injected, stripped []string

	// A bound header is rewritten only when the agent presented the
	// phantom in it, so two credentials bound to one host (two accounts)
	// never overwrite each other.
	var setHeaders []string
	for _, rule := range p.Headers {
		if v := out.Header.Get(rule.Header); v != "" && strings.Contains(v, rule.Phantom) {
			out.Header.Set(rule.Header, rule.Value)
			setHeaders = append(setHeaders, http.CanonicalHeaderKey(rule.Header))
			injected = appendUnique(injected, rule.Identity)
		}
	}

	for name, values := range out.Header {
		if slices.Contains(setHeaders, name) {
			continue
		}
		for i, v := range values {
			nv, m := p.Request.Replace(v)
			if m.Any() {
				injected = appendAll(injected, p.Injected(m))
				stripped = appendAll(stripped, p.Stripped(m))
			}
			// A phantom that no credential owns any more (its credential
			// was removed) is still not sent anywhere.
			if phantom.LooksLikeStatic(nv) {
				nv = phantom.StripShaped(nv)
				stripped = appendUnique(stripped, "(unknown)")
			}
			values[i] = nv
		}
	}

	u := out.URL
	for _, part := range []*string{&u.Path, &u.RawPath, &u.RawQuery} {
		if nv, m := p.Request.Replace(*part); m.Any() {
			*part = nv
			injected = appendAll(injected, p.Injected(m))
			stripped = appendAll(stripped, p.Stripped(m))
		}
	}

	// An encoded body is passed as it is: rewriting it would mean
	// re-encoding, and agents send phantoms in headers.
	// TODO: decode zstd request bodies (Codex compresses its requests)
	// once a destination needs phantoms swapped inside them.
	if hasBody(out) && !p.Request.Empty() && bodycodec.Identity(out.Header.Get("Content-Encoding")) {
		body, n, err := swapBody(out.Body, out.ContentLength, p.Request, func(m swap.Matches) {
			if s := p.Stripped(m); len(s) > 0 {
				logStrip(x, s, "body")
			}
		})
		if err == nil {
			setBody(out, body, n)
		} else {
			x.logger.Warn("reading request body", zap.String("host", x.target.Host), zap.Error(err))
			out.Body = errBody{err}
		}
	}

	if len(stripped) > 0 {
		logStrip(x, stripped, "headers or url")
	}
	for _, id := range injected {
		x.count(engine.MetricInjections, id)
	}
	if len(injected) > 0 {
		if c := x.logger.Check(zap.DebugLevel, "injected"); c != nil {
			c.Write(zap.Strings("credentials", injected), zap.String("host", x.target.Host))
		}
	}
	return injected
}

// logStrip records that phantoms were removed from a request to a
// destination their credentials are not bound to. It names credentials,
// never values.
func logStrip(x *exchange, credentials []string, where string) {
	for _, id := range credentials {
		x.count(engine.MetricStrips, id)
	}
	x.logger.Info("phantom stripped", zap.Strings("credentials", credentials),
		zap.String("host", x.target.Host), zap.String("where", where))
}

// hasBody reports whether r carries a body to rewrite.
func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

// setBody replaces r's body and fixes the length headers to match.
func setBody(r *http.Request, body io.ReadCloser, n int64) {
	r.Body = body
	r.ContentLength = n
	if n >= 0 {
		r.Header.Set("Content-Length", itoa(n))
	} else {
		r.Header.Del("Content-Length")
	}
}

func appendUnique(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func appendAll(list, more []string) []string {
	for _, s := range more {
		list = appendUnique(list, s)
	}
	return list
}
