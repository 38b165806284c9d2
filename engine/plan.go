package engine

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkeyproxy/latchkey/store"
	"github.com/latchkeyproxy/latchkey/swap"
)

// Plan tells the proxy what to do with requests to one destination: which
// identities are bound there, which real credential serves each, how to
// swap their phantoms, and which phantoms must be stripped because their
// identities are bound elsewhere. A Plan is immutable and shared by
// concurrent requests; a request that holds one keeps a consistent view
// (the same pool member for its header, body and failover attribution)
// even if the engine changes meanwhile.
type Plan struct {
	// Headers are the bound headers. When a request's header named by a
	// rule contains the rule's phantom, the proxy sets that header to the
	// rule's value.
	Headers []HeaderRule

	// Request replaces, in headers, the path, the query and the body, the
	// phantoms of bound identities with the real values of their serving
	// credentials, and the phantoms of every other identity with nothing.
	Request *swap.Replacer

	// Response replaces the real values of bound identities with their
	// phantoms, so an upstream that echoes a secret or an account id does
	// not leak it to the agent.
	Response *swap.Replacer

	// TokenHost is true when the destination serves the token URL of an
	// OAuth credential. The proxy intercepts it to expand refresh grants,
	// and passes every other request there unchanged.
	TokenHost bool

	// served lists each bound identity with the credential serving it.
	served []Served

	// requestPairs says, for each pair of Request, which identity it
	// belongs to and whether it injects or strips.
	requestPairs []pairOwner
}

// HeaderRule sets one header from a binding's template.
type HeaderRule struct {
	// Header is the header name.
	Header string

	// Phantom is the phantom the agent presents in that header.
	Phantom string

	// Value is the template with the real secret filled in.
	Value string

	// Identity names the bound credential or pool, for logs.
	Identity string
}

// Served says which credential serves an identity in this plan.
type Served struct {
	// Identity is the bound credential or pool.
	Identity string

	// Kind is KindStatic, KindOAuth or KindPool.
	Kind string

	// Member is the credential whose secret is injected: the identity
	// itself, or the pool's active member.
	Member string

	// AccessExpiresAt is when the member's access token expires; zero when
	// unknown.
	AccessExpiresAt time.Time
}

// AccessExpired reports whether the member's access token is known to have
// expired at now, in which case a 401 calls for a refresh rather than
// marking the account as failing.
func (s Served) AccessExpired(now time.Time) bool {
	return !s.AccessExpiresAt.IsZero() && !now.Before(s.AccessExpiresAt)
}

// pairOwner ties a replacement pair back to its identity.
type pairOwner struct {
	identity string
	strip    bool
}

// Intercepted reports whether the proxy must terminate TLS for the
// destination: an identity is bound to it or it is a token host.
func (p *Plan) Intercepted() bool {
	return len(p.Headers) > 0 || p.TokenHost
}

// Bound reports whether any identity is bound to the destination.
func (p *Plan) Bound() bool {
	return len(p.served) > 0
}

// Served returns which credential serves the named identity in this plan.
func (p *Plan) Served(identity string) (Served, bool) {
	for _, s := range p.served {
		if s.Identity == identity {
			return s, true
		}
	}
	return Served{}, false
}

// Pools returns the bound pool identities among names.
func (p *Plan) Pools(names []string) []Served {
	var out []Served
	for _, n := range names {
		if s, ok := p.Served(n); ok && s.Kind == KindPool {
			out = append(out, s)
		}
	}
	return out
}

// Injected returns the bound identities whose phantoms matched.
func (p *Plan) Injected(m swap.Matches) []string {
	return p.owners(m, false)
}

// Stripped returns the identities whose phantoms matched at a destination
// they are not bound to.
func (p *Plan) Stripped(m swap.Matches) []string {
	return p.owners(m, true)
}

func (p *Plan) owners(m swap.Matches, strip bool) []string {
	var names []string
	m.Each(func(i int) {
		if i < len(p.requestPairs) && p.requestPairs[i].strip == strip {
			if !slices.Contains(names, p.requestPairs[i].identity) {
				names = append(names, p.requestPairs[i].identity)
			}
		}
	})
	return names
}

// Plan returns the plan for requests to host and port. The host may carry
// any case and a trailing dot.
func (e *Engine) Plan(host string, port int) *Plan {
	return e.current.Load().plan(canonicalHost(host), port)
}

// planBuilder collects the pairs of a plan.
type planBuilder struct {
	p         *Plan
	reqPairs  []swap.Pair
	respPairs []swap.Pair
}

func (b *planBuilder) request(old, new, identity string, strip bool) {
	if old == "" {
		return
	}
	b.reqPairs = append(b.reqPairs, swap.Pair{Old: old, New: new})
	b.p.requestPairs = append(b.p.requestPairs, pairOwner{identity: identity, strip: strip})
}

func (b *planBuilder) response(real, phantom string) {
	if real != "" && phantom != "" {
		b.respPairs = append(b.respPairs, swap.Pair{Old: real, New: phantom})
	}
}

// buildPlan works out the plan for a canonical host and a port.
func buildPlan(s *snapshot, host string, port int) *Plan {
	b := &planBuilder{p: &Plan{}}
	b.p.TokenHost = s.tokenHosts[net.JoinHostPort(host, strconv.Itoa(port))]

	for _, bind := range s.records.bindings() {
		if !matchHostGlob(bind.Host, host) ||
			(len(bind.Ports) > 0 && !slices.Contains(bind.Ports, port)) {
			continue
		}
		id := s.identities[bind.Credential]
		if id == nil {
			continue
		}
		member, ok := s.member(id)
		if !ok {
			continue
		}
		if _, seen := b.p.Served(id.name); !seen {
			b.p.served = append(b.p.served, Served{Identity: id.name, Kind: id.kind,
				Member: member.Name, AccessExpiresAt: expiresAt(member)})
		}
		b.p.Headers = append(b.p.Headers, HeaderRule{
			Header:   bind.Header,
			Phantom:  id.access,
			Value:    strings.ReplaceAll(bind.Template, ValuePlaceholder, secretOf(member)),
			Identity: id.name,
		})
	}

	for _, id := range s.identities {
		served, bound := b.p.Served(id.name)
		if !bound {
			b.request(id.access, "", id.name, true)
			b.request(id.refresh, "", id.name, true)
			continue
		}
		member := s.records.creds[served.Member]
		b.request(id.access, secretOf(member), id.name, false)
		// Refresh phantoms belong at token hosts only.
		b.request(id.refresh, "", id.name, true)
		if member.OAuth != nil {
			b.request(id.account, member.OAuth.AccountID, id.name, false)
		}
		for _, c := range servingCredentials(s, id) {
			b.response(secretOf(c), id.access)
			if c.OAuth != nil {
				b.response(c.OAuth.RefreshToken, id.refresh)
				b.response(c.OAuth.AccountID, id.account)
			}
		}
	}
	b.p.Request = swap.New(b.reqPairs)
	b.p.Response = swap.New(b.respPairs)
	return b.p
}

// servingCredentials returns every credential that may serve an identity:
// all of a pool's members, so an echo of any of them is scrubbed.
func servingCredentials(s *snapshot, id *identity) []store.Credential {
	if id.kind != KindPool {
		return []store.Credential{s.records.creds[id.name]}
	}
	var out []store.Credential
	for _, m := range s.records.pools[id.name].Members {
		out = append(out, s.records.creds[m])
	}
	return out
}

// secretOf returns the value a credential injects.
func secretOf(c store.Credential) string {
	if c.OAuth != nil {
		return c.OAuth.AccessToken
	}
	return c.Value
}

// expiresAt returns when a credential's access token expires.
func expiresAt(c store.Credential) time.Time {
	if c.OAuth != nil {
		return c.OAuth.ExpiresAt
	}
	return time.Time{}
}

// HasPool reports whether a pool is bound to the destination.
func (p *Plan) HasPool() bool {
	for _, s := range p.served {
		if s.Kind == KindPool {
			return true
		}
	}
	return false
}
