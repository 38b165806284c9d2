package engine

import "fmt"

// Phantom is what an operator gives an agent in place of a credential.
type Phantom struct {
	// Name is the credential or pool.
	Name string `json:"name"`

	// Kind is "static".
	Kind string `json:"kind"`

	// Phantom is the value to put where the agent expects its key.
	Phantom string `json:"phantom"`
}

// Phantom returns the phantom of the named credential.
func (e *Engine) Phantom(name string) (Phantom, error) {
	s := e.current.Load()
	c, ok := s.records.creds[name]
	if !ok {
		return Phantom{}, fmt.Errorf("%w: no credential called %s", ErrNotFound, quoteName(name))
	}
	return Phantom{Name: c.Name, Kind: c.Type, Phantom: e.codec.Static(c.Name)}, nil
}
