package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// pool is a pool as the API returns it.
type pool struct {
	// Name identifies the pool.
	Name string `json:"name"`

	// Strategy is how members are chosen, such as "failover".
	Strategy string `json:"strategy"`

	// CreatedAt is when the pool was created.
	CreatedAt time.Time `json:"created_at"`

	// Members are the members in failover order.
	Members []poolMember `json:"members"`
}

// poolMember is one member of a pool.
type poolMember struct {
	// Credential is the member's credential name.
	Credential string `json:"credential"`

	// Position is the member's place in failover order, from 0.
	Position int `json:"position"`
}

// newPool is the body of POST /api/pools.
type newPool struct {
	// Name identifies the pool.
	Name string `json:"name"`

	// Members are OAuth credential names in failover order.
	Members []string `json:"members"`

	// Strategy is how members are chosen; empty takes the server's
	// default.
	Strategy string `json:"strategy,omitempty"`
}

// rotateResult is the answer of POST /api/pools/{name}/rotate.
type rotateResult struct {
	// Pool is the rotated pool.
	Pool string `json:"pool"`

	// From is the member that was parked.
	From string `json:"from"`

	// To is the member that serves now.
	To string `json:"to"`

	// ParkedUntil is when From may serve again.
	ParkedUntil time.Time `json:"parked_until"`
}

// poolReset is the body of POST /api/pools/{name}/reset.
type poolReset struct {
	// Member names the one member to reset; empty resets all.
	Member string `json:"member,omitempty"`
}

// setupPool builds "pool" and its subcommands on the command caddycmd made
// for it.
func setupPool(cmd *cobra.Command) {
	o := addOptions(cmd)
	cmd.SetErrPrefix(errPrefix)
	cmd.SilenceUsage = true
	groupCommand(cmd)

	var spec newPool
	create := &cobra.Command{
		Use:   "create <name> --members a,b[,c] [--strategy failover]",
		Short: "Creates a pool of OAuth credentials, in failover order",
		Args:  exactArgs(1),
		RunE: o.run(func(s *session, args []string) error {
			spec.Name = args[0]
			return poolCreate(s, spec)
		}),
	}
	create.Flags().StringSliceVar(&spec.Members, "members", nil,
		"OAuth credentials in failover order, comma-separated (required)")
	create.Flags().StringVar(&spec.Strategy, "strategy", "",
		"how members are chosen (default failover)")
	_ = create.MarkFlagRequired("members")

	var member string
	reset := &cobra.Command{
		Use:   "reset <name> [--member m]",
		Short: "Clears the cooldowns of a pool's members (or of one), after a quota reset",
		Args:  exactArgs(1),
		RunE: o.run(func(s *session, args []string) error {
			return poolResetCmd(s, args[0], member)
		}),
	}
	reset.Flags().StringVar(&member, "member", "", "clear only this member's cooldown")

	cmd.AddCommand(
		create,
		&cobra.Command{
			Use:   "list",
			Short: "Lists pools and their members",
			Args:  exactArgs(0),
			RunE:  o.run(poolList),
		},
		&cobra.Command{
			Use:   "status <name>",
			Short: "Shows the active member and each member's health",
			Args:  exactArgs(1),
			RunE:  o.run(poolStatusCmd),
		},
		&cobra.Command{
			Use:   "rotate <name>",
			Short: "Parks the active member for 300 s and moves to the next",
			Args:  exactArgs(1),
			RunE:  o.run(poolRotate),
		},
		&cobra.Command{
			Use:   "remove <name>",
			Short: "Removes a pool that no binding uses; its credentials stay",
			Args:  exactArgs(1),
			RunE:  o.run(poolRemove),
		},
		reset,
	)
}

// poolCreate creates a pool.
func poolCreate(s *session, spec newPool) error {
	p, printed, err := fetch[pool](s, http.MethodPost, "/api/pools", spec)
	if err != nil || printed {
		return err
	}
	s.printf("pool %s created with members %s (strategy: %s)\n", quoted(p.Name),
		safe(strings.Join(memberNames(p.Members), ", ")), safe(p.Strategy))
	return nil
}

// poolList prints the pools.
func poolList(s *session, _ []string) error {
	pools, printed, err := fetch[[]pool](s, http.MethodGet, "/api/pools", nil)
	if err != nil || printed {
		return err
	}
	if len(pools) == 0 {
		s.printf("no pools\n")
		return nil
	}
	rows := make([][]string, len(pools))
	for i, p := range pools {
		rows[i] = []string{
			p.Name, p.Strategy, strings.Join(memberNames(p.Members), ","),
			formatTime(p.CreatedAt),
		}
	}
	return writeTable(s.out(), []string{"NAME", "STRATEGY", "MEMBERS", "CREATED"}, rows)
}

// poolStatusCmd prints what a pool is doing now.
func poolStatusCmd(s *session, args []string) error {
	data, err := s.call(http.MethodGet, "/api/pools/"+pathName(args[0]), nil)
	if err != nil {
		return err
	}
	return s.printStatus(data)
}

// poolRotate parks the active member and reports the switch.
func poolRotate(s *session, args []string) error {
	r, printed, err := fetch[rotateResult](s, http.MethodPost, "/api/pools/"+pathName(args[0])+"/rotate", nil)
	if err != nil || printed {
		return err
	}
	s.printf("pool %s rotated from %s to %s; %s is parked until %s\n", quoted(r.Pool),
		quoted(r.From), quoted(r.To), quoted(r.From), formatTime(r.ParkedUntil))
	return nil
}

// poolRemove removes a pool, explaining which bindings block it.
func poolRemove(s *session, args []string) error {
	name := args[0]
	data, err := s.call(http.MethodDelete, "/api/pools/"+pathName(name), nil)
	if se, ok := errors.AsType[*serverError](err); ok && len(se.Bindings) > 0 {
		return stillBound(name, se.Bindings)
	}
	if err != nil {
		return err
	}
	if s.json {
		s.printRaw(data)
		return nil
	}
	s.printf("pool %s removed\n", quoted(name))
	return nil
}

// poolResetCmd clears cooldowns and prints the status that results.
func poolResetCmd(s *session, name, member string) error {
	data, err := s.call(http.MethodPost, "/api/pools/"+pathName(name)+"/reset",
		poolReset{Member: member})
	if err != nil {
		return err
	}
	if !s.json {
		if member == "" {
			s.printf("cleared the cooldowns of pool %s\n", quoted(name))
		} else {
			s.printf("cleared the cooldown of %s in pool %s\n", quoted(member), quoted(name))
		}
	}
	return s.printStatus(data)
}

// printStatus prints a PoolStatus answer: as it came with --json, else in
// the human layout of writeStatus.
func (s *session) printStatus(data []byte) error {
	if s.json {
		s.printRaw(data)
		return nil
	}
	var st poolStatus
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("reading the answer: %v", err)
	}
	writeStatus(s.out(), st)
	return nil
}

// memberNames lists a pool's members in order.
func memberNames(members []poolMember) []string {
	names := make([]string, len(members))
	for i, m := range members {
		names[i] = m.Credential
	}
	return names
}

// quoted quotes a server-supplied name for human output, with control
// characters made harmless.
func quoted(s string) string {
	return `"` + strings.Map(printable, s) + `"`
}
