package poolops

import (
	"runtime/debug"
	"time"

	"github.com/latchkeyproxy/latchkey/engine"
)

// Summary is what an install is doing, as every channel's status command
// shows it: the CLI's `latchkey status`, GET /api/status and the bot's
// /status.
type Summary struct {
	// Version is latchkey's and Caddy's module versions.
	Version string `json:"version"`

	// StartedAt is when the engine was opened.
	StartedAt time.Time `json:"started_at"`

	// UptimeSeconds is how long ago that was.
	UptimeSeconds int64 `json:"uptime_seconds"`

	// Credentials counts the configured credentials.
	Credentials int `json:"credentials"`

	// Bindings counts the configured bindings.
	Bindings int `json:"bindings"`

	// Pools is each pool with its live active member and health.
	Pools []PoolSummary `json:"pools"`

	// Counts are the engine's event totals since start, by event:
	// injections, phantoms_stripped, failovers, retries, refreshes,
	// token_rewrites, fail_closed.
	Counts map[string]uint64 `json:"counts"`
}

// PoolSummary is one pool in a Summary.
type PoolSummary struct {
	// Name identifies the pool.
	Name string `json:"name"`

	// Active is the member serving now.
	Active string `json:"active"`

	// Healthy counts the members that may serve now.
	Healthy int `json:"healthy"`

	// Members counts all the members.
	Members int `json:"members"`

	// Injections counts requests the pool's tokens were injected into.
	Injections uint64 `json:"injections"`

	// Failovers counts the pool's member switches since start.
	Failovers uint64 `json:"failovers"`
}

// summaryEvents are the events a Summary always counts, zero or not, so
// the shape does not depend on what happened.
var summaryEvents = []engine.Metric{engine.MetricInjections, engine.MetricStrips,
	engine.MetricFailovers, engine.MetricRetries, engine.MetricRefreshes,
	engine.MetricTokenRewrites, engine.MetricFailClosed}

// Summary reports the install's state now.
func (o *Ops) Summary() Summary {
	started := o.eng.Started()
	s := Summary{Version: version(), StartedAt: started.UTC(),
		UptimeSeconds: int64(time.Since(started).Seconds()),
		Credentials:   len(o.eng.Credentials()), Bindings: len(o.eng.Bindings()),
		Pools: []PoolSummary{}, Counts: map[string]uint64{}}
	for _, m := range summaryEvents {
		s.Counts[string(m)] = 0
	}

	perPool := map[string]*PoolSummary{}
	for _, p := range o.List() {
		st, err := o.eng.PoolStatus(p.Name)
		if err != nil {
			continue // removed since List
		}
		ps := PoolSummary{Name: p.Name, Active: st.Active, Members: len(st.Members)}
		for _, m := range st.Members {
			if m.State == engine.StateHealthy {
				ps.Healthy++
			}
		}
		s.Pools = append(s.Pools, ps)
	}
	for i := range s.Pools {
		perPool[s.Pools[i].Name] = &s.Pools[i]
	}
	for _, c := range o.eng.Counters() {
		s.Counts[string(c.Metric)] += c.Value
		if ps, ok := perPool[c.Identity]; ok {
			switch c.Metric {
			case engine.MetricInjections:
				ps.Injections += c.Value
			case engine.MetricFailovers:
				ps.Failovers += c.Value
			}
		}
	}
	return s
}

// version reads latchkey's and Caddy's module versions from the binary.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	latchkey, caddy := "(devel)", "unknown"
	if info.Main.Path == "github.com/latchkeyproxy/latchkey" && info.Main.Version != "" {
		latchkey = info.Main.Version
	}
	for _, d := range info.Deps {
		switch d.Path {
		case "github.com/latchkeyproxy/latchkey":
			latchkey = d.Version
		case "github.com/caddyserver/caddy/v2":
			caddy = d.Version
		}
	}
	return "latchkey " + latchkey + ", caddy " + caddy
}
