package admin

import (
	_ "embed"
	"net/http"

	"github.com/latchkeyproxy/latchkey/engine"
)

// openAPIDocument is the OpenAPI 3 description of every route of this
// package. It is compiled in, so the document a running instance serves is
// the one its handlers were tested against.
//
//go:embed openapi.yaml
var openAPIDocument []byte

// openAPIContentType is the media type of YAML (RFC 9512).
const openAPIContentType = "application/yaml"

// getOpenAPI answers GET /api/openapi.yaml with the API's description.
func getOpenAPI(w http.ResponseWriter, _ *http.Request, _ *engine.Engine) error {
	setCommonHeaders(w)
	w.Header().Set("Content-Type", openAPIContentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDocument)
	return nil
}
