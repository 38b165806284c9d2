package telegram

import (
	"strconv"

	"github.com/latchkeyproxy/latchkey/engine"
)

// statusShow answers /status: what the install holds and, per pool, the
// member serving now and the engine's counts since it started (the same
// counters Caddy's metrics export).
//
//	<b>latchkey</b> since 2026-01-02T03:04:05Z: 3 credentials, 1 binding, 1 pool.
//	<pre>POOL   ACTIVE  HEALTHY  INJECTIONS  FAILOVERS
//	codex  b       1/2      12          1</pre>
func statusShow(r *request) string {
	eng := r.cfg.eng
	pools := r.cfg.pools.List()
	head := "<b>latchkey</b> since " + formatTime(eng.Started()) + ": " +
		plural(len(eng.Credentials()), "credential") + ", " +
		plural(len(eng.Bindings()), "binding") + ", " + plural(len(pools), "pool") + "."
	if len(pools) == 0 {
		return head
	}

	injections, failovers := map[string]uint64{}, map[string]uint64{}
	for _, c := range eng.Counters() {
		switch c.Metric {
		case engine.MetricInjections:
			injections[c.Identity] += c.Value
		case engine.MetricFailovers:
			failovers[c.Identity] += c.Value
		}
	}

	var rows [][]string
	for _, p := range pools {
		st, err := r.cfg.pools.Status(p.Name)
		if err != nil {
			continue // removed since List; it is no longer part of the status
		}
		healthy := 0
		for _, m := range st.Members {
			if m.State == engine.StateHealthy {
				healthy++
			}
		}
		rows = append(rows, []string{st.Name, st.Active,
			strconv.Itoa(healthy) + "/" + strconv.Itoa(len(st.Members)),
			strconv.FormatUint(injections[st.Name], 10),
			strconv.FormatUint(failovers[st.Name], 10)})
	}
	return head + "\n" + pre(table([]string{"POOL", "ACTIVE", "HEALTHY", "INJECTIONS",
		"FAILOVERS"}, rows))
}

// plural spells a count with its noun: "1 pool", "2 pools".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
