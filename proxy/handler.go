// Package proxy is the latchkey HTTP handler (http.handlers.latchkey): it
// terminates TLS for CONNECT tunnels to bound hosts, swaps phantoms for real
// secrets on the way out and real secrets for phantoms on the way back, and
// tunnels every other CONNECT untouched.
//
// The handler keeps no state of its own beyond its configuration and
// connection caches; credentials and bindings come from the latchkey app's
// engine on every request, so a change made through any management channel
// applies to the next request without a reload.
package proxy

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddypki"
	"go.uber.org/zap"

	"github.com/latchkeyproxy/latchkey/app"
	"github.com/latchkeyproxy/latchkey/engine"
	"github.com/latchkeyproxy/latchkey/mitm"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler is the latchkey proxy handler. Place it before forward_proxy (or
// alone: it tunnels what it does not intercept), or before reverse_proxy for
// clients that point a base URL at latchkey instead of using it as a proxy.
type Handler struct {
	// CA is the ID of the certificate authority in Caddy's PKI app that
	// signs the certificates of intercepted hosts. Agents must trust its
	// root. Default: "local", the CA that `caddy trust` installs.
	CA string `json:"ca,omitempty"`

	// Passthrough hands CONNECT requests for hosts that latchkey does not
	// intercept to the next handler, such as forward_proxy, instead of
	// tunnelling them itself. Default: false.
	Passthrough bool `json:"passthrough,omitempty"`

	// Destination is the host (optionally host:port) whose bindings apply
	// to origin-form requests, when latchkey runs as middleware in front
	// of reverse_proxy. Default: the request's Host header.
	Destination string `json:"destination,omitempty"`

	// AllowPrivateUpstreams lets the proxy connect to loopback, private
	// and link-local addresses. Default: false, so an agent cannot reach
	// the admin endpoint or the local network through the proxy.
	AllowPrivateUpstreams bool `json:"allow_private_upstreams,omitempty"`

	// UpstreamOverrides maps a destination host to the address
	// ("host:port") to dial instead, for tests and staging. The TLS name
	// checked is still the destination host. Overridden addresses are
	// trusted and exempt from the private-address rule. Default: none.
	UpstreamOverrides map[string]string `json:"upstream_overrides,omitempty"`

	// UpstreamRootCAs are PEM files of extra roots trusted for upstream
	// TLS, on top of the system roots. Default: none.
	UpstreamRootCAs []string `json:"upstream_root_cas,omitempty"`

	// BasicAuth, when set, requires agents to authenticate to the proxy
	// with Proxy-Authorization: Basic, for CONNECT and absolute-URI
	// requests. Default: no proxy authentication.
	BasicAuth *BasicAuth `json:"basic_auth,omitempty"`

	// DialTimeout bounds connecting to an upstream. Default: 10s.
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`

	// RetryBodyLimit is the largest request body, in bytes, that is kept
	// so a request to a pool can be replayed on the next member when the
	// first answers 429, a quota 403 or 401. Larger requests are not
	// retried: the agent gets the failure (and the pool still fails over
	// for the next request). Default: 4 MiB.
	RetryBodyLimit int64 `json:"retry_body_limit,omitempty"`

	engine    *engine.Engine
	issuer    *mitm.Issuer
	dialer    *dialer
	upstream  *upstream
	intercept *interceptServer
	logger    *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.latchkey",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision connects the handler to the latchkey app and the PKI app and
// prepares the upstream transport and the interception server.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()

	appModule, err := ctx.App(app.ModuleID)
	if err != nil {
		return fmt.Errorf("loading latchkey app: %v", err)
	}

	if h.CA == "" {
		h.CA = caddypki.DefaultCAID
	}
	pkiModule, err := ctx.App("pki")
	if err != nil {
		return fmt.Errorf("loading pki app: %v", err)
	}
	ca, err := pkiModule.(*caddypki.PKI).GetCA(ctx, h.CA)
	if err != nil {
		return fmt.Errorf("loading certificate authority %q: %v", h.CA, err)
	}
	if err := h.provisionWith(h.logger, appModule.(*app.App).Engine(), ca); err != nil {
		return err
	}
	appModule.(*app.App).RegisterCertificateStats(h.issuer)
	return nil
}

// provisionWith finishes provisioning with the engine and CA resolved. Tests
// call it directly, without a Caddy context.
func (h *Handler) provisionWith(logger *zap.Logger, eng *engine.Engine, ca mitm.CA) error {
	h.logger, h.engine = logger, eng
	var err error
	if h.issuer, err = mitm.NewIssuer(ca, 0); err != nil {
		return err
	}

	if h.BasicAuth != nil {
		if err := h.BasicAuth.provision(); err != nil {
			return err
		}
	}

	timeout := time.Duration(h.DialTimeout)
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	h.dialer, err = newDialer(h.UpstreamOverrides, h.AllowPrivateUpstreams, timeout)
	if err != nil {
		return err
	}
	if h.upstream, err = newUpstream(h.dialer, h.UpstreamRootCAs, h.logger); err != nil {
		return err
	}
	h.upstream.proxy.Transport = &retryTransport{base: h.upstream.transport, h: h,
		logger: h.logger}
	if h.RetryBodyLimit <= 0 {
		h.RetryBodyLimit = DefaultRetryBodyLimit
	}
	h.intercept = newInterceptServer(h)
	return nil
}

// Cleanup stops accepting new intercepted connections. Tunnels already open
// finish on their own, so a config reload does not cut agents off.
func (h *Handler) Cleanup() error {
	if h.intercept != nil {
		h.intercept.close()
	}
	if h.upstream != nil {
		h.upstream.transport.CloseIdleConnections()
	}
	return nil
}

// ServeHTTP routes a request by its form: CONNECT, absolute URI (plain
// forward proxying) or origin form (middleware before reverse_proxy).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	switch {
	case r.Method == http.MethodConnect:
		if !h.authorized(w, r) {
			return nil
		}
		return h.serveConnect(w, r, next)
	case r.URL.IsAbs():
		if !h.authorized(w, r) {
			return nil
		}
		return h.serveAbsolute(w, r)
	default:
		return h.serveOrigin(w, r, next)
	}
}

// splitTarget parses a CONNECT authority or URL host into host and port,
// with defaultPort when the port is absent.
func splitTarget(hostport string, defaultPort int) (mitm.Target, int, error) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		host, portStr = hostport, ""
	}
	port := defaultPort
	if portStr != "" {
		if _, err := fmt.Sscanf(portStr, "%d", &port); err != nil || port < 1 || port > 65535 {
			return mitm.Target{}, 0, fmt.Errorf("invalid port in %q", hostport)
		}
	}
	if host == "" {
		return mitm.Target{}, 0, fmt.Errorf("missing host in %q", hostport)
	}
	return mitm.Target{Host: canonicalHost(host), Port: fmt.Sprint(port)}, port, nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
