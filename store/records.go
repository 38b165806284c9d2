package store

import "time"

// Key prefixes. Every record kind has its own, so a scan of one kind never
// sees another.
const (
	credentialPrefix = "cred/"
	bindingPrefix    = "bind/"
	metaPrefix       = "meta/"
)

// Credential types.
const (
	// TypeStatic is a credential with one secret value, such as an API key.
	TypeStatic = "static"
)

// Credential is a named real secret.
type Credential struct {
	// Name identifies the credential. Credentials and pools share one
	// namespace.
	Name string `json:"name"`

	// Type is TypeStatic.
	Type string `json:"type"`

	// Value is the real secret of a static credential.
	Value string `json:"value"`

	// CreatedAt is when the credential was added.
	CreatedAt time.Time `json:"created_at"`

	// UpdatedAt is when the secret was last replaced.
	UpdatedAt time.Time `json:"updated_at"`
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
