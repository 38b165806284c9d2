package store

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Key prefixes. Every record kind has its own, so a scan of one kind never
// sees another.
const (
	credentialPrefix = "cred/"
	bindingPrefix    = "bind/"
	metaPrefix       = "meta/"
	poolPrefix       = "pool/"
	healthPrefix     = "health/"
	activePrefix     = "active/"
)

// Credential types.
const (
	// TypeStatic is a credential with one secret value, such as an API key.
	TypeStatic = "static"

	// TypeOAuth is an OAuth account: access token, optional refresh and id
	// tokens, and the token URL where it refreshes.
	TypeOAuth = "oauth"
)

// Credential is a named real secret.
type Credential struct {
	// Name identifies the credential. Credentials and pools share one
	// namespace.
	Name string `json:"name"`

	// Type is TypeStatic or TypeOAuth.
	Type string `json:"type"`

	// Value is the real secret of a static credential.
	Value string `json:"value,omitempty"`

	// OAuth holds the tokens of an OAuth credential.
	OAuth *OAuthTokens `json:"oauth,omitempty"`

	// CreatedAt is when the credential was added.
	CreatedAt time.Time `json:"created_at"`

	// UpdatedAt is when the secret was last replaced.
	UpdatedAt time.Time `json:"updated_at"`
}

// OAuthTokens are the real tokens of one OAuth account and what latchkey
// learned about refreshing them.
type OAuthTokens struct {
	// AccessToken is the current access token.
	AccessToken string `json:"access_token"`

	// RefreshToken is the current refresh token, if any. Many providers
	// rotate it on every refresh and accept each one once.
	RefreshToken string `json:"refresh_token,omitempty"`

	// IDToken is the current OpenID Connect id token, if any.
	IDToken string `json:"id_token,omitempty"`

	// TokenURL is the endpoint where the account refreshes.
	TokenURL string `json:"token_url"`

	// ExpiresAt is when the access token expires; zero when unknown.
	ExpiresAt time.Time `json:"expires_at,omitzero"`

	// AccountID is the provider's account id (ChatGPT's workspace id),
	// if any.
	AccountID string `json:"account_id,omitempty"`

	// RefreshTemplate is the last refresh request body an agent sent for
	// this account, with phantoms in it. latchkey replays it with the real
	// refresh token to refresh on its own (after a 401 on an expired
	// token), with the client's client_id and format.
	RefreshTemplate string `json:"refresh_template,omitempty"`

	// RefreshContentType is the Content-Type of RefreshTemplate.
	RefreshContentType string `json:"refresh_content_type,omitempty"`
}

// Pool is a named, ordered list of OAuth credentials that agents see as
// one identity.
type Pool struct {
	// Name identifies the pool; it shares the namespace of credentials.
	Name string `json:"name"`

	// Strategy is how a member is chosen: "failover".
	Strategy string `json:"strategy"`

	// Members are credential names in failover order.
	Members []string `json:"members"`

	// CreatedAt is when the pool was created.
	CreatedAt time.Time `json:"created_at"`

	// Epoch changes on every membership change, so an operation that
	// read the pool before the change can tell its view is stale.
	Epoch uint64 `json:"epoch"`
}

// Health is the failover state of one credential.
type Health struct {
	// Credential is the credential's name.
	Credential string `json:"credential"`

	// CooldownUntil is when the credential may serve again; zero or past
	// means healthy.
	CooldownUntil time.Time `json:"cooldown_until,omitzero"`

	// Reason says why it is cooling down, e.g. "rate limit (429)".
	Reason string `json:"reason,omitempty"`
}

// Binding allows one credential (or pool) to be used at one destination.
type Binding struct {
	// ID identifies the binding.
	ID string `json:"id"`

	// Credential is the name of the bound credential or pool.
	Credential string `json:"credential"`

	// Host is the destination host glob, such as "api.openai.com" or
	// "*.example.com".
	Host string `json:"host"`

	// Ports limits the binding to these destination ports. Empty means
	// every port.
	Ports []int `json:"ports,omitempty"`

	// Header is the request header set from Template.
	Header string `json:"header"`

	// Template is the value written into Header, with "{value}" standing
	// for the real secret.
	Template string `json:"template"`

	// CreatedAt is when the binding was added.
	CreatedAt time.Time `json:"created_at"`
}

// GetCredential reads the credential called name.
func (tx *Txn) GetCredential(name string) (Credential, error) {
	var c Credential
	err := tx.getJSON(credentialPrefix+name, &c)
	return c, err
}

// PutCredential creates or replaces a credential.
func (tx *Txn) PutCredential(c Credential) error {
	return tx.putJSON(credentialPrefix+c.Name, c)
}

// DeleteCredential removes the credential called name.
func (tx *Txn) DeleteCredential(name string) error {
	return tx.delete(credentialPrefix + name)
}

// Credentials returns every credential, ordered by name.
func (tx *Txn) Credentials() ([]Credential, error) {
	var all []Credential
	err := scanJSON(tx, credentialPrefix, func(c Credential) error {
		all = append(all, c)
		return nil
	})
	return all, err
}

// GetBinding reads the binding with the given id.
func (tx *Txn) GetBinding(id string) (Binding, error) {
	var b Binding
	err := tx.getJSON(bindingPrefix+id, &b)
	return b, err
}

// PutBinding creates or replaces a binding.
func (tx *Txn) PutBinding(b Binding) error {
	return tx.putJSON(bindingPrefix+b.ID, b)
}

// DeleteBinding removes the binding with the given id.
func (tx *Txn) DeleteBinding(id string) error {
	return tx.delete(bindingPrefix + id)
}

// Bindings returns every binding, ordered by id.
func (tx *Txn) Bindings() ([]Binding, error) {
	var all []Binding
	err := scanJSON(tx, bindingPrefix, func(b Binding) error {
		all = append(all, b)
		return nil
	})
	return all, err
}

// GetMeta reads an install-wide value, such as the phantom key.
func (tx *Txn) GetMeta(name string) ([]byte, error) {
	var v []byte
	err := tx.getJSON(metaPrefix+name, &v)
	return v, err
}

// PutMeta stores an install-wide value.
func (tx *Txn) PutMeta(name string, value []byte) error {
	return tx.putJSON(metaPrefix+name, value)
}

// GetPool reads the pool called name.
func (tx *Txn) GetPool(name string) (Pool, error) {
	var p Pool
	err := tx.getJSON(poolPrefix+name, &p)
	return p, err
}

// PutPool creates or replaces a pool.
func (tx *Txn) PutPool(p Pool) error {
	return tx.putJSON(poolPrefix+p.Name, p)
}

// DeletePool removes the pool called name and its active pointer.
func (tx *Txn) DeletePool(name string) error {
	if err := tx.delete(poolPrefix + name); err != nil {
		return err
	}
	if err := tx.delete(activePrefix + name); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

// Pools returns every pool, ordered by name.
func (tx *Txn) Pools() ([]Pool, error) {
	var all []Pool
	err := scanJSON(tx, poolPrefix, func(p Pool) error {
		all = append(all, p)
		return nil
	})
	return all, err
}

// PutHealth stores a credential's failover state.
func (tx *Txn) PutHealth(h Health) error {
	return tx.putJSON(healthPrefix+h.Credential, h)
}

// DeleteHealth forgets a credential's failover state, if any.
func (tx *Txn) DeleteHealth(name string) error {
	if err := tx.delete(healthPrefix + name); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

// Healths returns the failover state of every credential that has one.
func (tx *Txn) Healths() ([]Health, error) {
	var all []Health
	err := scanJSON(tx, healthPrefix, func(h Health) error {
		all = append(all, h)
		return nil
	})
	return all, err
}

// activePointer is the stored form of a pool's sticky active member.
type activePointer struct {
	Member string `json:"member"`
}

// PutActive stores the member a pool currently uses.
func (tx *Txn) PutActive(pool, member string) error {
	return tx.putJSON(activePrefix+pool, activePointer{Member: member})
}

// Actives returns every pool's stored active member.
func (tx *Txn) Actives() (map[string]string, error) {
	out := map[string]string{}
	opts := badger.DefaultIteratorOptions
	opts.Prefix = []byte(activePrefix)
	it := tx.t.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		var p activePointer
		err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &p) })
		if err != nil {
			return nil, err
		}
		out[strings.TrimPrefix(string(it.Item().Key()), activePrefix)] = p.Member
	}
	return out, nil
}
