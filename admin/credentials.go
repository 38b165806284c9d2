package admin

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/latchkeyproxy/latchkey/engine"
)

// Credential types the API accepts.
const (
	// typeStatic is a credential holding one secret value.
	typeStatic = "static"

	// typeOAuth is an OAuth account: access token, optional refresh and
	// id tokens, and the token URL where it refreshes.
	typeOAuth = "oauth"
)

// newCredential is the body of POST /api/credentials. It carries the fields
// of every credential type; each type's creator uses its own and refuses
// the others'.
type newCredential struct {
	// Name identifies the credential; see engine.ValidateName.
	Name string `json:"name"`

	// Type is the credential type, "static" or "oauth". Default: "static".
	Type string `json:"type,omitempty"`

	// Value is the secret of a static credential.
	Value string `json:"value,omitempty"`

	oauthFields

	// TokenURL is where an OAuth credential refreshes: an http or https
	// URL with a host.
	TokenURL string `json:"token_url,omitempty"`
}

// oauthFields are the token fields that both adding an OAuth credential
// and updating one take.
type oauthFields struct {
	// AccessToken is the real access token. Required when adding.
	AccessToken string `json:"access_token,omitempty"`

	// RefreshToken is the real refresh token, if the account has one.
	RefreshToken string `json:"refresh_token,omitempty"`

	// IDToken is the real OpenID Connect id token, if any.
	IDToken string `json:"id_token,omitempty"`

	// ExpiresAt is when the access token expires, in RFC 3339.
	ExpiresAt string `json:"expires_at,omitempty"`

	// ExpiresIn is the access token's lifetime in seconds from now, as a
	// token endpoint reports it. At most one of ExpiresAt and ExpiresIn
	// may be given.
	ExpiresIn *int64 `json:"expires_in,omitempty"`

	// AccountID is the provider's account id (ChatGPT's workspace id).
	AccountID string `json:"account_id,omitempty"`
}

// credentialCreated is the answer to POST /api/credentials. It never holds
// the secret.
type credentialCreated struct {
	// Name identifies the credential.
	Name string `json:"name"`

	// Type is the credential type.
	Type string `json:"type"`
}

// credentialUpdate is the body of PATCH /api/credentials/{name}: value for
// a static credential, or some of the token fields for an OAuth one.
type credentialUpdate struct {
	// Value is the new secret of a static credential.
	Value *string `json:"value,omitempty"`

	oauthFields
}

// credentialCreators adds a credential of each type the API accepts. A new
// type is a new entry here plus its fields in newCredential.
var credentialCreators = map[string]func(*engine.Engine, newCredential) (
	engine.CredentialInfo, error){
	typeStatic: func(eng *engine.Engine, req newCredential) (engine.CredentialInfo, error) {
		if f := req.oauthFields.first(); f != "" || req.TokenURL != "" {
			return engine.CredentialInfo{}, fieldNotForType(cmp.Or(f, "token_url"), typeStatic)
		}
		return eng.AddStaticCredential(req.Name, req.Value)
	},
	typeOAuth: func(eng *engine.Engine, req newCredential) (engine.CredentialInfo, error) {
		if req.Value != "" {
			return engine.CredentialInfo{}, fieldNotForType("value", typeOAuth)
		}
		expires, err := req.expiry(time.Now())
		if err != nil {
			return engine.CredentialInfo{}, err
		}
		return eng.AddOAuthCredential(engine.OAuthSpec{Name: req.Name,
			AccessToken: req.AccessToken, RefreshToken: req.RefreshToken, IDToken: req.IDToken,
			TokenURL: req.TokenURL, ExpiresAt: expires, AccountID: req.AccountID})
	},
}

// first names the first token field that is set, or returns "".
func (f oauthFields) first() string {
	switch {
	case f.AccessToken != "":
		return "access_token"
	case f.RefreshToken != "":
		return "refresh_token"
	case f.IDToken != "":
		return "id_token"
	case f.ExpiresAt != "":
		return "expires_at"
	case f.ExpiresIn != nil:
		return "expires_in"
	case f.AccountID != "":
		return "account_id"
	}
	return ""
}

// maxExpiresIn bounds expires_in at ten years, far beyond any real token,
// so that the sum with the current time cannot overflow.
const maxExpiresIn = 10 * 365 * 24 * 60 * 60

// expiry returns the access token's expiry from expires_at or expires_in,
// or the zero time when neither is given.
func (f oauthFields) expiry(now time.Time) (time.Time, error) {
	switch {
	case f.ExpiresAt != "" && f.ExpiresIn != nil:
		return time.Time{}, invalid("give expires_at or expires_in, not both")
	case f.ExpiresIn != nil:
		if *f.ExpiresIn <= 0 || *f.ExpiresIn > maxExpiresIn {
			return time.Time{}, invalid(fmt.Sprintf("expires_in must be 1 to %d seconds",
				maxExpiresIn))
		}
		return now.Add(time.Duration(*f.ExpiresIn) * time.Second).UTC(), nil
	case f.ExpiresAt != "":
		t, err := time.Parse(time.RFC3339, f.ExpiresAt)
		if err != nil {
			return time.Time{}, invalid("expires_at " + quoteShort(f.ExpiresAt) +
				" is not an RFC 3339 time such as 2026-12-03T10:00:00Z")
		}
		return t.UTC(), nil
	}
	return time.Time{}, nil
}

// tokenUpdate turns the token fields of a PATCH into the engine's update.
func (f oauthFields) tokenUpdate(now time.Time) (engine.TokenUpdate, error) {
	expires, err := f.expiry(now)
	if err != nil {
		return engine.TokenUpdate{}, err
	}
	return engine.TokenUpdate{AccessToken: f.AccessToken, RefreshToken: f.RefreshToken,
		IDToken: f.IDToken, ExpiresAt: expires, AccountID: f.AccountID}, nil
}

// fieldNotForType refuses a field that belongs to another credential type,
// rather than dropping it silently.
func fieldNotForType(field, typ string) error {
	return invalid("field " + quoteShort(field) + " does not apply to a " + typ + " credential")
}

// invalid is a 400 for a request that is well-formed JSON but not
// acceptable.
func invalid(message string) error {
	return &apiError{status: http.StatusBadRequest, code: codeInvalid, message: message}
}

// listCredentials answers GET /api/credentials.
func listCredentials(w http.ResponseWriter, _ *http.Request, eng *engine.Engine) error {
	creds := eng.Credentials()
	if creds == nil {
		creds = []engine.CredentialInfo{}
	}
	writeJSON(w, http.StatusOK, creds)
	return nil
}

// addCredential answers POST /api/credentials.
func addCredential(w http.ResponseWriter, r *http.Request, eng *engine.Engine) error {
	var req newCredential
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Type == "" {
		req.Type = typeStatic
	}
	create, ok := credentialCreators[req.Type]
	if !ok {
		return &apiError{status: http.StatusBadRequest, code: codeInvalid,
			message: "unknown credential type " + quoteShort(req.Type) +
				"; supported: " + strings.Join(credentialTypes(), ", ")}
	}

	info, err := create(eng, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, credentialCreated{Name: info.Name, Type: info.Type})
	return nil
}

// updateCredential answers PATCH /api/credentials/{name}. The body says
// which kind of update it is; the engine refuses one that does not match
// the credential's type, so a static secret never lands in an OAuth
// credential or the other way round.
func updateCredential(w http.ResponseWriter, r *http.Request, eng *engine.Engine) error {
	name := r.PathValue("name")
	if err := engine.ValidateName(name); err != nil {
		return err
	}
	var req credentialUpdate
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}

	field := req.oauthFields.first()
	switch {
	case req.Value != nil && field != "":
		return invalid("send value for a static credential or token fields for an oauth " +
			"one, not both")
	case req.Value != nil:
		if err := eng.UpdateStaticCredential(name, *req.Value); err != nil {
			return err
		}
	case field != "":
		u, err := req.tokenUpdate(time.Now())
		if err != nil {
			return err
		}
		if err := eng.UpdateOAuthTokens(name, u); err != nil {
			return err
		}
	default:
		return invalid("nothing to update: send value for a static credential, or " +
			"access_token, refresh_token, id_token, expires_at, expires_in or account_id " +
			"for an oauth one")
	}
	writeNoContent(w)
	return nil
}

// removeCredential answers DELETE /api/credentials/{name}. A credential
// that bindings still use is refused with those bindings in the answer,
// and so is a pool member (the pool must go first).
func removeCredential(w http.ResponseWriter, r *http.Request, eng *engine.Engine) error {
	name := r.PathValue("name")
	if err := engine.ValidateName(name); err != nil {
		return err
	}
	if err := eng.RemoveCredential(name); err != nil {
		return err
	}
	writeNoContent(w)
	return nil
}

// credentialTypes lists the accepted types, sorted, for error messages.
func credentialTypes() []string {
	types := make([]string, 0, len(credentialCreators))
	for t := range credentialCreators {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}
