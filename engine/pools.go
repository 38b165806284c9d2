package engine

import (
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/latchkeyproxy/latchkey/store"
)

// StrategyFailover stays on one member while it is healthy and moves to the
// next healthy one when it cools down. It is the only strategy and the
// default.
const StrategyFailover = "failover"

// Additional sentinel errors of pool operations.
var (
	// ErrAlreadyPooled marks a member that belongs to another pool. It
	// matches ErrConflict too.
	ErrAlreadyPooled = fmt.Errorf("%w: member already pooled", ErrConflict)

	// ErrRace marks an operation that lost a race with a membership
	// change and wrote nothing. It matches ErrConflict too.
	ErrRace = fmt.Errorf("%w: pool changed concurrently", ErrConflict)
)

// PoolSpec describes a pool to create.
type PoolSpec struct {
	// Name identifies the pool; it shares the namespace of credentials.
	Name string `json:"name"`

	// Members are OAuth credential names in failover order.
	Members []string `json:"members"`

	// Strategy is "failover" (the default when empty).
	Strategy string `json:"strategy,omitempty"`
}

// Pool is a pool as the channels show it.
type Pool struct {
	// Name identifies the pool.
	Name string `json:"name"`

	// Strategy is how members are chosen.
	Strategy string `json:"strategy"`

	// CreatedAt is when the pool was created.
	CreatedAt time.Time `json:"created_at"`

	// Members are the members in failover order.
	Members []PoolMember `json:"members"`
}

// PoolMember is one member of a pool.
type PoolMember struct {
	// Credential is the member's credential name.
	Credential string `json:"credential"`

	// Position is the member's place in failover order, from 0.
	Position int `json:"position"`
}

func poolFrom(p store.Pool) Pool {
	out := Pool{Name: p.Name, Strategy: p.Strategy, CreatedAt: p.CreatedAt,
		Members: make([]PoolMember, len(p.Members))}
	for i, m := range p.Members {
		out.Members[i] = PoolMember{Credential: m, Position: i}
	}
	return out
}

// validate checks a pool spec against the records.
func (s PoolSpec) validate(r *records) (store.Pool, error) {
	if err := ValidateName(s.Name); err != nil {
		return store.Pool{}, err
	}
	strategy := s.Strategy
	if strategy == "" {
		strategy = StrategyFailover
	}
	if strategy != StrategyFailover {
		return store.Pool{}, invalidf("strategy %q is not supported (use %q)", s.Strategy,
			StrategyFailover)
	}
	if len(s.Members) == 0 {
		return store.Pool{}, invalidf("a pool needs at least one member")
	}
	for i, m := range s.Members {
		if err := ValidateName(m); err != nil {
			return store.Pool{}, fmt.Errorf("member %d: %w", i, err)
		}
		if slices.Index(s.Members, m) != i {
			return store.Pool{}, invalidf("member %q is listed twice", m)
		}
		c, ok := r.creds[m]
		if !ok {
			return store.Pool{}, invalidf("member %q is not a credential", m)
		}
		if c.Type != store.TypeOAuth {
			return store.Pool{}, invalidf("member %q is a %s credential; pools take oauth "+
				"credentials", m, c.Type)
		}
	}
	if r.nameTaken(s.Name) {
		return store.Pool{}, fmt.Errorf("%w: the name %q is already taken by a credential or pool",
			ErrConflict, s.Name)
	}
	for _, m := range s.Members {
		if p, ok := r.poolOf(m); ok {
			return store.Pool{}, fmt.Errorf("%w: %q is a member of pool %q", ErrAlreadyPooled, m,
				p.Name)
		}
	}
	return store.Pool{Name: s.Name, Strategy: strategy, Members: slices.Clone(s.Members)}, nil
}

// CreatePool creates a pool. It is live for the next request.
func (e *Engine) CreatePool(spec PoolSpec) (Pool, error) {
	var created store.Pool
	err := e.update(func(tx *store.Txn, r *records) error {
		p, err := spec.validate(r)
		if err != nil {
			return err
		}
		p.CreatedAt = e.now().UTC()
		// An epoch no earlier pool of this name had, so an operation
		// that read the pool before it was removed and created again
		// notices.
		p.Epoch = uint64(time.Now().UnixNano())
		r.pools[p.Name] = p
		r.active[p.Name] = p.Members[0]
		created = p
		if err := tx.PutPool(p); err != nil {
			return err
		}
		return tx.PutActive(p.Name, p.Members[0])
	})
	if err != nil {
		return Pool{}, err
	}
	e.log().Info("pool created", zap.String("pool", created.Name),
		zap.Strings("members", created.Members))
	return poolFrom(created), nil
}

// RemovePool deletes a pool. It is refused with a ReferencedError while
// bindings still use it. Its members become ordinary credentials.
func (e *Engine) RemovePool(name string) error {
	err := e.update(func(tx *store.Txn, r *records) error {
		if _, ok := r.pools[name]; !ok {
			return fmt.Errorf("%w: no pool called %s", ErrNotFound, quoteName(name))
		}
		if refs := r.bindingsOf(name); len(refs) > 0 {
			return &ReferencedError{Name: name, Bindings: bindingsFrom(refs)}
		}
		delete(r.pools, name)
		delete(r.active, name)
		return tx.DeletePool(name)
	})
	if err != nil {
		return err
	}
	e.log().Info("pool removed", zap.String("pool", name))
	return nil
}

// Pools lists every pool, ordered by name.
func (e *Engine) Pools() []Pool {
	pools := e.current.Load().records.poolList()
	out := make([]Pool, len(pools))
	for i, p := range pools {
		out[i] = poolFrom(p)
	}
	return out
}

// GetPool returns one pool.
func (e *Engine) GetPool(name string) (Pool, error) {
	p, ok := e.current.Load().records.pools[name]
	if !ok {
		return Pool{}, fmt.Errorf("%w: no pool called %s", ErrNotFound, quoteName(name))
	}
	return poolFrom(p), nil
}

// PoolSize returns the number of members of a pool, or 0.
func (e *Engine) PoolSize(name string) int {
	return len(e.current.Load().records.pools[name].Members)
}
