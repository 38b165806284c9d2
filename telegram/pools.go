package telegram

import (
	"strings"
	"unicode/utf8"

	"github.com/latchkeyproxy/latchkey/poolops"
)

// The /pool subcommands. Each calls poolops, the implementation every
// channel shares, and only renders what it returns.

// poolCreate answers /pool create <name> <a,b[,c]> [strategy].
func poolCreate(r *request) string {
	strategy := ""
	if len(r.args) == 3 {
		strategy = r.args[2]
	}
	p, err := r.cfg.pools.Create(r.args[0], splitMembers(r.args[1]), strategy)
	if err != nil {
		return r.fail(err)
	}
	members := make([]string, len(p.Members))
	for i, m := range p.Members {
		members[i] = esc(m.Credential)
	}
	return "Pool " + bold(p.Name) + " created with members " + strings.Join(members, ", ") +
		" (strategy " + esc(p.Strategy) + "). Bind it with /bind add " + esc(p.Name) +
		" &lt;host&gt;."
}

// poolList answers /pool list.
func poolList(r *request) string {
	pools := r.cfg.pools.List()
	if len(pools) == 0 {
		return "No pools. Create one with /pool create &lt;name&gt; &lt;a,b&gt;."
	}
	rows := make([][]string, len(pools))
	for i, p := range pools {
		members := make([]string, len(p.Members))
		for j, m := range p.Members {
			members[j] = m.Credential
		}
		rows[i] = []string{p.Name, p.Strategy, strings.Join(members, ",")}
	}
	return pre(table([]string{"NAME", "STRATEGY", "MEMBERS"}, rows))
}

// poolStatus answers /pool status <name>.
func poolStatus(r *request) string {
	st, err := r.cfg.pools.Status(r.args[0])
	if err != nil {
		return r.fail(err)
	}
	return renderStatus(st)
}

// renderStatus lays a pool's live state out like the CLI: one line per
// member in failover order, "*" on the active one, then "healthy" or
// "cooldown until <RFC3339>" and the reason it cooled down.
//
//	Pool <b>codex</b> (failover), active <b>a</b>:
//	<pre>* a  healthy
//	  b  cooldown until 2026-01-02T03:04:05Z  rate limit (429)</pre>
func renderStatus(st poolops.PoolStatus) string {
	width := 0
	for _, m := range st.Members {
		width = max(width, utf8.RuneCountInString(oneLine(m.Credential)))
	}
	lines := make([]string, len(st.Members))
	for i, m := range st.Members {
		mark := " "
		if m.Active {
			mark = "*"
		}
		name := oneLine(m.Credential)
		line := mark + " " + esc(name) +
			strings.Repeat(" ", width-utf8.RuneCountInString(name)+2)
		if m.CooldownUntil != nil {
			line += "cooldown until " + formatTime(*m.CooldownUntil)
			if m.LastFailureReason != "" {
				line += "  " + esc(m.LastFailureReason)
			}
		} else {
			line += esc(m.State)
		}
		lines[i] = line
	}
	return "Pool " + bold(st.Name) + " (" + esc(st.Strategy) + "), active " + bold(st.Active) +
		":\n" + pre(lines)
}

// poolRotate answers /pool rotate <name>.
func poolRotate(r *request) string {
	res, err := r.cfg.pools.Rotate(r.args[0])
	if err != nil {
		return r.fail(err)
	}
	until := formatTime(res.ParkedUntil)
	if res.From == res.To {
		return "Pool " + bold(res.Pool) + " has no healthy member to rotate to: " +
			bold(res.From) + " is parked until " + until + " and still serves."
	}
	return "Pool " + bold(res.Pool) + " rotated from " + bold(res.From) + " to " +
		bold(res.To) + "; " + esc(res.From) + " is parked until " + until + "."
}

// poolReset answers /pool reset <name> [member].
func poolReset(r *request) string {
	member := ""
	if len(r.args) == 2 {
		member = r.args[1]
	}
	st, err := r.cfg.pools.Reset(r.args[0], member)
	if err != nil {
		return r.fail(err)
	}
	head := "Cooldowns of pool " + bold(st.Name) + " cleared."
	if member != "" {
		head = "Cooldown of " + bold(member) + " in pool " + bold(st.Name) + " cleared."
	}
	return head + "\n" + renderStatus(st)
}

// poolRemove answers /pool remove <name>.
func poolRemove(r *request) string {
	if err := r.cfg.pools.Remove(r.args[0]); err != nil {
		return r.fail(err)
	}
	return "Pool " + bold(r.args[0]) + " removed."
}
