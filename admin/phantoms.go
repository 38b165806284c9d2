package admin

import (
	"net/http"

	"github.com/latchkeyproxy/latchkey/engine"
)

// getPhantom answers GET /api/phantom/{name} with the value an operator
// hands the agent in place of the credential.
func getPhantom(w http.ResponseWriter, r *http.Request, eng *engine.Engine) error {
	name := r.PathValue("name")
	if err := engine.ValidateName(name); err != nil {
		return err
	}
	p, err := eng.Phantom(name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}
