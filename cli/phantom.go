package cli

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"
)

// phantomInfo is the answer of GET /api/phantom/{name}.
type phantomInfo struct {
	// Name is the credential.
	Name string `json:"name"`

	// Kind is the credential's type.
	Kind string `json:"kind"`

	// Phantom is the value to give the agent.
	Phantom string `json:"phantom"`
}

// setupPhantom builds "phantom" on the command caddycmd made for it.
func setupPhantom(cmd *cobra.Command) {
	o := addOptions(cmd)
	cmd.SetErrPrefix(errPrefix)
	cmd.SilenceUsage = true
	cmd.Args = exactArgs(1)
	cmd.RunE = o.run(phantom)
}

// phantom prints only the phantom value, so that $(latchkey phantom x)
// captures exactly it.
func phantom(s *session, args []string) error {
	data, err := s.call(http.MethodGet, "/api/phantom/"+pathName(args[0]), nil)
	if err != nil {
		return err
	}
	if s.json {
		s.printRaw(data)
		return nil
	}
	var p phantomInfo
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("reading the answer: %v", err)
	}
	if p.Phantom == "" {
		return fmt.Errorf("the server returned no phantom for %q", args[0])
	}
	s.printf("%s\n", p.Phantom)
	return nil
}
