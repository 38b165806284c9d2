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

	// Type is the credential type, "static" or "oauth".
	Type string `json:"type"`

	// TokenURL is where an OAuth credential refreshes.
	TokenURL string `json:"token_url,omitempty"`

	// ExpiresAt is when an OAuth credential's access token expires, when
	// known.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`

	// HasRefreshToken tells whether an OAuth credential can refresh.
	HasRefreshToken bool `json:"has_refresh_token,omitempty"`

	// Pool is the pool the credential is a member of, if any.
	Pool string `json:"pool,omitempty"`

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

	var addFlags, updateFlags oauthFlags
	add := &cobra.Command{
		Use:   "add <name> [--type oauth --token-url URL]",
		Short: "Adds a credential; the secret or tokens are read from a prompt or stdin",
		Long: `
Adds a credential. A static credential (the default) reads its secret from
a hidden prompt or the first line of stdin. An OAuth credential
(--type oauth) reads its tokens the same way, one per line: the access
token, then the refresh token and the id token, each optional (an empty
line skips it):

	$ printf '%s\n%s\n' "$ACCESS" "$REFRESH" |
		latchkey cred add acct_a --type oauth \
		--token-url https://auth.openai.com/oauth/token --expires-in 3600`,
		Args: exactArgs(1),
		RunE: o.run(func(s *session, args []string) error {
			return credAdd(s, args[0], addFlags)
		}),
	}
	add.Flags().StringVar(&addFlags.typ, "type", typeStatic, "credential type: static or oauth")
	add.Flags().StringVar(&addFlags.tokenURL, "token-url", "",
		"OAuth token endpoint (required with --type oauth)")
	addFlags.register(add)

	update := &cobra.Command{
		Use: "update <name>",
		Short: "Replaces a credential's secret or OAuth tokens, read from a prompt or " +
			"stdin; its phantom stays",
		Args: exactArgs(1),
		RunE: o.run(func(s *session, args []string) error {
			return credUpdate(s, args[0], updateFlags)
		}),
	}
	updateFlags.register(update)

	cmd.AddCommand(
		add,
		&cobra.Command{
			Use:   "list",
			Short: "Lists credentials (names, types and pools, never secrets)",
			Args:  exactArgs(0),
			RunE:  o.run(credList),
		},
		update,
		&cobra.Command{
			Use:   "remove <name>",
			Short: "Removes a credential that no binding or pool uses",
			Args:  exactArgs(1),
			RunE:  o.run(credRemove),
		},
	)
}

// credAdd adds a credential with a secret or tokens from the prompt or
// stdin.
func credAdd(s *session, name string, f oauthFlags) error {
	var body any
	switch f.typ {
	case typeStatic:
		if err := f.staticOnly(s.cmd); err != nil {
			return err
		}
		secret, err := readSecret(s.cmd.InOrStdin(), s.cmd.ErrOrStderr(), name)
		if err != nil {
			return err
		}
		body = newStaticCredential{Name: name, Type: typeStatic, Value: secret}
	case typeOAuth:
		if f.tokenURL == "" {
			return errors.New("--type oauth needs --token-url, the account's token endpoint")
		}
		if err := f.check(s.cmd); err != nil {
			return err
		}
		tokens, err := readTokens(s.cmd.InOrStdin(), s.cmd.ErrOrStderr(), name)
		if err != nil {
			return err
		}
		body = f.newCredential(name, tokens)
	default:
		return fmt.Errorf("unknown credential type %q; use static or oauth", f.typ)
	}

	c, printed, err := fetch[credential](s, http.MethodPost, "/api/credentials", body)
	if err != nil || printed {
		return err
	}
	s.printf("credential %s added\n", quoted(c.Name))
	return nil
}

// credList prints the credentials.
func credList(s *session, _ []string) error {
	creds, printed, err := fetch[[]credential](s, http.MethodGet, "/api/credentials", nil)
	if err != nil || printed {
		return err
	}
	if len(creds) == 0 {
		s.printf("no credentials\n")
		return nil
	}
	rows := make([][]string, len(creds))
	for i, c := range creds {
		expires := ""
		if c.ExpiresAt != nil {
			expires = formatTime(*c.ExpiresAt)
		}
		rows[i] = []string{c.Name, c.Type, c.Pool, expires, formatTime(c.CreatedAt),
			formatTime(c.UpdatedAt)}
	}
	return writeTable(s.out(),
		[]string{"NAME", "TYPE", "POOL", "EXPIRES", "CREATED", "UPDATED"}, rows)
}

// credUpdate replaces a credential's secret, or an OAuth credential's
// tokens. It asks the server for the credential's type first, so that it
// prompts for what the credential holds.
func credUpdate(s *session, name string, f oauthFlags) error {
	typ, err := credentialType(s, name)
	if err != nil {
		return err
	}
	var body any
	if typ == typeOAuth {
		if err := f.check(s.cmd); err != nil {
			return err
		}
		tokens, err := readTokens(s.cmd.InOrStdin(), s.cmd.ErrOrStderr(), name)
		if err != nil {
			return err
		}
		body = f.tokenUpdate(tokens)
	} else {
		// An unknown name takes this path too, and the server answers 404.
		if err := f.staticOnly(s.cmd); err != nil {
			return err
		}
		secret, err := readSecret(s.cmd.InOrStdin(), s.cmd.ErrOrStderr(), name)
		if err != nil {
			return err
		}
		body = credentialValue{Value: secret}
	}

	data, err := s.call(http.MethodPatch, "/api/credentials/"+pathName(name), body)
	if err != nil {
		return err
	}
	if s.json {
		s.printRaw(data)
		return nil
	}
	s.printf("credential %s updated\n", quoted(name))
	return nil
}

// credentialType returns the type of the named credential, or "" when the
// server lists none by that name.
func credentialType(s *session, name string) (string, error) {
	data, err := s.call(http.MethodGet, "/api/credentials", nil)
	if err != nil {
		return "", err
	}
	var creds []credential
	if err := json.Unmarshal(data, &creds); err != nil {
		return "", fmt.Errorf("reading the answer: %v", err)
	}
	for _, c := range creds {
		if c.Name == name {
			return c.Type, nil
		}
	}
	return "", nil
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
