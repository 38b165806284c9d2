package engine

import (
	"strconv"
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

// snapshot is one immutable version of the engine's state plus caches
// derived from it. A change publishes a new snapshot, which drops the
// caches with it.
type snapshot struct {
	records *records

	// phantoms maps each credential's phantom to the credential name, and
	// phantomOf maps the other way.
	phantoms  map[string]string
	phantomOf map[string]string

	// secrets maps each credential name to its real secret.
	secrets map[string]string

	// bindings are the stored bindings in the order they were added.
	bindings []store.Binding

	// plans caches Plan results by "host:port".
	plans     sync.Map
	planCount atomic.Int32
}

func newSnapshot(codec *phantom.Codec, creds []store.Credential, binds []store.Binding) *snapshot {
	s := &snapshot{
		records:   newRecords(creds, binds),
		phantoms:  make(map[string]string, len(creds)),
		phantomOf: make(map[string]string, len(creds)),
		secrets:   make(map[string]string, len(creds)),
		bindings:  binds,
	}
	for _, c := range creds {
		ph := codec.Static(c.Name)
		s.phantoms[ph] = c.Name
		s.phantomOf[c.Name] = ph
		s.secrets[c.Name] = c.Value
	}
	return s
}

// plan returns the cached plan for a destination, building it on a miss.
func (s *snapshot) plan(host string, port int) *Plan {
	key := host + ":" + strconv.Itoa(port)
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
