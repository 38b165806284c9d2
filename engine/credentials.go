package engine

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/latchkeyproxy/latchkey/store"
)

// MaxSecretLength bounds a secret value. Real API keys and tokens are far
// shorter; the bound keeps a mistaken paste of a whole file out of headers.
const MaxSecretLength = 16 << 10

// CredentialInfo describes a credential without its secret. It is what every
// channel shows; no channel ever reads a secret back.
type CredentialInfo struct {
	// Name identifies the credential.
	Name string `json:"name"`

	// Type is "static" or "oauth".
	Type string `json:"type"`

	// TokenURL is where an OAuth credential refreshes.
	TokenURL string `json:"token_url,omitempty"`

	// ExpiresAt is when an OAuth credential's access token expires, when
	// known.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`

	// HasRefreshToken tells whether an OAuth credential can refresh.
	HasRefreshToken bool `json:"has_refresh_token,omitempty"`

	// Pool is the pool the credential is a member of, if any.
	Pool string `json:"pool,omitempty"`

	// CreatedAt is when the credential was added.
	CreatedAt time.Time `json:"created_at"`

	// UpdatedAt is when its secret was last replaced.
	UpdatedAt time.Time `json:"updated_at"`
}

func infoOf(r *records, c store.Credential) CredentialInfo {
	info := CredentialInfo{Name: c.Name, Type: c.Type, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if o := c.OAuth; o != nil {
		info.TokenURL = o.TokenURL
		info.HasRefreshToken = o.RefreshToken != ""
		if !o.ExpiresAt.IsZero() {
			t := o.ExpiresAt
			info.ExpiresAt = &t
		}
	}
	if p, ok := r.poolOf(c.Name); ok {
		info.Pool = p.Name
	}
	return info
}

// validateSecret checks a secret value. Control characters are refused
// because the value is written into HTTP headers.
func validateSecret(value string) error {
	if value == "" {
		return invalidf("secret value is empty")
	}
	if len(value) > MaxSecretLength {
		return invalidf("secret value is longer than %d bytes", MaxSecretLength)
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < 0x20 || c == 0x7f {
			return invalidf("secret value contains a control character (such as a newline)")
		}
	}
	return nil
}

// AddStaticCredential stores a new static credential. The name must be free
// among credentials and pools.
func (e *Engine) AddStaticCredential(name, value string) (CredentialInfo, error) {
	if err := ValidateName(name); err != nil {
		return CredentialInfo{}, err
	}
	if err := validateSecret(value); err != nil {
		return CredentialInfo{}, err
	}

	now := e.now().UTC()
	c := store.Credential{Name: name, Type: store.TypeStatic, Value: value,
		CreatedAt: now, UpdatedAt: now}
	err := e.update(func(tx *store.Txn, r *records) error {
		return addCredential(tx, r, c)
	})
	if err != nil {
		return CredentialInfo{}, err
	}
	e.log().Info("credential added", zap.String("credential", name), zap.String("type", c.Type))
	return infoOf(e.current.Load().records, c), nil
}

// addCredential stores a new credential whose name must be free.
func addCredential(tx *store.Txn, r *records, c store.Credential) error {
	if r.nameTaken(c.Name) {
		return fmt.Errorf("%w: the name %q is already taken by a credential or pool",
			ErrConflict, c.Name)
	}
	r.creds[c.Name] = c
	return tx.PutCredential(c)
}

// UpdateStaticCredential replaces the secret of a static credential. Its
// phantom does not change, so agents keep working.
func (e *Engine) UpdateStaticCredential(name, value string) error {
	if err := validateSecret(value); err != nil {
		return err
	}
	err := e.update(func(tx *store.Txn, r *records) error {
		c, ok := r.creds[name]
		if !ok {
			return fmt.Errorf("%w: no credential called %s", ErrNotFound, quoteName(name))
		}
		if c.Type != store.TypeStatic {
			return invalidf("credential %q is %s; update its tokens instead", name, c.Type)
		}
		c.Value = value
		c.UpdatedAt = e.now().UTC()
		r.creds[name] = c
		return tx.PutCredential(c)
	})
	if err != nil {
		return err
	}
	e.log().Info("credential updated", zap.String("credential", name))
	return nil
}

// RemoveCredential deletes a credential. It is refused with a
// ReferencedError while bindings still use it.
func (e *Engine) RemoveCredential(name string) error {
	err := e.update(func(tx *store.Txn, r *records) error {
		if _, ok := r.creds[name]; !ok {
			return fmt.Errorf("%w: no credential called %s", ErrNotFound, quoteName(name))
		}
		if p, ok := r.poolOf(name); ok {
			return fmt.Errorf("%w: credential %q is a member of pool %q; remove the pool "+
				"first", ErrConflict, name, p.Name)
		}
		if refs := r.bindingsOf(name); len(refs) > 0 {
			return &ReferencedError{Name: name, Bindings: bindingsFrom(refs)}
		}
		delete(r.creds, name)
		err := tx.DeleteCredential(name)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("credential %q is in memory but not in the store", name)
		}
		return err
	})
	if err != nil {
		return err
	}
	e.log().Info("credential removed", zap.String("credential", name))
	return nil
}

// Credentials lists every credential, ordered by name, without secrets.
func (e *Engine) Credentials() []CredentialInfo {
	r := e.current.Load().records
	creds := r.credentials()
	out := make([]CredentialInfo, len(creds))
	for i, c := range creds {
		out[i] = infoOf(r, c)
	}
	return out
}
