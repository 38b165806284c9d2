package engine

import (
	"fmt"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/latchkeyproxy/latchkey/oauth"
	"github.com/latchkeyproxy/latchkey/store"
)

// OAuthSpec describes an OAuth credential to add.
type OAuthSpec struct {
	// Name identifies the credential.
	Name string `json:"name"`

	// AccessToken is the real access token. Required.
	AccessToken string `json:"access_token"`

	// RefreshToken is the real refresh token, if the account has one.
	RefreshToken string `json:"refresh_token,omitempty"`

	// IDToken is the real OpenID Connect id token, if any.
	IDToken string `json:"id_token,omitempty"`

	// TokenURL is the account's token endpoint, http(s) with a host.
	TokenURL string `json:"token_url"`

	// ExpiresAt is when the access token expires; zero when unknown.
	ExpiresAt time.Time `json:"expires_at,omitzero"`

	// AccountID is the provider's account id (ChatGPT's workspace id).
	AccountID string `json:"account_id,omitempty"`
}

// TokenUpdate replaces some of an OAuth credential's tokens. Empty fields
// are left as they are.
type TokenUpdate struct {
	// AccessToken replaces the access token.
	AccessToken string `json:"access_token,omitempty"`

	// RefreshToken replaces the refresh token.
	RefreshToken string `json:"refresh_token,omitempty"`

	// IDToken replaces the id token.
	IDToken string `json:"id_token,omitempty"`

	// ExpiresAt replaces the expiry.
	ExpiresAt time.Time `json:"expires_at,omitzero"`

	// AccountID replaces the account id.
	AccountID string `json:"account_id,omitempty"`
}

// validateTokenURL checks that a token URL is http(s) with a host.
func validateTokenURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" {
		return invalidf("token_url %q must be an http or https URL with a host", raw)
	}
	return nil
}

// validateIDToken checks that an id token, if given, is a JWT: the agent
// gets a phantom built from its claims.
func validateIDToken(token string) error {
	if token == "" {
		return nil
	}
	if _, err := oauth.DecodeJWTClaims(token); err != nil {
		return invalidf("id_token is not a JWT (header.payload.signature)")
	}
	return nil
}

// validateOptionalSecret checks a token that may be absent.
func validateOptionalSecret(field, value string) error {
	if value == "" {
		return nil
	}
	if err := validateSecret(value); err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	return nil
}

// AddOAuthCredential stores a new OAuth credential.
func (e *Engine) AddOAuthCredential(spec OAuthSpec) (CredentialInfo, error) {
	if err := ValidateName(spec.Name); err != nil {
		return CredentialInfo{}, err
	}
	if err := validateSecret(spec.AccessToken); err != nil {
		return CredentialInfo{}, fmt.Errorf("access_token: %w", err)
	}
	for field, v := range map[string]string{"refresh_token": spec.RefreshToken,
		"id_token": spec.IDToken, "account_id": spec.AccountID} {
		if err := validateOptionalSecret(field, v); err != nil {
			return CredentialInfo{}, err
		}
	}
	if err := validateTokenURL(spec.TokenURL); err != nil {
		return CredentialInfo{}, err
	}
	if err := validateIDToken(spec.IDToken); err != nil {
		return CredentialInfo{}, err
	}

	now := e.now().UTC()
	c := store.Credential{Name: spec.Name, Type: store.TypeOAuth, CreatedAt: now, UpdatedAt: now,
		OAuth: &store.OAuthTokens{AccessToken: spec.AccessToken, RefreshToken: spec.RefreshToken,
			IDToken: spec.IDToken, TokenURL: spec.TokenURL, ExpiresAt: spec.ExpiresAt.UTC(),
			AccountID: spec.AccountID}}
	if spec.ExpiresAt.IsZero() {
		c.OAuth.ExpiresAt = time.Time{}
	}
	err := e.update(func(tx *store.Txn, r *records) error { return addCredential(tx, r, c) })
	if err != nil {
		return CredentialInfo{}, err
	}
	e.log().Info("credential added", zap.String("credential", spec.Name),
		zap.String("type", c.Type))
	return infoOf(e.current.Load().records, c), nil
}

// UpdateOAuthTokens replaces tokens of an OAuth credential, as an operator
// does after logging the account in again. Its phantoms do not change.
func (e *Engine) UpdateOAuthTokens(name string, u TokenUpdate) error {
	for field, v := range map[string]string{"access_token": u.AccessToken,
		"refresh_token": u.RefreshToken, "id_token": u.IDToken, "account_id": u.AccountID} {
		if err := validateOptionalSecret(field, v); err != nil {
			return err
		}
	}
	if err := validateIDToken(u.IDToken); err != nil {
		return err
	}
	err := e.update(func(tx *store.Txn, r *records) error {
		c, ok := r.creds[name]
		if !ok {
			return fmt.Errorf("%w: no credential called %s", ErrNotFound, quoteName(name))
		}
		if c.Type != store.TypeOAuth {
			return invalidf("credential %q is %s, not oauth", name, c.Type)
		}
		o := *c.OAuth
		setIf(&o.AccessToken, u.AccessToken)
		setIf(&o.RefreshToken, u.RefreshToken)
		setIf(&o.IDToken, u.IDToken)
		setIf(&o.AccountID, u.AccountID)
		if !u.ExpiresAt.IsZero() {
			o.ExpiresAt = u.ExpiresAt.UTC()
		}
		c.OAuth = &o
		c.UpdatedAt = e.now().UTC()
		r.creds[name] = c
		return tx.PutCredential(c)
	})
	if err != nil {
		return err
	}
	e.refreshes.forget(name)
	e.log().Info("credential tokens updated", zap.String("credential", name))
	return nil
}

func setIf(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}
