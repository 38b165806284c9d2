package proxy

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("latchkey", parseDirective)
	// reverse_proxy is the standard directive forward_proxy and
	// reverse-proxy setups both come after, so this puts latchkey in
	// front of either.
	httpcaddyfile.RegisterDirectiveOrder("latchkey", httpcaddyfile.Before, "reverse_proxy")
}

func parseDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := new(Handler)
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return handler, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	latchkey {
//		ca                      <pki ca id>
//		passthrough
//		destination             <host[:port]>
//		allow_private_upstreams
//		upstream_override       <host> <host:port>
//		upstream_root_ca        <pem file>
//		basic_auth              <user> <password>
//		dial_timeout            <duration>
//		retry_body_limit        <bytes>
//	}
//
// upstream_override and upstream_root_ca may repeat. Every subdirective is
// optional, and so is the block.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "ca":
			if !d.AllArgs(&h.CA) {
				return d.ArgErr()
			}
		case "passthrough":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.Passthrough = true
		case "destination":
			if !d.AllArgs(&h.Destination) {
				return d.ArgErr()
			}
		case "allow_private_upstreams":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.AllowPrivateUpstreams = true
		case "upstream_override":
			var host, addr string
			if !d.AllArgs(&host, &addr) {
				return d.Errf("upstream_override expects <host> <host:port>")
			}
			if h.UpstreamOverrides == nil {
				h.UpstreamOverrides = map[string]string{}
			}
			h.UpstreamOverrides[host] = addr
		case "upstream_root_ca":
			var file string
			if !d.AllArgs(&file) {
				return d.ArgErr()
			}
			h.UpstreamRootCAs = append(h.UpstreamRootCAs, file)
		case "basic_auth":
			var user, pass string
			if !d.AllArgs(&user, &pass) {
				return d.Errf("basic_auth expects <user> <password>")
			}
			h.BasicAuth = &BasicAuth{Username: user, Password: pass}
		case "dial_timeout":
			var s string
			if !d.AllArgs(&s) {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(s)
			if err != nil || dur <= 0 {
				return d.Errf("dial_timeout %q is not a positive duration", s)
			}
			h.DialTimeout = caddy.Duration(dur)
		case "retry_body_limit":
			var s string
			if !d.AllArgs(&s) {
				return d.ArgErr()
			}
			n, err := humanize.ParseBytes(s)
			if err != nil || n == 0 || n > 1<<30 {
				return d.Errf("retry_body_limit %q is not a size between 1 B and 1 GiB", s)
			}
			h.RetryBodyLimit = int64(n)
		default:
			return d.Errf("unknown latchkey subdirective %q", d.Val())
		}
	}
	return nil
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*Handler)(nil)
