package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/latchkeyproxy/latchkey/engine"
	"github.com/latchkeyproxy/latchkey/poolops"
)

// Error codes, the "code" field of every error response. Clients branch on
// these, never on the message.
const (
	codeInvalid          = "invalid"
	codeInvalidJSON      = "invalid_json"
	codeTooLarge         = "too_large"
	codeUnauthorized     = "unauthorized"
	codeNotFound         = "not_found"
	codeConflict         = "conflict"
	codeAlreadyPooled    = "already_pooled"
	codeRace             = "race"
	codeReferenced       = "referenced"
	codeMethodNotAllowed = "method_not_allowed"
	codeUnavailable      = "unavailable"
	codeInternal         = "internal"
)

// errorBody is the JSON shape of every error response.
type errorBody struct {
	// Error is a message for the operator, one line.
	Error string `json:"error"`

	// Code classifies the error; see the code constants.
	Code string `json:"code"`

	// Bindings are the bindings that still use a credential or pool the
	// request tried to remove. It is set only with the code "referenced".
	Bindings []bindingRef `json:"bindings,omitempty"`
}

// bindingRef names a binding in a conflict, so the operator knows which
// ones to remove first.
type bindingRef struct {
	// ID identifies the binding.
	ID string `json:"id"`

	// Destination is the binding's host glob.
	Destination string `json:"destination"`
}

// apiError is a failure with the status and code to answer it with.
type apiError struct {
	status   int
	code     string
	message  string
	bindings []bindingRef

	// cause is the underlying error of an internal failure. It is logged,
	// never sent.
	cause error
}

// Error returns the message the client sees.
func (e *apiError) Error() string { return e.message }

// fromEngine maps an engine or poolops error to its response. Anything
// neither classifies is internal, so no unexpected detail reaches the
// client.
func fromEngine(err error) *apiError {
	if ae, ok := errors.AsType[*apiError](err); ok {
		return ae
	}
	if ae := fromPoolops(err); ae != nil {
		return ae
	}
	if ref, ok := errors.AsType[*engine.ReferencedError](err); ok {
		return referenced(err, ref.Bindings)
	}
	switch {
	case errors.Is(err, engine.ErrInvalid):
		return &apiError{status: http.StatusBadRequest, code: codeInvalid,
			message: trimSentinel(err, engine.ErrInvalid)}
	case errors.Is(err, engine.ErrNotFound):
		return &apiError{status: http.StatusNotFound, code: codeNotFound,
			message: trimSentinel(err, engine.ErrNotFound)}
	case errors.Is(err, engine.ErrConflict):
		return &apiError{status: http.StatusConflict, code: codeConflict,
			message: trimSentinel(err, engine.ErrConflict)}
	}
	return internal(err)
}

// fromPoolops maps poolops' sentinels, or returns nil for an error that
// carries none. It runs before the engine's mapping because a poolops
// error wraps the engine's, and the sentinel is the finer classification
// (an already pooled member is also an engine conflict).
func fromPoolops(err error) *apiError {
	if ref, ok := errors.AsType[*poolops.ReferencedError](err); ok {
		return referenced(err, ref.Bindings)
	}
	var status int
	var code string
	switch {
	case errors.Is(err, poolops.ErrInternal):
		return internal(err)
	case errors.Is(err, poolops.ErrValidation):
		status, code = http.StatusBadRequest, codeInvalid
	case errors.Is(err, poolops.ErrNotFound):
		status, code = http.StatusNotFound, codeNotFound
	case errors.Is(err, poolops.ErrNameConflict):
		status, code = http.StatusConflict, codeConflict
	case errors.Is(err, poolops.ErrAlreadyPooled):
		status, code = http.StatusConflict, codeAlreadyPooled
	case errors.Is(err, poolops.ErrRace):
		status, code = http.StatusConflict, codeRace
	default:
		return nil
	}
	return &apiError{status: status, code: code, message: trimSentinels(err.Error())}
}

// trimSentinels drops the engine sentinel's text ("invalid: ") that leads
// a poolops message, which carries the engine's.
func trimSentinels(msg string) string {
	for _, s := range []error{engine.ErrInvalid, engine.ErrNotFound, engine.ErrConflict} {
		if rest, ok := strings.CutPrefix(msg, s.Error()+": "); ok && rest != "" {
			return rest
		}
	}
	return msg
}

// referenced answers a removal that bindings block, naming them so the
// operator knows what to remove first.
func referenced(err error, bindings []engine.Binding) *apiError {
	refs := make([]bindingRef, len(bindings))
	for i, b := range bindings {
		refs[i] = bindingRef{ID: b.ID, Destination: b.Destination}
	}
	return &apiError{status: http.StatusConflict, code: codeReferenced, message: err.Error(),
		bindings: refs}
}

// internal answers a failure that is not the client's: the cause is
// logged, and the client learns only that it happened.
func internal(err error) *apiError {
	return &apiError{status: http.StatusInternalServerError, code: codeInternal,
		message: "internal error", cause: err}
}

// trimSentinel drops the sentinel's own text ("not found: ") from the front
// of an engine message: the code already says it.
func trimSentinel(err, sentinel error) string {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, sentinel.Error()+": "); ok && rest != "" {
		return rest
	}
	return msg
}

// writeError renders err in the error shape. Internal failures are logged
// with their cause; the log line names the route, never the request body.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := fromEngine(err)
	if ae.status == http.StatusInternalServerError {
		a.log().Error("api request failed", zap.String("method", r.Method),
			zap.String("path", r.URL.Path), zap.Error(ae.cause))
	}
	if ae.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	writeJSON(w, ae.status, errorBody{Error: ae.message, Code: ae.code, Bindings: ae.bindings})
}

// writeJSON writes v as the JSON response body with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only a programming error gets here; the types written are plain.
		status = http.StatusInternalServerError
		body = []byte(`{"error":"internal error","code":"internal"}`)
	}
	setCommonHeaders(w)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// writeNoContent answers a change that has nothing to return.
func writeNoContent(w http.ResponseWriter) {
	setCommonHeaders(w)
	w.WriteHeader(http.StatusNoContent)
}

// setCommonHeaders marks every response as private and typed. Phantoms are
// not secrets, but no response of this API belongs in a cache.
func setCommonHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

// quoteShort quotes a client-supplied string for a message, cut short so
// that a hostile value keeps the message one readable line.
func quoteShort(s string) string {
	const max = 64
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
