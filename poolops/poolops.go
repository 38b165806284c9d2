// Package poolops is the one implementation of pool management that every
// channel (the REST API, the CLI through it, the Telegram bot) calls. It
// works on the live engine, so what a channel reports is what the proxy
// does, and it turns the engine's errors into the sentinels below, which
// every channel maps the same way.
package poolops

import (
	"errors"
	"fmt"

	"github.com/latchkeyproxy/latchkey/engine"
)

// Sentinel errors. Test with errors.Is; a *ReferencedError also matches
// ErrReferenced and carries the bindings.
var (
	// ErrValidation: bad name, bad strategy, no members, a duplicate,
	// unknown or non-OAuth member.
	ErrValidation = errors.New("validation failed")

	// ErrNotFound: no pool (or member) by that name.
	ErrNotFound = errors.New("not found")

	// ErrNameConflict: a credential or pool already has the name.
	ErrNameConflict = errors.New("name conflict")

	// ErrAlreadyPooled: a member belongs to another pool.
	ErrAlreadyPooled = errors.New("member already pooled")

	// ErrReferenced: bindings still use the pool.
	ErrReferenced = errors.New("pool is referenced by bindings")

	// ErrRace: a rotate raced a membership change and wrote nothing.
	ErrRace = errors.New("rotate raced a membership change")

	// ErrInternal: anything else, such as a store failure. It is never a
	// client's fault.
	ErrInternal = errors.New("internal error")
)

// Results are the engine's types: the channels render these.
type (
	// Pool is a pool's definition.
	Pool = engine.Pool

	// PoolStatus is a pool's live state.
	PoolStatus = engine.PoolStatus

	// RotateResult reports a rotate.
	RotateResult = engine.RotateResult

	// Binding is a binding, as carried by a ReferencedError.
	Binding = engine.Binding
)

// ReferencedError refuses to remove a pool that bindings still use.
type ReferencedError struct {
	// Pool is the pool that is still referenced.
	Pool string

	// Bindings are the bindings that reference it.
	Bindings []Binding

	msg string
}

// Error says which bindings to remove first.
func (e *ReferencedError) Error() string { return e.msg }

// Is makes a ReferencedError match ErrReferenced.
func (e *ReferencedError) Is(target error) bool { return target == ErrReferenced }

// Error wraps an engine error with the sentinel it maps to, keeping the
// engine's message for the operator.
type Error struct {
	kind error
	err  error
}

// Error returns the engine's message.
func (e *Error) Error() string { return e.err.Error() }

// Is matches the sentinel the error maps to.
func (e *Error) Is(target error) bool { return target == e.kind }

// Unwrap returns the engine's error.
func (e *Error) Unwrap() error { return e.err }

// translate maps an engine error onto the sentinels.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var ref *engine.ReferencedError
	switch {
	case errors.As(err, &ref):
		return &ReferencedError{Pool: ref.Name, Bindings: ref.Bindings, msg: ref.Error()}
	case errors.Is(err, engine.ErrInvalid):
		return &Error{ErrValidation, err}
	case errors.Is(err, engine.ErrNotFound):
		return &Error{ErrNotFound, err}
	case errors.Is(err, engine.ErrAlreadyPooled):
		return &Error{ErrAlreadyPooled, err}
	case errors.Is(err, engine.ErrRace):
		return &Error{ErrRace, err}
	case errors.Is(err, engine.ErrConflict):
		return &Error{ErrNameConflict, err}
	}
	return &Error{ErrInternal, fmt.Errorf("internal error: %w", err)}
}

// Ops runs pool operations on one engine.
type Ops struct {
	eng *engine.Engine
}

// New returns the operations over the live engine.
func New(eng *engine.Engine) *Ops { return &Ops{eng: eng} }

// Create creates a pool of the given members, in failover order. strategy
// may be empty for "failover". The pool is live when Create returns.
func (o *Ops) Create(name string, members []string, strategy string) (Pool, error) {
	p, err := o.eng.CreatePool(engine.PoolSpec{Name: name, Members: members, Strategy: strategy})
	return p, translate(err)
}

// List returns every pool, ordered by name; never nil.
func (o *Ops) List() []Pool {
	pools := o.eng.Pools()
	if pools == nil {
		pools = []Pool{}
	}
	return pools
}

// Status returns a pool's live state: the sticky active member and each
// member's health.
func (o *Ops) Status(name string) (PoolStatus, error) {
	if err := validName(name); err != nil {
		return PoolStatus{}, err
	}
	st, err := o.eng.PoolStatus(name)
	return st, translate(err)
}

// Rotate parks the live active member for 300 s ("manual rotate") and moves
// the pool to the next member. It fails with ErrRace, writing nothing, if
// the pool's membership changed since the active member was read.
func (o *Ops) Rotate(name string) (RotateResult, error) {
	st, err := o.Status(name)
	if err != nil {
		return RotateResult{}, err
	}
	res, err := o.eng.Rotate(name, st.Epoch())
	return res, translate(err)
}

// Remove deletes a pool. Bindings that use it must be removed first.
func (o *Ops) Remove(name string) error {
	if err := validName(name); err != nil {
		return err
	}
	return translate(o.eng.RemovePool(name))
}

// Reset clears the cooldowns of a pool's members, or of one member when
// member is not empty, and returns the new status.
func (o *Ops) Reset(name, member string) (PoolStatus, error) {
	if err := validName(name); err != nil {
		return PoolStatus{}, err
	}
	st, err := o.eng.Reset(name, member)
	return st, translate(err)
}

// validName rejects a name outside the name alphabet as a validation
// error, before it is looked up: a hostile name is bad input, not a
// missing pool.
func validName(name string) error {
	return translate(engine.ValidateName(name))
}
