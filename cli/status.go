package cli

import (
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

// summary is the answer of GET /api/status.
type summary struct {
	// Version is latchkey's and Caddy's versions.
	Version string `json:"version"`

	// StartedAt is when the instance opened its database.
	StartedAt time.Time `json:"started_at"`

	// UptimeSeconds is how long ago that was.
	UptimeSeconds int64 `json:"uptime_seconds"`

	// Credentials and Bindings count what is configured.
	Credentials int `json:"credentials"`
	Bindings    int `json:"bindings"`

	// Pools are the pools with their active member and health.
	Pools []struct {
		Name       string `json:"name"`
		Active     string `json:"active"`
		Healthy    int    `json:"healthy"`
		Members    int    `json:"members"`
		Injections uint64 `json:"injections"`
		Failovers  uint64 `json:"failovers"`
	} `json:"pools"`

	// Counts are event totals since start, by event.
	Counts map[string]uint64 `json:"counts"`
}

// setupStatus builds "status" on the command caddycmd made for it.
func setupStatus(cmd *cobra.Command) {
	o := addOptions(cmd)
	cmd.SetErrPrefix(errPrefix)
	cmd.SilenceUsage = true
	cmd.Args = exactArgs(0)
	cmd.RunE = o.run(status)
}

// status prints the instance's summary:
//
//	latchkey v1.2.3, caddy v2.11.9, up 3h2m0s (since 2026-12-03T07:00:00Z)
//	2 credentials, 1 binding, 1 pool
//	POOL   ACTIVE  HEALTHY  INJECTIONS  FAILOVERS
//	codex  acct_b  1/2      42          1
//	events: failovers=1 injections=42 ...
func status(s *session, _ []string) error {
	sum, printed, err := fetch[summary](s, http.MethodGet, "/api/status", nil)
	if err != nil || printed {
		return err
	}
	up := time.Duration(sum.UptimeSeconds) * time.Second
	s.printf("%s, up %s (since %s)\n", sum.Version, up, sum.StartedAt.UTC().Format(time.RFC3339))
	s.printf("%s, %s, %s\n", count(sum.Credentials, "credential"), count(sum.Bindings, "binding"),
		count(len(sum.Pools), "pool"))
	if len(sum.Pools) > 0 {
		var rows [][]string
		for _, p := range sum.Pools {
			rows = append(rows, []string{p.Name, p.Active,
				strconv.Itoa(p.Healthy) + "/" + strconv.Itoa(p.Members),
				strconv.FormatUint(p.Injections, 10), strconv.FormatUint(p.Failovers, 10)})
		}
		if err := writeTable(s.out(), []string{"POOL", "ACTIVE", "HEALTHY", "INJECTIONS",
			"FAILOVERS"}, rows); err != nil {
			return err
		}
	}
	events := make([]string, 0, len(sum.Counts))
	for k := range sum.Counts {
		events = append(events, k)
	}
	sort.Strings(events)
	line := "events:"
	for _, k := range events {
		line += " " + k + "=" + strconv.FormatUint(sum.Counts[k], 10)
	}
	s.printf("%s\n", line)
	return nil
}

// count spells a number with its noun: "1 pool", "2 pools".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
