package engine

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"go.uber.org/zap"

	"github.com/latchkeyproxy/latchkey/store"
)

// Binding defaults.
const (
	// DefaultHeader is the header a binding sets when none is given.
	DefaultHeader = "Authorization"

	// DefaultTemplate is the header value a binding writes when none is
	// given.
	DefaultTemplate = "Bearer {value}"

	// ValuePlaceholder stands for the real secret in a template.
	ValuePlaceholder = "{value}"
)

// BindingSpec is what an operator asks for when binding a credential.
type BindingSpec struct {
	// Credential is the credential or pool to bind.
	Credential string `json:"credential"`

	// Destination is the host glob (see the package's host glob rules).
	Destination string `json:"destination"`

	// Ports limits the binding to these ports. Empty means every port.
	Ports []int `json:"ports,omitempty"`

	// Header is the request header to set. Default: "Authorization".
	Header string `json:"header,omitempty"`

	// Template is the header value, with "{value}" for the secret.
	// Default: "Bearer {value}".
	Template string `json:"template,omitempty"`
}

// Binding is a stored binding as the channels show it.
type Binding struct {
	// ID identifies the binding.
	ID string `json:"id"`

	// Credential is the bound credential or pool.
	Credential string `json:"credential"`

	// Destination is the host glob.
	Destination string `json:"destination"`

	// Ports are the destination ports; empty means every port.
	Ports []int `json:"ports"`

	// Header is the request header the binding sets.
	Header string `json:"header"`

	// Template is the header value with "{value}" for the secret.
	Template string `json:"template"`

	// CreatedAt is when the binding was added.
	CreatedAt time.Time `json:"created_at"`
}

func bindingFrom(b store.Binding) Binding {
	ports := b.Ports
	if ports == nil {
		ports = []int{}
	}
	return Binding{ID: b.ID, Credential: b.Credential, Destination: b.Host, Ports: ports,
		Header: b.Header, Template: b.Template, CreatedAt: b.CreatedAt}
}

func bindingsFrom(bs []store.Binding) []Binding {
	out := make([]Binding, len(bs))
	for i, b := range bs {
		out[i] = bindingFrom(b)
	}
	return out
}

// validate checks a spec and returns the binding it describes, with
// defaults filled in and the host in canonical form.
func (s BindingSpec) validate() (store.Binding, error) {
	if err := ValidateName(s.Credential); err != nil {
		return store.Binding{}, err
	}
	host, err := validateHostGlob(s.Destination)
	if err != nil {
		return store.Binding{}, err
	}
	ports := slices.Clone(s.Ports)
	for _, p := range ports {
		if p < 1 || p > 65535 {
			return store.Binding{}, invalidf("port %d is outside 1-65535", p)
		}
	}
	slices.Sort(ports)
	ports = slices.Compact(ports)

	header := s.Header
	if header == "" {
		header = DefaultHeader
	}
	if !httpguts.ValidHeaderFieldName(header) {
		return store.Binding{}, invalidf("header %q is not a valid header name", header)
	}
	tmpl := s.Template
	if tmpl == "" {
		tmpl = DefaultTemplate
	}
	if !strings.Contains(tmpl, ValuePlaceholder) {
		return store.Binding{}, invalidf("template %q does not contain %s", tmpl,
			ValuePlaceholder)
	}
	if !httpguts.ValidHeaderFieldValue(tmpl) || len(tmpl) > 1024 {
		return store.Binding{}, invalidf("template is not a valid header value")
	}
	return store.Binding{Credential: s.Credential, Host: host, Ports: ports,
		Header: header, Template: tmpl}, nil
}

// AddBinding binds a credential to a destination. The credential must exist.
func (e *Engine) AddBinding(spec BindingSpec) (Binding, error) {
	b, err := spec.validate()
	if err != nil {
		return Binding{}, err
	}
	b.ID = newBindingID()
	b.CreatedAt = e.now().UTC()

	err = e.update(func(tx *store.Txn, r *records) error {
		if !r.nameTaken(b.Credential) {
			return fmt.Errorf("%w: no credential or pool called %s", ErrInvalid,
				quoteName(b.Credential))
		}
		r.binds[b.ID] = b
		return tx.PutBinding(b)
	})
	if err != nil {
		return Binding{}, err
	}
	e.log().Info("binding added", zap.String("binding", b.ID), zap.String("credential", b.Credential),
		zap.String("destination", b.Host))
	return bindingFrom(b), nil
}

// RemoveBinding deletes a binding.
func (e *Engine) RemoveBinding(id string) error {
	err := e.update(func(tx *store.Txn, r *records) error {
		if _, ok := r.binds[id]; !ok {
			return fmt.Errorf("%w: no binding with id %s", ErrNotFound, quoteName(id))
		}
		delete(r.binds, id)
		return tx.DeleteBinding(id)
	})
	if err != nil {
		return err
	}
	e.log().Info("binding removed", zap.String("binding", id))
	return nil
}

// Bindings lists every binding in the order they were added.
func (e *Engine) Bindings() []Binding {
	return bindingsFrom(e.current.Load().records.bindings())
}

// newBindingID returns a short random id that is safe in URLs.
func newBindingID() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return "bnd_" + hex.EncodeToString(b[:])
}
