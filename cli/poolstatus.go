package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// poolStatus is the answer of GET /api/pools/{name}: what the pool is
// doing now.
type poolStatus struct {
	// Name identifies the pool.
	Name string `json:"name"`

	// Strategy is how members are chosen.
	Strategy string `json:"strategy"`

	// Active is the member that serves the pool's next request.
	Active string `json:"active"`

	// Members are the members in failover order, with their health.
	Members []memberStatus `json:"members"`
}

// memberStatus is one member's health.
type memberStatus struct {
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

	// LastFailureReason says why it cooled down last.
	LastFailureReason string `json:"last_failure_reason,omitempty"`
}

// writeStatus prints a pool's status, one line per member with a star on
// the active one and the names in one column:
//
//	pool "codex" (strategy: failover)
//	* [0] acct_a  healthy
//	  [1] acct_b  cooldown until 2026-12-03T10:00:00Z  rate limit (429)
//	active: acct_a
//
// The Telegram bot renders the same layout, so an operator reads one
// picture in every channel.
func writeStatus(w io.Writer, st poolStatus) {
	nameWidth, posWidth := 0, 0
	for _, m := range st.Members {
		nameWidth = max(nameWidth, len(safe(m.Credential)))
		posWidth = max(posWidth, len(position(m.Position)))
	}

	fmt.Fprintf(w, "pool %s (strategy: %s)\n", quoted(st.Name), safe(st.Strategy))
	for _, m := range st.Members {
		marker := " "
		if m.Active {
			marker = "*"
		}
		fmt.Fprintf(w, "%s %-*s %-*s  %s\n", marker, posWidth, position(m.Position), nameWidth,
			safe(m.Credential), memberHealth(m))
	}
	fmt.Fprintf(w, "active: %s\n", safe(st.Active))
}

// memberHealth is "healthy", or "cooldown until <time>" and the reason.
func memberHealth(m memberStatus) string {
	if m.State != "cooldown" {
		return safe(m.State)
	}
	parts := []string{"cooldown"}
	if m.CooldownUntil != nil {
		parts = append(parts, "until "+formatTime(*m.CooldownUntil))
	}
	health := strings.Join(parts, " ")
	if m.LastFailureReason != "" {
		health += "  " + safe(m.LastFailureReason)
	}
	return health
}

// position renders a member's place as "[n]".
func position(p int) string {
	return "[" + strconv.Itoa(p) + "]"
}

// safe makes a server-supplied value harmless on a terminal.
func safe(s string) string {
	return strings.Map(printable, s)
}
