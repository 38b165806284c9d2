package engine

import (
	"maps"
	"slices"
	"sort"

	"github.com/latchkeyproxy/latchkey/store"
)

// records is the engine's copy of what the store holds, keyed for lookups.
type records struct {
	creds  map[string]store.Credential
	binds  map[string]store.Binding
	pools  map[string]store.Pool
	health map[string]store.Health

	// active is each pool's sticky active member.
	active map[string]string
}

func newRecords() *records {
	return &records{
		creds:  map[string]store.Credential{},
		binds:  map[string]store.Binding{},
		pools:  map[string]store.Pool{},
		health: map[string]store.Health{},
		active: map[string]string{},
	}
}

// loadRecords reads every record in one transaction.
func loadRecords(tx *store.Txn) (*records, error) {
	r := newRecords()
	creds, err := tx.Credentials()
	if err != nil {
		return nil, err
	}
	for _, c := range creds {
		r.creds[c.Name] = c
	}
	binds, err := tx.Bindings()
	if err != nil {
		return nil, err
	}
	for _, b := range binds {
		r.binds[b.ID] = b
	}
	pools, err := tx.Pools()
	if err != nil {
		return nil, err
	}
	for _, p := range pools {
		r.pools[p.Name] = p
	}
	healths, err := tx.Healths()
	if err != nil {
		return nil, err
	}
	for _, h := range healths {
		r.health[h.Credential] = h
	}
	if r.active, err = tx.Actives(); err != nil {
		return nil, err
	}
	return r, nil
}

// clone copies the maps so a change can be prepared without touching the
// snapshot that requests are reading. Records themselves are values; the
// slices inside them are never modified in place.
func (r *records) clone() *records {
	return &records{
		creds:  maps.Clone(r.creds),
		binds:  maps.Clone(r.binds),
		pools:  maps.Clone(r.pools),
		health: maps.Clone(r.health),
		active: maps.Clone(r.active),
	}
}

// credentials returns the credentials ordered by name.
func (r *records) credentials() []store.Credential {
	return slices.SortedFunc(maps.Values(r.creds), func(a, b store.Credential) int {
		return compareStrings(a.Name, b.Name)
	})
}

// poolList returns the pools ordered by name.
func (r *records) poolList() []store.Pool {
	return slices.SortedFunc(maps.Values(r.pools), func(a, b store.Pool) int {
		return compareStrings(a.Name, b.Name)
	})
}

// bindings returns the bindings ordered by creation, then id.
func (r *records) bindings() []store.Binding {
	out := slices.Collect(maps.Values(r.binds))
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// bindingsOf returns the bindings that reference the named credential or
// pool.
func (r *records) bindingsOf(name string) []store.Binding {
	var out []store.Binding
	for _, b := range r.bindings() {
		if b.Credential == name {
			out = append(out, b)
		}
	}
	return out
}

// poolOf returns the pool the credential belongs to, if any.
func (r *records) poolOf(credential string) (store.Pool, bool) {
	for _, p := range r.pools {
		if slices.Contains(p.Members, credential) {
			return p, true
		}
	}
	return store.Pool{}, false
}

// nameTaken reports whether a credential or a pool already has the name.
func (r *records) nameTaken(name string) bool {
	_, cred := r.creds[name]
	_, pool := r.pools[name]
	return cred || pool
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
