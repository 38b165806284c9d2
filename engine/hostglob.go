package engine

import (
	"net/netip"
	"strings"
)

// A host glob names the destinations of a binding:
//
//   - "api.openai.com" matches that host only;
//   - "*.example.com" matches every subdomain of example.com at any depth,
//     but not example.com itself;
//   - "*" matches every host;
//   - an IP address matches that address.
//
// Matching ignores case. Nothing else is a wildcard, so a glob can never
// match more than its operator can read off it.

// validateHostGlob checks a host glob and returns it in canonical form
// (lower case, no trailing dot, IPv6 without brackets).
func validateHostGlob(glob string) (string, error) {
	g := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(glob)), ".")
	g = strings.TrimSuffix(strings.TrimPrefix(g, "["), "]")
	if g == "" {
		return "", invalidf("destination host is empty")
	}
	if g == "*" {
		return g, nil
	}
	if addr, err := netip.ParseAddr(g); err == nil {
		return addr.String(), nil
	}
	name := strings.TrimPrefix(g, "*.")
	if len(name) > 253 {
		return "", invalidf("destination host is longer than 253 characters")
	}
	for _, label := range strings.Split(name, ".") {
		if !validLabel(label) {
			return "", invalidf("destination host %q is not a host name or a glob "+
				"like *.example.com", glob)
		}
	}
	return g, nil
}

func validLabel(label string) bool {
	if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
		return false
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// canonicalHost lower-cases a request's destination host and removes a
// trailing dot and IPv6 brackets, so it compares with canonical globs.
func canonicalHost(host string) string {
	h := strings.TrimSuffix(host, ".")
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// matchHostGlob reports whether the canonical host matches the canonical
// glob.
func matchHostGlob(glob, host string) bool {
	switch {
	case glob == "*":
		return true
	case strings.HasPrefix(glob, "*."):
		suffix := glob[1:] // ".example.com"
		return len(host) > len(suffix) && strings.HasSuffix(host, suffix)
	default:
		return glob == host
	}
}
