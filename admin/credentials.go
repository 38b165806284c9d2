package admin

import (
	"net/http"
	"slices"
	"strings"

	"github.com/latchkeyproxy/latchkey/engine"
)

// typeStatic is the type of a credential holding one secret value.
const typeStatic = "static"

// newCredential is the body of POST /api/credentials. It carries the fields
// of every credential type; each type's creator uses its own.
type newCredential struct {
	// Name identifies the credential; see engine.ValidateName.
	Name string `json:"name"`

	// Type is the credential type. Default: "static".
	Type string `json:"type,omitempty"`

	// Value is the secret of a static credential.
	Value string `json:"value,omitempty"`
}

// credentialCreated is the answer to POST /api/credentials. It never holds
// the secret.
type credentialCreated struct {
	// Name identifies the credential.
	Name string `json:"name"`

	// Type is the credential type.
	Type string `json:"type"`
}

// credentialUpdate is the body of PATCH /api/credentials/{name}.
type credentialUpdate struct {
	// Value is the new secret.
	Value string `json:"value"`
}

// credentialCreators adds a credential of each type the API accepts. A new
// type is a new entry here plus its fields in newCredential.
var credentialCreators = map[string]func(*engine.Engine, newCredential) (
	engine.CredentialInfo, error){
	typeStatic: func(eng *engine.Engine, req newCredential) (engine.CredentialInfo, error) {
		return eng.AddStaticCredential(req.Name, req.Value)
	},
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

// updateCredential answers PATCH /api/credentials/{name}.
func updateCredential(w http.ResponseWriter, r *http.Request, eng *engine.Engine) error {
	name := r.PathValue("name")
	if err := engine.ValidateName(name); err != nil {
		return err
	}
	var req credentialUpdate
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := eng.UpdateStaticCredential(name, req.Value); err != nil {
		return err
	}
	writeNoContent(w)
	return nil
}

// removeCredential answers DELETE /api/credentials/{name}. A credential
// that bindings still use is refused with those bindings in the answer.
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
