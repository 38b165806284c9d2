// Package mitm holds what the latchkey proxy needs to terminate TLS for
// intercepted CONNECT tunnels.
//
// An [Issuer] mints short-lived leaf certificates for the hosts a client
// tunnels to, signed by the intermediate of a Caddy PKI certificate
// authority, and caches them. A [Conn] wraps a hijacked HTTP/1.1 CONNECT
// connection (or a [StreamConn], which adapts an HTTP/2 CONNECT stream) and
// remembers the tunnel's [Target]. A [Listener] lets the proxy hand those
// connections to one long-lived [net/http.Server] that terminates TLS with
// the issuer's certificates and reads the target back with [TargetFrom].
package mitm
