package engine

import (
	"slices"
	"strings"

	"github.com/latchkeyproxy/latchkey/swap"
)

// Plan tells the proxy what to do with requests to one destination: which
// credentials are bound there and how to swap their phantoms, and which
// phantoms must be stripped because their credentials are bound elsewhere.
// A Plan is immutable and shared by concurrent requests.
type Plan struct {
	// Headers are the bound headers. When a request's header named by a
	// rule contains the rule's phantom, the proxy sets that header to the
	// rule's value.
	Headers []HeaderRule

	// Request replaces, in headers, the query and the body, the phantoms
	// of bound credentials with their secrets and the phantoms of every
	// other credential with nothing.
	Request *swap.Replacer

	// Response replaces the secrets of bound credentials with their
	// phantoms, so an upstream that echoes a secret does not leak it to
	// the agent.
	Response *swap.Replacer

	// requestPairs says, for each pair of Request, which credential it
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

	// Credential names the credential, for logs.
	Credential string
}

// pairOwner ties a replacement pair back to its credential.
type pairOwner struct {
	credential string
	strip      bool
}

// Intercepted reports whether any credential is bound to the destination,
// which is when the proxy must terminate TLS to inject.
func (p *Plan) Intercepted() bool {
	return len(p.Headers) > 0
}

// Injected returns the names of bound credentials whose phantoms matched.
func (p *Plan) Injected(m swap.Matches) []string {
	return p.owners(m, false)
}

// Stripped returns the names of credentials whose phantoms matched at a
// destination they are not bound to.
func (p *Plan) Stripped(m swap.Matches) []string {
	return p.owners(m, true)
}

func (p *Plan) owners(m swap.Matches, strip bool) []string {
	var names []string
	m.Each(func(i int) {
		if i < len(p.requestPairs) && p.requestPairs[i].strip == strip {
			if !slices.Contains(names, p.requestPairs[i].credential) {
				names = append(names, p.requestPairs[i].credential)
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

// buildPlan works out the plan for a canonical host and a port.
func buildPlan(s *snapshot, host string, port int) *Plan {
	p := &Plan{}
	bound := map[string]bool{}
	for _, b := range s.bindings {
		if !matchHostGlob(b.Host, host) || (len(b.Ports) > 0 && !slices.Contains(b.Ports, port)) {
			continue
		}
		secret, ok := s.secrets[b.Credential]
		if !ok {
			continue
		}
		bound[b.Credential] = true
		p.Headers = append(p.Headers, HeaderRule{
			Header:     b.Header,
			Phantom:    s.phantomOf[b.Credential],
			Value:      strings.ReplaceAll(b.Template, ValuePlaceholder, secret),
			Credential: b.Credential,
		})
	}

	var reqPairs, respPairs []swap.Pair
	for ph, name := range s.phantoms {
		if bound[name] {
			reqPairs = append(reqPairs, swap.Pair{Old: ph, New: s.secrets[name]})
			p.requestPairs = append(p.requestPairs, pairOwner{credential: name})
			respPairs = append(respPairs, swap.Pair{Old: s.secrets[name], New: ph})
		} else {
			reqPairs = append(reqPairs, swap.Pair{Old: ph, New: ""})
			p.requestPairs = append(p.requestPairs, pairOwner{credential: name, strip: true})
		}
	}
	p.Request = swap.New(reqPairs)
	p.Response = swap.New(respPairs)
	return p
}
