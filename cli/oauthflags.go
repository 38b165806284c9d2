package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

// Credential types.
const (
	typeStatic = "static"
	typeOAuth  = "oauth"
)

// oauthFlags are the flags of "cred add" and "cred update" that describe
// an OAuth credential. None of them is secret; the tokens are read from
// the prompt or stdin.
type oauthFlags struct {
	typ       string
	tokenURL  string
	expiresIn int64
	expiresAt string
	accountID string
}

// oauthOnlyFlags are the flags that make sense only for an OAuth
// credential.
var oauthOnlyFlags = []string{"token-url", "expires-in", "expires-at", "account-id"}

// register adds the expiry and account flags to cmd.
func (f *oauthFlags) register(cmd *cobra.Command) {
	cmd.Flags().Int64Var(&f.expiresIn, "expires-in", 0,
		"OAuth access token lifetime in seconds from now")
	cmd.Flags().StringVar(&f.expiresAt, "expires-at", "",
		"OAuth access token expiry, RFC 3339 (instead of --expires-in)")
	cmd.Flags().StringVar(&f.accountID, "account-id", "",
		"the provider's account id (ChatGPT's workspace id)")
}

// check refuses flag values the server would refuse, before the operator
// types any token.
func (f *oauthFlags) check(cmd *cobra.Command) error {
	in, at := cmd.Flags().Changed("expires-in"), cmd.Flags().Changed("expires-at")
	switch {
	case in && at:
		return errors.New("give --expires-in or --expires-at, not both")
	case in && f.expiresIn <= 0:
		return errors.New("--expires-in must be a positive number of seconds")
	case at:
		if _, err := time.Parse(time.RFC3339, f.expiresAt); err != nil {
			return fmt.Errorf("--expires-at %q is not an RFC 3339 time such as "+
				"2026-12-03T10:00:00Z", f.expiresAt)
		}
	}
	return nil
}

// staticOnly refuses OAuth flags for a static credential rather than
// ignoring them.
func (f *oauthFlags) staticOnly(cmd *cobra.Command) error {
	for _, name := range oauthOnlyFlags {
		if fl := cmd.Flags().Lookup(name); fl != nil && fl.Changed {
			return fmt.Errorf("--%s is for oauth credentials only", name)
		}
	}
	return nil
}

// newOAuthCredential is the body of POST /api/credentials for an OAuth
// credential.
type newOAuthCredential struct {
	// Name identifies the credential.
	Name string `json:"name"`

	// Type is always "oauth".
	Type string `json:"type"`

	// TokenURL is the account's token endpoint.
	TokenURL string `json:"token_url"`

	tokenUpdate
}

// tokenUpdate is the body of PATCH /api/credentials/{name} for an OAuth
// credential, and the token part of adding one.
type tokenUpdate struct {
	// AccessToken is the real access token.
	AccessToken string `json:"access_token"`

	// RefreshToken is the real refresh token, if any.
	RefreshToken string `json:"refresh_token,omitempty"`

	// IDToken is the real id token, if any.
	IDToken string `json:"id_token,omitempty"`

	// ExpiresIn is the access token's lifetime in seconds from now.
	ExpiresIn int64 `json:"expires_in,omitempty"`

	// ExpiresAt is the access token's expiry in RFC 3339.
	ExpiresAt string `json:"expires_at,omitempty"`

	// AccountID is the provider's account id.
	AccountID string `json:"account_id,omitempty"`
}

// tokenUpdate combines the flags with the tokens read.
func (f *oauthFlags) tokenUpdate(t oauthTokens) tokenUpdate {
	return tokenUpdate{
		AccessToken: t.access, RefreshToken: t.refresh, IDToken: t.id,
		ExpiresIn: f.expiresIn, ExpiresAt: f.expiresAt, AccountID: f.accountID,
	}
}

// newCredential is the POST body for an OAuth credential.
func (f *oauthFlags) newCredential(name string, t oauthTokens) newOAuthCredential {
	return newOAuthCredential{
		Name: name, Type: typeOAuth, TokenURL: f.tokenURL,
		tokenUpdate: f.tokenUpdate(t),
	}
}
