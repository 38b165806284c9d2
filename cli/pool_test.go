package cli

import (
	"bytes"
	"testing"
	"time"
)

const (
	poolJSON = `{"name":"codex","strategy":"failover","created_at":"2026-12-03T09:00:00Z",` +
		`"members":[{"credential":"acct_a","position":0},{"credential":"acct_b","position":1}]}`
	statusJSON = `{"name":"codex","strategy":"failover","active":"acct_a","members":[` +
		`{"credential":"acct_a","position":0,"active":true,"state":"healthy"},` +
		`{"credential":"acct_b","position":1,"active":false,"state":"cooldown",` +
		`"cooldown_until":"2026-12-03T10:00:00Z","last_failure_reason":"rate limit (429)"}]}`
	healthyJSON = `{"name":"codex","strategy":"failover","active":"acct_a","members":[` +
		`{"credential":"acct_a","position":0,"active":true,"state":"healthy"},` +
		`{"credential":"acct_b","position":1,"active":false,"state":"healthy"}]}`
	rotateJSON = `{"pool":"codex","from":"acct_a","to":"acct_b",` +
		`"parked_until":"2026-12-03T10:05:00Z"}`

	// statusText is the status layout of the issue, byte for byte.
	statusText = "pool \"codex\" (strategy: failover)\n" +
		"* [0] acct_a  healthy\n" +
		"  [1] acct_b  cooldown until 2026-12-03T10:00:00Z  rate limit (429)\n" +
		"active: acct_a\n"
	healthyText = "pool \"codex\" (strategy: failover)\n" +
		"* [0] acct_a  healthy\n" +
		"  [1] acct_b  healthy\n" +
		"active: acct_a\n"
)

func TestPoolCommands(t *testing.T) {
	runCommandCases(t, []commandCase{
		{
			name:    "pool create sends the members in order",
			args:    []string{"pool", "create", "codex", "--members", "acct_a,acct_b"},
			answers: one("POST /api/pools", 201, poolJSON),
			want:    "pool \"codex\" created with members acct_a, acct_b (strategy: failover)\n",
			request: &seen{
				method: "POST", path: "/api/pools",
				body: `{"name":"codex","members":["acct_a","acct_b"]}`,
			},
		},
		{
			name: "pool create passes the strategy",
			args: []string{
				"pool", "create", "codex", "--members", "acct_a",
				"--members", "acct_b", "--strategy", "failover", "--json",
			},
			answers: one("POST /api/pools", 201, poolJSON),
			want:    poolJSON + "\n",
			request: &seen{
				method: "POST", path: "/api/pools",
				body: `{"name":"codex","members":["acct_a","acct_b"],"strategy":"failover"}`,
			},
		},
		{
			name:    "pool create needs --members",
			args:    []string{"pool", "create", "codex"},
			wantErr: "latchkey: required flag(s) \"members\" not set\n",
		},
		{
			name: "pool create shows an already pooled member",
			args: []string{"pool", "create", "x", "--members", "acct_a"},
			answers: one("POST /api/pools", 409, apiErr(
				`member already pooled: \"acct_a\" is a member of pool \"codex\"`,
				"already_pooled")),
			wantErr: "latchkey: member already pooled: \"acct_a\" is a member of pool \"codex\"\n",
		},
		{
			name: "pool create --json prints the error answer too",
			args: []string{"pool", "create", "<b>", "--members", "a", "--json"},
			answers: one("POST /api/pools", 400,
				apiErr(`name \"<b>\" has a bad character`, "invalid")),
			want:    apiErr(`name \"<b>\" has a bad character`, "invalid") + "\n",
			wantErr: "latchkey: name \"<b>\" has a bad character\n",
		},
		{
			name:    "pool list is a table",
			args:    []string{"pool", "list"},
			answers: one("GET /api/pools", 200, "["+poolJSON+"]"),
			want: "NAME   STRATEGY  MEMBERS        CREATED\n" +
				"codex  failover  acct_a,acct_b  2026-12-03T09:00:00Z\n",
		},
		{
			name:    "pool list when empty",
			args:    []string{"pool", "list"},
			answers: one("GET /api/pools", 200, "[]\n"),
			want:    "no pools\n",
		},
		{
			name:    "pool status shows the active member and each member's health",
			args:    []string{"pool", "status", "codex"},
			answers: one("GET /api/pools/codex", 200, statusJSON),
			want:    statusText,
			request: &seen{method: "GET", path: "/api/pools/codex"},
		},
		{
			name:    "pool status --json prints the REST shape",
			args:    []string{"pool", "status", "codex", "--json"},
			answers: one("GET /api/pools/codex", 200, statusJSON),
			want:    statusJSON + "\n",
		},
		{
			name: "pool status of an unknown pool",
			args: []string{"pool", "status", "nope"},
			answers: one("GET /api/pools/nope", 404,
				apiErr(`no pool called \"nope\"`, "not_found")),
			wantErr: "latchkey: no pool called \"nope\"\n",
		},
		{
			name:    "pool status escapes a hostile name",
			args:    []string{"pool", "status", "a/b"},
			answers: one("GET /api/pools/a%2Fb", 400, apiErr("bad name", "invalid")),
			wantErr: "latchkey: bad name\n",
			request: &seen{method: "GET", path: "/api/pools/a%2Fb"},
		},
		{
			name:    "pool status escapes a dot-segment name",
			args:    []string{"pool", "status", ".."},
			answers: one("GET /api/pools/%2E%2E", 200, statusJSON),
			want:    statusText,
			request: &seen{method: "GET", path: "/api/pools/%2E%2E"},
		},
		{
			name:    "pool rotate reports the switch",
			args:    []string{"pool", "rotate", "codex"},
			answers: one("POST /api/pools/codex/rotate", 200, rotateJSON),
			want: "pool \"codex\" rotated from \"acct_a\" to \"acct_b\"; \"acct_a\" is parked " +
				"until 2026-12-03T10:05:00Z\n",
			request: &seen{method: "POST", path: "/api/pools/codex/rotate"},
		},
		{
			name: "pool rotate that lost a race",
			args: []string{"pool", "rotate", "codex"},
			answers: one("POST /api/pools/codex/rotate", 409, apiErr(
				`pool changed concurrently; nothing was written`, "race")),
			wantErr: "latchkey: pool changed concurrently; nothing was written\n",
		},
		{
			name:    "pool remove",
			args:    []string{"pool", "remove", "codex"},
			answers: one("DELETE /api/pools/codex", 204, ""),
			want:    "pool \"codex\" removed\n",
			request: &seen{method: "DELETE", path: "/api/pools/codex"},
		},
		{
			name: "pool remove while bound says what to remove",
			args: []string{"pool", "remove", "codex"},
			answers: one("DELETE /api/pools/codex", 409, `{"error":"in use",`+
				`"code":"referenced","bindings":[{"id":"bnd_1","destination":"chatgpt.com"}]}`),
			wantErr: "latchkey: \"codex\" is still used by bindings bnd_1 (chatgpt.com); " +
				"remove them with: latchkey bind remove bnd_1\n",
		},
		{
			name:    "pool reset clears every cooldown and shows the status",
			args:    []string{"pool", "reset", "codex"},
			answers: one("POST /api/pools/codex/reset", 200, healthyJSON),
			want:    "cleared the cooldowns of pool \"codex\"\n" + healthyText,
			request: &seen{method: "POST", path: "/api/pools/codex/reset", body: `{}`},
		},
		{
			name:    "pool reset of one member",
			args:    []string{"pool", "reset", "codex", "--member", "acct_b"},
			answers: one("POST /api/pools/codex/reset", 200, healthyJSON),
			want:    "cleared the cooldown of \"acct_b\" in pool \"codex\"\n" + healthyText,
			request: &seen{
				method: "POST", path: "/api/pools/codex/reset",
				body: `{"member":"acct_b"}`,
			},
		},
		{
			name:    "pool reset --json prints only the status",
			args:    []string{"pool", "reset", "codex", "--json"},
			answers: one("POST /api/pools/codex/reset", 200, healthyJSON),
			want:    healthyJSON + "\n",
		},
		{
			name: "pool with an unknown subcommand fails",
			args: []string{"pool", "drain"},
			wantErr: "latchkey: unknown command \"drain\" for \"latchkey pool\"; " +
				"see latchkey pool --help\n",
		},
	})
}

// TestWriteStatusAlignsColumns checks the layout with names of different
// lengths, positions past 9 and a member cooling without a reason.
func TestWriteStatusAlignsColumns(t *testing.T) {
	until := time.Date(2026, 12, 3, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	st := poolStatus{
		Name: "p", Strategy: "failover", Active: "long_name",
		Members: []memberStatus{{Credential: "a", Position: 0, State: "healthy"}},
	}
	for i := 1; i <= 10; i++ {
		st.Members = append(st.Members, memberStatus{
			Credential: "m", Position: i,
			State: "healthy",
		})
	}
	st.Members[10] = memberStatus{
		Credential: "long_name", Position: 10, Active: true,
		State: "cooldown", CooldownUntil: &until,
	}

	var out bytes.Buffer
	writeStatus(&out, st)
	want := "pool \"p\" (strategy: failover)\n" +
		"  [0]  a          healthy\n"
	for i := 1; i <= 9; i++ {
		want += "  [" + string(rune('0'+i)) + "]  m          healthy\n"
	}
	want += "* [10] long_name  cooldown until 2026-12-03T09:00:00Z\n" +
		"active: long_name\n"
	if out.String() != want {
		t.Fatalf("status =\n%s\nwant\n%s", out.String(), want)
	}
}
