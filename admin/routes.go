package admin

import (
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/latchkeyproxy/latchkey/engine"
)

// handler serves one method of one route. It writes the success response
// itself and returns any failure for serve to render, so that every route
// reports errors the same way.
type handler func(w http.ResponseWriter, r *http.Request, eng *engine.Engine) error

// route is one REST resource: an exact path pattern and a handler for each
// method it accepts.
type route struct {
	pattern string
	methods map[string]handler
}

// routeTable lists every route. The patterns are exact (never a bare
// "/api/"), because a pattern that overlaps another admin module's makes
// Caddy's mux panic on every config load. Adding a resource is one entry
// here and a file with its handlers; admin/openapi.yaml describes each one,
// and a test keeps the two in step.
func (a *API) routeTable() []route {
	return []route{
		{"/api/credentials", map[string]handler{
			http.MethodGet:  listCredentials,
			http.MethodPost: addCredential,
		}},
		{"/api/credentials/{name}", map[string]handler{
			http.MethodPatch:  updateCredential,
			http.MethodDelete: removeCredential,
		}},
		{"/api/bindings", map[string]handler{
			http.MethodGet:  listBindings,
			http.MethodPost: addBinding,
		}},
		{"/api/bindings/{id}", map[string]handler{
			http.MethodDelete: removeBinding,
		}},
		{"/api/phantom/{name}", map[string]handler{
			http.MethodGet: getPhantom,
		}},
		{"/api/pools", map[string]handler{
			http.MethodGet:  a.poolRoute(listPools),
			http.MethodPost: a.poolRoute(createPool),
		}},
		{"/api/pools/{name}", map[string]handler{
			http.MethodGet:    a.poolRoute(poolStatus),
			http.MethodDelete: a.poolRoute(removePool),
		}},
		{"/api/pools/{name}/rotate", map[string]handler{
			http.MethodPost: a.poolRoute(rotatePool),
		}},
		{"/api/pools/{name}/reset", map[string]handler{
			http.MethodPost: a.poolRoute(resetPool),
		}},
		{"/api/status", map[string]handler{
			http.MethodGet: a.poolRoute(getStatus),
		}},
		{"/api/openapi.yaml", map[string]handler{
			http.MethodGet: getOpenAPI,
		}},
	}
}

// Routes returns the admin routes, each wrapped by serve.
func (a *API) Routes() []caddy.AdminRoute {
	table := a.routeTable()
	out := make([]caddy.AdminRoute, len(table))
	for i, rt := range table {
		out[i] = caddy.AdminRoute{Pattern: rt.pattern, Handler: a.serve(rt)}
	}
	return out
}

// serve wraps a route's handlers with what every request goes through, in
// this order: find the app (503), check the token (401), dispatch on the
// method (405). The token is checked before the method so that a caller
// without it learns nothing about the routes.
//
// It always returns nil: the response is written here, in latchkey's error
// shape, because Caddy's own error rendering cannot carry a "code".
func (a *API) serve(rt route) caddy.AdminHandler {
	allowed := allowHeader(rt.methods)
	return caddy.AdminHandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		lookup := a.lookup
		if lookup == nil {
			lookup = activeApp
		}
		be, err := lookup()
		if err != nil {
			a.log().Warn("latchkey api unavailable", zap.String("path", r.URL.Path),
				zap.Error(err))
			a.writeError(w, r, &apiError{status: http.StatusServiceUnavailable,
				code: codeUnavailable, message: errUnavailable.Error()})
			return nil
		}

		if err := authorize(r, be.APIToken()); err != nil {
			a.log().Warn("refused unauthorized api request", zap.String("method", r.Method),
				zap.String("path", r.URL.Path), zap.String("remote_addr", r.RemoteAddr))
			a.writeError(w, r, err)
			return nil
		}

		h, ok := rt.methods[r.Method]
		if !ok {
			w.Header().Set("Allow", allowed)
			a.writeError(w, r, &apiError{status: http.StatusMethodNotAllowed,
				code: codeMethodNotAllowed,
				message: "method " + quoteShort(r.Method) + " is not allowed on " +
					rt.pattern + "; allowed: " + allowed})
			return nil
		}

		if err := h(w, r, be.Engine()); err != nil {
			a.writeError(w, r, err)
		}
		return nil
	})
}

// allowHeader lists a route's methods for the Allow header, sorted so the
// header is stable.
func allowHeader(methods map[string]handler) string {
	names := make([]string, 0, len(methods))
	for m := range methods {
		names = append(names, m)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// log returns the module's logger, or a no-op one when the module was not
// provisioned (as in tests that build an API by hand).
func (a *API) log() *zap.Logger {
	if a.logger == nil {
		return zap.NewNop()
	}
	return a.logger
}
