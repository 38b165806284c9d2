package engine

import (
	"net"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/latchkeyproxy/latchkey/phantom"
	"github.com/latchkeyproxy/latchkey/store"
)

// maxCachedPlans bounds the per-snapshot plan cache. Hosts come from agents
// and a glob like "*.example.com" matches infinitely many, so the cache must
// not grow with whatever an agent asks for; past the bound plans are built
// per request, which is slower but correct.
const maxCachedPlans = 1024

// Identity kinds: what a name stands for.
const (
	KindStatic = store.TypeStatic
	KindOAuth  = store.TypeOAuth
	KindPool   = "pool"
)

// identity is one name an agent can hold phantoms for: a credential or a
// pool.
type identity struct {
	name string
	kind string

	// access is the phantom sent as the key: the static phantom, or the
	// access JWT of an OAuth credential or pool.
	access string

	// refresh and account are the refresh and account-id phantoms of an
	// OAuth credential or pool.
	refresh string
	account string
}

// snapshot is one immutable version of the engine's state plus what is
// derived from it. A change publishes a new snapshot, which drops the
// caches with it. Pool health and token rotations are changes too, so a
// snapshot always says which member serves each pool and with what token.
type snapshot struct {
	records *records

	identities map[string]*identity
	byPhantom  map[string]*identity

	// tokenHosts holds "host:port" of every OAuth credential's token URL.
	tokenHosts map[string]bool

	// plans caches Plan results by planKey.
	plans     sync.Map
	planCount atomic.Int32
}

func newSnapshot(codec *phantom.Codec, r *records) *snapshot {
	s := &snapshot{
		records:    r,
		identities: map[string]*identity{},
		byPhantom:  map[string]*identity{},
		tokenHosts: map[string]bool{},
	}
	add := func(id *identity) {
		s.identities[id.name] = id
		for _, ph := range []string{id.access, id.refresh} {
			if ph != "" {
				s.byPhantom[ph] = id
			}
		}
	}
	for _, c := range r.creds {
		switch c.Type {
		case store.TypeStatic:
			add(&identity{name: c.Name, kind: KindStatic, access: codec.Static(c.Name)})
		case store.TypeOAuth:
			add(oauthIdentity(codec, KindOAuth, c.Name))
			if hp, ok := tokenHostPort(c.OAuth.TokenURL); ok {
				s.tokenHosts[hp] = true
			}
		}
	}
	for _, p := range r.pools {
		add(oauthIdentity(codec, KindPool, p.Name))
	}
	return s
}

func oauthIdentity(codec *phantom.Codec, kind, name string) *identity {
	return &identity{name: name, kind: kind, access: codec.Access(kind, name),
		refresh: codec.Refresh(name), account: codec.AccountID(name)}
}

// tokenHostPort returns the "host:port" a token URL is served on.
func tokenHostPort(tokenURL string) (string, bool) {
	u, err := url.Parse(tokenURL)
	if err != nil || u.Hostname() == "" {
		return "", false
	}
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	return net.JoinHostPort(canonicalHost(u.Hostname()), port), true
}

// member returns the credential that serves an identity: the credential
// itself, or a pool's active member.
func (s *snapshot) member(id *identity) (store.Credential, bool) {
	if id.kind != KindPool {
		c, ok := s.records.creds[id.name]
		return c, ok
	}
	p := s.records.pools[id.name]
	name := s.records.active[id.name]
	if !slices.Contains(p.Members, name) && len(p.Members) > 0 {
		name = p.Members[0]
	}
	c, ok := s.records.creds[name]
	return c, ok
}

// planKey identifies a destination in the plan cache; a struct rather
// than a joined string so a lookup allocates nothing.
type planKey struct {
	host string
	port int
}

// plan returns the cached plan for a destination, building it on a miss.
func (s *snapshot) plan(host string, port int) *Plan {
	key := planKey{host: host, port: port}
	if p, ok := s.plans.Load(key); ok {
		return p.(*Plan)
	}
	p := buildPlan(s, host, port)
	if s.planCount.Load() < maxCachedPlans {
		if _, loaded := s.plans.LoadOrStore(key, p); !loaded {
			s.planCount.Add(1)
		}
	}
	return p
}
