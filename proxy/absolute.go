package proxy

import (
	"net/http"
)

// serveAbsolute forwards a plain proxy request ("GET http://host/path")
// with the same injection as an intercepted one.
func (h *Handler) serveAbsolute(w http.ResponseWriter, r *http.Request) error {
	defaultPort := 80
	if r.URL.Scheme == "https" {
		defaultPort = 443
	}
	target, port, err := splitTarget(r.URL.Host, defaultPort)
	if err != nil {
		http.Error(w, "latchkey: "+err.Error(), http.StatusBadRequest)
		return nil
	}
	h.forward(w, r, &exchange{plan: h.engine.Plan(target.Host, port), target: target,
		scheme: r.URL.Scheme, logger: h.logger})
	return nil
}
