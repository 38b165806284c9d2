package telegram

import (
	"strconv"
)

// statusShow answers /status with poolops' summary, the one `latchkey
// status` and GET /api/status show: what the install holds and, per pool,
// the member serving now and its counts since start.
//
//	<b>latchkey</b> since 2026-01-02T03:04:05Z: 3 credentials, 1 binding, 1 pool.
//	<pre>POOL   ACTIVE  HEALTHY  INJECTIONS  FAILOVERS
//	codex  b       1/2      12          1</pre>
func statusShow(r *request) string {
	sum := r.cfg.pools.Summary()
	head := "<b>latchkey</b> since " + formatTime(sum.StartedAt) + ": " +
		plural(sum.Credentials, "credential") + ", " +
		plural(sum.Bindings, "binding") + ", " + plural(len(sum.Pools), "pool") + "."
	if len(sum.Pools) == 0 {
		return head
	}
	var rows [][]string
	for _, p := range sum.Pools {
		rows = append(rows, []string{p.Name, p.Active,
			strconv.Itoa(p.Healthy) + "/" + strconv.Itoa(p.Members),
			strconv.FormatUint(p.Injections, 10), strconv.FormatUint(p.Failovers, 10)})
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
