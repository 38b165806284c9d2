package engine

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/latchkeyproxy/latchkey/failover"
	"github.com/latchkeyproxy/latchkey/store"
)

// Event names.
const (
	// EventFailover is published when a pool switches member.
	EventFailover = "cred_failover"

	// EventExhausted is published when a pool has no healthy member left.
	EventExhausted = "pool_exhausted"
)

// Event is a failover or exhaustion of a pool, for the audit log and the
// notification channels.
type Event struct {
	// Name is EventFailover or EventExhausted.
	Name string

	// Reason is "<pool>:<from>-><to>:<tag>" or "<pool>:exhausted:<tag>".
	Reason string

	// Notice is the one-line text for people.
	Notice string

	// Pool, From, To and Tag describe the transition; To is empty when
	// the pool is exhausted.
	Pool, From, To, Tag string

	// CooldownUntil is when the member that failed may serve again.
	CooldownUntil time.Time

	// Host is the destination whose answer caused the transition.
	Host string
}

// SetEventSink sets the function that receives failover events. It is
// called after the change is live, outside any engine lock.
func (e *Engine) SetEventSink(sink func(Event)) {
	e.events.Store(&sink)
}

func (e *Engine) publish(ev Event) {
	if p := e.events.Load(); p != nil && *p != nil {
		(*p)(ev)
	}
}

// Outcome is what happened to a pool after a failure was reported.
type Outcome struct {
	// Switched is true when the pool moved to another member.
	Switched bool

	// From and To are the active member before and after.
	From, To string

	// Exhausted is true when no healthy member is left.
	Exhausted bool
}

// ReportFailure records that member, serving pool, got an answer that the
// classifier put in a failover class: the member cools down, and if it was
// the pool's active member the pool moves to the next one. The change is
// durable and live before ReportFailure returns, so the very next request
// uses the new member.
func (e *Engine) ReportFailure(pool, member string, v failover.Verdict,
	host string) (Outcome, error) {
	if v.Kind == failover.None {
		return Outcome{}, nil
	}
	var out Outcome
	var until time.Time
	err := e.update(func(tx *store.Txn, r *records) error {
		p, ok := r.pools[pool]
		if !ok {
			return fmt.Errorf("%w: no pool called %s", ErrNotFound, quoteName(pool))
		}
		now := e.now()
		until = v.Until
		if until.IsZero() {
			until = now.Add(v.Cooldown)
		}
		h := store.Health{Credential: member, CooldownUntil: until.UTC(),
			Reason: failover.TagText(v.Tag)}
		r.health[member] = h
		if err := tx.PutHealth(h); err != nil {
			return err
		}

		out.From = activeOf(r, p)
		out.To = out.From
		if member == out.From {
			next, healthy := nextMember(r, p, member, now)
			out.Exhausted = !healthy
			if next != out.From {
				out.To, out.Switched = next, true
				r.active[pool] = next
				if err := tx.PutActive(pool, next); err != nil {
					return err
				}
			}
		} else {
			_, healthy := nextMember(r, p, out.From, now)
			out.Exhausted = !healthy && cooling(r, out.From, now)
		}
		return nil
	})
	if err != nil {
		return Outcome{}, err
	}
	e.announce(pool, member, out, v.Tag, until, host)
	return out, nil
}

// announce logs and publishes the events of an outcome, once per
// transition inside the de-duplication window.
func (e *Engine) announce(pool, member string, out Outcome, tag string, until time.Time,
	host string) {
	now := e.now()
	if out.Switched {
		e.Count(MetricFailovers, pool, tag)
		reason := failover.FailoverReason(pool, out.From, out.To, tag)
		if e.dedup.ShouldAnnounce(reason, now) {
			e.emit(Event{Name: EventFailover, Reason: reason, Pool: pool, From: out.From,
				To: out.To, Tag: tag, CooldownUntil: until, Host: host,
				Notice: failover.FailoverNotice(pool, out.From, out.To, tag)})
		}
	}
	if out.Exhausted {
		reason := failover.ExhaustedReason(pool, tag)
		if e.dedup.ShouldAnnounce(reason, now) {
			e.emit(Event{Name: EventExhausted, Reason: reason, Pool: pool, From: member,
				Tag: tag, CooldownUntil: until, Host: host,
				Notice: failover.ExhaustedNotice(pool, tag)})
		}
	}
}

// emit writes an event to the audit log and hands it to the sink.
func (e *Engine) emit(ev Event) {
	e.audit().Info(ev.Name, zap.String("reason", ev.Reason), zap.String("pool", ev.Pool),
		zap.String("from", ev.From), zap.String("to", ev.To), zap.String("tag", ev.Tag),
		zap.Time("cooldown_until", ev.CooldownUntil), zap.String("host", ev.Host))
	e.publish(ev)
}
