package engine

import (
	"sort"

	"github.com/latchkeyproxy/latchkey/store"
)

// records is the engine's copy of what the store holds, keyed for lookups.
type records struct {
	creds map[string]store.Credential
	binds map[string]store.Binding
}

func newRecords(creds []store.Credential, binds []store.Binding) *records {
	r := &records{
		creds: make(map[string]store.Credential, len(creds)),
		binds: make(map[string]store.Binding, len(binds)),
	}
	for _, c := range creds {
		r.creds[c.Name] = c
	}
	for _, b := range binds {
		r.binds[b.ID] = b
	}
	return r
}

// clone copies the maps so a change can be prepared without touching the
// snapshot that requests are reading.
func (r *records) clone() *records {
	return newRecords(r.credentials(), r.bindings())
}

// credentials returns the credentials ordered by name.
func (r *records) credentials() []store.Credential {
	out := make([]store.Credential, 0, len(r.creds))
	for _, c := range r.creds {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// bindings returns the bindings ordered by creation, then id.
func (r *records) bindings() []store.Binding {
	out := make([]store.Binding, 0, len(r.binds))
	for _, b := range r.binds {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// bindingsOf returns the bindings that reference the named credential.
func (r *records) bindingsOf(name string) []store.Binding {
	var out []store.Binding
	for _, b := range r.bindings() {
		if b.Credential == name {
			out = append(out, b)
		}
	}
	return out
}
