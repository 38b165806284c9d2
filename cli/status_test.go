package cli

import "testing"

const summaryJSON = `{"version":"latchkey v1.0.0, caddy v2.11.9","started_at":"2026-12-03T07:00:00Z",` +
	`"uptime_seconds":10920,"credentials":2,"bindings":1,"pools":[{"name":"codex",` +
	`"active":"acct_b","healthy":1,"members":2,"injections":42,"failovers":1}],` +
	`"counts":{"failovers":1,"injections":42,"retries":1}}`

func TestStatusCommand(t *testing.T) {
	runCommandCases(t, []commandCase{
		{
			name:    "status prints the summary",
			args:    []string{"status"},
			answers: one("GET /api/status", 200, summaryJSON),
			want: "latchkey v1.0.0, caddy v2.11.9, up 3h2m0s (since 2026-12-03T07:00:00Z)\n" +
				"2 credentials, 1 binding, 1 pool\n" +
				"POOL   ACTIVE  HEALTHY  INJECTIONS  FAILOVERS\n" +
				"codex  acct_b  1/2      42          1\n" +
				"events: failovers=1 injections=42 retries=1\n",
		},
		{
			name:    "status --json prints the REST answer",
			args:    []string{"status", "--json"},
			answers: one("GET /api/status", 200, summaryJSON),
			want:    summaryJSON + "\n",
		},
	})
}
