package engine

import (
	"fmt"
	"slices"
	"time"

	"github.com/latchkeyproxy/latchkey/store"
)

// Member states.
const (
	StateHealthy  = "healthy"
	StateCooldown = "cooldown"
)

// RotateCooldown is how long a manual rotate parks the active member.
const RotateCooldown = 300 * time.Second

// PoolStatus is what a pool is doing right now: the live active member and
// each member's health.
type PoolStatus struct {
	// Name identifies the pool.
	Name string `json:"name"`

	// Strategy is how members are chosen.
	Strategy string `json:"strategy"`

	// Active is the member that serves the pool's next request.
	Active string `json:"active"`

	// Members are the members in failover order.
	Members []MemberStatus `json:"members"`

	// epoch is the membership version the status was read at.
	epoch uint64
}

// MemberStatus is one member's health.
type MemberStatus struct {
	// Credential is the member's credential name.
	Credential string `json:"credential"`

	// Position is the member's place in failover order, from 0.
	Position int `json:"position"`

	// Active is true for the member that serves the next request.
	Active bool `json:"active"`

	// State is "healthy" or "cooldown".
	State string `json:"state"`

	// CooldownUntil is when a cooling member may serve again.
	CooldownUntil *time.Time `json:"cooldown_until,omitempty"`

	// LastFailureReason says why it cooled down last, e.g.
	// "rate limit (429)".
	LastFailureReason string `json:"last_failure_reason,omitempty"`
}

// PoolStatus returns the live state of a pool.
func (e *Engine) PoolStatus(name string) (PoolStatus, error) {
	s := e.current.Load()
	p, ok := s.records.pools[name]
	if !ok {
		return PoolStatus{}, fmt.Errorf("%w: no pool called %s", ErrNotFound, quoteName(name))
	}
	return statusOf(s.records, p, e.now()), nil
}

func statusOf(r *records, p store.Pool, now time.Time) PoolStatus {
	st := PoolStatus{Name: p.Name, Strategy: p.Strategy, Active: activeOf(r, p), epoch: p.Epoch}
	for i, m := range p.Members {
		ms := MemberStatus{Credential: m, Position: i, Active: m == st.Active, State: StateHealthy}
		if h, ok := r.health[m]; ok {
			ms.LastFailureReason = h.Reason
			if now.Before(h.CooldownUntil) {
				until := h.CooldownUntil
				ms.State, ms.CooldownUntil = StateCooldown, &until
			}
		}
		st.Members = append(st.Members, ms)
	}
	return st
}

// activeOf returns a pool's sticky active member, falling back to the first
// member if the pointer names someone who left.
func activeOf(r *records, p store.Pool) string {
	if a := r.active[p.Name]; slices.Contains(p.Members, a) {
		return a
	}
	return p.Members[0]
}

// cooling reports whether a credential is cooling down at now.
func cooling(r *records, name string, now time.Time) bool {
	h, ok := r.health[name]
	return ok && now.Before(h.CooldownUntil)
}

// nextMember chooses who serves after current cooled down: the next
// healthy member after it in order (wrapping), or, when every member is
// cooling, the one whose cooldown ends first.
func nextMember(r *records, p store.Pool, current string, now time.Time) (string, bool) {
	start := slices.Index(p.Members, current)
	for i := 1; i <= len(p.Members); i++ {
		m := p.Members[(start+i)%len(p.Members)]
		if !cooling(r, m, now) {
			return m, true
		}
	}
	soonest := p.Members[0]
	for _, m := range p.Members[1:] {
		if r.health[m].CooldownUntil.Before(r.health[soonest].CooldownUntil) {
			soonest = m
		}
	}
	return soonest, false
}

// RotateResult reports a manual rotate.
type RotateResult struct {
	// Pool is the rotated pool.
	Pool string `json:"pool"`

	// From is the member that was parked.
	From string `json:"from"`

	// To is the member now active.
	To string `json:"to"`

	// ParkedUntil is when From may serve again.
	ParkedUntil time.Time `json:"parked_until"`
}

// Rotate parks the pool's live active member for RotateCooldown with the
// reason "manual rotate" and moves to the next member. It returns ErrRace,
// writing nothing, when the pool's membership changed after epoch was read;
// pass the epoch of a PoolStatus, or 0 to rotate whatever is current.
func (e *Engine) Rotate(name string, epoch uint64) (RotateResult, error) {
	var res RotateResult
	err := e.update(func(tx *store.Txn, r *records) error {
		p, ok := r.pools[name]
		if !ok {
			return fmt.Errorf("%w: no pool called %s", ErrNotFound, quoteName(name))
		}
		if epoch != 0 && p.Epoch != epoch {
			return fmt.Errorf("%w: pool %q changed while rotating; nothing was written", ErrRace, name)
		}
		now := e.now()
		from := activeOf(r, p)
		h := store.Health{Credential: from, CooldownUntil: now.Add(RotateCooldown).UTC(),
			Reason: "manual rotate"}
		r.health[from] = h
		to, _ := nextMember(r, p, from, now)
		r.active[name] = to
		res = RotateResult{Pool: name, From: from, To: to, ParkedUntil: h.CooldownUntil}
		if err := tx.PutHealth(h); err != nil {
			return err
		}
		return tx.PutActive(name, to)
	})
	return res, err
}

// Epoch returns a pool status's membership version, for Rotate.
func (s PoolStatus) Epoch() uint64 { return s.epoch }

// Reset clears the cooldowns of a pool's members (of one member when
// member is not empty): the operator's way back after a quota reset. The
// active member stays where it is.
func (e *Engine) Reset(name, member string) (PoolStatus, error) {
	var st PoolStatus
	err := e.update(func(tx *store.Txn, r *records) error {
		p, ok := r.pools[name]
		if !ok {
			return fmt.Errorf("%w: no pool called %s", ErrNotFound, quoteName(name))
		}
		if member != "" && !slices.Contains(p.Members, member) {
			return invalidf("%q is not a member of pool %q", member, name)
		}
		for _, m := range p.Members {
			if member != "" && m != member {
				continue
			}
			delete(r.health, m)
			if err := tx.DeleteHealth(m); err != nil {
				return err
			}
		}
		st = statusOf(r, p, e.now())
		return nil
	})
	return st, err
}
