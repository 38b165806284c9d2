package engine

import (
	"fmt"
)

// Phantom is what an operator gives an agent in place of a credential or
// pool: for a static credential one value, for an OAuth credential or pool
// the tokens to write into the agent's auth file.
type Phantom struct {
	// Name is the credential or pool.
	Name string `json:"name"`

	// Kind is "static", "oauth" or "pool".
	Kind string `json:"kind"`

	// Phantom is a static credential's phantom key.
	Phantom string `json:"phantom,omitempty"`

	// AccessToken is the access phantom, a JWT, of an OAuth credential or
	// pool.
	AccessToken string `json:"access_token,omitempty"`

	// RefreshToken is the refresh phantom of an OAuth credential or pool.
	RefreshToken string `json:"refresh_token,omitempty"`

	// IDToken is a phantom id token, present when the serving account has
	// a real one: its claims keep their shape with the account id replaced
	// by AccountID.
	IDToken string `json:"id_token,omitempty"`

	// AccountID is the phantom account id, present when the serving
	// account has a real one.
	AccountID string `json:"account_id,omitempty"`
}

// Phantom returns the phantoms of the named credential or pool.
func (e *Engine) Phantom(name string) (Phantom, error) {
	s := e.current.Load()
	id, ok := s.identities[name]
	if !ok {
		return Phantom{}, fmt.Errorf("%w: no credential or pool called %s", ErrNotFound,
			quoteName(name))
	}
	if id.kind == KindStatic {
		return Phantom{Name: name, Kind: id.kind, Phantom: id.access}, nil
	}

	p := Phantom{Name: name, Kind: id.kind, AccessToken: id.access, RefreshToken: id.refresh}
	member, ok := s.member(id)
	if !ok || member.OAuth == nil {
		return p, nil
	}
	if member.OAuth.AccountID != "" {
		p.AccountID = id.account
	}
	if member.OAuth.IDToken != "" {
		tok, err := e.phantomIDToken(id, member)
		if err != nil {
			return Phantom{}, err
		}
		p.IDToken = tok
	}
	return p, nil
}
