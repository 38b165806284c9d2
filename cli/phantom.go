package cli

import (
	"fmt"
	"net/http"

	"github.com/spf13/cobra"
)

// phantomInfo is the answer of GET /api/phantom/{name}.
type phantomInfo struct {
	// Name is the credential or pool.
	Name string `json:"name"`

	// Kind is "static", "oauth" or "pool".
	Kind string `json:"kind"`

	// Phantom is a static credential's value to give the agent.
	Phantom string `json:"phantom"`

	// AccessToken is the access phantom of an OAuth credential or pool.
	AccessToken string `json:"access_token"`

	// RefreshToken is the refresh phantom of an OAuth credential or pool.
	RefreshToken string `json:"refresh_token"`

	// IDToken is a phantom id token, when the account has a real one.
	IDToken string `json:"id_token"`

	// AccountID is the phantom account id, when the account has a real
	// one.
	AccountID string `json:"account_id"`
}

// setupPhantom builds "phantom" on the command caddycmd made for it.
func setupPhantom(cmd *cobra.Command) {
	o := addOptions(cmd)
	cmd.SetErrPrefix(errPrefix)
	cmd.SilenceUsage = true
	cmd.Args = exactArgs(1)
	cmd.RunE = o.run(phantom)
}

// phantom prints only the phantom value of a static credential, so that
// $(latchkey phantom x) captures exactly it, and the auth-file fields of
// an OAuth credential or pool.
func phantom(s *session, args []string) error {
	p, printed, err := fetch[phantomInfo](s, http.MethodGet, "/api/phantom/"+pathName(args[0]), nil)
	if err != nil || printed {
		return err
	}
	if p.Phantom != "" {
		s.printf("%s\n", safe(p.Phantom))
		return nil
	}
	if p.AccessToken == "" {
		return fmt.Errorf("the server returned no phantom for %q", args[0])
	}
	fields := [][2]string{
		{"access_token", p.AccessToken},
		{"refresh_token", p.RefreshToken},
		{"id_token", p.IDToken},
		{"account_id", p.AccountID},
	}
	for _, f := range fields {
		if f[1] != "" {
			s.printf("%-14s %s\n", f[0]+":", safe(f[1]))
		}
	}
	return nil
}
