package admin

import (
	"net/http"

	"github.com/latchkeyproxy/latchkey/engine"
)

// listBindings answers GET /api/bindings.
func listBindings(w http.ResponseWriter, _ *http.Request, eng *engine.Engine) error {
	binds := eng.Bindings()
	if binds == nil {
		binds = []engine.Binding{}
	}
	writeJSON(w, http.StatusOK, binds)
	return nil
}

// addBinding answers POST /api/bindings. The body is an engine.BindingSpec;
// naming a credential that does not exist is a 400, since the request, not
// the URL, is at fault.
func addBinding(w http.ResponseWriter, r *http.Request, eng *engine.Engine) error {
	var spec engine.BindingSpec
	if err := decodeJSON(w, r, &spec); err != nil {
		return err
	}
	b, err := eng.AddBinding(spec)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, b)
	return nil
}

// removeBinding answers DELETE /api/bindings/{id}.
func removeBinding(w http.ResponseWriter, r *http.Request, eng *engine.Engine) error {
	if err := eng.RemoveBinding(r.PathValue("id")); err != nil {
		return err
	}
	writeNoContent(w)
	return nil
}
