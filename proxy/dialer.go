package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// errPrivateDestination refuses a destination that resolves only to
// loopback, private or link-local addresses.
var errPrivateDestination = errors.New("destination resolves to a loopback, private or " +
	"link-local address; set allow_private_upstreams to allow it")

// dialer connects to upstreams. It resolves the name itself and dials the
// address it checked, so a name cannot pass the check and then resolve to
// a private address (DNS rebinding).
type dialer struct {
	overrides    map[string]string
	allowPrivate bool
	net          net.Dialer
	resolver     *net.Resolver
}

func newDialer(overrides map[string]string, allowPrivate bool,
	timeout time.Duration) (*dialer, error) {
	d := &dialer{
		overrides:    make(map[string]string, len(overrides)),
		allowPrivate: allowPrivate,
		net:          net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second},
		resolver:     net.DefaultResolver,
	}
	for host, addr := range overrides {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("upstream_override %s: address %q is not host:port", host, addr)
		}
		d.overrides[canonicalHost(host)] = addr
	}
	return d, nil
}

// DialContext dials addr ("host:port") under the private-address rule.
func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if override, ok := d.overrides[canonicalHost(host)]; ok {
		return d.net.DialContext(ctx, network, override)
	}

	ips, err := d.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	var firstErr error
	for _, ip := range ips {
		if !d.allowPrivate && isPrivate(ip) {
			continue
		}
		conn, err := d.net.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return nil, fmt.Errorf("dialing %s: %w", host, errPrivateDestination)
}

// resolve returns the addresses of host, which may be an IP literal.
func (d *dialer) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")); err == nil {
		return []netip.Addr{ip.Unmap()}, nil
	}
	ips, err := d.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %v", host, err)
	}
	for i := range ips {
		ips[i] = ips[i].Unmap()
	}
	return ips, nil
}

// isPrivate reports whether ip is an address an agent must not reach by
// default: loopback, RFC 1918 and unique-local, link-local, unspecified,
// multicast, and the shared (CGNAT) range.
func isPrivate(ip netip.Addr) bool {
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() ||
		ip.IsUnspecified() || sharedAddressSpace.Contains(ip)
}

// sharedAddressSpace is RFC 6598's carrier-grade NAT range, private in
// practice though not in netip's definition.
var sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")

// canonicalHost lower-cases a host and removes IPv6 brackets and a trailing
// dot.
func canonicalHost(host string) string {
	h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.ToLower(strings.TrimSuffix(h, "."))
}
