package proxy

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/latchkeyproxy/latchkey/bodycodec"
	"github.com/latchkeyproxy/latchkey/swap"
)

// serveOrigin injects into an origin-form request and passes it on, for
// agents that point a base URL at latchkey in front of reverse_proxy. The
// destination is the configured one or the Host header.
func (h *Handler) serveOrigin(w http.ResponseWriter, r *http.Request,
	next caddyhttp.Handler) error {
	dest := h.Destination
	if dest == "" {
		dest = r.Host
	}
	target, port, err := splitTarget(dest, 443)
	if err != nil {
		http.Error(w, "latchkey: "+err.Error(), http.StatusBadRequest)
		return nil
	}
	x := &exchange{plan: h.engine.Plan(target.Host, port), target: target, logger: h.logger,
		counter: h.engine.Count}
	injectRequest(r, x)

	if x.plan.Response.Empty() {
		return next.ServeHTTP(w, r)
	}
	// Ask for an unencoded answer so echoed secrets can be found in it.
	r.Header.Del("Accept-Encoding")
	sw := &scrubWriter{ResponseWriter: w, rep: x.plan.Response, x: x}
	err = next.ServeHTTP(sw, r)
	if cerr := sw.finish(); err == nil {
		err = cerr
	}
	return err
}

// scrubWriter replaces echoed secrets in a response written by the next
// handler.
type scrubWriter struct {
	http.ResponseWriter
	rep         *swap.Replacer
	x           *exchange
	body        *swap.Writer
	wroteHeader bool
	passRaw     bool
}

// WriteHeader scrubs the headers and prepares the body rewrite.
func (w *scrubWriter) WriteHeader(status int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	for _, values := range w.Header() {
		for i, v := range values {
			values[i], _ = w.rep.Replace(v)
		}
	}
	if status >= 200 {
		if !bodycodec.Identity(w.Header().Get("Content-Encoding")) {
			// TODO: decode responses that are encoded although the
			// request asked for none; until then they pass unscrubbed.
			w.passRaw = true
			w.x.logger.Warn("encoded response passed without scrubbing",
				zap.String("host", w.x.target.Host))
		} else {
			w.Header().Del("Content-Length")
		}
	}
	w.body = w.rep.NewWriter(w.ResponseWriter)
	w.ResponseWriter.WriteHeader(status)
}

// Write scrubs body bytes on their way to the agent.
func (w *scrubWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.passRaw {
		return w.ResponseWriter.Write(p)
	}
	return w.body.Write(p)
}

// FlushError writes out what can be decided and flushes, so streamed
// responses such as server-sent events keep flowing.
func (w *scrubWriter) FlushError() error {
	if w.body != nil && !w.passRaw {
		if err := w.body.Flush(); err != nil {
			return err
		}
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *scrubWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish writes the held-back tail of the body.
func (w *scrubWriter) finish() error {
	if w.body == nil || w.passRaw {
		return nil
	}
	return w.body.Close()
}
