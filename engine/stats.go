package engine

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Metric names a counter the engine keeps for monitoring.
type Metric string

// The counters. Each is kept per identity (credential or pool name) and,
// where it says so, per label.
const (
	// MetricInjections counts requests a phantom was swapped into.
	MetricInjections Metric = "injections"

	// MetricStrips counts requests a phantom was stripped from because its
	// identity is not bound to the destination.
	MetricStrips Metric = "phantoms_stripped"

	// MetricFailovers counts pool switches, labelled by tag ("429", ...).
	MetricFailovers Metric = "failovers"

	// MetricRetries counts requests replayed on another pool member.
	MetricRetries Metric = "retries"

	// MetricRefreshes counts refreshes, labelled "upstream" for exchanges
	// sent to the token host and "coalesced" for answers shared with them.
	MetricRefreshes Metric = "refreshes"

	// MetricTokenRewrites counts token responses rewritten to phantoms.
	MetricTokenRewrites Metric = "token_rewrites"

	// MetricFailClosed counts token responses refused because they could
	// not be read or stored.
	MetricFailClosed Metric = "fail_closed"
)

// unknownIdentity labels counts for a name the engine does not know, so
// the number of label values stays bounded by the configured names.
const unknownIdentity = "(unknown)"

// CounterValue is one counter's current value.
type CounterValue struct {
	// Metric is what is counted.
	Metric Metric

	// Identity is the credential or pool, or "(unknown)".
	Identity string

	// Label refines the metric (a failover's tag, a refresh's kind).
	Label string

	// Value is the count since start.
	Value uint64
}

type counterKey struct {
	metric   Metric
	identity string
	label    string
}

// stats holds the counters since the process started.
type stats struct {
	started  time.Time
	counters sync.Map // counterKey -> *atomic.Uint64
}

// Count adds one to a counter. An identity that is neither a credential nor
// a pool is counted as "(unknown)".
func (e *Engine) Count(m Metric, identity, label string) {
	if _, ok := e.current.Load().identities[identity]; !ok {
		identity = unknownIdentity
	}
	key := counterKey{metric: m, identity: identity, label: label}
	c, ok := e.stats.counters.Load(key)
	if !ok {
		c, _ = e.stats.counters.LoadOrStore(key, new(atomic.Uint64))
	}
	c.(*atomic.Uint64).Add(1)
}

// Counters returns every counter, ordered by metric, identity and label.
func (e *Engine) Counters() []CounterValue {
	var out []CounterValue
	e.stats.counters.Range(func(k, v any) bool {
		key := k.(counterKey)
		out = append(out, CounterValue{Metric: key.metric, Identity: key.identity,
			Label: key.label, Value: v.(*atomic.Uint64).Load()})
		return true
	})
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Metric != b.Metric {
			return a.Metric < b.Metric
		}
		if a.Identity != b.Identity {
			return a.Identity < b.Identity
		}
		return a.Label < b.Label
	})
	return out
}

// Total sums a metric over identities and labels.
func (e *Engine) Total(m Metric) uint64 {
	var n uint64
	for _, c := range e.Counters() {
		if c.Metric == m {
			n += c.Value
		}
	}
	return n
}

// Started returns when the engine was opened.
func (e *Engine) Started() time.Time { return e.stats.started }
