package engine

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every management channel maps them the same way: callers
// test with errors.Is, and anything else is an internal failure.
var (
	// ErrInvalid marks input that fails validation.
	ErrInvalid = errors.New("invalid")

	// ErrNotFound marks a name or id that does not exist.
	ErrNotFound = errors.New("not found")

	// ErrConflict marks a change that clashes with existing state, such as
	// a name that is already taken.
	ErrConflict = errors.New("conflict")
)

// invalidf returns an ErrInvalid with a message for the operator.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// ReferencedError refuses to remove a credential or pool that bindings still
// use. It carries those bindings so the operator knows what to remove first.
type ReferencedError struct {
	// Name is the credential or pool that is still referenced.
	Name string

	// Bindings are the bindings that reference it.
	Bindings []Binding
}

// Error lists the referencing bindings.
func (e *ReferencedError) Error() string {
	ids := make([]string, len(e.Bindings))
	for i, b := range e.Bindings {
		ids[i] = b.ID + " (" + b.Destination + ")"
	}
	return fmt.Sprintf("%q is still used by bindings %s; remove them first",
		e.Name, strings.Join(ids, ", "))
}

// Unwrap makes a ReferencedError match ErrConflict.
func (e *ReferencedError) Unwrap() error { return ErrConflict }
