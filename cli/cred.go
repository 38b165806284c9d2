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

// credential is a credential as GET /api/credentials lists it.
type credential struct {
	// Name identifies the credential.
	Name string `json:"name"`

	// Type is the credential type, such as "static".
	Type string `json:"type"`

	// CreatedAt is when the credential was added.
	CreatedAt time.Time `json:"created_at"`

	// UpdatedAt is when its secret was last replaced.
	UpdatedAt time.Time `json:"updated_at"`
}

// newStaticCredential is the body of POST /api/credentials for a static
// credential.
type newStaticCredential struct {
	// Name identifies the credential.
	Name string `json:"name"`

	// Type is always "static".
	Type string `json:"type"`

	// Value is the secret.
	Value string `json:"value"`
}

// credentialValue is the body of PATCH /api/credentials/{name}.
type credentialValue struct {
	// Value is the new secret.
	Value string `json:"value"`
}

// setupCred builds "cred" and its subcommands on the command caddycmd
// made for it.
func setupCred(cmd *cobra.Command) {
	o := addOptions(cmd)
	cmd.SetErrPrefix(errPrefix)
	cmd.SilenceUsage = true
	groupCommand(cmd)
	cmd.AddCommand(
		&cobra.Command{
			Use:   "add <name>",
			Short: "Adds a static credential; the secret is read from a prompt or stdin",
			Args:  exactArgs(1),
			RunE:  o.run(credAdd),
		},
		&cobra.Command{
			Use:   "list",
			Short: "Lists credentials (names and types, never secrets)",
			Args:  exactArgs(0),
			RunE:  o.run(credList),
		},
		&cobra.Command{
			Use:   "update <name>",
			Short: "Replaces a credential's secret, read from a prompt or stdin; its phantom stays",
			Args:  exactArgs(1),
			RunE:  o.run(credUpdate),
		},
		&cobra.Command{
			Use:   "remove <name>",
			Short: "Removes a credential that no binding uses",
			Args:  exactArgs(1),
			RunE:  o.run(credRemove),
		},
	)
}

// credAdd adds a static credential with a secret from the prompt or stdin.
func credAdd(s *session, args []string) error {
	name := args[0]
	secret, err := readSecret(s.cmd.InOrStdin(), s.cmd.ErrOrStderr(), name)
	if err != nil {
		return err
	}
	data, err := s.call(http.MethodPost, "/api/credentials",
		newStaticCredential{Name: name, Type: "static", Value: secret})
	if err != nil {
		return err
	}
	if s.json {
		s.printRaw(data)
		return nil
	}
	var c credential
	if err := json.Unmarshal(data, &c); err != nil {
		return fmt.Errorf("reading the answer: %v", err)
	}
	s.printf("credential %q added\n", c.Name)
	return nil
}

// credList prints the credentials.
func credList(s *session, _ []string) error {
	data, err := s.call(http.MethodGet, "/api/credentials", nil)
	if err != nil {
		return err
	}
	if s.json {
		s.printRaw(data)
		return nil
	}
	var creds []credential
	if err := json.Unmarshal(data, &creds); err != nil {
		return fmt.Errorf("reading the answer: %v", err)
	}
	if len(creds) == 0 {
		s.printf("no credentials\n")
		return nil
	}
	rows := make([][]string, len(creds))
	for i, c := range creds {
		rows[i] = []string{c.Name, c.Type, formatTime(c.CreatedAt), formatTime(c.UpdatedAt)}
	}
	return writeTable(s.out(), []string{"NAME", "TYPE", "CREATED", "UPDATED"}, rows)
}

// credUpdate replaces a credential's secret.
func credUpdate(s *session, args []string) error {
	name := args[0]
	secret, err := readSecret(s.cmd.InOrStdin(), s.cmd.ErrOrStderr(), name)
	if err != nil {
		return err
	}
	data, err := s.call(http.MethodPatch, "/api/credentials/"+pathName(name),
		credentialValue{Value: secret})
	if err != nil {
		return err
	}
	if s.json {
		s.printRaw(data)
		return nil
	}
	s.printf("credential %q updated\n", name)
	return nil
}

// credRemove removes a credential, explaining which bindings block it.
func credRemove(s *session, args []string) error {
	name := args[0]
	data, err := s.call(http.MethodDelete, "/api/credentials/"+pathName(name), nil)
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
	s.printf("credential %q removed\n", name)
	return nil
}

// stillBound explains a refused removal and how to clear the way.
func stillBound(name string, refs []bindingRef) error {
	listed := make([]string, len(refs))
	commands := make([]string, len(refs))
	for i, b := range refs {
		listed[i] = b.ID + " (" + b.Destination + ")"
		commands[i] = "latchkey bind remove " + b.ID
	}
	return fmt.Errorf("%q is still used by bindings %s; remove them with: %s", name,
		strings.Join(listed, ", "), strings.Join(commands, " && "))
}
