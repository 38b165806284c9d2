package cli

import (
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// binding is a binding as the API returns it.
type binding struct {
	// ID identifies the binding.
	ID string `json:"id"`

	// Credential is the bound credential.
	Credential string `json:"credential"`

	// Destination is the host glob.
	Destination string `json:"destination"`

	// Ports are the destination ports; empty means every port.
	Ports []int `json:"ports"`

	// Header is the request header the binding sets.
	Header string `json:"header"`

	// Template is the header value, with "{value}" for the secret.
	Template string `json:"template"`

	// CreatedAt is when the binding was added.
	CreatedAt time.Time `json:"created_at"`
}

// newBinding is the body of POST /api/bindings. Empty fields take the
// server's defaults.
type newBinding struct {
	// Credential is the credential to bind.
	Credential string `json:"credential"`

	// Destination is the host glob.
	Destination string `json:"destination"`

	// Ports limits the binding to these ports.
	Ports []int `json:"ports,omitempty"`

	// Header is the request header to set.
	Header string `json:"header,omitempty"`

	// Template is the header value, with "{value}" for the secret.
	Template string `json:"template,omitempty"`
}

// setupBind builds "bind" and its subcommands on the command caddycmd made
// for it.
func setupBind(cmd *cobra.Command) {
	o := addOptions(cmd)
	cmd.SetErrPrefix(errPrefix)
	cmd.SilenceUsage = true
	groupCommand(cmd)

	var spec newBinding
	add := &cobra.Command{
		Use:   "add <credential> --host <glob> [--port N]... [--header H] [--template T]",
		Short: "Binds a credential to a destination host (and ports)",
		Long: `
Binds a credential to a destination. --host is a host name, an IP address,
a glob like *.example.com (every subdomain, not example.com itself), or *
(every host). Without --port the binding covers every port. The header
defaults to Authorization and the template to "Bearer {value}".`,
		Args: exactArgs(1),
		RunE: o.run(func(s *session, args []string) error {
			spec.Credential = args[0]
			return bindAdd(s, spec)
		}),
	}
	add.Flags().StringVar(&spec.Destination, "host", "", "destination host or glob (required)")
	add.Flags().IntSliceVar(&spec.Ports, "port", nil, "destination port; repeat for more")
	add.Flags().StringVar(&spec.Header, "header", "", "header to set (default Authorization)")
	add.Flags().StringVar(&spec.Template, "template", "",
		`header value with {value} for the secret (default "Bearer {value}")`)
	_ = add.MarkFlagRequired("host")

	cmd.AddCommand(
		add,
		&cobra.Command{
			Use:   "list",
			Short: "Lists bindings",
			Args:  exactArgs(0),
			RunE:  o.run(bindList),
		},
		&cobra.Command{
			Use:   "remove <id>",
			Short: "Removes a binding",
			Args:  exactArgs(1),
			RunE:  o.run(bindRemove),
		},
	)
}

// bindAdd adds a binding.
func bindAdd(s *session, spec newBinding) error {
	b, printed, err := fetch[binding](s, http.MethodPost, "/api/bindings", spec)
	if err != nil || printed {
		return err
	}
	s.printf("binding %s added: %s on %s, ports %s, header %s\n", cell(b.ID),
		cell(b.Credential), cell(b.Destination), formatPorts(b.Ports), cell(b.Header))
	return nil
}

// bindList prints the bindings.
func bindList(s *session, _ []string) error {
	binds, printed, err := fetch[[]binding](s, http.MethodGet, "/api/bindings", nil)
	if err != nil || printed {
		return err
	}
	if len(binds) == 0 {
		s.printf("no bindings\n")
		return nil
	}
	rows := make([][]string, len(binds))
	for i, b := range binds {
		rows[i] = []string{b.ID, b.Credential, b.Destination, formatPorts(b.Ports),
			b.Header, b.Template}
	}
	return writeTable(s.out(),
		[]string{"ID", "CREDENTIAL", "DESTINATION", "PORTS", "HEADER", "TEMPLATE"}, rows)
}

// bindRemove removes a binding.
func bindRemove(s *session, args []string) error {
	id := args[0]
	data, err := s.call(http.MethodDelete, "/api/bindings/"+pathName(id), nil)
	if err != nil {
		return err
	}
	if s.json {
		s.printRaw(data)
		return nil
	}
	s.printf("binding %q removed\n", id)
	return nil
}
